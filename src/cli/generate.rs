//! `trailq generate OUT`: write a realistic, deterministic sample trail.

use std::path::PathBuf;

use bytesize::ByteSize;
use chrono::NaiveDate;
use clap::Args;

use super::{EXIT_OK, thousands};
use trailq::error::{Error, Result};
use trailq::generate::{Tamper, TrailSpec, generate_with_progress, tamper, write_public_keys};

/// Where `trailq generate OUT` writes the public key of its digests, below OUT.
pub const KEYS_FILE: &str = "digest-keys/public-keys.json";

/// Generate a sample CloudTrail trail in the S3 layout (for trying trailq, tests and benchmarks).
///
/// The same arguments and seed always give the same files.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Folder to write `AWSLogs/...` into.
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Number of accounts.
    #[arg(long, default_value_t = 2)]
    pub accounts: usize,
    /// Regions with activity, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "us-east-1,eu-west-1")]
    pub regions: Vec<String>,
    /// First day (YYYY-MM-DD).
    #[arg(long, default_value = "2024-03-04")]
    pub start: NaiveDate,
    /// Number of days.
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Distinct events per day over all accounts and regions.
    #[arg(long, default_value_t = 20_000)]
    pub events_per_day: u64,
    /// Typical records per log file.
    #[arg(long, default_value_t = 400)]
    pub events_per_file: usize,
    /// Lay out as an organization trail with this id (o-...).
    #[arg(long)]
    pub org_id: Option<String>,
    /// Key prefix before AWSLogs/.
    #[arg(long)]
    pub prefix: Option<String>,
    /// The bucket the digests name as the trail's (upload it there for it to verify in S3).
    #[arg(long, default_value = "org-trail-bucket")]
    pub bucket: String,
    /// Fraction of events delivered twice.
    #[arg(long, default_value_t = 0.002)]
    pub duplicate_rate: f64,
    /// Only CloudTrail/ event files: no Insights, digests, network activity or odd file forms.
    #[arg(long)]
    pub plain: bool,
    /// Normal activity only: no injected intrusion (by default, one runs on the last day in
    /// the first account and region, for the rules to find).
    #[arg(long)]
    pub benign: bool,
    /// After writing, tamper with the trail as an intruder with write access to the bucket
    /// could, each in its own hour of the first account and region (comma-separated):
    /// edit-log, delete-log, delete-digest, forge-digest, move-digest, extra-log.
    #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
    pub tamper: Vec<Tamper>,
}

impl GenerateArgs {
    /// The trail these arguments describe.
    pub fn spec(&self) -> TrailSpec {
        TrailSpec {
            seed: self.seed,
            accounts: self.accounts,
            regions: self.regions.clone(),
            start: self.start,
            days: self.days,
            events_per_day: self.events_per_day,
            events_per_file: self.events_per_file,
            org_id: self.org_id.clone(),
            prefix: self.prefix.clone(),
            bucket: self.bucket.clone(),
            duplicate_rate: self.duplicate_rate,
            extras: !self.plain,
            attacks: !self.benign,
        }
    }
}

/// Writes the trail and says what it holds.
pub fn run(args: GenerateArgs) -> Result<u8> {
    if args.accounts == 0 || args.regions.is_empty() || args.days == 0 {
        return Err(Error::Usage(
            "--accounts, --regions and --days must each be at least one".into(),
        ));
    }
    let bar = super::progress::Bar::new(log::max_level() < log::LevelFilter::Info);
    let stats = generate_with_progress(&args.spec(), &args.out, &bar)
        .map_err(|err| Error::io(&args.out, err))?;
    log::info!(
        "generated {} log files ({} JSON, {} on disk) in {}: {} events, {} duplicate deliveries, \
         {} Insights records, {} digests",
        thousands(stats.log_files),
        ByteSize(stats.json_bytes),
        ByteSize(stats.file_bytes),
        args.out.display(),
        thousands(stats.events),
        thousands(stats.duplicates),
        thousands(stats.insights),
        thousands(stats.digests),
    );
    if stats.digests > 0 {
        let keys = args.out.join(KEYS_FILE);
        write_public_keys(&keys).map_err(|err| Error::io(&keys, err))?;
        log::info!(
            "digests are signed with trailq's test key; its public half, for `trailq ingest \
             --public-keys`, is in {} (ingest skips it: it is beside AWSLogs/)",
            keys.display()
        );
    }
    if !args.tamper.is_empty() {
        let done = tamper(&args.out, &args.tamper).map_err(|err| Error::io(&args.out, err))?;
        for tampered in done {
            log::info!(
                "tampered ({}): {}{}",
                tampered.kind.name(),
                tampered.path.display(),
                tampered
                    .other
                    .map(|other| format!(" ({})", other.display()))
                    .unwrap_or_default()
            );
        }
    }
    Ok(EXIT_OK)
}
