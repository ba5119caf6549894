//! The lake on disk: table directories of Hive-partitioned Parquet, and trailq's own state under
//! `_trailq/` (the manifest log, staging space for uncommitted files, the writer lock).
//!
//! ```text
//! <lake>/events/event_date=YYYY-MM-DD/part-<txid>-<n>.parquet
//! <lake>/insights/event_date=YYYY-MM-DD/...
//! <lake>/rejects/part-<txid>.parquet
//! <lake>/_trailq/log/<seq>.json          one committed transaction each: the manifest
//! <lake>/_trailq/staging/<txid>/...      files written but not yet published
//! <lake>/_trailq/lock                    held (flock) by the one running ingest
//! ```

mod commit;
mod manifest;

pub use commit::{commit, recover};
pub use manifest::{Manifest, OutputEntry, SourceEntry, SourceStatus, Transaction};

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::record::time::format_day;
use crate::source::Table;

/// The directory name of the rejects table.
pub const REJECTS: &str = "rejects";

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

/// Holds the lake's writer lock until dropped (or the process dies).
#[derive(Debug)]
pub struct LakeLock {
    _file: File,
}

impl Lake {
    /// A lake at `root`, created if missing.
    pub fn create(root: &Path) -> Result<Self> {
        for dir in [root.join("_trailq/log"), root.join("_trailq/staging")] {
            fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// An existing lake at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        if !root.join("_trailq/log").is_dir() {
            return Err(Error::NoLake(root.to_path_buf()));
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the writer lock, failing at once if another ingest holds it. The lock is an
    /// advisory file lock, so a killed run never leaves it behind.
    pub fn lock(&self) -> Result<LakeLock> {
        let path = self.root.join("_trailq/lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| Error::io(&path, err))?;
        match file.try_lock() {
            Ok(()) => Ok(LakeLock { _file: file }),
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

    /// The published Parquet files of a directory relative to the lake (empty if missing).
    pub fn parquet_files(&self, relative_dir: &str) -> Result<Vec<PathBuf>> {
        let dir = self.root.join(relative_dir);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(Error::io(&dir, err)),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|err| Error::io(&dir, err))?.path();
            if path.extension().is_some_and(|ext| ext == "parquet") {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Makes a rename or file creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|err| Error::io(dir, err))
}
