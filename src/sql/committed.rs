//! Queries read committed files only, as of one transaction: the store DataFusion lists the
//! lake through hides every data file the manifest does not have live, and the tables' Delta
//! logs (`_delta_log/`, for other engines).
//!
//! Publishing a transaction is not atomic on disk: files are moved into place one by one, and
//! the files it replaces (compaction, a re-run of detect) are deleted after. A listing taken in
//! between, or after a crash there, holds old and new files together. For each folder it lists,
//! this store shows the newest state of the log whose files are all there: the state after a
//! transaction still being published is not, so its readers keep the state before it, whose
//! replaced files are not deleted until every new one is in place. Files the log does not know
//! mean it changed since it was read: it is read again (only the new entries).

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use tokio::sync::Mutex;

use crate::lake::{LOG_DIR, Table, Transaction, live_files};

/// An object store that lists only the committed files of the lake at `root`.
#[derive(Clone)]
pub struct CommittedFiles {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<dyn ObjectStore>,
    /// The lake's folder in the store's paths, ending in `/` (empty for a lake at the root).
    root: String,
    log: Mutex<Log>,
}

/// The transactions read so far, and their log entries' names.
#[derive(Default)]
struct Log {
    names: BTreeSet<String>,
    transactions: Vec<Transaction>,
}

impl CommittedFiles {
    /// `inner` with the lake at `root` (a path in `inner`, such as `bucket-prefix/lake` or, for
    /// the local file system, an absolute path without its leading `/`).
    pub fn new(inner: Arc<dyn ObjectStore>, root: &str) -> Self {
        let root = root.trim_matches('/');
        let root = if root.is_empty() {
            String::new()
        } else {
            format!("{root}/")
        };
        Self {
            shared: Arc::new(Shared {
                inner,
                root,
                log: Mutex::new(Log::default()),
            }),
        }
    }
}

/// What a listing covers: a folder, with or without its subfolders.
#[derive(Clone)]
struct Scope {
    folder: String,
    recursive: bool,
}

impl Scope {
    fn contains(&self, path: &str) -> bool {
        path.strip_prefix(&self.folder)
            .is_some_and(|rest| self.recursive || !rest.contains('/'))
    }
}

impl Shared {
    /// The lake-relative path of a table data file, or `None` for anything else.
    fn data_file<'a>(&self, location: &'a str) -> Option<&'a str> {
        let relative = location.strip_prefix(&self.root)?;
        let table = relative.split('/').next()?;
        let data = relative.ends_with(".parquet") && !relative.contains("/_delta_log/");
        (data && Table::named(table).is_some()).then_some(relative)
    }

    /// The scope of a listing of `prefix`, when it is inside the lake.
    fn scope(&self, prefix: Option<&Path>, recursive: bool) -> Option<Scope> {
        let prefix = prefix.map_or("", |p| p.as_ref());
        let folder = format!("{prefix}/");
        let relative = if folder == "/" {
            self.root.is_empty().then(String::new)?
        } else {
            folder.strip_prefix(&self.root)?.to_string()
        };
        Some(Scope {
            folder: relative,
            recursive,
        })
    }

    /// Reads the log entries written since the last read.
    async fn refresh(&self, log: &mut Log) -> Result<()> {
        let dir = Path::from(format!("{}{LOG_DIR}", self.root));
        let mut names: Vec<String> = self
            .inner
            .list(Some(&dir))
            .map_ok(|meta| meta.location.to_string())
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .filter(|name| {
                let file = name.rsplit('/').next().unwrap_or(name);
                file.ends_with(".json") && !file.starts_with('.') && !log.names.contains(name)
            })
            .collect();
        names.sort();
        // Entries are fetched many at a time: a lake in S3 can have thousands.
        let inner = &self.inner;
        let entries: Vec<(String, Bytes)> = futures::stream::iter(names)
            .map(|name| async move {
                let bytes = inner.get(&Path::from(name.as_str())).await?.bytes().await?;
                Ok::<_, object_store::Error>((name, bytes))
            })
            .buffered(16)
            .try_collect()
            .await?;
        for (name, bytes) in entries {
            let transaction: Transaction =
                serde_json::from_slice(&bytes).map_err(|err| object_store::Error::Generic {
                    store: "trailq lake",
                    source: format!("manifest entry {name} is unreadable: {err}").into(),
                })?;
            log.transactions.push(transaction);
            log.names.insert(name);
        }
        log.transactions.sort_by_key(|t| t.seq);
        Ok(())
    }

    /// The committed data files of a listing, and everything else it holds.
    async fn visible(
        &self,
        listed: Vec<ObjectMeta>,
        scope: Option<Scope>,
    ) -> Result<Vec<ObjectMeta>> {
        let Some(scope) = scope else {
            return Ok(listed);
        };
        let present: HashSet<&str> = listed
            .iter()
            .filter_map(|meta| self.data_file(meta.location.as_ref()))
            .collect();
        let mut log = self.log.lock().await;
        if log.names.is_empty() {
            self.refresh(&mut log).await?;
        }
        let mut choice = choose(&log.transactions, &present, &scope);
        if choice.is_none() {
            self.refresh(&mut log).await?;
            choice = choose(&log.transactions, &present, &scope);
        }
        let shown = match choice {
            Some(files) => files,
            None => {
                log::warn!(
                    "the lake changed while it was read ({} holds files its log does not name); showing every file",
                    scope.folder
                );
                present.iter().map(|p| p.to_string()).collect()
            }
        };
        Ok(listed
            .into_iter()
            .filter(|meta| {
                let location = meta.location.as_ref();
                !location.contains("/_delta_log/")
                    && self
                        .data_file(location)
                        .is_none_or(|path| shown.contains(path))
            })
            .collect())
    }
}

