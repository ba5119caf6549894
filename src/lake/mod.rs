//! The lake on disk: table directories of Hive-partitioned Parquet, and trailq's own state under
//! `_trailq/` (the manifest log, staging space for uncommitted files, the writer lock).
//!
//! ```text
//! <lake>/events/event_date=YYYY-MM-DD/part-<txid>-<n>.parquet
//! <lake>/insights/event_date=YYYY-MM-DD/...
//! <lake>/rejects/part-<txid>.parquet
//! <lake>/_trailq/log/<seq>.json          one committed transaction each: the manifest
//! <lake>/_trailq/checkpoint/<seq>.json.gz the manifest's state at one transaction
//! <lake>/_trailq/staging/<txid>/...      files written but not yet published
//! <lake>/_trailq/lock                    held (flock) by the one running ingest
//! ```
//!
//! A lake can also live under an S3 prefix (`remote.rs`): the same layout, with staging done in
//! a local scratch directory and the commit made by a conditional put.

mod catalog;
mod checkpoint;
mod commit;
pub mod delta;
mod manifest;
mod remote;

pub use catalog::Table;
pub use commit::{commit, recover};
pub use manifest::{
    LOG_DIR, Manifest, OutputEntry, SourceEntry, SourceState, SourceStatus, Transaction,
    log_file_name,
};
pub use remote::{ABANDONED_AFTER, Remote, RemoteObject, Scratch};

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, Result};
use crate::record::time::format_day;
use crate::s3::S3Url;

/// A new transaction id: the UTC time and a random suffix (also the staging folder's name).
pub fn new_txid() -> String {
    format!(
        "{}-{:08x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..)
    )
}

/// Where a lake is: a local folder or an S3 prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// A folder.
    Local(PathBuf),
    /// `s3://bucket/prefix/`.
    S3(S3Url),
}

impl LakeLocation {
    /// `s3://bucket/prefix` or a folder path.
    pub fn parse(text: &str) -> Result<Self> {
        match S3Url::parse(text) {
            Some(url) => Ok(LakeLocation::S3(url?)),
            None => Ok(LakeLocation::Local(PathBuf::from(text))),
        }
    }
}

impl std::fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeLocation::Local(path) => write!(f, "{}", path.display()),
            LakeLocation::S3(url) => write!(f, "{url}"),
        }
    }
}

/// A published lake file opened for reading: a local file, or an S3 object's bytes.
pub enum LakeFile {
    /// On disk.
    Local(File),
    /// Downloaded.
    Remote(Bytes),
}

impl Length for LakeFile {
    fn len(&self) -> u64 {
        match self {
            LakeFile::Local(file) => file.len(),
            LakeFile::Remote(bytes) => bytes.len() as u64,
        }
    }
}

impl ChunkReader for LakeFile {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            LakeFile::Local(file) => Box::new(file.get_read(start)?),
            LakeFile::Remote(bytes) => Box::new(bytes.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            LakeFile::Local(file) => file.get_bytes(start, length),
            LakeFile::Remote(bytes) => bytes.get_bytes(start, length),
        }
    }
}

/// A lake: a local directory, or an S3 prefix with a local scratch directory for staging.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    remote: Option<Arc<Remote>>,
    _scratch: Option<Arc<Scratch>>,
}

/// Holds the lake's writer lock until dropped (or the process dies). A lake in S3 has none:
/// its commits are conditional puts.
#[derive(Debug)]
pub struct LakeLock {
    _file: Option<File>,
}

