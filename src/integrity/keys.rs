//! The public keys that sign CloudTrail digests, by fingerprint.
//!
//! CloudTrail signs each region's digests with a regional key pair and rotates it; a digest names
//! its key by `digestPublicKeyFingerprint`. The public halves come from CloudTrail's
//! `ListPublicKeys` (`aws cloudtrail list-public-keys` prints them as JSON, `Value` in base64)
//! or from a file in that form (`--public-keys FILE`). Whatever trailq learns is cached in the
//! lake (`_trailq/public-keys.json`, the same form), so later runs and `trailq verify` work
//! offline.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// Where the lake caches the keys it has learnt, relative to its root.
pub const CACHE: &str = "_trailq/public-keys.json";

/// One public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `Fingerprint`, as digests name it.
    pub fingerprint: String,
    /// `Value`: the DER-encoded PKCS#1 `RSAPublicKey`.
    pub der: Vec<u8>,
    /// `ValidityStartTime`, as given (RFC 3339 text or epoch seconds).
    pub valid_from: Option<String>,
    /// `ValidityEndTime`.
    pub valid_until: Option<String>,
}

/// Public keys by fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeys {
    keys: BTreeMap<String, PublicKey>,
}

/// `list-public-keys` output, as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyList {
    public_key_list: Vec<ListedKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedKey {
    value: String,
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validity_start_time: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validity_end_time: Option<Value>,
}

/// A time as the CLI prints it (text, or epoch seconds with `--cli-timestamp-format`).
fn time_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl PublicKeys {
    /// Keys in the form `aws cloudtrail list-public-keys` prints: `{"PublicKeyList": [{"Value":
    /// base64, "Fingerprint": ..., "ValidityStartTime": ..., "ValidityEndTime": ...}]}`.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let list: KeyList = serde_json::from_str(text).map_err(|err| {
            format!(
                "not the output of `aws cloudtrail list-public-keys` \
                 ({{\"PublicKeyList\": [{{\"Value\", \"Fingerprint\", ...}}]}}): {err}"
            )
        })?;
        let mut keys = PublicKeys::default();
        for (i, listed) in list.public_key_list.into_iter().enumerate() {
            let der = BASE64
                .decode(listed.value.trim())
                .map_err(|err| format!("PublicKeyList[{i}].Value is not base64: {err}"))?;
            keys.insert(PublicKey {
                fingerprint: listed.fingerprint,
                der,
                valid_from: time_text(listed.validity_start_time),
                valid_until: time_text(listed.validity_end_time),
            });
        }
        Ok(keys)
    }

    /// The keys in the form `from_json` reads.
    pub fn to_json(&self) -> String {
        let list = KeyList {
            public_key_list: self
                .keys
                .values()
                .map(|key| ListedKey {
                    value: BASE64.encode(&key.der),
                    fingerprint: key.fingerprint.clone(),
                    validity_start_time: key.valid_from.clone().map(Value::String),
                    validity_end_time: key.valid_until.clone().map(Value::String),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&list).expect("keys serialize")
    }

    /// Reads a keys file (`--public-keys FILE`).
    pub fn read(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            Error::Usage(format!(
                "cannot read the public keys {}: {err}",
                path.display()
            ))
        })?;
        Self::from_json(&text).map_err(|err| Error::Usage(format!("{}: {err}", path.display())))
    }

    /// The keys the lake has cached (none when it has not).
    pub fn cached(lake: &Lake) -> Result<Self> {
        match lake.read_meta(CACHE)? {
            None => Ok(Self::default()),
            Some(bytes) => Self::from_json(&String::from_utf8_lossy(&bytes))
                .map_err(|err| Error::LakeData(format!("{}/{CACHE}: {err}", lake.display()))),
        }
    }

    /// Adds one key (replacing one with the same fingerprint).
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.fingerprint.clone(), key);
    }

    /// Adds `other`'s keys; returns how many fingerprints were new.
    pub fn merge(&mut self, other: &PublicKeys) -> usize {
        let before = self.keys.len();
        for key in other.keys.values() {
            self.insert(key.clone());
        }
        self.keys.len() - before
    }

    /// The key with this fingerprint.
    pub fn get(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.keys.get(fingerprint)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The keys CloudTrail's `ListPublicKeys` returns for digests signed between `start` and `end`
/// (ms) in the client's region.
pub async fn fetch(
    client: &aws_sdk_cloudtrail::Client,
    start: i64,
    end: i64,
) -> std::result::Result<PublicKeys, String> {
    use aws_sdk_cloudtrail::error::ProvideErrorMetadata;
    use aws_sdk_cloudtrail::primitives::DateTime;
    let mut keys = PublicKeys::default();
    let mut token: Option<String> = None;
    loop {
        let answer = client
            .list_public_keys()
            .start_time(DateTime::from_millis(start))
            .end_time(DateTime::from_millis(end))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|err| match (err.code(), err.message()) {
                (Some(code), message) => format!("{code}: {}", message.unwrap_or("")),
                _ => aws_sdk_cloudtrail::error::DisplayErrorContext(&err).to_string(),
            })?;
        for listed in answer.public_key_list() {
            let (Some(fingerprint), Some(value)) = (listed.fingerprint(), listed.value()) else {
                continue;
            };
            let time = |t: Option<&DateTime>| t.map(|t| t.to_string());
            keys.insert(PublicKey {
                fingerprint: fingerprint.to_string(),
                der: value.as_ref().to_vec(),
                valid_from: time(listed.validity_start_time()),
                valid_until: time(listed.validity_end_time()),
            });
        }
        match answer.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_form_reads_and_writes_back() {
        let text = r#"{"PublicKeyList": [{"Value": "AQID", "Fingerprint": "31e8b5",
            "ValidityStartTime": "2024-01-01T00:00:00+00:00", "ValidityEndTime": 1767225600}]}"#;
        let keys = PublicKeys::from_json(text).unwrap();
        let key = keys.get("31e8b5").unwrap();
        assert_eq!(key.der, [1, 2, 3]);
        assert_eq!(key.valid_until.as_deref(), Some("1767225600"));
        assert_eq!(PublicKeys::from_json(&keys.to_json()).unwrap(), keys);
        let err =
            PublicKeys::from_json(r#"{"PublicKeyList": [{"Value": "!", "Fingerprint": "a"}]}"#)
                .unwrap_err();
        assert!(
            err.contains("PublicKeyList[0].Value is not base64"),
            "{err}"
        );
        assert!(
            PublicKeys::from_json("[]")
                .unwrap_err()
                .contains("list-public-keys")
        );
    }
}
