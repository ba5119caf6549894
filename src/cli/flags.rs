//! The flags several commands share, each defined once: the lake (`--lake` and the S3 flags),
//! the period (`--since`, `--until`), and the state read (`--as-of`, `--as-of-version`).

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use clap::Args;
use tokio::runtime::Handle;

use trailq::error::{Error, Result};
use trailq::lake::delta::AsOf;
use trailq::lake::{Lake, LakeLocation, Remote};
use trailq::record::time::day_of;
use trailq::s3::{DEFAULT_MAX_ATTEMPTS, S3Config, S3Options};
use trailq::sql::params::parse_when;

/// The lake a command works on, and how to reach S3 when it is there.
#[derive(Debug, Clone, Args)]
pub struct LakeArgs {
    /// The lake: a folder or `s3://bucket/prefix/` (required, but for --list and --functions).
    #[arg(long, value_name = "LAKE")]
    pub lake: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
}

impl LakeArgs {
    /// Where the lake is; a usage error when `--lake` is missing.
    pub fn location(&self) -> Result<LakeLocation> {
        let lake = self.lake.as_deref().ok_or_else(|| {
            Error::Usage("add --lake DIR (or --lake s3://bucket/prefix/): the lake to use".into())
        })?;
        LakeLocation::parse(lake)
    }
}

/// The period a command covers.
#[derive(Debug, Clone, Args)]
pub struct PeriodArgs {
    /// Start: a day (2024-03-01), a time (2024-03-01T10:00:00Z), or an age (30d, 24h, 90m).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// End, in the same forms as --since.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

impl PeriodArgs {
    /// `--since` as a time (UTC milliseconds), if given.
    pub fn since_ms(&self, now: DateTime<Utc>) -> Result<Option<i64>> {
        when(self.since.as_deref(), now)
    }

    /// `--until` as a time (UTC milliseconds), if given.
    pub fn until_ms(&self, now: DateTime<Utc>) -> Result<Option<i64>> {
        when(self.until.as_deref(), now)
    }

    /// The days of `--since` and `--until` (days since 1970-01-01), for commands that work a
    /// day at a time.
    pub fn days(&self) -> Result<(Option<i32>, Option<i32>)> {
        let now = Utc::now();
        Ok((
            self.since_ms(now)?.map(day_of),
            self.until_ms(now)?.map(day_of),
        ))
    }
}

fn when(value: Option<&str>, now: DateTime<Utc>) -> Result<Option<i64>> {
    value
        .map(|v| parse_when(v, now))
        .transpose()
        .map_err(Error::Usage)
}

/// Which state of the lake a reading command sees (time travel through the Delta logs).
#[derive(Debug, Clone, Args)]
pub struct AsOfArgs {
    /// Read the lake as it was then: each table's latest commit at or before it. A day
    /// (2024-03-05), a time (2024-03-05T00:00:00Z), or an age (7d, 24h).
    #[arg(long, value_name = "WHEN", conflicts_with = "as_of_version")]
    pub as_of: Option<String>,
    /// Read `events` at this version (`trailq history events` lists them), and the other
    /// tables as they were when it was committed.
    #[arg(long, value_name = "N")]
    pub as_of_version: Option<u64>,
}

impl AsOfArgs {
    /// The state these flags ask for.
    pub fn as_of(&self) -> Result<AsOf> {
        if let Some(version) = self.as_of_version {
            return Ok(AsOf::EventsVersion(version));
        }
        Ok(when(self.as_of.as_deref(), Utc::now())?.map_or(AsOf::Latest, AsOf::Time))
    }
}

/// How to reach S3. Credentials come from the standard AWS chain: environment, shared config
/// and credentials files, SSO, web identity, container and instance metadata.
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// AWS region of the buckets [default: from the environment or profile, else us-east-1].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// A named profile of ~/.aws/config (also AWS_PROFILE).
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// An S3-compatible server (MinIO, LocalStack, moto), with path-style addressing; also
    /// AWS_ENDPOINT_URL.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Attempts per S3 request, with exponential backoff (throttling, 5xx, timeouts, resets).
    #[arg(long, default_value_t = DEFAULT_MAX_ATTEMPTS)]
    max_attempts: u32,
}

impl S3Args {
    /// The options these flags give.
    pub fn options(&self) -> S3Options {
        S3Options {
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_attempts: self.max_attempts,
        }
    }
}

/// S3 for one command: its flags, and the configuration (credential chain, region, endpoint),
/// resolved once when first needed, so a command that reads a bucket and writes a lake in S3
/// resolves it once, and one that uses no S3 never does.
pub struct S3Access {
    options: S3Options,
    handle: Handle,
    config: OnceLock<S3Config>,
}

impl S3Access {
    /// S3 as the flags say, with async work on `handle`.
    pub fn new(args: &S3Args, handle: &Handle) -> Self {
        Self {
            options: args.options(),
            handle: handle.clone(),
            config: OnceLock::new(),
        }
    }

    /// The configuration. Blocks: call it outside async code.
    pub fn config(&self) -> &S3Config {
        self.config
            .get_or_init(|| self.handle.block_on(S3Config::load(&self.options)))
    }

    /// The configuration a session over `location` needs: some for a lake in S3.
    pub fn for_lake(&self, location: &LakeLocation) -> Option<&S3Config> {
        matches!(location, LakeLocation::S3(_)).then(|| self.config())
    }

    /// A lake that exists already: a folder, or an S3 prefix (its existence is known from the
    /// log when it is read).
    pub fn existing_lake(&self, location: &LakeLocation) -> Result<Lake> {
        match location {
            LakeLocation::Local(path) => Lake::open(path),
            LakeLocation::S3(_) => self.writable_lake(location),
        }
    }

    /// A lake to write: a folder (created if missing) or an S3 prefix.
    pub fn writable_lake(&self, location: &LakeLocation) -> Result<Lake> {
        match location {
            LakeLocation::Local(path) => Lake::create(path),
            LakeLocation::S3(url) => {
                let store = self.config().object_store(&url.bucket)?;
                Lake::create_remote(Remote::new(url.clone(), store, self.handle.clone()))
            }
        }
    }
}
