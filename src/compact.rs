//! `trailq compact`: rewrites each `events` and `insights` partition that has several files, or
//! files in an older layout, as a few large files in the current layout (see `sink`).
//!
//! Ingest writes a file each time its memory budget fills, so a backfill, or a day ingested
//! over many runs, leaves many small files in a partition; every engine then pays per file.
//! Compaction reads a partition one time window at a time, so memory stays within a budget
//! whatever the partition's size, and writes one file per window. Its transactions list the
//! files they replace: one atomic commit makes the new files visible and retires the old, the
//! same protocol as ingest (`lake::commit`). The rows are the same rows, checked by count.
//!
//! Rewriting an `events` day also derives its `sessions` from the rows, as one file that
//! replaces the day's others: a lake ingested before that table existed gets it this way.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::TimestampMillisecondType;
use chrono::Utc;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::identity;
use crate::ingest::stage_sessions;
use crate::lake::{
    Lake, LakeFile, Manifest, OutputEntry, Table, Transaction, commit, new_txid, recover,
};
use crate::record::schema::{EVENT_TIME, events_file_schema};
use crate::record::time::parse_day;
use crate::sink::{LAYOUT, write_sorted};

/// Partitions' input bytes per committed transaction: a long compaction commits in steps.
const COMMIT_EVERY: u64 = 4 << 30;
const MS_PER_MINUTE: i64 = 60_000;

/// Which partitions to compact, and how much memory to use.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Bytes of decoded rows held at once: a partition larger than this is written as
    /// several files, each a slice of the day.
    pub memory_budget: u64,
    /// First day (days since 1970-01-01) to compact.
    pub since: Option<i32>,
    /// Last day to compact.
    pub until: Option<i32>,
}

/// What a run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CompactSummary {
    /// Partitions rewritten.
    pub partitions: u64,
    /// Files they held before.
    pub files_before: u64,
    /// Files they hold now.
    pub files_after: u64,
    /// Rows rewritten.
    pub rows: u64,
    /// Bytes before.
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// One partition to rewrite: its folder and live files, and for `events` the live `sessions`
/// files of its day, which the rewrite derives again.
struct Partition {
    table: Table,
    day: i32,
    dir: String,
    files: Vec<OutputEntry>,
    sessions: Vec<String>,
}

