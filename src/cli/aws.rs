//! The S3 flags shared by every command that reads or writes S3, and opening a lake from its
//! `--lake` argument.

use std::sync::OnceLock;

use clap::Args;
use tokio::runtime::Handle;

use crate::error::Result;
use crate::lake::{Lake, LakeLocation, Remote};
use crate::s3::{DEFAULT_MAX_ATTEMPTS, S3Config, S3Options};

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
