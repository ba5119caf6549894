//! `trailq ingest SOURCE --lake LAKE`.

use std::path::Path;

use bytesize::ByteSize;
use clap::Args;

use super::flags::{LakeArgs, PeriodArgs, S3Access};
use super::progress::Bar;
use super::{EXIT_ERROR, EXIT_OK, peak_memory, print_out, query_runtime, thousands};
use trailq::decode::DecodeLimits;
use trailq::error::{Error, Result};
use trailq::ingest::{IngestOptions, IngestSummary, ingest};
use trailq::integrity::{CheckOptions, PublicKeys, Summary, check};
use trailq::s3::{S3Source, S3Url};
use trailq::source::{LocalSource, Selection, Source};

/// Failures listed one by one before the rest are only counted.
const LISTED_FAILURES: usize = 50;

/// Ingest CloudTrail log files into the lake (incremental: only new or changed files are read).
///
/// SOURCE is a trail bucket (`s3://bucket/[prefix/]AWSLogs/`), or a folder laid out as
/// CloudTrail writes to S3 (`AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/`), or
/// any folder of log files, gzipped or not. In an `AWSLogs/` tree only the `CloudTrail*` folders
/// are read: other services' logs, and files beside the tree, are skipped and counted.
///
/// --since and --until select delivery days (keys carry the day a file was delivered); objects
/// delivered the day after --until are read too, since they hold that day's last events. The
/// lake is created if missing. Exit status 2 when any input could not be ingested completely:
/// it is reported, kept in the `rejects` table, and retried on the next run.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// `s3://bucket/prefix/`, or a folder (or single file) of CloudTrail log files.
    source: String,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    period: PeriodArgs,
    /// Only these accounts (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    accounts: Vec<String>,
    /// Only these regions (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "REGION,...")]
    regions: Vec<String>,
    /// Take only shard I of N (0-based) of the (account, region) pairs, so N workers can ingest
    /// one bucket into one lake side by side.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u32, u32)>,
    /// S3 list requests and downloads in flight; memory holds at most this many objects.
    #[arg(long, default_value_t = 16)]
    download_concurrency: usize,
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
    /// Public keys that sign the trail's digests, in the form `aws cloudtrail
    /// list-public-keys` prints (for a local mirror, offline); the lake keeps them.
    #[arg(long, value_name = "FILE")]
    public_keys: Option<std::path::PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// `I/N` with I < N.
fn parse_shard(text: &str) -> std::result::Result<(u32, u32), String> {
    let usage = || format!("`{text}`: write I/N, e.g. 0/4 for the first of four shards");
    let (index, count) = text.split_once('/').ok_or_else(usage)?;
    let (index, count): (u32, u32) = (
        index.trim().parse().map_err(|_| usage())?,
        count.trim().parse().map_err(|_| usage())?,
    );
    if count == 0 || index >= count {
        return Err(format!(
            "`{text}`: the shard index counts from 0 and must be below N"
        ));
    }
    Ok((index, count))
}

/// The selection the flags ask for.
fn selection(args: &IngestArgs) -> Result<Selection> {
    let (since, until) = args.period.days()?;
    Ok(Selection {
        since,
        until,
        accounts: args.accounts.clone(),
        regions: args.regions.clone(),
        shard: args.shard,
    })
}

