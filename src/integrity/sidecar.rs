//! Signatures beside a local mirror's digests.
//!
//! CloudTrail keeps a digest's signature in the S3 object's metadata, which `aws s3 sync` and
//! most copies drop. A mirror keeps it in a sidecar file beside each digest,
//! `<digest file name>.metadata.json`, holding the object's user metadata as S3 returns it:
//!
//! ```json
//! {"signature": "<hex>", "signature-algorithm": "SHA256withRSA"}
//! ```
//!
//! (a backfill digest's also has `backfill-generation-timestamp`). `trailq fetch-signatures`
//! writes them from S3; `trailq generate` writes them for its trails. Ingest of a folder reads
//! a digest's sidecar with it; the sidecars are not listed as log files.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The suffix a sidecar adds to its digest's file name.
pub const SUFFIX: &str = ".metadata.json";

/// The sidecar of the digest at `path`.
pub fn path_of(digest: &Path) -> PathBuf {
    let mut name = digest.as_os_str().to_os_string();
    name.push(SUFFIX);
    PathBuf::from(name)
}

/// Whether `path` is a sidecar.
pub fn is_sidecar(path: &str) -> bool {
    path.ends_with(SUFFIX)
}

/// The S3 user metadata a sidecar holds (`signature`, `signature-algorithm`, ...).
pub type Metadata = BTreeMap<String, String>;

/// The metadata beside the digest at `path` (`None` when it has no sidecar).
pub fn read(digest: &Path) -> io::Result<Option<Metadata>> {
    let path = path_of(digest);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: not a signature sidecar ({{\"signature\": \"<hex>\", ...}}): {err}",
                    path.display()
                ),
            )
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Writes the metadata beside the digest at `path`.
pub fn write(digest: &Path, metadata: &Metadata) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(metadata).expect("text metadata serializes");
    std::fs::write(path_of(digest), text)
}