impl Lake {
    /// A lake at `root`, created if missing.
    pub fn create(root: &Path) -> Result<Self> {
        for dir in [root.join("_trailq/log"), root.join("_trailq/staging")] {
            fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            remote: None,
            _scratch: None,
        })
    }

    /// A lake in S3 (created by its first commit); files are staged in a scratch directory.
    pub fn create_remote(remote: Remote) -> Result<Self> {
        let scratch = Scratch::new()?;
        let mut lake = Self::create(scratch.path())?;
        lake.remote = Some(Arc::new(remote));
        lake._scratch = Some(Arc::new(scratch));
        Ok(lake)
    }

    /// The S3 side of a remote lake.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_deref()
    }

    /// The lake's location, for messages: its folder or `s3://` URL.
    pub fn display(&self) -> String {
        match &self.remote {
            Some(remote) => remote.url().to_string(),
            None => self.root.display().to_string(),
        }
    }

    /// An existing lake at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join("_trailq/log").is_dir() {
            return Err(Error::NoLake(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
            remote: None,
            _scratch: None,
        })
    }

    /// The lake's root directory (the scratch directory of a remote lake).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock, failing at once if another ingest holds it. The lock is an
    /// advisory file lock, so a killed run never leaves it behind.
    pub fn lock(&self) -> Result<LakeLock> {
        if self.remote.is_some() {
            return Ok(LakeLock { _file: None });
        }
        let path = self.root.join("_trailq/lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| Error::io(&path, err))?;
        match file.try_lock() {
            Ok(()) => Ok(LakeLock { _file: Some(file) }),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked(path)),
            Err(fs::TryLockError::Error(err)) => Err(Error::io(&path, err)),
        }
    }

    /// The manifest log directory.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("_trailq/log")
    }

    /// The staging directory of a transaction.
    pub fn staging_dir(&self, txid: &str) -> PathBuf {
        self.root.join("_trailq/staging").join(txid)
    }

    /// The lake-relative directory of one partition of a table.
    pub fn partition_dir(table: Table, day: i32) -> String {
        format!("{}/event_date={}", table.name(), format_day(day))
    }

    /// The published Parquet files of a directory, as paths relative to the lake (empty if
    /// the directory is missing).
    pub fn parquet_files(&self, relative_dir: &str) -> Result<Vec<String>> {
        if let Some(remote) = &self.remote {
            return Ok(remote
                .list(&format!("{relative_dir}/"))?
                .into_iter()
                .map(|object| object.path)
                .filter(|path| path.ends_with(".parquet") && !path.contains("/_delta_log/"))
                .collect());
        }
        let dir = self.root.join(relative_dir);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(Error::io(&dir, err)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let name = entry.map_err(|err| Error::io(&dir, err))?.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".parquet") {
                files.push(format!("{relative_dir}/{name}"));
            }
        }
        files.sort();
        Ok(files)
    }

    /// Opens a published file by its path relative to the lake.
    pub fn open_file(&self, relative: &str) -> Result<LakeFile> {
        match &self.remote {
            Some(remote) => Ok(LakeFile::Remote(remote.get(relative)?)),
            None => {
                let path = self.root.join(relative);
                File::open(&path)
                    .map(LakeFile::Local)
                    .map_err(|err| Error::io(&path, err))
            }
        }
    }
}

impl Lake {
    /// A small file of the lake's own state under `_trailq/` (`relative` to the lake), or `None`
    /// when it has none.
    pub fn read_meta(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        match &self.remote {
            Some(remote) => Ok(remote.get_optional(relative)?.map(|bytes| bytes.to_vec())),
            None => {
                let path = self.root.join(relative);
                match fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(err) => Err(Error::io(&path, err)),
                }
            }
        }
    }

    /// Replaces a small file of the lake's own state, atomically (a rename; an S3 put).
    pub fn write_meta(&self, relative: &str, bytes: &[u8]) -> Result<()> {
        if let Some(remote) = &self.remote {
            return remote.put(relative, bytes.to_vec());
        }
        let path = self.root.join(relative);
        let dir = path.parent().expect("a file under the lake");
        fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
        let temp = path.with_extension("tmp");
        fs::write(&temp, bytes)
            .and_then(|()| File::open(&temp)?.sync_all())
            .map_err(|err| Error::io(&temp, err))?;
        fs::rename(&temp, &path).map_err(|err| Error::io(&temp, err))?;
        sync_dir(dir)
    }
}

/// Makes a rename or file creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|err| Error::io(dir, err))
}
