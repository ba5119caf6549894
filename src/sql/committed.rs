//! Queries read one snapshot of the lake: the store DataFusion lists the lake through shows, of
//! each table's data files, exactly those its Delta snapshot holds, and hides the Delta logs
//! (`_delta_log/`). The snapshot is taken when the session opens, pinned by `--as-of` or
//! `--as-of-version`, or replaced by the shell before each statement: a query never sees half
//! of a commit, nor files that a commit has not made part of a table yet (a publish under way,
//! a crashed one), nor those a compaction replaced.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use crate::lake::Table;

/// An object store that lists only the data files of one snapshot of the lake at `root`.
#[derive(Clone)]
pub struct CommittedFiles {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<dyn ObjectStore>,
    /// The lake's folder in the store's paths, ending in `/` (empty for a lake at the root).
    root: String,
    /// The snapshot's data files, lake-relative.
    files: RwLock<Arc<BTreeSet<String>>>,
}

impl CommittedFiles {
    /// `inner` with the lake at `root` (a path in `inner`, such as `bucket-prefix/lake` or, for
    /// the local file system, an absolute path without its leading `/`), showing `files`.
    pub fn new(inner: Arc<dyn ObjectStore>, root: &str, files: HashSet<String>) -> Self {
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
                files: RwLock::new(Arc::new(files.into_iter().collect())),
            }),
        }
    }

    /// Shows the data files of another snapshot from now on.
    pub fn show(&self, files: HashSet<String>) {
        *self.shared.files.write().expect("no writer panics") =
            Arc::new(files.into_iter().collect());
    }
}

impl Shared {
    /// The lake-relative path of a table data file, or `None` for anything else.
    fn data_file<'a>(&self, location: &'a str) -> Option<&'a str> {
        let relative = location.strip_prefix(&self.root)?;
        let table = relative.split('/').next()?;
        (relative.ends_with(".parquet") && Table::named(table).is_some()).then_some(relative)
    }

    /// What a listing of `prefix` shows: the snapshot's data files, and what is not a table's
    /// at all. A data file of the snapshot that the listing lacks (vacuumed, or deleted by hand)
    /// is an error: the rows it holds would be missing from the answer.
    fn visible(
        &self,
        prefix: Option<&Path>,
        recursive: bool,
        listed: Vec<ObjectMeta>,
    ) -> Result<Vec<ObjectMeta>> {
        let files = self.files.read().expect("no writer panics").clone();
        let shown: Vec<ObjectMeta> = listed
            .into_iter()
            .filter(|meta| {
                let location = meta.location.as_ref();
                !location.contains("/_delta_log/")
                    && self
                        .data_file(location)
                        .is_none_or(|path| files.contains(path))
            })
            .collect();
        let folder = prefix.map_or(String::new(), |p| format!("{p}/"));
        let Some(relative) = folder.strip_prefix(&self.root) else {
            return Ok(shown);
        };
        let expected = files
            .range(relative.to_string()..)
            .take_while(|path| path.starts_with(relative))
            .filter(|path| recursive || !path[relative.len()..].contains('/'));
        let present: HashSet<&str> = shown
            .iter()
            .filter_map(|meta| self.data_file(meta.location.as_ref()))
            .collect();
        if let Some(missing) = expected
            .into_iter()
            .find(|path| !present.contains(path.as_str()))
        {
            return Err(object_store::Error::NotFound {
                path: missing.clone(),
                source: "a data file of the version read is missing: deleted by `trailq vacuum` \
                         (read a version younger than its --retain) or by hand"
                    .into(),
            });
        }
        Ok(shown)
    }
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
        let listing = shared.inner.list(prefix);
        let prefix = prefix.cloned();
        futures::stream::once(async move {
            let listed: Vec<ObjectMeta> = listing.try_collect().await?;
            let visible = shared.visible(prefix.as_ref(), true, listed)?;
            Ok::<_, object_store::Error>(futures::stream::iter(visible.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = self.shared.inner.list_with_delimiter(prefix).await?;
        result.objects = self.shared.visible(prefix, false, result.objects)?;
        result
            .common_prefixes
            .retain(|prefix| prefix.filename() != Some("_delta_log"));
        Ok(result)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.shared.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn listings_show_the_snapshot_and_hide_the_delta_logs() {
        let store = Arc::new(InMemory::new());
        for path in [
            "lake/events/event_date=2024-03-05/a.parquet",
            "lake/events/event_date=2024-03-05/b.parquet",
            "lake/events/_delta_log/00000000000000000000.json",
            "lake/rejects/_delta_log/00000000000000000050.checkpoint.parquet",
            "lake/rejects/r.parquet",
            "lake/_trailq/log/00000000000000000001.json",
        ] {
            store
                .put(&Path::from(path), PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        let snapshot = [
            "events/event_date=2024-03-05/a.parquet",
            "rejects/r.parquet",
        ];
        let files = CommittedFiles::new(
            store,
            "lake",
            snapshot.iter().map(|p| p.to_string()).collect(),
        );
        let listed = |prefix: &'static str| {
            let files = files.clone();
            async move {
                let mut paths: Vec<String> = files
                    .list(Some(&Path::from(prefix)))
                    .map_ok(|meta| meta.location.to_string())
                    .try_collect()
                    .await
                    .unwrap();
                paths.sort();
                paths
            }
        };
        assert_eq!(
            listed("lake/events").await,
            ["lake/events/event_date=2024-03-05/a.parquet"]
        );
        assert_eq!(listed("lake/rejects").await, ["lake/rejects/r.parquet"]);
        assert_eq!(
            listed("lake/_trailq").await.len(),
            1,
            "not a table's: shown"
        );
        files.show(HashSet::from([
            "events/event_date=2024-03-05/b.parquet".to_string()
        ]));
        assert_eq!(
            listed("lake/events").await,
            ["lake/events/event_date=2024-03-05/b.parquet"]
        );
        let top = files
            .list_with_delimiter(Some(&Path::from("lake/rejects")))
            .await
            .unwrap();
        assert!(top.common_prefixes.is_empty(), "{:?}", top.common_prefixes);
        // A file of the snapshot that is gone (vacuumed) fails the listing of its folder only.
        files.show(HashSet::from([
            "events/event_date=2024-03-05/gone.parquet".to_string(),
            "rejects/r.parquet".to_string(),
        ]));
        let listing: Result<Vec<ObjectMeta>> = files
            .list(Some(&Path::from("lake/events")))
            .try_collect()
            .await;
        assert!(
            matches!(listing, Err(object_store::Error::NotFound { .. })),
            "{listing:?}"
        );
        assert_eq!(listed("lake/rejects").await, ["lake/rejects/r.parquet"]);
    }
}
