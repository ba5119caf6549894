//! The generated trails' digests, as CloudTrail writes them: one per hour for each account and
//! region (listing the log files delivered in that hour, even none), chained to the one before
//! and signed with the test key in `testdata/digest-keys/` (`write_public_keys` writes its public
//! half). The signature goes to a sidecar beside each digest (`integrity::sidecar`), as a mirror
//! of the bucket keeps it.
//!
//! `tamper` then does to a generated trail what an intruder with write access to the bucket
//! could, so tests and the demo can show each being found.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use flate2::read::MultiGzDecoder;
use serde_json::{Value, json};

use super::{Place, WrittenFile, gzip, sha256_hex};
use crate::integrity::keys::{PublicKey, PublicKeys};
use crate::integrity::sidecar;
use crate::integrity::signing::{SigningKey, string_to_sign};

/// The name of the generated trail.
pub const TRAIL: &str = "org-trail";

/// The key that signs generated digests (a test key: it signs nothing real).
pub fn test_signing_key() -> SigningKey {
    SigningKey::from_pkcs8(include_bytes!(
        "../../testdata/digest-keys/trailq-test-signing.pk8"
    ))
    .expect("the bundled test key is an RSA key in PKCS#8")
}

/// The key `tamper` forges digests with.
fn forger_key() -> SigningKey {
    SigningKey::from_pkcs8(include_bytes!("../../testdata/digest-keys/forger.pk8"))
        .expect("the bundled forger key is an RSA key in PKCS#8")
}

/// Writes the public half of the key that signs generated digests to `path`, in the form `aws
/// cloudtrail list-public-keys` prints (for `--public-keys`).
pub fn write_public_keys(path: &Path) -> io::Result<()> {
    let key = test_signing_key();
    let mut keys = PublicKeys::default();
    keys.insert(PublicKey {
        fingerprint: key.fingerprint(),
        der: key.public_der(),
        valid_from: Some("2020-01-01T00:00:00Z".into()),
        valid_until: None,
    });
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, keys.to_json())
}

/// The previous digest of a chain, as the next one records it.
struct Previous {
    object: String,
    sha256: String,
    signature: String,
}

/// Writes the hourly digests of one account and region, from the first generated hour to the
/// hour of `last_delivery` (of any account and region); returns how many.
pub fn write_chain(
    place: &Place,
    mut files: Vec<WrittenFile>,
    last_delivery: Option<DateTime<Utc>>,
    key: &SigningKey,
) -> io::Result<u64> {
    files.sort_by(|a, b| (a.delivered, &a.key).cmp(&(b.delivered, &b.key)));
    let first = place
        .spec
        .start
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let generated_end = first + Duration::days(i64::from(place.spec.days));
    let last_delivery = last_delivery.unwrap_or(generated_end);
    let mut previous: Option<Previous> = None;
    let mut hour = first;
    let mut next_file = 0;
    let mut written = 0;
    while hour < generated_end.max(last_delivery + Duration::seconds(1)) {
        let end = hour + Duration::hours(1);
        let start = next_file;
        while next_file < files.len() && files[next_file].delivered < end {
            next_file += 1;
        }
        previous = Some(write_digest(
            place,
            hour,
            &files[start..next_file],
            previous.as_ref(),
            key,
        )?);
        written += 1;
        hour = end;
    }
    Ok(written)
}

