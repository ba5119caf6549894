//! A trail bucket as an ingest source: discovery of accounts, organizations and regions under
//! `AWSLogs/`, listing of only the `YYYY/MM/DD/` prefixes a run needs (many at once, paginated),
//! and downloads fetched ahead of the decoders with a bound on the objects in flight.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use super::{S3Config, S3Url, describe_sdk_error};
use crate::source::{
    Listing, ListingError, Selection, Source, SourceObject, is_trail_folder, route,
};

/// CloudTrail folders under an account that trailq does not read yet: they are not listed (nor
/// are other services' folders).
const SKIPPED_FOLDERS: [&str; 1] = ["CloudTrail-Aggregated"];
/// Levels of unknown folders searched for an `AWSLogs/` folder below the source prefix; below
/// them, everything is listed flat.
const MAX_FREE_DEPTH: usize = 3;

/// Log objects in an S3 bucket under a prefix.
pub struct S3Source {
    url: S3Url,
    client: Client,
    selection: Selection,
    handle: Handle,
    concurrency: usize,
    max_attempts: u32,
    today: i32,
    pending: Mutex<HashMap<String, oneshot::Receiver<Result<Download, String>>>>,
    /// The `x-amz-meta-signature` of objects opened and not yet asked for (digests).
    signatures: Mutex<HashMap<String, String>>,
}

/// A downloaded object, holding its place among the objects in flight until it is read.
struct Download {
    bytes: Cursor<Bytes>,
    signature: Option<String>,
    _permit: OwnedSemaphorePermit,
}

/// An object's content and its `x-amz-meta-signature` (CloudTrail signs digests there).
struct Fetched {
    bytes: Bytes,
    signature: Option<String>,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.bytes.read(buf)
    }
}

/// Where a prefix sits in the CloudTrail layout.
#[derive(Debug, Clone)]
enum Level {
    /// Somewhere above `AWSLogs/` (a user's own prefix), this many folders below the source.
    Free(usize),
    /// `AWSLogs/`: accounts and organization ids below.
    AwsLogs,
    /// `AWSLogs/<org-id>/`: accounts below.
    Org,
    /// `AWSLogs/[<org-id>/]<account>/`: folders below.
    Account(String),
    /// `.../<account>/<folder>/`: regions below.
    Folder(String),
    /// `.../<folder>/<region>/`: dates below.
    Region(String, String),
    /// Everything below is listed flat.
    Leaf,
    /// A folder above `AWSLogs/` deeper than the search goes: listed flat, unless an `AWSLogs/`
    /// tree turns up elsewhere in the source.
    FreeLeaf,
}

impl Level {
    /// Whether the node lies outside any `AWSLogs/` tree.
    fn is_free(&self) -> bool {
        matches!(self, Level::Free(_) | Level::FreeLeaf)
    }
}

#[derive(Debug)]
struct Node {
    prefix: String,
    level: Level,
}

/// What listing one prefix found.
#[derive(Default)]
struct Expansion {
    nodes: Vec<Node>,
    objects: Vec<SourceObject>,
    errors: Vec<ListingError>,
    /// Other services' folders left unlisted.
    skipped_folders: u64,
}

impl S3Source {
    /// A source over `url`, reading only what `selection` admits, with at most `concurrency`
    /// list requests and downloads in flight; async work runs on `handle`.
    pub fn new(
        url: S3Url,
        config: &S3Config,
        selection: Selection,
        handle: Handle,
        concurrency: usize,
    ) -> Self {
        let today = crate::record::time::day_of(chrono::Utc::now().timestamp_millis());
        Self {
            url,
            client: config.client().clone(),
            selection,
            handle,
            concurrency: concurrency.max(1),
            max_attempts: config.max_attempts,
            today,
            pending: Mutex::new(HashMap::new()),
            signatures: Mutex::new(HashMap::new()),
        }
    }

    /// The level of the source prefix itself.
    fn root(&self) -> Node {
        let segments: Vec<&str> = self
            .url
            .prefix
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let level = match segments.iter().rposition(|s| *s == "AWSLogs") {
            None => Level::Free(0),
            Some(at) => {
                let rest = &segments[at + 1..];
                let rest = match rest.first() {
                    Some(org) if org.starts_with("o-") => &rest[1..],
                    _ => rest,
                };
                let org_only = rest.is_empty() && segments.len() > at + 1;
                match rest {
                    [] if org_only => Level::Org,
                    [] => Level::AwsLogs,
                    [account] => Level::Account(account.to_string()),
                    [account, _folder] => Level::Folder(account.to_string()),
                    [account, _folder, region] => {
                        Level::Region(account.to_string(), region.to_string())
                    }
                    _ => Level::Leaf,
                }
            }
        };
        Node {
            prefix: self.url.prefix.clone(),
            level,
        }
    }

