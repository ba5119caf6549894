//! Where log objects come from, and how each is identified so it is ingested once.

mod layout;
mod local;

pub use layout::{
    KeyParts, Route, Selection, in_log_tree, is_trail_folder, key_parts, route, shard_of,
};
pub use local::LocalSource;

use std::io::Read;

/// One log object as listed by a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// Identity and lineage: an absolute file path (or `s3://bucket/key`).
    pub key: String,
    /// Size in bytes as listed.
    pub size: u64,
    /// What changes when the object's content does: modification time in nanoseconds for
    /// files (an ETag for S3).
    pub version: String,
    /// The table it goes to, from its key.
    pub route: Route,
}

/// Something a listing could not read (a directory without permission, a vanished file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingError {
    /// What could not be listed.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// The result of listing a source.
#[derive(Debug, Default)]
pub struct Listing {
    /// Objects found, in key order.
    pub objects: Vec<SourceObject>,
    /// Hidden files (names starting with `.`) passed over.
    pub ignored: u64,
    /// Folders not listed at all because they cannot hold CloudTrail logs (S3: other services'
    /// folders under `AWSLogs/<account>/`, and folders beside the `AWSLogs/` tree).
    pub skipped_folders: u64,
    /// Parts of the source that could not be listed.
    pub errors: Vec<ListingError>,
}

impl Listing {
    /// When the listing holds an `AWSLogs/` tree, only that tree is read: objects beside it are
    /// routed `OutsideLogs`, to be skipped and counted.
    pub fn confine_to_log_tree(&mut self) {
        if !self.objects.iter().any(|o| in_log_tree(&o.key)) {
            return;
        }
        for object in &mut self.objects {
            if !in_log_tree(&object.key) {
                object.route = Route::OutsideLogs;
            }
        }
    }
}

/// A place log objects are listed and read from.
pub trait Source: Sync {
    /// Lists every object under the source.
    fn list(&self) -> Listing;
    /// Opens one listed object for reading.
    fn open(&self, object: &SourceObject) -> std::io::Result<Box<dyn Read + Send>>;
    /// The signature stored with an object (S3's `x-amz-meta-signature`, where CloudTrail
    /// signs each digest), once it has been opened; `None` where the source keeps none.
    fn signature(&self, _object: &SourceObject) -> std::io::Result<Option<String>> {
        Ok(None)
    }
    /// Says which objects will be opened next, in order, so a remote source can fetch ahead.
    fn prefetch(&self, _objects: &[SourceObject]) {}
    /// Where the objects come from, for messages.
    fn describe(&self) -> String;
}
