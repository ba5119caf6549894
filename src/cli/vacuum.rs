//! `trailq vacuum --lake LAKE --retain 7d`.

use clap::Args;

use super::flags::{LakeArgs, S3Access};
use super::{EXIT_OK, print_out, query_runtime, thousands};
use trailq::error::{Error, Result};
use trailq::lake::delta::vacuum;
use trailq::rules::correlation::parse_timespan;

/// Delete the files no version younger than --retain needs: those that a compaction or a
/// re-run of detect replaced longer ago than that.
///
/// Replaced files stay after their replacement, so that readers of earlier versions
/// (`--as-of`, other engines in the middle of a query) still find them. Vacuum is what deletes
/// them; time travel to a time older than --retain may then fail. Files of the current version
/// are never deleted.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// Keep every file a version younger than this references (30d, 7d, 24h; 0s keeps only the
    /// current version's).
    #[arg(long, default_value = "7d", value_parser = parse_retain)]
    retain: std::time::Duration,
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the files as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_retain(text: &str) -> std::result::Result<std::time::Duration, String> {
    if text.trim_end_matches(|c: char| c.is_ascii_alphabetic()) == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let ms = parse_timespan(text)?;
    Ok(std::time::Duration::from_millis(ms.max(0) as u64))
}

/// Vacuums every table.
pub fn run(args: VacuumArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let lake = s3.existing_lake(&args.lake.location()?)?;
    let vacuumed = vacuum(&lake, args.retain, args.dry_run)?;
    let count: usize = vacuumed.files.values().map(Vec::len).sum();
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for (table, files) in &vacuumed.files {
        log::info!("{table}: {verb} {} files", thousands(files.len() as u64));
    }
    log::info!(
        "{verb} {} files replaced more than {} ago",
        thousands(count as u64),
        humantime(args.retain)
    );
    if args.json {
        let text = serde_json::to_string(&vacuumed)
            .map_err(|err| Error::Internal(format!("vacuum summary: {err}")))?;
        print_out(&format!("{text}\n"))?;
    }
    Ok(EXIT_OK)
}

fn humantime(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s % 86_400 == 0 && s > 0 => format!("{} days", s / 86_400),
        s if s % 3_600 == 0 && s > 0 => format!("{} hours", s / 3_600),
        s => format!("{s} s"),
    }
}
