//! `trailq compact --lake LAKE`.

use bytesize::ByteSize;
use clap::Args;

use super::aws::{S3Access, S3Args};
use super::{EXIT_OK, day_arg, peak_memory, query_runtime, thousands};
use crate::compact::{CompactOptions, CompactSummary, compact};
use crate::error::Result;
use crate::lake::{Lake, LakeLocation};

/// Rewrite partitions of many small files as a few large ones, in the current layout.
///
/// Ingest writes a file whenever its memory budget fills, so backfills and days ingested over
/// many runs leave many files per day, and every query pays for each. Run it after ingest (it
/// takes the same lock, so not at the same time): partitions already in one file of the current
/// layout are left alone, so a re-run does nothing. Readers see the old files or the new, never
/// both: the swap is one commit.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The lake: a folder or `s3://bucket/prefix/`.
    #[arg(long)]
    lake: String,
    /// First day to compact (2024-03-01, or 2d for two days ago).
    #[arg(long, value_name = "DAY")]
    since: Option<String>,
    /// Last day to compact.
    #[arg(long, value_name = "DAY")]
    until: Option<String>,
    /// Decoded rows held in memory at once; a larger day is written as several files, each a
    /// slice of the day (peak memory is about twice this).
    #[arg(long, default_value = "1GiB")]
    memory_budget: ByteSize,
    #[command(flatten)]
    s3: S3Args,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Compacts and reports.
pub fn run(args: CompactArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.s3, runtime.handle());
    let lake = match LakeLocation::parse(&args.lake)? {
        LakeLocation::Local(path) => Lake::open(&path)?,
        remote => s3.writable_lake(&remote)?,
    };
    let options = CompactOptions {
        memory_budget: args.memory_budget.as_u64(),
        since: day_arg(args.since.as_deref())?,
        until: day_arg(args.until.as_deref())?,
    };
    let summary = compact(&lake, &options)?;
    report(&summary);
    if args.json {
        let mut value = serde_json::to_value(&summary).expect("a summary always serializes");
        value["elapsed_seconds"] = summary.elapsed.as_secs_f64().into();
        value["peak_memory_bytes"] = peak_memory().into();
        println!("{value}");
    }
    Ok(EXIT_OK)
}

/// The summary line on stderr.
pub(super) fn report(summary: &CompactSummary) {
    if summary.partitions == 0 {
        log::info!("nothing to compact: every partition is one file in the current layout");
        return;
    }
    log::info!(
        "compacted {} partitions: {} files into {}, {} rows; {} -> {}; {:.1} s",
        thousands(summary.partitions),
        thousands(summary.files_before),
        thousands(summary.files_after),
        thousands(summary.rows),
        ByteSize(summary.bytes_before),
        ByteSize(summary.bytes_after),
        summary.elapsed.as_secs_f64(),
    );
}
