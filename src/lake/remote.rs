//! A lake in S3, written and read through `object_store`. The layout is the local one; the
//! commit protocol is the same with S3's primitives:
//!
//! 1. Staged files are uploaded under `_trailq/staging/<txid>/`: no table listing sees them.
//! 2. The transaction is put at `_trailq/log/<seq>.json` with `If-None-Match: *` (a conditional
//!    put): S3 refuses it when that entry exists, so two writers never both commit one sequence
//!    number. **This is the commit point.** A writer that loses reloads the log and takes the
//!    next number, unless the winner read one of its sources or replaced one of the files it
//!    replaces (then it gives up, and the next run finds that work done).
//! 3. Each staged object is copied to its place, the files the transaction replaces are
//!    deleted, then the staged objects.
//!
//! There is no lock object: concurrent writers (`--shard`) are safe by step 2. A crash leaves
//! staged objects; the next run publishes those of committed transactions and deletes those of
//! uncommitted ones once they are older than [`ABANDONED_AFTER`] (younger ones may belong to a
//! writer still running).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::s3::S3Url;

/// Staged objects of an uncommitted transaction older than this are left by a crashed writer.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(6 * 3600);
/// Requests in flight for uploads, copies and log reads.
const CONCURRENCY: usize = 8;
/// Attempts of one lake operation. `object_store` retries each request itself; this also
/// covers what it does not retry, such as a response body cut short.
const ATTEMPTS: u32 = 4;