    async fn list_async(&self) -> Listing {
        let mut listing = Listing::default();
        let mut frontier = vec![self.root()];
        let mut found_tree = false;
        while !frontier.is_empty() {
            let expansions: Vec<Expansion> = futures::stream::iter(frontier)
                .map(|node| self.expand(node))
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            frontier = Vec::new();
            for expansion in expansions {
                frontier.extend(expansion.nodes);
                listing.objects.extend(expansion.objects);
                listing.errors.extend(expansion.errors);
                listing.skipped_folders += expansion.skipped_folders;
            }
            // Once an `AWSLogs/` tree is found, only it is read: folders beside it are not
            // searched further (a shared bucket's other prefixes can hold millions of objects).
            found_tree |= frontier.iter().any(|node| !node.level.is_free());
            if found_tree {
                let before = frontier.len();
                frontier.retain(|node| !node.level.is_free());
                listing.skipped_folders += (before - frontier.len()) as u64;
            }
        }
        listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
        listing.errors.sort_by(|a, b| a.key.cmp(&b.key));
        listing.confine_to_log_tree();
        listing
    }

    /// Lists one prefix and returns what to list next.
    async fn expand(&self, node: Node) -> Expansion {
        let mut out = Expansion::default();
        match &node.level {
            Level::Leaf | Level::FreeLeaf => match self.list_flat(&node.prefix).await {
                Ok(objects) => out.objects = objects,
                Err(error) => out.errors.push(error),
            },
            Level::Region(account, region) => {
                if !self.selection.admits_region(account, region) {
                    return out;
                }
                match self.day_range() {
                    Some((first, last)) => {
                        for day in first..=last {
                            let date = crate::record::time::format_day(day).replace('-', "/");
                            out.nodes.push(Node {
                                prefix: format!("{}{date}/", node.prefix),
                                level: Level::Leaf,
                            });
                        }
                    }
                    None => out.nodes.push(Node {
                        prefix: node.prefix.clone(),
                        level: Level::Leaf,
                    }),
                }
            }
            level => {
                let (prefixes, objects) = match self.list_delimited(&node.prefix).await {
                    Ok(found) => found,
                    Err(error) => {
                        out.errors.push(error);
                        return out;
                    }
                };
                if matches!(level, Level::Free(_)) {
                    out.objects = objects;
                }
                for prefix in prefixes {
                    let name = prefix
                        .trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    match self.child_level(level, &name) {
                        Some(level) => out.nodes.push(Node { prefix, level }),
                        None if matches!(level, Level::Account(_)) && !is_trail_folder(&name) => {
                            out.skipped_folders += 1
                        }
                        None => {}
                    }
                }
            }
        }
        out
    }

    /// The level of a child folder named `name`, or `None` when it is not to be listed.
    fn child_level(&self, parent: &Level, name: &str) -> Option<Level> {
        match parent {
            Level::Free(_) if name == "AWSLogs" => Some(Level::AwsLogs),
            Level::Free(depth) if *depth < MAX_FREE_DEPTH => Some(Level::Free(depth + 1)),
            Level::Free(_) => Some(Level::FreeLeaf),
            Level::AwsLogs if name.starts_with("o-") => Some(Level::Org),
            Level::AwsLogs | Level::Org => self
                .selection
                .admits_account(name)
                .then(|| Level::Account(name.to_string())),
            Level::Account(account) => (is_trail_folder(name) && !SKIPPED_FOLDERS.contains(&name))
                .then(|| Level::Folder(account.clone())),
            Level::Folder(account) => self
                .selection
                .admits_region(account, name)
                .then(|| Level::Region(account.clone(), name.to_string())),
            Level::Region(..) | Level::Leaf | Level::FreeLeaf => None,
        }
    }

    /// The delivery days to list, when the run is bounded by date.
    fn day_range(&self) -> Option<(i32, i32)> {
        let first = self.selection.since?;
        let last = self.selection.last_delivery_day().unwrap_or(self.today + 1);
        Some((first, last))
    }

    /// One delimited listing: the sub-prefixes and the objects directly under `prefix`.
    async fn list_delimited(
        &self,
        prefix: &str,
    ) -> Result<(Vec<String>, Vec<SourceObject>), ListingError> {
        self.list(prefix, true).await
    }

    /// Every object under `prefix`, selected by the run's selection.
    async fn list_flat(&self, prefix: &str) -> Result<Vec<SourceObject>, ListingError> {
        Ok(self.list(prefix, false).await?.1)
    }

    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
    ) -> Result<(Vec<String>, Vec<SourceObject>), ListingError> {
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.url.bucket)
            .prefix(prefix);
        if delimited {
            request = request.delimiter("/");
        }
        let mut pages = request.into_paginator().send();
        let mut prefixes = Vec::new();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| ListingError {
                key: self.url.object(prefix),
                reason: format!("cannot list: {}", describe_sdk_error(&err)),
            })?;
            prefixes.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let key = self.url.object(key);
                if !self.selection.admits(&key) {
                    continue;
                }
                objects.push(SourceObject {
                    route: route(&key),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    version: object.e_tag().unwrap_or_default().to_string(),
                    key,
                });
            }
        }
        Ok((prefixes, objects))
    }

    fn key_of<'a>(&self, object: &'a SourceObject) -> &'a str {
        object
            .key
            .strip_prefix(&format!("s3://{}/", self.url.bucket))
            .unwrap_or(&object.key)
    }
}

