//! One ingest thread: decodes whole source objects, buffers their rows by partition, and writes
//! sorted Parquet files to the transaction's staging directory when its share of the memory
//! budget is full.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::dedupe::{Dedupe, dedupe_key};
use super::rejects::Reject;
use crate::decode::{self, DecodeLimits, RecordSplitter};
use crate::error::{Error, Result};
use crate::identity::{self, SessionRow, sessions_batch};
use crate::integrity::{DigestRow, digests_batch, parse_digest};
use crate::lake::Table;
use crate::lake::{Lake, OutputEntry, SourceEntry, SourceStatus};
use crate::progress::Progress;
use crate::record::parse_record;
use crate::record::time::day_of;
use crate::sink::{LAYOUT, Partition, PartitionBuffers, TakenPartition, stage_batch, write_sorted};
use crate::source::{Source, SourceObject};

/// What every worker of a transaction shares.
pub struct Shared<'a> {
    /// Where objects are read from.
    pub source: &'a dyn Source,
    /// The transaction id (names the staging directory and the files).
    pub txid: &'a str,
    /// The transaction's staging directory.
    pub staging: PathBuf,
    /// Decoding limits.
    pub limits: DecodeLimits,
    /// Bytes of rows one worker buffers before writing.
    pub budget_per_worker: usize,
    /// Keys of the events already written.
    pub dedupe: Dedupe<'a>,
    /// Progress reporting.
    pub progress: &'a dyn Progress,
}

/// Everything a worker produced.
#[derive(Default)]
pub struct WorkerOutput {
    /// One entry per object processed.
    pub sources: Vec<SourceEntry>,
    /// Files staged.
    pub outputs: Vec<OutputEntry>,
    /// Rows for the rejects table.
    pub rejects: Vec<Reject>,
    /// Raw (possibly compressed) bytes read.
    pub raw_bytes: u64,
    /// Decompressed JSON bytes read.
    pub json_bytes: u64,
    /// Rows still buffered at the end, merged across workers into one file per partition.
    pub leftovers: Vec<TakenPartition>,
    /// The digest files read.
    pub digests: Vec<DigestRow>,
}

/// An ingest thread's state.
pub struct Worker<'s, 'a> {
    shared: &'s Shared<'a>,
    id: usize,
    files_written: usize,
    buffers: PartitionBuffers,
    record: Vec<u8>,
    out: WorkerOutput,
}

impl<'s, 'a> Worker<'s, 'a> {
    /// Worker number `id` of a transaction.
    pub fn new(shared: &'s Shared<'a>, id: usize) -> Self {
        Self {
            shared,
            id,
            files_written: 0,
            buffers: PartitionBuffers::new(shared.budget_per_worker),
            record: Vec::with_capacity(64 * 1024),
            out: WorkerOutput::default(),
        }
    }

    /// Reads one object to the end (or to its first unreadable byte). Bad input is recorded in
    /// the object's entry and in rejects; only a failure to write the lake is an error.
    pub fn process(&mut self, object: &SourceObject, table: Table) -> Result<()> {
        let mut entry = SourceEntry {
            key: object.key.clone(),
            size: object.size,
            version: object.version.clone(),
            status: SourceStatus::Ingested,
            events: 0,
            rejected: 0,
            error: None,
            sha256: None,
        };
        let rejects_before = self.out.rejects.len();
        let failure = match table {
            Table::Digests => self.read_digest(object, &mut entry),
            _ => self.read_object(object, table, &mut entry)?,
        };
        if let Some((reason, offset)) = failure {
            // All or nothing: the object is retried whole, so none of its rows or record
            // rejects are kept (rows already written for an object larger than the memory
            // budget are de-duplicated by the retry).
            self.buffers.rollback_object();
            self.out.rejects.truncate(rejects_before);
            entry.events = 0;
            entry.rejected = 0;
            entry.status = SourceStatus::Failed;
            self.out.rejects.push(Reject {
                source: object.key.clone(),
                index: None,
                offset,
                reason: reason.clone(),
                raw: None,
            });
            entry.error = Some(reason);
        } else if entry.rejected > 0 {
            entry.status = SourceStatus::Partial;
        }
        self.buffers.commit_object();
        while self.buffers.over_budget() {
            let Some(taken) = self.buffers.take_largest() else {
                break;
            };
            self.write(taken)?;
        }
        self.shared.progress.advance(object.size);
        self.out.sources.push(entry);
        Ok(())
    }

