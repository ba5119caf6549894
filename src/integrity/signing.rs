//! How CloudTrail signs a digest, and how trailq checks (and, for generated trails, makes) the
//! signature.
//!
//! The signed string is, joined by `\n`: the digest's `digestEndTime` as written, its
//! `digestS3Bucket/digestS3Object`, the hex SHA-256 of its decompressed content, and its
//! `previousDigestSignature` (the text `null` for the first digest of a chain). The signature
//! is RSA PKCS#1 v1.5 over the SHA-256 of that string, hex in the object's
//! `x-amz-meta-signature`. This is what the AWS CLI's `validate-logs` checks
//! (`awscli/customizations/cloudtrail/validation.py`); a test runs that code on trailq's output.

use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};

use super::digest::DigestRow;

/// The string CloudTrail signs for a digest.
pub fn string_to_sign(
    end_time: &str,
    bucket: &str,
    object: &str,
    sha256: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{object}\n{sha256}\n{}",
        previous_signature.unwrap_or("null")
    )
}

/// The string signed for a digest row.
pub fn row_string_to_sign(row: &DigestRow) -> String {
    string_to_sign(
        &row.digestendtime,
        &row.digests3bucket,
        &row.digests3object,
        &row.sha256,
        row.previousdigestsignature.as_deref(),
    )
}

/// Why a signature does not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadSignature {
    /// The signature is not hex.
    NotHex,
    /// The key is not a DER PKCS#1 RSA public key of 2048 to 8192 bits, or the signature does
    /// not verify under it.
    Mismatch,
}

/// Checks `signature_hex` over the row's signed string with the DER PKCS#1 public key `der`.
pub fn verify(row: &DigestRow, signature_hex: &str, der: &[u8]) -> Result<(), BadSignature> {
    let signature = hex::decode(signature_hex.trim()).map_err(|_| BadSignature::NotHex)?;
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der)
        .verify(row_string_to_sign(row).as_bytes(), &signature)
        .map_err(|_| BadSignature::Mismatch)
}

/// A private key that signs digests the way CloudTrail does: for generated trails and tests.
pub struct SigningKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl SigningKey {
    /// A key from its PKCS#8 DER encoding.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|err| format!("not an RSA private key in PKCS#8 DER: {err}"))?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The public half, DER-encoded PKCS#1 `RSAPublicKey` (what `ListPublicKeys` returns).
    pub fn public_der(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.pair.public_key().as_ref().to_vec()
    }

    /// A fingerprint for the public half: hex of the first 16 bytes of its SHA-256 (the form
    /// of CloudTrail's, which digests quote; trailq only ever compares them).
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.public_der());
        hex::encode(&digest.as_ref()[..16])
    }

    /// The hex signature of `message`.
    pub fn sign(&self, message: &str) -> String {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                message.as_bytes(),
                &mut signature,
            )
            .expect("signing into a buffer of the modulus' length");
        hex::encode(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_string_is_cloudtrails() {
        assert_eq!(
            string_to_sign("2024-03-05T11:00:00Z", "b", "AWSLogs/x.json.gz", "ab", None),
            "2024-03-05T11:00:00Z\nb/AWSLogs/x.json.gz\nab\nnull"
        );
        assert_eq!(
            string_to_sign("t", "b", "k", "ab", Some("5a")),
            "t\nb/k\nab\n5a"
        );
    }
}
