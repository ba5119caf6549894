//! `trailq ingest`: list -> plan -> decode in parallel -> write staged Parquet -> commit.
//!
//! The plan holds the objects the manifest does not have as ingested (new, changed, or failed
//! before). It is split into transactions of about `commit_every` input bytes; each is decoded by
//! a rayon pool, one object per task, and committed atomically (see `lake::commit`).

mod dedupe;
mod rejects;
mod worker;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rayon::prelude::*;
use serde::Serialize;

use self::dedupe::Dedupe;
pub use self::worker::stage_sessions;
use self::worker::{Shared, Worker, WorkerOutput, stage_digests};
use crate::decode::DecodeLimits;
use crate::error::{Error, Result};
use crate::lake::{
    Lake, Manifest, OutputEntry, SourceStatus, Table, Transaction, commit, new_txid, recover,
};
use crate::progress::{Progress, Unit};
use crate::sink::{Partition, TakenPartition};
use crate::source::{Route, Selection, Source, SourceObject};

/// How an ingest run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Decoding threads.
    pub threads: usize,
    /// Bytes of decoded rows held in memory (all threads together) before files are written.
    pub memory_budget: u64,
    /// Limits on one input.
    pub limits: DecodeLimits,
    /// Input bytes per transaction: a long backfill commits in steps, so a crash loses little.
    pub commit_every: u64,
    /// Which objects to read (days, accounts, regions, shard).
    pub selection: Selection,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_budget: 256 << 20,
            limits: DecodeLimits::default(),
            commit_every: 4 << 30,
            selection: Selection::default(),
        }
    }
}

/// An input that could not be ingested completely, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The object (file path or `s3://bucket/key`).
    pub key: String,
    /// Why, with the record index or byte offset where known.
    pub reason: String,
}

/// What a run did: the numbers of the final summary line.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestSummary {
    /// Objects listed.
    pub listed: u64,
    /// Objects skipped because the lake already has them unchanged.
    pub unchanged: u64,
    /// Digest files read into `digests`.
    pub digests: u64,
    /// `CloudTrail-Aggregated` objects skipped (not mapped yet).
    pub aggregated: u64,
    /// Other services' log files under `AWSLogs/` skipped (ELB, VPC flow logs, Config, ...).
    pub other_services: u64,
    /// Files beside the source's `AWSLogs/` tree skipped (a README, a manifest, ...).
    pub outside_logs: u64,
    /// Folders never listed: other services' under `AWSLogs/<account>/`, and beside `AWSLogs/`
    /// (S3 only; a local folder is walked, and its files counted above).
    pub skipped_folders: u64,
    /// Hidden files skipped.
    pub ignored: u64,
    /// Objects outside `--since`/`--until`, `--accounts`, `--regions` or `--shard`.
    pub unselected: u64,
    /// Objects read completely.
    pub ingested: u64,
    /// Objects read with some records rejected.
    pub partial: u64,
    /// Objects that could not be read (or listed).
    pub failed: u64,
    /// Rows added to `events` and `insights`.
    pub events: u64,
    /// Records dropped because the lake already had their `eventID`.
    pub duplicates: u64,
    /// Records sent to `rejects`.
    pub rejected: u64,
    /// Raw input bytes read (compressed size for gzip).
    pub raw_bytes: u64,
    /// Decompressed JSON bytes read.
    pub json_bytes: u64,
    /// Parquet files written.
    pub files_written: u64,
    /// Parquet bytes written.
    pub bytes_written: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Crashed transactions finished or discarded at start.
    pub recovered: u64,
    /// Every incomplete input, for the report at the end.
    pub failures: Vec<Failure>,
    /// Wall time.
    #[serde(skip)]
    pub elapsed: Duration,
}

impl IngestSummary {
    /// Whether every input was ingested completely (exit status 0).
    pub fn is_clean(&self) -> bool {
        self.failed == 0 && self.partial == 0 && self.rejected == 0
    }
}

