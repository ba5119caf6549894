//! `trailq fetch-signatures`: the signatures of a trail bucket's digests, written as sidecars
//! into a local mirror of it, while there is still access to S3 (a copy made with `aws s3 sync`
//! keeps the digests but not their metadata, where CloudTrail puts the signature).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio::runtime::Handle;

use super::source::S3Source;
use super::{S3Config, S3Url, describe_sdk_error};
use crate::integrity::sidecar;
use crate::source::{Route, Selection, Source};

/// What a fetch did.
#[derive(Debug, Default)]
pub struct FetchedSignatures {
    /// Digest objects found.
    pub digests: u64,
    /// Sidecars written.
    pub written: u64,
    /// Digests with no signature in their metadata.
    pub unsigned: Vec<String>,
    /// Digests whose metadata could not be read, and why.
    pub failed: Vec<(String, String)>,
}

/// Writes, for every digest object under `url`, its S3 user metadata (`signature`,
/// `signature-algorithm`, ...) beside the same key under `mirror`
/// (`<mirror>/<key below the prefix>.metadata.json`).
pub fn fetch_signatures(
    url: &S3Url,
    config: &S3Config,
    handle: &Handle,
    mirror: &Path,
    concurrency: usize,
) -> std::io::Result<FetchedSignatures> {
    let source = S3Source::new(
        url.clone(),
        config,
        Selection::default(),
        handle.clone(),
        concurrency,
    );
    let listing = source.list();
    let mut fetched = FetchedSignatures::default();
    for error in listing.errors {
        fetched.failed.push((error.key, error.reason));
    }
    let bucket_prefix = format!("s3://{}/", url.bucket);
    let digests: Vec<(String, PathBuf)> = listing
        .objects
        .into_iter()
        .filter(|object| object.route == Route::Digest)
        .map(|object| {
            let key = object
                .key
                .strip_prefix(&bucket_prefix)
                .unwrap_or(&object.key);
            let below = key.strip_prefix(&url.prefix).unwrap_or(key);
            (key.to_string(), mirror.join(below))
        })
        .collect();
    fetched.digests = digests.len() as u64;
    let client = config.client().clone();
    let heads = handle.block_on(
        futures::stream::iter(digests)
            .map(|(key, path)| {
                let client = client.clone();
                let bucket = url.bucket.clone();
                async move {
                    let head = client.head_object().bucket(bucket).key(&key).send().await;
                    (key, path, head)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>(),
    );
    for (key, path, head) in heads {
        let display = format!("{bucket_prefix}{key}");
        let metadata = match head {
            Ok(head) => head.metadata().cloned().unwrap_or_default(),
            Err(err) => {
                fetched.failed.push((display, describe_sdk_error(&err)));
                continue;
            }
        };
        if !metadata.contains_key("signature") {
            fetched.unsigned.push(display);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        sidecar::write(&path, &metadata.into_iter().collect())?;
        fetched.written += 1;
    }
    Ok(fetched)
}
