//! A local folder tree of log files (as CloudTrail lays them out in S3, or any other shape).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

use super::{Listing, ListingError, Route, Source, SourceObject, route};
use crate::integrity::sidecar;

/// Log files under a local folder (or one file).
pub struct LocalSource {
    root: PathBuf,
}

impl LocalSource {
    /// A source rooted at `root`, which must exist.
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
        })
    }
}

/// Modification time in nanoseconds since 1970 (0 when the file system has none).
fn mtime_nanos(meta: &std::fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_string_lossy().starts_with('.')
}

impl Source for LocalSource {
    fn list(&self) -> Listing {
        let mut listing = Listing::default();
        let mut ignored = 0;
        let walk = WalkDir::new(&self.root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                let hidden = entry.depth() > 0 && is_hidden(entry.file_name());
                ignored += u64::from(hidden);
                !hidden
            });
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    let key = err
                        .path()
                        .unwrap_or(&self.root)
                        .to_string_lossy()
                        .into_owned();
                    listing.errors.push(ListingError {
                        key,
                        reason: format!("cannot list: {err}"),
                    });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let key = entry.path().to_string_lossy().into_owned();
            let route = route(&key.replace('\\', "/"));
            if route == Route::Digest && sidecar::is_sidecar(&key) {
                // Read with its digest, whose version it is part of.
                continue;
            }
            match entry.metadata() {
                Ok(meta) => {
                    let mut version = mtime_nanos(&meta).to_string();
                    if route == Route::Digest
                        && let Ok(side) = std::fs::metadata(sidecar::path_of(entry.path()))
                    {
                        // A signature fetched later makes the digest read again.
                        version = format!("{version}+{}", mtime_nanos(&side));
                    }
                    listing.objects.push(SourceObject {
                        route,
                        key,
                        size: meta.len(),
                        version,
                    });
                }
                Err(err) => listing.errors.push(ListingError {
                    key,
                    reason: format!("cannot read metadata: {err}"),
                }),
            }
        }
        listing.ignored = ignored;
        listing.confine_to_log_tree();
        listing
    }

    fn open(&self, object: &SourceObject) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(&object.key)?))
    }

    fn signature(&self, object: &SourceObject) -> std::io::Result<Option<String>> {
        if object.route != Route::Digest {
            return Ok(None);
        }
        Ok(sidecar::read(Path::new(&object.key))?.and_then(|mut meta| meta.remove("signature")))
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}