/// Ingests every new or changed object of `source` into `lake`.
pub fn ingest(
    source: &dyn Source,
    lake: &Lake,
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestSummary> {
    let started = Instant::now();
    let _lock = lake.lock()?;
    let mut manifest = Manifest::load(lake)?;
    let (finished, discarded) = recover(lake, &manifest)?;
    let mut summary = IngestSummary {
        recovered: (finished + discarded) as u64,
        ..IngestSummary::default()
    };
    let plan = plan(source, &manifest, &options.selection, &mut summary);
    progress.begin(
        plan.iter().map(|o| o.size).sum(),
        Unit::Bytes,
        &format!("{} files", plan.len()),
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .thread_name(|i| format!("trailq-ingest-{i}"))
        .build()
        .map_err(|err| {
            Error::Resources(format!("cannot start {} threads: {err}", options.threads))
        })?;
    for chunk in transactions(&plan, options.commit_every) {
        source.prefetch(chunk);
        let (transaction, stats) =
            pool.install(|| run_transaction(lake, &manifest, source, chunk, options, progress))?;
        summary.add(&transaction, &stats);
        commit(lake, &mut manifest, transaction)?;
    }
    progress.finish();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The objects to read, largest first (so the last task of a run is a short one).
fn plan(
    source: &dyn Source,
    manifest: &Manifest,
    selection: &Selection,
    summary: &mut IngestSummary,
) -> Vec<SourceObject> {
    let listing = source.list();
    summary.ignored = listing.ignored;
    summary.skipped_folders = listing.skipped_folders;
    for error in listing.errors {
        summary.failed += 1;
        summary.failures.push(Failure {
            key: error.key,
            reason: error.reason,
        });
    }
    summary.listed = listing.objects.len() as u64;
    let mut plan = Vec::new();
    for object in listing.objects {
        if !selection.admits(&object.key) {
            summary.unselected += 1;
            continue;
        }
        match object.route {
            Route::Aggregated => summary.aggregated += 1,
            Route::OtherService => summary.other_services += 1,
            Route::OutsideLogs => summary.outside_logs += 1,
            Route::Events | Route::Insights | Route::Digest => {
                let done = manifest.source(&object.key).is_some_and(|state| {
                    state.status == SourceStatus::Ingested
                        && state.size == object.size
                        && state.version == object.version
                });
                if done {
                    summary.unchanged += 1;
                } else {
                    plan.push(object);
                }
            }
        }
    }
    plan.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.key.cmp(&b.key)));
    plan
}

/// The table a route's records go to; `None` for what holds no events to ingest.
fn table_of(route: Route) -> Option<Table> {
    match route {
        Route::Events => Some(Table::Events),
        Route::Insights => Some(Table::Insights),
        Route::Digest => Some(Table::Digests),
        Route::Aggregated | Route::OtherService | Route::OutsideLogs => None,
    }
}

/// Splits the plan into runs of about `bytes` input bytes each.
fn transactions(plan: &[SourceObject], bytes: u64) -> Vec<&[SourceObject]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, object) in plan.iter().enumerate() {
        size += object.size;
        if size >= bytes {
            chunks.push(&plan[start..=i]);
            start = i + 1;
            size = 0;
        }
    }
    if start < plan.len() {
        chunks.push(&plan[start..]);
    }
    chunks
}

/// Counts of a transaction that are not in its manifest entry.
struct TransactionStats {
    duplicates: u64,
    raw_bytes: u64,
    json_bytes: u64,
}