fn format_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn write_digest(
    place: &Place,
    hour: DateTime<Utc>,
    files: &[WrittenFile],
    previous: Option<&Previous>,
    key: &SigningKey,
) -> io::Result<Previous> {
    let end = hour + Duration::hours(1);
    let dir = place.key_dir("CloudTrail-Digest", end);
    let name = format!(
        "{}_CloudTrail-Digest_{}_{TRAIL}_{}_{}.json.gz",
        place.account,
        place.region,
        place.region,
        end.format("%Y%m%dT%H%M%SZ")
    );
    let object = place.bucket_key(&dir.join(&name));
    let digest = json!({
        "awsAccountId": place.account,
        "digestStartTime": format_time(hour),
        "digestEndTime": format_time(end),
        "digestS3Bucket": place.spec.bucket,
        "digestS3Object": object,
        "digestPublicKeyFingerprint": key.fingerprint(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": files.last().map(|f| format_time(f.delivered)),
        "oldestEventTime": files.first().map(|f| format_time(f.delivered)),
        "previousDigestS3Bucket": previous.map(|_| &place.spec.bucket),
        "previousDigestS3Object": previous.map(|p| p.object.as_str()),
        "previousDigestHashValue": previous.map(|p| p.sha256.as_str()),
        "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
        "previousDigestSignature": previous.map(|p| p.signature.as_str()),
        "logFiles": files.iter().map(|file| json!({
            "s3Bucket": place.spec.bucket,
            "s3Object": file.key,
            "hashValue": file.sha256,
            "hashAlgorithm": "SHA-256",
        })).collect::<Vec<_>>(),
    });
    fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    let signed = write_signed(&path, &digest, key)?;
    Ok(Previous {
        object,
        sha256: signed.0,
        signature: signed.1,
    })
}

/// Writes `digest` at `path`, gzipped, and its signature (by `key`, over the string CloudTrail
/// signs) to the sidecar; returns its content's hash and the signature.
fn write_signed(path: &Path, digest: &Value, key: &SigningKey) -> io::Result<(String, String)> {
    let content = serde_json::to_vec(digest)?;
    let sha256 = sha256_hex(&content);
    let text = |name: &str| digest[name].as_str().unwrap_or_default().to_string();
    let signature = key.sign(&string_to_sign(
        &text("digestEndTime"),
        &text("digestS3Bucket"),
        &text("digestS3Object"),
        &sha256,
        digest["previousDigestSignature"].as_str(),
    ));
    fs::write(path, gzip(&content)?)?;
    let metadata = [
        ("signature".to_string(), signature.clone()),
        (
            "signature-algorithm".to_string(),
            "SHA256withRSA".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    sidecar::write(path, &metadata)?;
    Ok((sha256, signature))
}

/// What `tamper` can do to a generated trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tamper {
    /// Edits one record of a listed log file.
    EditLog,
    /// Deletes a listed log file.
    DeleteLog,
    /// Deletes a digest (and its signature).
    DeleteDigest,
    /// Rewrites a digest to hide one of its log files and signs it with another key.
    ForgeDigest,
    /// Moves a digest (and its signature) to another key.
    MoveDigest,
    /// Adds a log file CloudTrail never delivered.
    ExtraLog,
}

impl Tamper {
    /// Every kind, in order.
    pub const ALL: [Tamper; 6] = [
        Tamper::EditLog,
        Tamper::DeleteLog,
        Tamper::DeleteDigest,
        Tamper::ForgeDigest,
        Tamper::MoveDigest,
        Tamper::ExtraLog,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Tamper::EditLog => "edit-log",
            Tamper::DeleteLog => "delete-log",
            Tamper::DeleteDigest => "delete-digest",
            Tamper::ForgeDigest => "forge-digest",
            Tamper::MoveDigest => "move-digest",
            Tamper::ExtraLog => "extra-log",
        }
    }
}

impl FromStr for Tamper {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Tamper::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                let names: Vec<_> = Tamper::ALL.iter().map(|k| k.name()).collect();
                format!("unknown tampering `{text}`: one of {}", names.join(", "))
            })
    }
}

/// One thing `tamper` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tampered {
    /// What.
    pub kind: Tamper,
    /// The file it changed, added or removed (for a moved digest: where it was).
    pub path: PathBuf,
    /// For a moved digest, where it is now; for a forged one, the log file it hides.
    pub other: Option<PathBuf>,
}

/// The digests under `out` of its first account and region, in time order.
fn first_place_digests(out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut digests: Vec<PathBuf> = walkdir::WalkDir::new(out)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| {
            p.to_string_lossy().contains("/CloudTrail-Digest/")
                && p.to_string_lossy().ends_with(".json.gz")
        })
        .collect();
    let Some(first) = digests.first().cloned() else {
        return Err(io::Error::other(
            "the trail has no digests to tamper with (generate it with extras)",
        ));
    };
    // `<...>/<account>/CloudTrail-Digest/<region>/Y/M/D/<file>`: the same account and region.
    let place_of = |p: &Path| p.ancestors().nth(4).map(Path::to_path_buf);
    let place = place_of(&first);
    digests.retain(|p| place_of(p) == place);
    digests.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
    Ok(digests)
}

