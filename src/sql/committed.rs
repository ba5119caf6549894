//! Queries read one snapshot of the lake: the store DataFusion lists the lake through shows, of
//! each table's data files, exactly those its Delta snapshot holds, and hides the Delta logs
//! (`_delta_log/`). The snapshot is taken when the session opens, pinned by `--as-of` or
//! `--as-of-version`, or replaced by the shell before each statement: a query never sees half
//! of a commit, nor files that a commit has not made part of a table yet (a publish under way,
//! a crashed one), nor those a compaction replaced.
//!
//! Listings inside a table are answered from the snapshot (the Delta log has each file's size
//! and time), not from the store: a table with a long history has a `_delta_log/` folder of
//! thousands of objects, which a listing of the table would otherwise walk.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use crate::lake::Table;
use crate::lake::delta::DataFile;

/// The snapshot's data files, by lake-relative path.
type Files = BTreeMap<String, DataFile>;

/// An object store that lists only the data files of one snapshot of the lake at `root`.
#[derive(Clone)]
pub struct CommittedFiles {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<dyn ObjectStore>,
    /// The lake's folder in the store's paths, ending in `/` (empty for a lake at the root).
    root: String,
    files: RwLock<Arc<Files>>,
}

impl CommittedFiles {
    /// `inner` with the lake at `root` (a path in `inner`, such as `bucket-prefix/lake` or, for
    /// the local file system, an absolute path without its leading `/`), showing `files`.
    pub fn new(inner: Arc<dyn ObjectStore>, root: &str, files: Files) -> Self {
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
                files: RwLock::new(Arc::new(files)),
            }),
        }
    }

    /// Shows the data files of another snapshot from now on.
    pub fn show(&self, files: Files) {
        *self.shared.files.write().expect("no writer panics") = Arc::new(files);
    }
}

impl Shared {
    fn files(&self) -> Arc<Files> {
        self.files.read().expect("no writer panics").clone()
    }