    /// Returns the object-level failure, if any, with its decompressed byte offset.
    fn read_object(
        &mut self,
        object: &SourceObject,
        table: Table,
        entry: &mut SourceEntry,
    ) -> Result<Option<(String, Option<u64>)>> {
        let raw = match self.shared.source.open(object) {
            Ok(raw) => raw,
            Err(err) => return Ok(Some((format!("cannot open: {err}"), None))),
        };
        let decoded = match decode::open(raw, &self.shared.limits) {
            Ok(decoded) => decoded,
            Err(err) => return Ok(Some((format!("cannot read: {err}"), None))),
        };
        let raw_read = decoded.raw_read_counter();
        let hash = decoded.content_hash();
        let gzip = decoded.gzip;
        let mut splitter = RecordSplitter::new(decoded.reader, self.shared.limits.max_record_bytes);
        let mut failure = None;
        let mut spilled = false;
        loop {
            let text = match splitter.next_record(&mut self.record) {
                Ok(Some(text)) => text,
                Ok(None) => break,
                Err(err) => {
                    let mut reason = err.to_string();
                    if gzip {
                        reason.push_str(&format!(" (gzip input read to byte {})", raw_read.get()));
                    }
                    let read = entry.events + entry.rejected;
                    if spilled {
                        reason.push_str(
                            "; the file is larger than the memory budget, so records before it \
                             were already written (the retry skips them as duplicates)",
                        );
                    } else if read > 0 {
                        reason.push_str(&format!(
                            "; none of the {read} records before it were kept, the whole file is retried"
                        ));
                    }
                    failure = Some((reason, Some(splitter.offset())));
                    break;
                }
            };
            let parsed = if text.is_object {
                parse_record(&self.record)
            } else {
                Err("element of `Records` is not a JSON object".to_string())
            };
            match parsed {
                Ok(record) => {
                    let partition = Partition {
                        table,
                        day: day_of(record.event_time_ms()),
                    };
                    let key = dedupe_key(record.event_id(), &object.key, text.index);
                    self.buffers.push(
                        partition,
                        &record,
                        key,
                        &object.key,
                        text.index,
                        self.record.len(),
                    );
                    entry.events += 1;
                }
                Err(reason) => {
                    if entry.error.is_none() {
                        entry.error = Some(format!("record {}: {reason}", text.index));
                    }
                    entry.rejected += 1;
                    self.out.rejects.push(Reject {
                        source: object.key.clone(),
                        index: Some(text.index),
                        offset: Some(text.offset),
                        reason,
                        raw: Some(String::from_utf8_lossy(&self.record).into_owned()),
                    });
                }
            }
            if self.buffers.far_over_budget()
                && let Some(taken) = self.buffers.take_largest()
            {
                self.write(taken)?;
                spilled = true;
            }
        }
        self.out.raw_bytes += raw_read.get();
        self.out.json_bytes += splitter.offset();
        if failure.is_none() {
            entry.sha256 = hash.hex();
        }
        Ok(failure)
    }

