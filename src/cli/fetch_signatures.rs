//! `trailq fetch-signatures s3://bucket/prefix/ --mirror DIR`.

use std::path::PathBuf;

use clap::Args;

use super::flags::{S3Access, S3Args};
use super::{EXIT_ERROR, EXIT_OK, query_runtime, thousands};
use trailq::error::{Error, Result};
use trailq::s3::{S3Url, fetch_signatures};

/// Save the signatures of a trail bucket's digests into a local mirror of it.
///
/// CloudTrail keeps each digest's signature in the S3 object's metadata
/// (`x-amz-meta-signature`), which `aws s3 sync` and most copies drop. This writes it beside
/// each digest of the mirror, as `<digest>.metadata.json` (the object's metadata as S3 returns
/// it), so `trailq ingest DIR` can check the digests later without S3. Run it while there is
/// still access to the bucket; SOURCE is the prefix the mirror was copied from.
#[derive(Debug, Args)]
pub struct FetchSignaturesArgs {
    /// The trail bucket and prefix the mirror copies (`s3://bucket/prefix/`).
    source: String,
    /// The mirror: the folder the prefix was copied to.
    #[arg(long, value_name = "DIR")]
    mirror: PathBuf,
    #[command(flatten)]
    s3: S3Args,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

/// Fetches and reports; exit status 2 when any digest's metadata could not be read.
pub fn run(args: FetchSignaturesArgs) -> Result<u8> {
    let url = S3Url::parse(&args.source).ok_or_else(|| {
        Error::Usage(format!(
            "`{}` is not an S3 URL: give s3://bucket/prefix/ (where the mirror was copied from)",
            args.source
        ))
    })??;
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.s3, runtime.handle());
    let fetched = fetch_signatures(
        &url,
        s3.config(),
        runtime.handle(),
        &args.mirror,
        args.concurrency,
    )
    .map_err(|err| Error::io(&args.mirror, err))?;
    for (key, reason) in &fetched.failed {
        log::error!("{key}: {reason}");
    }
    for key in &fetched.unsigned {
        log::warn!("{key}: no signature in its metadata");
    }
    log::info!(
        "wrote {} signatures of {} digests into {} ({} unsigned, {} failed)",
        thousands(fetched.written),
        thousands(fetched.digests),
        args.mirror.display(),
        thousands(fetched.unsigned.len() as u64),
        thousands(fetched.failed.len() as u64),
    );
    Ok(if fetched.failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}
