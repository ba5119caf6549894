//! One row per event: the `eventID` keys already in a partition, and those added by this run.
//!
//! A re-delivered event has the same `eventID` and the same `eventTime`, so it lands in the same
//! `event_date` partition: checking that partition's keys is enough, and memory grows with the
//! partitions a run touches, not with the lake. Records without an `eventID` (event versions
//! before 1.01) are keyed by their source object and index, so re-reading a file never
//! duplicates them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed};

use crate::error::{Error, Result};
use crate::lake::{Lake, Manifest};
use crate::record::schema::{SOURCE_FILE, SOURCE_INDEX};
use crate::sink::Partition;

/// The de-duplication key of a row: a 128-bit hash of its `eventID`, or of its lineage when it
/// has none.
pub fn dedupe_key(event_id: Option<&str>, source: &str, index: u64) -> u128 {
    match event_id {
        Some(id) => xxh3_128(id.as_bytes()),
        None => {
            let mut lineage = Vec::with_capacity(source.len() + 9);
            lineage.extend_from_slice(source.as_bytes());
            lineage.push(0);
            lineage.extend_from_slice(&index.to_le_bytes());
            xxh3_128_with_seed(&lineage, 1)
        }
    }
}

type Keys = Mutex<HashSet<u128>>;
/// A partition's keys, loaded once by whichever worker needs them first.
type LoadedKeys = Arc<OnceLock<Result<Keys, String>>>;

/// The keys of every partition a run has touched, shared by its workers.
pub struct Dedupe<'a> {
    lake: &'a Lake,
    manifest: &'a Manifest,
    partitions: Mutex<HashMap<Partition, LoadedKeys>>,
    removed: AtomicU64,
}

impl<'a> Dedupe<'a> {
    /// An empty set over `lake`; a partition's keys are read from the files `manifest` has live
    /// in it when first needed.
    pub fn new(lake: &'a Lake, manifest: &'a Manifest) -> Self {
        Self {
            lake,
            manifest,
            partitions: Mutex::new(HashMap::new()),
            removed: AtomicU64::new(0),
        }
    }

    /// Which of these rows are new to `partition`; the new ones are remembered.
    pub fn keep(&self, partition: Partition, keys: &[u128]) -> Result<Vec<bool>> {
        let cell = self
            .partitions
            .lock()
            .expect("dedupe lock poisoned")
            .entry(partition)
            .or_default()
            .clone();
        // Loading happens outside the map lock, so partitions load in parallel.
        let loaded = cell.get_or_init(|| {
            load_keys(self.lake, self.manifest, partition)
                .map(Mutex::new)
                .map_err(|err| err.to_string())
        });
        let seen = loaded
            .as_ref()
            .map_err(|err| Error::LakeData(err.clone()))?;
        let mut seen = seen.lock().expect("dedupe lock poisoned");
        let keep: Vec<bool> = keys.iter().map(|key| seen.insert(*key)).collect();
        let removed = keep.iter().filter(|k| !**k).count() as u64;
        self.removed.fetch_add(removed, Ordering::Relaxed);
        Ok(keep)
    }

    /// Rows refused as duplicates so far.
    pub fn removed(&self) -> u64 {
        self.removed.load(Ordering::Relaxed)
    }
}

/// Reads the keys of a partition's live files.
fn load_keys(lake: &Lake, manifest: &Manifest, partition: Partition) -> Result<HashSet<u128>> {
    let mut keys = HashSet::new();
    let dir = Lake::partition_dir(partition.table, partition.day);
    for path in manifest.live_in(&dir) {
        let file = lake.open_file(&path)?;
        let path = std::path::PathBuf::from(lake.display()).join(&path);
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|err| Error::parquet(&path, err))?;
        let mask = ProjectionMask::columns(
            builder.parquet_schema(),
            ["eventid", SOURCE_FILE, SOURCE_INDEX],
        );
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|err| Error::parquet(&path, err))?;
        for batch in reader {
            let batch = batch.map_err(|err| Error::Parquet {
                path: path.clone(),
                source: err.into(),
            })?;
            let ids = batch
                .column_by_name("eventid")
                .map(|c| c.as_string::<i32>().clone());
            let sources = batch
                .column_by_name(SOURCE_FILE)
                .map(|c| c.as_string::<i32>().clone());
            let indexes = batch
                .column_by_name(SOURCE_INDEX)
                .map(|c| c.as_primitive::<Int64Type>().clone());
            let (Some(ids), Some(sources), Some(indexes)) = (ids, sources, indexes) else {
                return Err(Error::LakeData(format!(
                    "{} is not a trailq events file (no eventid or lineage columns)",
                    path.display()
                )));
            };
            for row in 0..batch.num_rows() {
                let id = ids.is_valid(row).then(|| ids.value(row));
                keys.insert(dedupe_key(
                    id,
                    sources.value(row),
                    indexes.value(row) as u64,
                ));
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_prefer_the_event_id() {
        assert_eq!(
            dedupe_key(Some("a"), "f1", 0),
            dedupe_key(Some("a"), "f2", 9)
        );
        assert_ne!(dedupe_key(None, "f1", 0), dedupe_key(None, "f1", 1));
        assert_ne!(dedupe_key(None, "f1", 0), dedupe_key(None, "f2", 0));
        assert_eq!(dedupe_key(None, "f1", 3), dedupe_key(None, "f1", 3));
    }
}