/// Downloads one object, provided its ETag is still the listed one. The SDK retries the request
/// (throttling, 5xx, timeouts, resets); a body cut short is fetched again here.
async fn fetch(
    client: Client,
    bucket: String,
    key: String,
    etag: String,
    max_attempts: u32,
) -> Result<Fetched, String> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let mut request = client.get_object().bucket(&bucket).key(&key);
        if !etag.is_empty() {
            request = request.if_match(&etag);
        }
        let failure = match request.send().await {
            Ok(output) => {
                let signature = output
                    .metadata()
                    .and_then(|metadata| metadata.get("signature"))
                    .cloned();
                match output.body.collect().await {
                    Ok(data) => {
                        return Ok(Fetched {
                            bytes: data.into_bytes(),
                            signature,
                        });
                    }
                    Err(err) => format!("download cut short: {err}"),
                }
            }
            Err(err) => {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                let mut message = describe_sdk_error(&err);
                if err.code() == Some("PreconditionFailed") {
                    message =
                        "the object changed since it was listed; the next run reads it".into();
                }
                return Err(message);
            }
        };
        if attempt >= max_attempts {
            return Err(format!("{failure} (after {attempt} attempts)"));
        }
        attempt += 1;
        let jitter = Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 2));
        tokio::time::sleep(delay + jitter).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

impl Source for S3Source {
    fn list(&self) -> Listing {
        self.handle.block_on(self.list_async())
    }

    fn prefetch(&self, objects: &[SourceObject]) {
        let semaphore = Arc::new(Semaphore::new(self.concurrency));
        let mut jobs = Vec::with_capacity(objects.len());
        {
            let mut pending = self.pending.lock().expect("prefetch lock poisoned");
            for object in objects {
                let (sender, receiver) = oneshot::channel();
                pending.insert(object.key.clone(), receiver);
                jobs.push((
                    self.key_of(object).to_string(),
                    object.version.clone(),
                    sender,
                ));
            }
        }
        let client = self.client.clone();
        let bucket = self.url.bucket.clone();
        let max_attempts = self.max_attempts;
        // Downloads start in plan order, the order the decoders take objects in; each holds a
        // permit until its bytes are read, so memory is bounded by `concurrency` objects.
        self.handle.spawn(async move {
            for (key, etag, sender) in jobs {
                let permit = semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let (client, bucket) = (client.clone(), bucket.clone());
                tokio::spawn(async move {
                    let result = fetch(client, bucket, key, etag, max_attempts).await;
                    let _ = sender.send(result.map(|fetched| Download {
                        bytes: Cursor::new(fetched.bytes),
                        signature: fetched.signature,
                        _permit: permit,
                    }));
                });
            }
        });
    }

    fn open(&self, object: &SourceObject) -> std::io::Result<Box<dyn Read + Send>> {
        let pending = self
            .pending
            .lock()
            .expect("prefetch lock poisoned")
            .remove(&object.key);
        let result = match pending {
            Some(receiver) => self
                .handle
                .block_on(receiver)
                .unwrap_or_else(|_| Err("the download task stopped without an answer".to_string())),
            None => {
                let permit = Arc::new(Semaphore::new(1))
                    .try_acquire_owned()
                    .expect("a new semaphore has a permit");
                self.handle
                    .block_on(fetch(
                        self.client.clone(),
                        self.url.bucket.clone(),
                        self.key_of(object).to_string(),
                        object.version.clone(),
                        self.max_attempts,
                    ))
                    .map(|fetched| Download {
                        bytes: Cursor::new(fetched.bytes),
                        signature: fetched.signature,
                        _permit: permit,
                    })
            }
        };
        match result {
            Ok(mut download) => {
                if let Some(signature) = download.signature.take() {
                    self.signatures
                        .lock()
                        .expect("signature lock poisoned")
                        .insert(object.key.clone(), signature);
                }
                Ok(Box::new(download))
            }
            Err(reason) => Err(std::io::Error::other(reason)),
        }
    }

    fn signature(&self, object: &SourceObject) -> std::io::Result<Option<String>> {
        Ok(self
            .signatures
            .lock()
            .expect("signature lock poisoned")
            .remove(&object.key))
    }

    fn describe(&self) -> String {
        self.url.to_string()
    }
}
