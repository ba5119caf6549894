//! `trailq verify --lake LAKE`: the verdict on the lake's evidence.

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use clap::{Args, ValueEnum};

use super::flags::{LakeArgs, PeriodArgs, S3Access};
use super::{EXIT_FINDINGS, EXIT_OK, print_out, query_runtime};
use trailq::error::{Error, Result};
use trailq::integrity::{CheckOptions, PublicKeys, Summary, check};

/// Check the lake's log files against CloudTrail's signed digests, from the lake alone.
///
/// Every digest is checked (where it was found against where CloudTrail wrote it, its RSA
/// signature with the public key it names, its link to the digest before), and every log file
/// it lists against the SHA-256 the lake recorded when it ingested the file: verified, missing,
/// altered, or, for a file no digest lists, pending (its hour has no digest yet), injected, or
/// unlisted while its hour's digest is missing. Hours where the chain says a digest should be
/// and none is are gaps. No log file is read again. The verdict is kept in the `deliveries`
/// and `logfiles` tables.
///
/// Exit status: 0 when everything in the period verified (files pending a digest aside), 1
/// when anything is missing, altered, injected, unsigned or in a gap, 2 on error.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    lake: LakeArgs,
    /// The hours to judge: from --since to --until (a day, a time, or an age such as 30d);
    /// all by default. The whole lake is checked; the period selects what is said.
    #[command(flatten)]
    period: PeriodArgs,
    /// Public keys to add to the lake's, in the form `aws cloudtrail list-public-keys` prints.
    #[arg(long, value_name = "FILE")]
    public_keys: Option<PathBuf>,
    /// Ask CloudTrail (`ListPublicKeys`, with the AWS credential chain) for the keys the
    /// digests name that the lake does not know yet (ingest from S3 does this by itself).
    #[arg(long)]
    fetch_keys: bool,
    /// Output form.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A summary per trail, account and region, then each problem.
    Text,
    /// The same as one JSON document.
    Json,
}

/// Verifies and reports.
pub fn run(args: VerifyArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let lake = s3.existing_lake(&args.lake.location()?)?;
    let started = Instant::now();
    let keys = match &args.public_keys {
        Some(path) => PublicKeys::read(path)?,
        None => PublicKeys::default(),
    };
    let options = CheckOptions {
        keys: &keys,
        cloudtrail: args.fetch_keys.then(|| (s3.config(), runtime.handle())),
        changed: true,
    };
    let verification = check(&lake, &options)?.ok_or_else(|| {
        Error::Usage(format!(
            "{} holds no CloudTrail digests: ingest the trail's CloudTrail-Digest/ folders \
             (they are read with the logs when log file validation is on for the trail)",
            lake.display()
        ))
    })?;
    let now = Utc::now();
    let summary = Summary::of(
        &verification,
        args.period.since_ms(now)?,
        args.period.until_ms(now)?,
    );
    match args.format {
        Format::Text => print_out(&summary.to_text())?,
        Format::Json => print_out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&summary).expect("a summary serializes")
        ))?,
    }
    log::info!(
        "checked {} digests and {} log files in {:.2} s",
        verification.digests.len(),
        verification.files.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if summary.is_verified() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    })
}