fn read_json_gz(path: &Path) -> io::Result<Value> {
    let mut text = Vec::new();
    MultiGzDecoder::new(fs::File::open(path)?).read_to_end(&mut text)?;
    Ok(serde_json::from_slice(&text)?)
}

/// The local path of a key listed in a digest (the output folder is the bucket's root).
fn local(out: &Path, key: &str) -> PathBuf {
    out.join(key)
}

/// The first log file (of `CloudTrail/`) the digest at `path` lists.
fn first_listed(out: &Path, path: &Path) -> io::Result<PathBuf> {
    let digest = read_json_gz(path)?;
    digest["logFiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["s3Object"].as_str())
        .find(|key| key.contains("/CloudTrail/"))
        .map(|key| local(out, key))
        .ok_or_else(|| io::Error::other(format!("{} lists no log file", path.display())))
}

/// Does each of `kinds` to the trail generated under `out`, each in its own hour of the first
/// account and region (hours 4, 6, 8, ... of its digests), and says what it did.
pub fn tamper(out: &Path, kinds: &[Tamper]) -> io::Result<Vec<Tampered>> {
    let digests = first_place_digests(out)?;
    let mut done = Vec::new();
    for (n, &kind) in kinds.iter().enumerate() {
        let digest = digests.get(4 + 2 * n).ok_or_else(|| {
            io::Error::other("the trail is too short to tamper with: generate a day or more")
        })?;
        done.push(match kind {
            Tamper::EditLog => {
                let path = first_listed(out, digest)?;
                let mut log = read_json_gz(&path)?;
                log["Records"][0]["sourceIPAddress"] = json!("198.51.100.66");
                fs::write(&path, gzip(&serde_json::to_vec(&log)?)?)?;
                Tampered {
                    kind,
                    path,
                    other: None,
                }
            }
            Tamper::DeleteLog => {
                let path = first_listed(out, digest)?;
                fs::remove_file(&path)?;
                Tampered {
                    kind,
                    path,
                    other: None,
                }
            }
            Tamper::DeleteDigest => {
                fs::remove_file(digest)?;
                fs::remove_file(sidecar::path_of(digest))?;
                Tampered {
                    kind,
                    path: digest.clone(),
                    other: None,
                }
            }
            Tamper::ForgeDigest => {
                let hidden = first_listed(out, digest)?;
                let mut content = read_json_gz(digest)?;
                let files = content["logFiles"].as_array_mut().expect("listed files");
                let hidden_key = hidden
                    .strip_prefix(out)
                    .expect("under out")
                    .to_string_lossy();
                files.retain(|f| f["s3Object"].as_str() != Some(&hidden_key));
                write_signed(digest, &content, &forger_key())?;
                Tampered {
                    kind,
                    path: digest.clone(),
                    other: Some(hidden),
                }
            }
            Tamper::MoveDigest => {
                let name = digest.file_name().expect("a file").to_string_lossy();
                // The same hour's folder, a name 30 minutes later.
                let moved = digest.with_file_name(name.replacen("0000Z", "3000Z", 1));
                fs::rename(digest, &moved)?;
                fs::rename(sidecar::path_of(digest), sidecar::path_of(&moved))?;
                Tampered {
                    kind,
                    path: digest.clone(),
                    other: Some(moved),
                }
            }
            Tamper::ExtraLog => {
                let listed = first_listed(out, digest)?;
                let mut log = read_json_gz(&listed)?;
                let mut record = log["Records"][0].take();
                record["eventID"] = json!("00000000-1e55-4bad-9000-000000000001");
                record["eventName"] = json!("PutBucketPolicy");
                log["Records"] = json!([record]);
                let name = listed.file_name().expect("a file").to_string_lossy();
                let path = listed.with_file_name(format!("injected-{name}"));
                fs::write(&path, gzip(&serde_json::to_vec(&log)?)?)?;
                Tampered {
                    kind,
                    path,
                    other: None,
                }
            }
        });
    }
    Ok(done)
}