    /// Reads a digest file whole (digests are a few kilobytes) into a `digests` row; returns
    /// the failure, if any, with its decompressed byte offset.
    fn read_digest(
        &mut self,
        object: &SourceObject,
        entry: &mut SourceEntry,
    ) -> Option<(String, Option<u64>)> {
        let raw = match self.shared.source.open(object) {
            Ok(raw) => raw,
            Err(err) => return Some((format!("cannot open: {err}"), None)),
        };
        let mut decoded = match decode::open(raw, &self.shared.limits) {
            Ok(decoded) => decoded,
            Err(err) => return Some((format!("cannot read: {err}"), None)),
        };
        let raw_read = decoded.raw_read_counter();
        let hash = decoded.content_hash();
        let mut content = Vec::new();
        let read = decoded.reader.read_to_end(&mut content);
        self.out.raw_bytes += raw_read.get();
        self.out.json_bytes += content.len() as u64;
        if let Err(err) = read {
            return Some((format!("cannot read: {err}"), Some(content.len() as u64)));
        }
        let signature = match self.shared.source.signature(object) {
            Ok(signature) => signature,
            Err(err) => return Some((format!("cannot read its signature: {err}"), None)),
        };
        let sha256 = hash.hex().expect("the digest was read to its end");
        match parse_digest(&object.key, &content, sha256, signature) {
            Ok(row) => {
                entry.sha256 = Some(row.sha256.clone());
                self.out.digests.push(row);
                None
            }
            Err(reason) => Some((reason, None)),
        }
    }

    /// Hands over everything produced, with the rows still buffered as leftovers.
    pub fn finish(mut self) -> WorkerOutput {
        self.out.leftovers = self.buffers.take_all();
        self.out
    }

    fn write(&mut self, taken: TakenPartition) -> Result<()> {
        let name = format!("{:02}{:04}", self.id, self.files_written);
        self.files_written += 1;
        let outputs = self.shared.stage(taken, &name)?;
        self.out.outputs.extend(outputs);
        Ok(())
    }
}

impl Shared<'_> {
    /// Writes the new rows of a partition to a staged file named after the transaction and
    /// `name`, and for `events` the sessions those rows issued to a `sessions` file beside it;
    /// nothing when every row was a duplicate.
    pub fn stage(&self, taken: TakenPartition, name: &str) -> Result<Vec<OutputEntry>> {
        let keep = self.dedupe.keep(taken.partition, &taken.keys)?;
        let rows = keep.iter().filter(|k| **k).count() as u64;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let Partition { table, day } = taken.partition;
        let file_name = format!("part-{}-{name}.parquet", self.txid);
        let path = format!("{}/{file_name}", Lake::partition_dir(table, day));
        let written = write_sorted(&self.staging.join(&path), &taken.batches, &keep)?;
        let events = table == Table::Events;
        let mut outputs = vec![OutputEntry {
            path,
            rows,
            bytes: written.bytes,
            layout: Some(LAYOUT.to_string()),
            stats: Some(written.stats),
            sessions: events,
        }];
        if events {
            let path = format!("{}/{file_name}", Lake::partition_dir(Table::Sessions, day));
            outputs.extend(stage_sessions(
                &self.staging,
                path,
                identity::derive(&taken.batches, &keep),
            )?);
        }
        Ok(outputs)
    }
}

/// Writes the sessions rows to `path` under `staging`; `None` when there are none.
pub fn stage_sessions(
    staging: &Path,
    path: String,
    rows: Vec<SessionRow>,
) -> Result<Option<OutputEntry>> {
    if rows.is_empty() {
        return Ok(None);
    }
    let batch = sessions_batch(&rows)
        .map_err(|err| Error::Internal(format!("building a sessions batch: {err}")))?;
    stage_batch(staging, path, batch).map(Some)
}

/// Writes the digests rows, one file per day, named after the transaction.
pub fn stage_digests(staging: &Path, txid: &str, rows: Vec<DigestRow>) -> Result<Vec<OutputEntry>> {
    let mut by_day: BTreeMap<i32, Vec<DigestRow>> = BTreeMap::new();
    for row in rows {
        by_day.entry(row.day()).or_default().push(row);
    }
    by_day
        .into_iter()
        .map(|(day, mut rows)| {
            rows.sort_by(|a, b| a.sourcefile.cmp(&b.sourcefile));
            let batch = digests_batch(&rows)
                .map_err(|err| Error::Internal(format!("building a digests batch: {err}")))?;
            let path = format!(
                "{}/part-{txid}.parquet",
                Lake::partition_dir(Table::Digests, day)
            );
            stage_batch(staging, path, batch)
        })
        .collect()
}