/// Runs an ingest and reports it; exit status 2 when any input was incomplete.
pub fn run(args: IngestArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let handle = runtime.handle();
    let selection = selection(&args)?;
    let s3 = S3Access::new(&args.lake.s3, handle);
    let lake = s3.writable_lake(&args.lake.location()?)?;
    let from_s3 = S3Url::parse(&args.source).is_some();
    let source: Box<dyn Source> = match S3Url::parse(&args.source) {
        Some(url) => Box::new(S3Source::new(
            url?,
            s3.config(),
            selection.clone(),
            handle.clone(),
            args.download_concurrency,
        )),
        None => Box::new(LocalSource::new(Path::new(&args.source)).map_err(|err| {
            Error::Usage(format!(
                "cannot read the source folder {}: {err}; give an existing folder or s3://bucket/prefix/",
                args.source
            ))
        })?),
    };
    let defaults = IngestOptions::default();
    let options = IngestOptions {
        threads: args.threads.unwrap_or(defaults.threads),
        memory_budget: args.memory_budget.as_u64(),
        limits: DecodeLimits {
            max_decompressed_bytes: args.max_decompressed_size.as_u64(),
            max_record_bytes: args.max_record_size.as_u64() as usize,
        },
        commit_every: args.commit_every.as_u64(),
        selection,
    };
    let keys = match &args.public_keys {
        Some(path) => PublicKeys::read(path)?,
        None => PublicKeys::default(),
    };
    let bar = Bar::new(log::max_level() < log::LevelFilter::Info);
    let summary = ingest(source.as_ref(), &lake, &options, &bar)?;
    report(&summary);
    // Verification never fails an ingest: what it finds is reported and kept. From S3, the
    // keys the digests name come from CloudTrail, with the same credentials.
    let options = CheckOptions {
        keys: &keys,
        cloudtrail: from_s3.then(|| (s3.config(), handle)),
        changed: summary.transactions > 0,
    };
    let integrity = match check(&lake, &options) {
        Ok(verification) => verification.map(|v| Summary::of(&v, None, None)),
        Err(err) => {
            log::warn!("could not check the lake's digests ({err}); `trailq verify` tries again");
            None
        }
    };
    if let Some(integrity) = &integrity {
        report_integrity(integrity, &args.lake.lake.clone().unwrap_or_default());
    }
    if args.json {
        let mut value = serde_json::to_value(&summary).expect("a summary always serializes");
        if let Some(integrity) = &integrity {
            value["integrity"] = serde_json::json!({
                "digests": integrity.trails.iter().map(|t| t.digests).sum::<u64>(),
                "digests_verified": integrity.trails.iter().map(|t| t.digests_verified).sum::<u64>(),
                "files_verified": integrity.trails.iter().map(|t| t.files_verified).sum::<u64>(),
                "problems": integrity.problems.len(),
                "pending": integrity.pending,
            });
        }
        value["elapsed_seconds"] = summary.elapsed.as_secs_f64().into();
        value["peak_memory_bytes"] = peak_memory().into();
        print_out(&format!("{value}\n"))?;
    }
    Ok(if summary.is_clean() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// The integrity line on stderr.
fn report_integrity(summary: &Summary, lake: &str) {
    let sum = |f: fn(&trailq::integrity::summary::TrailSummary) -> u64| {
        summary.trails.iter().map(f).sum::<u64>()
    };
    let line = format!(
        "integrity: {}/{} digests verified, {} log files verified, {} pending a digest",
        thousands(sum(|t| t.digests_verified)),
        thousands(sum(|t| t.digests)),
        thousands(sum(|t| t.files_verified)),
        thousands(summary.pending),
    );
    if summary.is_verified() {
        log::info!("{line}");
    } else {
        log::warn!(
            "{line}; {} problems: `trailq verify --lake {lake}` lists them",
            thousands(summary.problems.len() as u64)
        );
    }
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
    let skipped: Vec<String> = [
        (summary.aggregated, "aggregated-event files"),
        (summary.other_services, "other services' log files"),
        (summary.outside_logs, "files outside AWSLogs/"),
        (
            summary.skipped_folders,
            "folders of other logs (not listed)",
        ),
        (summary.ignored, "hidden files"),
        (summary.unselected, "files outside the selection"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, what)| format!("{} {what}", thousands(count)))
    .collect();
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
         ({} duplicates removed, {} rejected), {} digests, into {} files; {} in, {} JSON, {} out; {:.1} s, {:.0} MB/s",
        thousands(summary.ingested),
        thousands(summary.unchanged),
        thousands(summary.partial),
        thousands(summary.failed),
        thousands(summary.events),
        thousands(summary.duplicates),
        thousands(summary.rejected),
        thousands(summary.digests),
        thousands(summary.files_written),
        ByteSize(summary.raw_bytes),
        ByteSize(summary.json_bytes),
        ByteSize(summary.bytes_written),
        seconds,
        rate,
    );
}
