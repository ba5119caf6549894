//! `trailq compact --lake LAKE`.

use bytesize::ByteSize;
use clap::Args;

use super::flags::{LakeArgs, PeriodArgs, S3Access};
use super::{EXIT_OK, peak_memory, print_out, query_runtime, thousands};
use trailq::compact::{CompactOptions, CompactSummary, compact};
use trailq::error::Result;

/// Rewrite partitions of many small files as a few large ones, in the current layout.
///
/// Ingest writes a file whenever its memory budget fills, so backfills and days ingested over
/// many runs leave many files per day, and every query pays for each. Run it after ingest (it
/// takes the same lock, so not at the same time): partitions already in one file of the current
/// layout are left alone, so a re-run does nothing. Readers see the old files or the new, never
/// both: the swap is one commit. It also derives the `sessions` of days ingested before that
/// table existed.
#[derive(Debug, Args)]
///
/// --since and --until select the days to compact (2024-03-01, or 2d for two days ago).
pub struct CompactArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    period: PeriodArgs,
    /// Decoded rows held in memory at once; a larger day is written as several files, each a
    /// slice of the day (peak memory is about twice this).
    #[arg(long, default_value = "1GiB")]
    memory_budget: ByteSize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Compacts and reports.
pub fn run(args: CompactArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let lake = s3.existing_lake(&args.lake.location()?)?;
    let (since, until) = args.period.days()?;
    let options = CompactOptions {
        memory_budget: args.memory_budget.as_u64(),
        since,
        until,
    };
    let summary = compact(&lake, &options)?;
    report(&summary);
    if args.json {
        let mut value = serde_json::to_value(&summary).expect("a summary always serializes");
        value["elapsed_seconds"] = summary.elapsed.as_secs_f64().into();
        value["peak_memory_bytes"] = peak_memory().into();
        print_out(&format!("{value}\n"))?;
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
