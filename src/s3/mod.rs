//! Amazon S3 and S3-compatible servers (MinIO, LocalStack, moto): `s3://` URLs, one client
//! configuration from the standard AWS credential chain, the trail-bucket source, and the object
//! store a lake in S3 is written and read through.

mod credentials;
mod signatures;
mod source;

pub use signatures::{FetchedSignatures, fetch_signatures};
pub use source::S3Source;

use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::Region;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use self::credentials::ChainCredentials;
use crate::error::{Error, Result};

/// A bucket and a key prefix, from `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix: empty, or ending with `/`.
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`; `None` when `text` is not an `s3://` URL.
    pub fn parse(text: &str) -> Option<Result<Self>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(Error::Usage(format!(
                "`{text}` names no bucket: write s3://BUCKET/PREFIX/"
            ))));
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Some(Ok(Self {
            bucket: bucket.to_string(),
            prefix,
        }))
    }

    /// `s3://bucket/key`, the identity of an object in the manifest and in lineage columns.
    pub fn object(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to reach S3: the command-line flags shared by every command that can use it.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Region of the buckets; otherwise from the environment or profile, else `us-east-1`.
    pub region: Option<String>,
    /// A profile of the shared config and credentials files.
    pub profile: Option<String>,
    /// An S3-compatible server; also `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`. Implies
    /// path-style addressing.
    pub endpoint_url: Option<String>,
    /// Attempts per request, the first included, with exponential backoff between them.
    pub max_attempts: u32,
}

/// The default number of attempts per S3 request.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// A loaded S3 configuration: the SDK client for the trail bucket and what the lake's object
/// store needs, both from one credential chain.
#[derive(Clone)]
pub struct S3Config {
    client: aws_sdk_s3::Client,
    sdk: aws_config::SdkConfig,
    credentials: Option<Arc<ChainCredentials>>,
    region: String,
    endpoint_url: Option<String>,
    max_attempts: u32,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// Resolves region, endpoint and the credential chain (environment, shared files and
    /// `--profile`, SSO, web identity, container and instance metadata, assume-role profiles).
    pub async fn load(options: &S3Options) -> Self {
        let endpoint_url = options
            .endpoint_url
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_S3").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|url| !url.is_empty());
        let max_attempts = options.max_attempts.max(1);
        let region_chain = RegionProviderChain::first_try(options.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::new("us-east-1"));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region_chain)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(max_attempts)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(20)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .read_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(300))
                    .build(),
            );
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(endpoint_url.is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            sdk: sdk.clone(),
            credentials: sdk
                .credentials_provider()
                .map(|provider| Arc::new(ChainCredentials::new(provider))),
            region,
            endpoint_url,
            max_attempts,
        }
    }

    /// The SDK client, for the trail bucket.
    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    /// A CloudTrail client for `region` (CloudTrail's keys and events are regional) with the same
    /// credential chain and retries. Its endpoint is `AWS_ENDPOINT_URL_CLOUDTRAIL`, else
    /// `AWS_ENDPOINT_URL`, else AWS's: `--endpoint-url` names an S3 server only.
    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let endpoint = ["AWS_ENDPOINT_URL_CLOUDTRAIL", "AWS_ENDPOINT_URL"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|url| !url.is_empty()));
        let mut config = aws_sdk_cloudtrail::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()));
        config.set_endpoint_url(endpoint);
        let config = config.build();
        aws_sdk_cloudtrail::Client::from_conf(config)
    }

    /// An object store over `bucket` with the same region, endpoint and credentials, and
    /// conditional put (`If-None-Match`) for lake commits.
    pub fn object_store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&self.region)
            .with_retry(object_store::RetryConfig {
                max_retries: self.max_attempts.saturating_sub(1) as usize,
                ..object_store::RetryConfig::default()
            });
        if let Some(credentials) = &self.credentials {
            builder = builder.with_credentials(credentials.clone());
        } else {
            builder = builder.with_skip_signature(true);
        }
        if let Some(url) = &self.endpoint_url {
            builder = builder
                .with_endpoint(url)
                .with_allow_http(url.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|err| Error::S3 {
            url: format!("s3://{bucket}"),
            message: format!("cannot configure the object store: {err}"),
        })?;
        Ok(Arc::new(store))
    }
}

/// The message of an SDK error: the service's code and message where it answered (with what
/// to do for the usual ones), else the transport failure. Never includes credentials.
pub(crate) fn describe_sdk_error<E>(err: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    let (code, message) = (err.code(), err.message());
    let hint = match code {
        Some("AccessDenied") => {
            " (the credentials in use may not list or read this prefix: check the bucket policy)"
        }
        Some("NoSuchBucket") => " (check the bucket name and --region)",
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken") => {
            " (check the credentials: AWS_PROFILE, --profile, or `aws sso login`)"
        }
        _ => "",
    };
    match code {
        Some(code) => format!("{code}: {}{hint}", message.unwrap_or("no message")),
        None if lacks_credentials(err) => NO_CREDENTIALS.to_string(),
        None => aws_sdk_s3::error::DisplayErrorContext(err).to_string(),
    }
}

/// What to do when the credential chain found nothing.
pub(crate) const NO_CREDENTIALS: &str = "no AWS credentials found: set AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, or pass --profile NAME (or AWS_PROFILE; `aws sso login` first for SSO), \
     or run where an instance, container or web-identity role applies";

/// Whether the request failed because the credential chain found no credentials.
fn lacks_credentials(err: &(dyn std::error::Error + 'static)) -> bool {
    use aws_credential_types::provider::error::CredentialsError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = source {
        if let Some(CredentialsError::CredentialsNotLoaded(_)) = error.downcast_ref() {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let url = S3Url::parse("s3://bucket/a/b").unwrap().unwrap();
        assert_eq!(
            (url.bucket.as_str(), url.prefix.as_str()),
            ("bucket", "a/b/")
        );
        let url = S3Url::parse("s3://bucket").unwrap().unwrap();
        assert_eq!(url.prefix, "");
        assert_eq!(url.object("k/x.gz"), "s3://bucket/k/x.gz");
        assert!(S3Url::parse("s3:///x").unwrap().is_err());
        assert!(S3Url::parse("./lake").is_none());
    }
}
