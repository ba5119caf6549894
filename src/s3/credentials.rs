//! The AWS SDK's credential chain, offered to `object_store`, so the lake's store and the trail
//! source sign with the same identity.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use tokio::sync::Mutex;

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// The SDK's credential chain with a cache (the chain itself may read files or call a metadata
/// endpoint on every request).
pub struct ChainCredentials {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl ChainCredentials {
    /// Wraps the SDK's chain.
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: Mutex::new(None),
        }
    }
}

impl std::fmt::Debug for ChainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainCredentials(redacted)")
    }
}

#[async_trait]
impl CredentialProvider for ChainCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = cached.as_ref() {
            let fresh =
                expiry.is_none_or(|expiry| SystemTime::now() + REFRESH_BEFORE_EXPIRY < expiry);
            if fresh {
                return Ok(credential.clone());
            }
        }
        let credentials = self.provider.provide_credentials().await.map_err(|err| {
            let message = match err {
                aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(
                    _,
                ) => super::NO_CREDENTIALS.to_string(),
                other => format!("the AWS credentials could not be loaded: {other}"),
            };
            object_store::Error::Generic {
                store: "S3",
                source: message.into(),
            }
        })?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        });
        *cached = Some((credential.clone(), credentials.expiry()));
        Ok(credential)
    }
}
