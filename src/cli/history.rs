//! `trailq history --lake LAKE TABLE`.

use std::io::Write;

use clap::Args;

use super::flags::{LakeArgs, S3Access};
use super::{EXIT_OK, query_runtime};
use trailq::error::{Error, Result};
use trailq::lake::Table;
use trailq::lake::delta::{Tables, history};
use trailq::record::time::format_time;

/// List a table's versions, newest first: when, what operation, files added and removed, rows
/// added, and the manifest transaction each applies.
///
/// A version is what `--as-of-version` (for `events`) reads. Versions whose log entries Delta
/// has expired (after 30 days, at a checkpoint) are no longer listed.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The table: events, insights, findings or rejects.
    table: String,
    #[command(flatten)]
    lake: LakeArgs,
    /// Versions to list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Print the versions as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Lists the versions.
pub fn run(args: HistoryArgs) -> Result<u8> {
    let table = Table::named(&args.table).ok_or_else(|| {
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        Error::Usage(format!(
            "no table `{}`: use one of {}",
            args.table,
            names.join(", ")
        ))
    })?;
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let lake = s3.existing_lake(&args.lake.location()?)?;
    let versions = runtime.block_on(history(&Tables::of(&lake), table, args.limit))?;
    let mut out = std::io::stdout().lock();
    let failed = |err: std::io::Error| Error::Resources(format!("cannot write stdout: {err}"));
    if args.json {
        let text = serde_json::to_string(&versions).expect("versions always serialize");
        writeln!(out, "{text}").map_err(failed)?;
        return Ok(EXIT_OK);
    }
    if versions.is_empty() {
        log::info!("{table} has no Delta log yet: nothing was written to it");
        return Ok(EXIT_OK);
    }
    writeln!(
        out,
        "{:>7}  {:<24}  {:<14} {:>6} {:>8} {:>10}  {:>5}  writer",
        "version", "time", "operation", "added", "removed", "rows", "seq"
    )
    .map_err(failed)?;
    for v in &versions {
        let seq = v.trailq_seq.map(|s| s.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{:>7}  {:<24}  {:<14} {:>6} {:>8} {:>10}  {:>5}  {}",
            v.version,
            format_time(v.timestamp),
            v.operation,
            v.files_added,
            v.files_removed,
            v.rows_added,
            seq,
            v.writer.as_deref().unwrap_or_default()
        )
        .map_err(failed)?;
    }
    Ok(EXIT_OK)
}
