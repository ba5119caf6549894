//! `trailq ingest SOURCE --lake LAKE`.

use std::path::PathBuf;

use bytesize::ByteSize;
use clap::Args;

use super::progress::Bar;
use super::{EXIT_ERROR, EXIT_OK, peak_memory, thousands};
use crate::decode::DecodeLimits;
use crate::error::{Error, Result};
use crate::ingest::{IngestOptions, IngestSummary, ingest};
use crate::source::LocalSource;

/// Failures listed one by one before the rest are only counted.
const LISTED_FAILURES: usize = 50;

/// Ingest CloudTrail log files into the lake (incremental: only new or changed files are read).
///
/// SOURCE is a folder as CloudTrail writes to S3 (`AWSLogs/<account>/CloudTrail/<region>/...`,
/// organization trails and a prefix before AWSLogs included) or any folder of log files, gzipped
/// or not. Exit status 2 when any input could not be ingested completely: it is reported, kept
/// in the `rejects` table, and retried on the next run.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Folder (or single file) of CloudTrail log files.
    source: PathBuf,
    /// The lake folder (created if missing).
    #[arg(long)]
    lake: PathBuf,
    /// Decoding threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Decoded rows held in memory before Parquet files are written; larger means fewer, larger
    /// files per partition and more memory (peak is about twice this).
    #[arg(long, default_value = "256MiB")]
    memory_budget: ByteSize,
    /// Cap on one input's decompressed size: a larger input (a gzip bomb) fails instead of
    /// being read.
    #[arg(long, default_value = "8GiB")]
    max_decompressed_size: ByteSize,
    /// Cap on one record's size (CloudTrail's own limit is 256 KB, 1 MB in CloudTrail Lake).
    #[arg(long, default_value = "64MiB")]
    max_record_size: ByteSize,
    /// Input bytes per committed transaction: a long backfill commits in steps.
    #[arg(long, default_value = "4GiB")]
    commit_every: ByteSize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs an ingest and reports it; exit status 2 when any input was incomplete.
pub fn run(args: IngestArgs) -> Result<u8> {
    let source = LocalSource::new(&args.source).map_err(|err| {
        Error::Usage(format!(
            "cannot read the source folder {}: {err}",
            args.source.display()
        ))
    })?;
    let defaults = IngestOptions::default();
    let options = IngestOptions {
        threads: args.threads.unwrap_or(defaults.threads),
        memory_budget: args.memory_budget.as_u64(),
        limits: DecodeLimits {
            max_decompressed_bytes: args.max_decompressed_size.as_u64(),
            max_record_bytes: args.max_record_size.as_u64() as usize,
        },
        commit_every: args.commit_every.as_u64(),
    };
    let bar = Bar::new(log::max_level() < log::LevelFilter::Info);
    let summary = ingest(&source, &args.lake, &options, &bar)?;
    report(&summary);
    if args.json {
        let mut value = serde_json::to_value(&summary).expect("a summary always serializes");
        value["elapsed_seconds"] = summary.elapsed.as_secs_f64().into();
        value["peak_memory_bytes"] = peak_memory().into();
        println!("{value}");
    }
    Ok(if summary.is_clean() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn report(summary: &IngestSummary) {
    for failure in summary.failures.iter().take(LISTED_FAILURES) {
        log::error!("{}: {}", failure.key, failure.reason);
    }
    if summary.failures.len() > LISTED_FAILURES {
        log::error!(
            "... and {} more (query the rejects table for all of them)",
            summary.failures.len() - LISTED_FAILURES
        );
    }
    let mut skipped = Vec::new();
    if summary.digests > 0 {
        skipped.push(format!("{} digests", thousands(summary.digests)));
    }
    if summary.aggregated > 0 {
        skipped.push(format!(
            "{} aggregated-event files",
            thousands(summary.aggregated)
        ));
    }
    if summary.ignored > 0 {
        skipped.push(format!("{} hidden files", thousands(summary.ignored)));
    }
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", skipped.join(", "))
    };
    if summary.transactions == 0 && summary.failed == 0 {
        log::info!(
            "nothing new: {} files already in the lake{skipped}",
            thousands(summary.unchanged)
        );
        return;
    }
    let seconds = summary.elapsed.as_secs_f64();
    let rate = summary.json_bytes as f64 / seconds.max(1e-9) / 1e6;
    log::info!(
        "ingested {} files ({} unchanged, {} partial, {} failed{skipped}): {} events \
         ({} duplicates removed, {} rejected) into {} files; {} in, {} JSON, {} out; {:.1} s, {:.0} MB/s",
        thousands(summary.ingested),
        thousands(summary.unchanged),
        thousands(summary.partial),
        thousands(summary.failed),
        thousands(summary.events),
        thousands(summary.duplicates),
        thousands(summary.rejected),
        thousands(summary.files_written),
        ByteSize(summary.raw_bytes),
        ByteSize(summary.json_bytes),
        ByteSize(summary.bytes_written),
        seconds,
        rate,
    );
}