    /// The lake-relative path of a table data file, or `None` for anything else.
    fn data_file<'a>(&self, location: &'a str) -> Option<&'a str> {
        let relative = location.strip_prefix(&self.root)?;
        let table = relative.split('/').next()?;
        (relative.ends_with(".parquet") && Table::named(table).is_some()).then_some(relative)
    }

    /// The lake-relative folder (ending in `/`) of a listing prefix inside a table.
    fn table_folder(&self, prefix: Option<&Path>) -> Option<String> {
        let folder = format!("{}/", prefix?.as_ref());
        let relative = folder.strip_prefix(&self.root)?;
        let table = relative.split('/').next()?;
        Table::named(table).is_some().then(|| relative.to_string())
    }

    /// The snapshot's files under a lake-relative folder, as listed objects.
    fn under(&self, folder: &str) -> Vec<(String, ObjectMeta)> {
        self.files()
            .range(folder.to_string()..)
            .take_while(|(path, _)| path.starts_with(folder))
            .map(|(path, file)| (path[folder.len()..].to_string(), self.meta(path, file)))
            .collect()
    }

    fn meta(&self, relative: &str, file: &DataFile) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(format!("{}{relative}", self.root)),
            last_modified: Utc
                .timestamp_millis_opt(file.modified_ms)
                .single()
                .unwrap_or_default(),
            size: file.size,
            e_tag: None,
            version: None,
        }
    }

    /// A read of a data file that is gone says why it may be (the snapshot holds it).
    fn explain_missing(&self, location: &Path, err: object_store::Error) -> object_store::Error {
        match err {
            object_store::Error::NotFound { path, .. }
                if self.data_file(location.as_ref()).is_some() =>
            {
                object_store::Error::NotFound {
                    path,
                    source: "a data file of the version read is missing: deleted by `trailq \
                             vacuum` (read a version younger than its --retain) or by hand"
                        .into(),
                }
            }
            other => other,
        }
    }

    /// What a store listing outside the tables shows: all but the Delta logs and the table
    /// files the snapshot does not hold.
    fn visible(&self, listed: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
        let files = self.files();
        listed
            .into_iter()
            .filter(|meta| {
                let location = meta.location.as_ref();
                !location.contains("/_delta_log/")
                    && self
                        .data_file(location)
                        .is_none_or(|path| files.contains_key(path))
            })
            .collect()
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
        let result = self.shared.inner.get_opts(location, options).await;
        result.map_err(|err| self.shared.explain_missing(location, err))
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let result = self.shared.inner.get_ranges(location, ranges).await;
        result.map_err(|err| self.shared.explain_missing(location, err))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.shared.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if let Some(folder) = self.shared.table_folder(prefix) {
            let objects = self
                .shared
                .under(&folder)
                .into_iter()
                .map(|(_, meta)| Ok(meta));
            return futures::stream::iter(objects).boxed();
        }
        let shared = self.shared.clone();
        let listing = shared.inner.list(prefix);
        futures::stream::once(async move {
            let listed: Vec<ObjectMeta> = listing.try_collect().await?;
            let visible = shared.visible(listed);
            Ok::<_, object_store::Error>(futures::stream::iter(visible.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        if let Some(folder) = self.shared.table_folder(prefix) {
            let mut objects = Vec::new();
            let mut folders = BTreeSet::new();
            for (rest, meta) in self.shared.under(&folder) {
                match rest.split_once('/') {
                    Some((child, _)) => {
                        folders.insert(format!("{}{folder}{child}", self.shared.root));
                    }
                    None => objects.push(meta),
                }
            }
            let common_prefixes = folders.into_iter().map(Path::from).collect();
            return Ok(ListResult {
                common_prefixes,
                objects,
            });
        }
        let mut result = self.shared.inner.list_with_delimiter(prefix).await?;
        result.objects = self.shared.visible(result.objects);
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

    fn snapshot(paths: &[&str]) -> Files {
        let file = DataFile {
            size: 1,
            modified_ms: 0,
        };
        paths.iter().map(|p| (p.to_string(), file)).collect()
    }

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
        let files = CommittedFiles::new(
            store,
            "lake",
            snapshot(&[
                "events/event_date=2024-03-05/a.parquet",
                "rejects/r.parquet",
            ]),
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
        let everything = listed("lake").await;
        assert_eq!(everything.len(), 3, "{everything:?}");
        files.show(snapshot(&["events/event_date=2024-03-05/b.parquet"]));
        assert_eq!(
            listed("lake/events").await,
            ["lake/events/event_date=2024-03-05/b.parquet"]
        );
        let days = files
            .list_with_delimiter(Some(&Path::from("lake/events")))
            .await
            .unwrap();
        let days: Vec<String> = days.common_prefixes.iter().map(|p| p.to_string()).collect();
        assert_eq!(days, ["lake/events/event_date=2024-03-05"]);
        let top = files
            .list_with_delimiter(Some(&Path::from("lake/rejects")))
            .await
            .unwrap();
        assert!(top.common_prefixes.is_empty(), "{:?}", top.common_prefixes);
        assert!(top.objects.is_empty(), "not in this snapshot");
    }

    #[tokio::test]
    async fn a_vacuumed_file_of_the_snapshot_fails_its_read_with_the_reason() {
        let store = Arc::new(InMemory::new());
        let files = CommittedFiles::new(
            store,
            "lake",
            snapshot(&["events/event_date=2024-03-05/gone.parquet"]),
        );
        let listed: Vec<ObjectMeta> = files
            .list(Some(&Path::from("lake/events")))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "the snapshot's file is listed");
        let err = files.get(&listed[0].location).await.unwrap_err();
        assert!(
            matches!(err, object_store::Error::NotFound { .. })
                && format!("{err:?}").contains("trailq vacuum"),
            "{err:?}"
        );
    }
}