fn run_transaction(
    lake: &Lake,
    manifest: &Manifest,
    source: &dyn Source,
    objects: &[SourceObject],
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<(Transaction, TransactionStats)> {
    let started_at = Utc::now();
    let txid = new_txid();
    let threads = rayon::current_num_threads();
    let shared = Shared {
        source,
        txid: &txid,
        staging: lake.staging_dir(&txid),
        limits: options.limits,
        budget_per_worker: (options.memory_budget / threads as u64).max(1 << 20) as usize,
        dedupe: Dedupe::new(lake, manifest),
        progress,
    };
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let outputs = Mutex::new(Vec::new());
    rayon::broadcast(|context| {
        let result = (|| {
            let mut worker = Worker::new(&shared, context.index());
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(object) = objects.get(i) else { break };
                let table = table_of(object.route).expect("the plan holds only tables' objects");
                worker.process(object, table)?;
            }
            Ok(worker.finish())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        outputs.lock().expect("a worker panicked").push(result);
    });
    let mut merged = WorkerOutput::default();
    let mut first_error = None;
    let mut leftovers: BTreeMap<Partition, TakenPartition> = BTreeMap::new();
    for result in outputs.into_inner().expect("a worker panicked") {
        match result {
            Ok(out) => {
                merged.sources.extend(out.sources);
                merged.outputs.extend(out.outputs);
                merged.rejects.extend(out.rejects);
                merged.raw_bytes += out.raw_bytes;
                merged.json_bytes += out.json_bytes;
                merged.digests.extend(out.digests);
                for taken in out.leftovers {
                    match leftovers.entry(taken.partition) {
                        Entry::Vacant(slot) => {
                            slot.insert(taken);
                        }
                        Entry::Occupied(mut slot) => {
                            let merged = slot.get_mut();
                            merged.batches.extend(taken.batches);
                            merged.keys.extend(taken.keys);
                        }
                    }
                }
            }
            Err(err) => first_error = first_error.or(Some(err)),
        }
    }
    // What the workers still held is written as one file per partition, partitions in parallel.
    if first_error.is_none() {
        let written: Vec<Result<Vec<OutputEntry>>> = leftovers
            .into_values()
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|taken| shared.stage(taken, "final"))
            .collect();
        for output in written {
            match output {
                Ok(output) => merged.outputs.extend(output),
                Err(err) => first_error = first_error.or(Some(err)),
            }
        }
    }
    if first_error.is_none() {
        match stage_digests(&shared.staging, &txid, std::mem::take(&mut merged.digests)) {
            Ok(outputs) => merged.outputs.extend(outputs),
            Err(err) => first_error = Some(err),
        }
    }
    if let Some(err) = first_error {
        // Nothing of this transaction was committed: drop its staged files.
        let _ = std::fs::remove_dir_all(&shared.staging);
        return Err(err);
    }
    if let Some(rejects) =
        rejects::stage_rejects(lake, &txid, merged.rejects, started_at.timestamp_millis())?
    {
        merged.outputs.push(rejects);
    }
    merged.sources.sort_by(|a, b| a.key.cmp(&b.key));
    merged.outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let transaction = Transaction {
        seq: 0,
        txid: txid.clone(),
        writer: format!("trailq {}", env!("CARGO_PKG_VERSION")),
        started_at: started_at.to_rfc3339(),
        committed_at: Utc::now().to_rfc3339(),
        sources: merged.sources,
        outputs: merged.outputs,
        removed: Vec::new(),
    };
    let stats = TransactionStats {
        duplicates: shared.dedupe.removed(),
        raw_bytes: merged.raw_bytes,
        json_bytes: merged.json_bytes,
    };
    Ok((transaction, stats))
}

impl IngestSummary {
    fn add(&mut self, transaction: &Transaction, stats: &TransactionStats) {
        self.transactions += 1;
        self.duplicates += stats.duplicates;
        self.raw_bytes += stats.raw_bytes;
        self.json_bytes += stats.json_bytes;
        for source in &transaction.sources {
            self.rejected += source.rejected;
            match source.status {
                SourceStatus::Ingested => self.ingested += 1,
                SourceStatus::Partial => self.partial += 1,
                SourceStatus::Failed => self.failed += 1,
            }
            if let Some(reason) = &source.error {
                self.failures.push(Failure {
                    key: source.key.clone(),
                    reason: reason.clone(),
                });
            }
        }
        for output in &transaction.outputs {
            self.files_written += 1;
            self.bytes_written += output.bytes;
            let table = output.path.split('/').next().and_then(Table::named);
            if table.is_some_and(Table::holds_events) {
                self.events += output.rows;
            }
            if table == Some(Table::Digests) {
                self.digests += output.rows;
            }
        }
    }
}