/// The data files of `scope` to show, given those `present`: the newest state of the log whose
/// files in scope are all present, stepping back only over transactions that are not fully
/// published. `None` when a present file is unknown to the log (the log has grown since read).
fn choose(log: &[Transaction], present: &HashSet<&str>, scope: &Scope) -> Option<HashSet<String>> {
    let outputs = |t: &Transaction| -> Vec<String> {
        t.outputs
            .iter()
            .map(|o| o.path.clone())
            .filter(|p| scope.contains(p))
            .collect()
    };
    let present: HashSet<&str> = present
        .iter()
        .copied()
        .filter(|p| scope.contains(p))
        .collect();
    let known: HashSet<String> = log.iter().flat_map(outputs).collect();
    if present.iter().any(|p| !known.contains(*p)) {
        return None;
    }
    let mut live: HashSet<String> = live_files(log)
        .into_keys()
        .filter(|p| scope.contains(p))
        .map(str::to_string)
        .collect();
    for transaction in log.iter().rev() {
        if live.iter().all(|p| present.contains(p.as_str())) {
            return Some(live);
        }
        let written = outputs(transaction);
        if written.iter().all(|p| present.contains(p.as_str())) {
            // This transaction is published, yet files of the state after it are missing:
            // deleted by hand. Show what is there.
            log::warn!(
                "{}: files named by the lake's log are missing; showing those that are there",
                scope.folder
            );
            live.retain(|p| present.contains(p.as_str()));
            return Some(live);
        }
        // Not published yet: the state before it, whose replaced files are still there.
        for path in written {
            live.remove(&path);
        }
        live.extend(
            transaction
                .removed
                .iter()
                .filter(|p| scope.contains(p))
                .cloned(),
        );
    }
    Some(live)
}

impl fmt::Display for CommittedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "committed files of {}", self.shared.inner)
    }
}

impl fmt::Debug for CommittedFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CommittedFiles({:?}, {})",
            self.shared.inner, self.shared.root
        )
    }
}

#[async_trait]
impl ObjectStore for CommittedFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.shared.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.shared.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.shared.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.shared.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.shared.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let shared = self.shared.clone();
        let scope = shared.scope(prefix, true);
        let listing = shared.inner.list(prefix);
        futures::stream::once(async move {
            let listed: Vec<ObjectMeta> = listing.try_collect().await?;
            let visible = shared.visible(listed, scope).await?;
            Ok::<_, object_store::Error>(futures::stream::iter(visible.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = self.shared.inner.list_with_delimiter(prefix).await?;
        let scope = self.shared.scope(prefix, false);
        result.objects = self.shared.visible(result.objects, scope).await?;
        Ok(result)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.shared.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::OutputEntry;

    fn transaction(seq: u64, outputs: &[&str], removed: &[&str]) -> Transaction {
        Transaction {
            seq,
            txid: format!("t{seq}"),
            writer: String::new(),
            started_at: String::new(),
            committed_at: String::new(),
            sources: Vec::new(),
            outputs: outputs
                .iter()
                .map(|path| OutputEntry {
                    path: path.to_string(),
                    rows: 1,
                    bytes: 1,
                    layout: None,
                    stats: None,
                })
                .collect(),
            removed: removed.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn shown(log: &[Transaction], present: &[&str]) -> Option<Vec<String>> {
        let scope = Scope {
            folder: "events/d=1/".into(),
            recursive: false,
        };
        let present: HashSet<&str> = present.iter().copied().collect();
        choose(log, &present, &scope).map(|files| {
            let mut files: Vec<String> = files.into_iter().collect();
            files.sort();
            files
        })
    }

    #[test]
    fn a_replacement_is_seen_whole_or_not_at_all() {
        let (a, b, c) = (
            "events/d=1/a.parquet",
            "events/d=1/b.parquet",
            "events/d=1/c.parquet",
        );
        let log = [
            transaction(1, &[a], &[]),
            transaction(2, &[b], &[]),
            // Compaction: c replaces a and b.
            transaction(3, &[c], &[a, b]),
        ];
        // Before the publish, half-way, after the move, and done.
        assert_eq!(shown(&log, &[a, b]).unwrap(), [a, b]);
        assert_eq!(shown(&log, &[a, b, c]).unwrap(), [c]);
        assert_eq!(shown(&log, &[b, c]).unwrap(), [c]);
        assert_eq!(shown(&log, &[c]).unwrap(), [c]);
        // A file of a transaction still being published is not shown.
        let two = [transaction(1, &[a], &[]), transaction(2, &[b, c], &[a])];
        assert_eq!(shown(&two, &[a, b]).unwrap(), [a]);
        // A file the log does not name: the log is stale.
        assert_eq!(shown(&log[..2], &[c]), None);
        // Files of other folders do not count.
        assert_eq!(shown(&log, &[c, "events/d=2/x.parquet"]).unwrap(), [c]);
    }

    #[test]
    fn files_deleted_by_hand_leave_the_rest_visible() {
        let (a, b) = ("events/d=1/a.parquet", "events/d=1/b.parquet");
        let log = [transaction(1, &[a], &[]), transaction(2, &[b], &[])];
        assert_eq!(shown(&log, &[b]).unwrap(), [b]);
    }
}