/// Runs `op` until it succeeds, fails for good, or has been tried [`ATTEMPTS`] times.
async fn retried<T, F, Fut>(what: &str, mut op: F) -> object_store::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = object_store::Result<T>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match op().await {
            Err(err @ object_store::Error::Generic { .. }) if attempt < ATTEMPTS => {
                log::debug!("{what}: {err}; trying again (attempt {attempt} of {ATTEMPTS})");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// An object of the lake, by its path relative to the lake's prefix.
#[derive(Debug, Clone)]
pub struct RemoteObject {
    /// Path relative to the lake prefix (`events/event_date=.../part.parquet`).
    pub path: String,
    /// Age since its last modification.
    pub age: Duration,
}

/// A lake under an S3 prefix.
pub struct Remote {
    url: S3Url,
    store: Arc<dyn ObjectStore>,
    handle: Handle,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

impl Remote {
    /// The lake at `url` through `store`; blocking calls run on `handle`.
    pub fn new(url: S3Url, store: Arc<dyn ObjectStore>, handle: Handle) -> Self {
        Self { url, store, handle }
    }

    /// The lake's URL.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// The store, rooted at the bucket.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The runtime its requests run on.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    fn path(&self, relative: &str) -> StorePath {
        StorePath::from(format!("{}{relative}", self.url.prefix))
    }

    fn relative(&self, path: &StorePath) -> String {
        let full = path.as_ref();
        full.strip_prefix(&self.url.prefix)
            .unwrap_or(full)
            .to_string()
    }

    /// `s3://bucket/prefix/relative`, for messages.
    pub fn display(&self, relative: &str) -> String {
        format!("{}{relative}", self.url)
    }

    fn error(&self, relative: &str, err: object_store::Error) -> Error {
        Error::S3 {
            url: self.display(relative),
            message: err.to_string(),
        }
    }

    /// Every object under a directory of the lake (recursively), in path order.
    pub fn list(&self, relative_dir: &str) -> Result<Vec<RemoteObject>> {
        self.list_from(relative_dir, None)
    }

    /// The objects under a directory of the lake whose paths sort after `after` (a relative
    /// path), in path order: S3 starts the listing there, so what precedes it costs nothing.
    pub fn list_after(&self, relative_dir: &str, after: &str) -> Result<Vec<RemoteObject>> {
        self.list_from(relative_dir, Some(after))
    }

    fn list_from(&self, relative_dir: &str, after: Option<&str>) -> Result<Vec<RemoteObject>> {
        let prefix = self.path(relative_dir.trim_end_matches('/'));
        let offset = after.map(|after| self.path(after));
        let now = Utc::now();
        let list = retried(relative_dir, || {
            match &offset {
                Some(offset) => self.store.list_with_offset(Some(&prefix), offset),
                None => self.store.list(Some(&prefix)),
            }
            .try_collect::<Vec<_>>()
        });
        let mut objects: Vec<RemoteObject> = self
            .handle
            .block_on(list)
            .map_err(|err| self.error(relative_dir, err))?
            .into_iter()
            .map(|meta| RemoteObject {
                path: self.relative(&meta.location),
                age: (now - meta.last_modified).to_std().unwrap_or_default(),
            })
            .collect();
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(objects)
    }

    /// Puts `bytes` at `relative`, replacing what is there (an S3 put is atomic).
    pub fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(relative);
        let payload = PutPayload::from(bytes);
        let put = retried(relative, || self.store.put(&path, payload.clone()));
        self.handle
            .block_on(put)
            .map(|_| ())
            .map_err(|err| self.error(relative, err))
    }

    /// The content of one object, or `None` when there is none.
    pub fn get_optional(&self, relative: &str) -> Result<Option<Bytes>> {
        match self.handle.block_on(self.fetch(relative)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.error(relative, err)),
        }
    }

    /// The content of one object.
    pub fn get(&self, relative: &str) -> Result<Bytes> {
        self.handle
            .block_on(self.fetch(relative))
            .map_err(|err| self.error(relative, err))
    }

    async fn fetch(&self, relative: &str) -> object_store::Result<Bytes> {
        let path = self.path(relative);
        retried(relative, || async {
            self.store.get(&path).await?.bytes().await
        })
        .await
    }

    /// The contents of many objects, fetched concurrently, in the order asked.
    pub fn get_many(&self, relatives: &[String]) -> Result<Vec<Bytes>> {
        self.handle.block_on(
            futures::stream::iter(relatives)
                .map(|relative| async move {
                    let bytes = self.fetch(relative).await;
                    bytes.map_err(|err| self.error(relative, err))
                })
                .buffered(CONCURRENCY)
                .try_collect(),
        )
    }

    /// Uploads local files to their relative paths, concurrently.
    pub fn upload(&self, files: &[(std::path::PathBuf, String)]) -> Result<()> {
        self.handle.block_on(
            futures::stream::iter(files)
                .map(|(local, relative)| async move {
                    let payload = PutPayload::from(
                        tokio::fs::read(local)
                            .await
                            .map_err(|err| Error::io(local, err))?,
                    );
                    let path = self.path(relative);
                    retried(relative, || self.store.put(&path, payload.clone()))
                        .await
                        .map_err(|err| self.error(relative, err))?;
                    Ok::<_, Error>(())
                })
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>(),
        )?;
        Ok(())
    }

    /// Puts `bytes` at `relative` only if nothing is there: `false` when something was.
    pub fn create(&self, relative: &str, bytes: Vec<u8>) -> Result<bool> {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let path = self.path(relative);
        let payload = PutPayload::from(bytes);
        let put = retried(relative, || {
            self.store.put_opts(&path, payload.clone(), options.clone())
        });
        match self.handle.block_on(put) {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(err) => Err(self.error(relative, err)),
        }
    }

    /// Copies objects, concurrently; sources already gone are skipped (their publish deleted
    /// them after copying them), so an interrupted publish can run again.
    pub fn copy_all(&self, copies: &[(String, String)]) -> Result<()> {
        self.handle.block_on(
            futures::stream::iter(copies)
                .map(|(from, to)| async move {
                    let (source, target) = (self.path(from), self.path(to));
                    match retried(from, || self.store.copy(&source, &target)).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(err) => Err(self.error(from, err)),
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>(),
        )?;
        Ok(())
    }

    /// Deletes objects; those already gone are fine.
    pub fn delete_all(&self, relatives: &[String]) -> Result<()> {
        self.handle.block_on(
            futures::stream::iter(relatives)
                .map(|relative| async move {
                    let path = self.path(relative);
                    match retried(relative, || self.store.delete(&path)).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(err) => Err(self.error(relative, err)),
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .try_collect::<Vec<()>>(),
        )?;
        Ok(())
    }
}

/// A local scratch directory (staging space of a remote lake), removed when dropped.
#[derive(Debug)]
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    /// A new empty directory under the system's temporary directory.
    pub fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "trailq-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