/// Compacts the partitions of `lake` that need it.
pub fn compact(lake: &Lake, options: &CompactOptions) -> Result<CompactSummary> {
    let started = Instant::now();
    let _lock = lake.lock()?;
    let mut manifest = Manifest::load(lake)?;
    recover(lake, &manifest)?;
    let plan = plan(&manifest, options);
    let mut summary = CompactSummary::default();
    let mut start = 0;
    while start < plan.len() {
        // Partitions up to COMMIT_EVERY input bytes go into one transaction.
        let mut end = start;
        let mut bytes = 0;
        while end < plan.len() && (end == start || bytes < COMMIT_EVERY) {
            bytes += plan[end].files.iter().map(|f| f.bytes).sum::<u64>();
            end += 1;
        }
        let started_at = Utc::now();
        let txid = new_txid();
        let mut outputs = Vec::new();
        let mut removed = Vec::new();
        for partition in &plan[start..end] {
            let written = rewrite(lake, &txid, partition, options.memory_budget);
            let (written, sessions) = match written {
                Ok(written) => written,
                Err(err) => {
                    let _ = std::fs::remove_dir_all(lake.staging_dir(&txid));
                    return Err(err);
                }
            };
            summary.partitions += 1;
            summary.files_before += partition.files.len() as u64;
            summary.files_after += written.len() as u64;
            summary.rows += written.iter().map(|f| f.rows).sum::<u64>();
            summary.bytes_before += partition.files.iter().map(|f| f.bytes).sum::<u64>();
            summary.bytes_after += written.iter().map(|f| f.bytes).sum::<u64>();
            outputs.extend(written);
            outputs.extend(sessions);
            removed.extend(partition.files.iter().map(|f| f.path.clone()));
            removed.extend(partition.sessions.iter().cloned());
        }
        let transaction = Transaction::replacing(txid, "compact", started_at, outputs, removed);
        commit(lake, &mut manifest, transaction)?;
        summary.transactions += 1;
        start = end;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The partitions with more than one file, or with a file in another layout, or (for
/// `events`) with a file whose sessions were never derived, in day order.
fn plan(manifest: &Manifest, options: &CompactOptions) -> Vec<Partition> {
    let mut partitions: BTreeMap<(Table, i32), Vec<OutputEntry>> = BTreeMap::new();
    let mut sessions: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (path, entry) in manifest.live_files() {
        let mut parts = path.split('/');
        let (Some(table), Some(folder), Some(_file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(table) = Table::named(table) else {
            continue;
        };
        let Some(day) = folder.strip_prefix("event_date=").and_then(parse_day) else {
            continue;
        };
        if options.since.is_some_and(|since| day < since)
            || options.until.is_some_and(|until| day > until)
        {
            continue;
        }
        if table == Table::Sessions {
            sessions.entry(day).or_default().push(path.clone());
        } else if table.holds_events() {
            partitions
                .entry((table, day))
                .or_default()
                .push(entry.clone());
        }
    }
    partitions
        .into_iter()
        .filter(|((table, _), files)| {
            files.len() > 1
                || files.iter().any(|f| f.layout.as_deref() != Some(LAYOUT))
                || (*table == Table::Events && files.iter().any(|f| !f.sessions))
        })
        .map(|((table, day), files)| {
            let dir = files[0].path.rsplit_once('/').expect("a partition file").0;
            Partition {
                table,
                day,
                dir: dir.to_string(),
                files,
                sessions: match table {
                    Table::Events => sessions.remove(&day).unwrap_or_default(),
                    _ => Vec::new(),
                },
            }
        })
        .collect()
}

/// An input file: a local path to it, its name for messages, and its footer, read once.
struct Input {
    path: PathBuf,
    name: PathBuf,
    metadata: ArrowReaderMetadata,
}

impl Input {
    /// A reader of the file. Each gets a handle of its own: handles cloned from one share a
    /// file offset, and row groups are read in parallel.
    fn reader(&self) -> Result<ParquetRecordBatchReaderBuilder<File>> {
        Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(
            open(&self.path)?,
            self.metadata.clone(),
        ))
    }
}

/// One row group of an input file: where it is and the times it spans.
struct RowGroup {
    file: usize,
    index: usize,
    min: i64,
    max: i64,
}

/// Rewrites one partition into the transaction's staging directory, a window of time per file,
/// and for `events` the day's sessions, derived from its rows, as one file.
fn rewrite(
    lake: &Lake,
    txid: &str,
    partition: &Partition,
    memory_budget: u64,
) -> Result<(Vec<OutputEntry>, Option<OutputEntry>)> {
    let inputs = partition
        .files
        .iter()
        .map(|entry| {
            let path = local_copy(lake, txid, &entry.path)?;
            let name = PathBuf::from(lake.display()).join(&entry.path);
            let metadata = ArrowReaderMetadata::load(&open(&path)?, Default::default())
                .map_err(|err| Error::parquet(&name, err))?;
            Ok(Input {
                path,
                name,
                metadata,
            })
        })
        .collect::<Result<Vec<Input>>>()?;
    // Pass 1: each row group's time span, rows per minute, and the bytes a row takes decoded.
    let mut groups = Vec::new();
    let mut minutes: BTreeMap<i64, u64> = BTreeMap::new();
    let (mut rows, mut decoded_bytes) = (0u64, 0u64);
    for (f, input) in inputs.iter().enumerate() {
        let parquet = |err| Error::parquet(&input.name, err);
        let mask = ProjectionMask::columns(input.metadata.parquet_schema(), ["eventtime"]);
        for (index, group) in input.metadata.metadata().row_groups().iter().enumerate() {
            rows += group.num_rows() as u64;
            decoded_bytes += group.total_byte_size() as u64;
            let reader = input
                .reader()?
                .with_projection(mask.clone())
                .with_row_groups(vec![index])
                .build()
                .map_err(parquet)?;
            let (mut min, mut max) = (i64::MAX, i64::MIN);
            for batch in reader {
                let batch = batch.map_err(|err| parquet(err.into()))?;
                for &time in batch
                    .column(0)
                    .as_primitive::<TimestampMillisecondType>()
                    .values()
                {
                    min = min.min(time);
                    max = max.max(time);
                    *minutes.entry(time.div_euclid(MS_PER_MINUTE)).or_default() += 1;
                }
            }
            groups.push(RowGroup {
                file: f,
                index,
                min,
                max,
            });
        }
    }
    let rows_per_window = (memory_budget / (decoded_bytes / rows.max(1)).max(1)).max(1);
    // Pass 2: each window's rows, from the row groups that overlap it, as one sorted file.
    let mut outputs = Vec::new();
    let events = partition.table == Table::Events;
    let mut sessions = Vec::new();
    for (n, (from, to)) in windows(&minutes, rows_per_window).into_iter().enumerate() {
        let batches = groups
            .par_iter()
            .filter(|g| g.min < to && g.max >= from)
            .map(|g| read_window(&inputs[g.file], g.index, from, to))
            .collect::<Result<Vec<Vec<RecordBatch>>>>()?;
        let batches: Vec<RecordBatch> = batches.into_iter().flatten().collect();
        let window_rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let everything = vec![true; window_rows];
        if events {
            sessions.extend(identity::derive(&batches, &everything));
        }
        let path = format!("{}/part-{txid}-c{n:04}.parquet", partition.dir);
        let file = write_sorted(&lake.staging_dir(txid).join(&path), &batches, &everything)?;
        outputs.push(OutputEntry {
            path,
            rows: window_rows as u64,
            bytes: file.bytes,
            layout: Some(LAYOUT.to_string()),
            stats: Some(file.stats),
            sessions: events,
        });
    }
    if lake.remote().is_some() {
        let inputs = lake.staging_dir(txid).join("_inputs");
        std::fs::remove_dir_all(&inputs).map_err(|err| Error::io(&inputs, err))?;
    }
    let written: u64 = outputs.iter().map(|o| o.rows).sum();
    if written != rows {
        return Err(Error::LakeData(format!(
            "compacting {} read {rows} rows but wrote {written}; nothing was changed (a bug, please report it)",
            partition.dir
        )));
    }
    let sessions = match events {
        true => {
            let path = format!(
                "{}/part-{txid}-c.parquet",
                Lake::partition_dir(Table::Sessions, partition.day)
            );
            stage_sessions(&lake.staging_dir(txid), path, sessions)?
        }
        false => None,
    };
    Ok((outputs, sessions))
}

/// Cuts the minutes into `[from, to)` windows of at most `rows` rows (a busier single minute
/// is a window of its own).
fn windows(minutes: &BTreeMap<i64, u64>, rows: u64) -> Vec<(i64, i64)> {
    let mut windows = Vec::new();
    let mut current: Option<(i64, u64)> = None;
    for (&minute, &count) in minutes {
        match current {
            Some((start, held)) if held + count <= rows => current = Some((start, held + count)),
            Some((start, _)) => {
                windows.push((start * MS_PER_MINUTE, minute * MS_PER_MINUTE));
                current = Some((minute, count));
            }
            None => current = Some((minute, count)),
        }
    }
    if let (Some((start, _)), Some(&last)) = (current, minutes.keys().next_back()) {
        windows.push((start * MS_PER_MINUTE, (last + 1) * MS_PER_MINUTE));
    }
    windows
}

/// The rows of one row group with `from <= eventtime < to`.
fn read_window(input: &Input, index: usize, from: i64, to: i64) -> Result<Vec<RecordBatch>> {
    let parquet = |err| Error::parquet(&input.name, err);
    let reader = input
        .reader()?
        .with_row_groups(vec![index])
        .with_batch_size(8192)
        .build()
        .map_err(parquet)?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|err| parquet(err.into()))?;
        let times = batch
            .column(EVENT_TIME)
            .as_primitive::<TimestampMillisecondType>();
        let inside: BooleanArray = times
            .values()
            .iter()
            .map(|&t| Some(from <= t && t < to))
            .collect();
        let batch = filter_record_batch(&batch, &inside)?;
        if batch.num_rows() > 0 {
            batches.push(to_file_schema(batch, &input.name)?);
        }
    }
    Ok(batches)
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|err| Error::io(path, err))
}

/// A local path to a published file: the file itself, or for a lake in S3 a download in the
/// transaction's scratch space (removed with it).
fn local_copy(lake: &Lake, txid: &str, relative: &str) -> Result<PathBuf> {
    if lake.remote().is_none() {
        return Ok(lake.root().join(relative));
    }
    let LakeFile::Remote(bytes) = lake.open_file(relative)? else {
        unreachable!("a lake in S3 opens remote files");
    };
    let path = lake.staging_dir(txid).join("_inputs").join(relative);
    let dir = path.parent().expect("a file has a folder");
    std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
    std::fs::write(&path, &bytes).map_err(|err| Error::io(&path, err))?;
    Ok(path)
}

/// A batch read from a lake file, in the schema files are written with: files of older trailq
/// versions hold text inside structs as plain strings.
fn to_file_schema(batch: RecordBatch, path: &Path) -> Result<RecordBatch> {
    let schema = events_file_schema();
    let names = |s: &arrow::datatypes::Schema| -> Vec<String> {
        s.fields().iter().map(|f| f.name().clone()).collect()
    };
    if names(&batch.schema()) != names(&schema) {
        return Err(Error::LakeData(format!(
            "{} has other columns than this trailq writes; compact it with the trailq version that wrote it",
            path.display()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_hold_at_most_the_budget_and_cover_every_minute() {
        let minutes: BTreeMap<i64, u64> = [(10, 4), (11, 4), (12, 1), (20, 9), (21, 1)].into();
        let m = MS_PER_MINUTE;
        assert_eq!(
            windows(&minutes, 9),
            vec![(10 * m, 20 * m), (20 * m, 21 * m), (21 * m, 22 * m)]
        );
        assert_eq!(windows(&minutes, 100), vec![(10 * m, 22 * m)]);
        // A minute busier than the budget is a window of its own.
        assert_eq!(
            windows(&minutes, 3),
            vec![
                (10 * m, 11 * m),
                (11 * m, 12 * m),
                (12 * m, 20 * m),
                (20 * m, 21 * m),
                (21 * m, 22 * m)
            ]
        );
        assert!(windows(&BTreeMap::new(), 5).is_empty());
    }
}
