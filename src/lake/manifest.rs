//! The manifest: a log of committed transactions, each naming the source objects it read and
//! the files it published. The latest entry for a source decides whether it is done.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Lake;
use crate::error::{Error, Result};

/// What became of a source object in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    /// Every record is in the lake.
    Ingested,
    /// Read to the end, but some records went to `rejects`: retried on the next run.
    Partial,
    /// Could not be read to the end: retried on the next run.
    Failed,
}

/// One source object of a transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceEntry {
    /// File path or `s3://bucket/key`.
    pub key: String,
    /// Size when listed.
    pub size: u64,
    /// Modification time (ns) or ETag when listed.
    pub version: String,
    /// The outcome.
    pub status: SourceStatus,
    /// Records read into the lake (before duplicates were removed).
    pub events: u64,
    /// Records sent to `rejects`.
    pub rejected: u64,
    /// Why the object failed, or its first rejected record's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One published file of a transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputEntry {
    /// Path relative to the lake root.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// The row layout of an `events` or `insights` file (see `sink`); none for files written
    /// before layouts were named, which `trailq compact` rewrites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// The file's statistics as its Delta `add` action carries them (`lake::delta`); none for
    /// files written before tables were Delta tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
}

/// A committed transaction: one entry of the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transaction {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Unique id, also the name of its staging directory and part of its file names.
    pub txid: String,
    /// trailq version that wrote it.
    pub writer: String,
    /// When the run started and committed (RFC 3339).
    pub started_at: String,
    /// Commit time.
    pub committed_at: String,
    /// Source objects read.
    pub sources: Vec<SourceEntry>,
    /// Files published.
    pub outputs: Vec<OutputEntry>,
    /// Files this transaction replaces (lake-relative): deleted once it is published.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl Transaction {
    /// A transaction that reads no source object: it publishes `outputs` in place of `removed`
    /// (a compaction, a re-run of detect). `writer` names the command; the log fills `seq`.
    pub fn replacing(
        txid: String,
        writer: &str,
        started_at: chrono::DateTime<chrono::Utc>,
        outputs: Vec<OutputEntry>,
        removed: Vec<String>,
    ) -> Self {
        Self {
            seq: 0,
            txid,
            writer: format!("trailq {} {writer}", env!("CARGO_PKG_VERSION")),
            started_at: started_at.to_rfc3339(),
            committed_at: chrono::Utc::now().to_rfc3339(),
            sources: Vec::new(),
            outputs,
            removed,
        }
    }
}

/// The state of one source object, as the latest transaction that read it left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    /// Size when ingested.
    pub size: u64,
    /// Version when ingested.
    pub version: String,
    /// Outcome.
    pub status: SourceStatus,
}

/// The whole log, loaded.
#[derive(Debug, Default)]
pub struct Manifest {
    transactions: Vec<Transaction>,
    sources: HashMap<String, SourceState>,
}

impl Manifest {
    /// Reads every committed transaction of the lake, in order.
    pub fn load(lake: &Lake) -> Result<Self> {
        let entries = match lake.remote() {
            Some(remote) => {
                let names: Vec<String> = remote
                    .list(LOG_DIR)?
                    .into_iter()
                    .map(|object| object.path)
                    .filter(|path| is_log_entry(path))
                    .collect();
                let texts = remote.get_many(&names)?;
                names
                    .iter()
                    .map(|name| PathBuf::from(remote.display(name)))
                    .zip(texts.into_iter().map(|bytes| bytes.to_vec()))
                    .collect()
            }
            None => {
                let dir = lake.log_dir();
                let mut paths = Vec::new();
                for entry in fs::read_dir(&dir).map_err(|err| Error::io(&dir, err))? {
                    let path = entry.map_err(|err| Error::io(&dir, err))?.path();
                    if is_log_entry(&path.to_string_lossy()) {
                        paths.push(path);
                    }
                }
                paths.sort();
                let mut entries = Vec::with_capacity(paths.len());
                for path in paths {
                    let text = fs::read(&path).map_err(|err| Error::io(&path, err))?;
                    entries.push((path, text));
                }
                entries
            }
        };
        let mut manifest = Manifest::default();
        for (path, text) in entries {
            let transaction: Transaction =
                serde_json::from_slice(&text).map_err(|err| Error::Manifest {
                    path: path.clone(),
                    message: err.to_string(),
                })?;
            manifest.push(transaction);
        }
        Ok(manifest)
    }

    /// The committed transactions, in order.
    pub fn transactions(&self) -> &[Transaction] {
        &self.transactions
    }

    /// The latest state of a source object, if any transaction read it.
    pub fn source(&self, key: &str) -> Option<&SourceState> {
        self.sources.get(key)
    }

    /// The committed transaction with this id.
    pub fn transaction(&self, txid: &str) -> Option<&Transaction> {
        self.transactions.iter().find(|t| t.txid == txid)
    }

    /// The files the committed transactions left in the lake (published and not replaced), by
    /// lake-relative path.
    pub fn live_files(&self) -> BTreeMap<&str, &OutputEntry> {
        live_files(&self.transactions)
    }

    /// The live files directly in a lake-relative folder (`events/event_date=2024-03-05`).
    pub fn live_in(&self, dir: &str) -> Vec<String> {
        self.live_files()
            .into_keys()
            .filter(|path| {
                path.rsplit_once('/')
                    .is_some_and(|(parent, _)| parent == dir)
            })
            .map(str::to_string)
            .collect()
    }

    /// The sequence number the next commit takes.
    pub fn next_seq(&self) -> u64 {
        self.transactions.last().map_or(1, |t| t.seq + 1)
    }

    /// Records a transaction that was just committed.
    pub fn push(&mut self, transaction: Transaction) {
        for source in &transaction.sources {
            self.sources.insert(
                source.key.clone(),
                SourceState {
                    size: source.size,
                    version: source.version.clone(),
                    status: source.status,
                },
            );
        }
        self.transactions.push(transaction);
    }
}

/// The files a log of transactions leaves in the lake (published and not replaced), by
/// lake-relative path.
pub fn live_files(log: &[Transaction]) -> BTreeMap<&str, &OutputEntry> {
    let mut live = BTreeMap::new();
    for transaction in log {
        for output in &transaction.outputs {
            live.insert(output.path.as_str(), output);
        }
        for removed in &transaction.removed {
            live.remove(removed.as_str());
        }
    }
    live
}

/// The manifest log's directory, relative to the lake.
pub const LOG_DIR: &str = "_trailq/log";

/// Whether a log directory entry is a committed transaction (not a temporary file).
fn is_log_entry(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".json") && !name.starts_with('.')
}

/// The log file name of a sequence number (zero-padded, so names sort in commit order).
pub fn log_file_name(seq: u64) -> String {
    format!("{seq:020}.json")
}
