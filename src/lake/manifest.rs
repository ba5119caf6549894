//! The manifest: a log of committed transactions, each naming the source objects it read and
//! the files it published. The latest entry for a source decides whether it is done.
//!
//! Opening it reads the latest checkpoint (`checkpoint.rs`: the state the log had at one
//! sequence number) and the entries after it, so its cost follows the lake's state, not the
//! length of its history.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Lake, checkpoint};
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
    /// Hex SHA-256 of its decompressed content, as CloudTrail's digests list it (for objects
    /// read to the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
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
    /// For an `events` file: whether the sessions its rows issued are in `sessions`. Files
    /// written before that table existed are not, and `trailq compact` derives them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sessions: bool,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// Size when ingested.
    pub size: u64,
    /// Version when ingested.
    pub version: String,
    /// Outcome.
    pub status: SourceStatus,
    /// The transaction that read it.
    pub seq: u64,
    /// Why it failed, or its first rejected record's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Hex SHA-256 of its decompressed content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The log, loaded: the state at its checkpoint, and the transactions after it.
#[derive(Debug, Default)]
pub struct Manifest {
    /// The sequence number the checkpoint it started from covers (0: none).
    base: u64,
    /// The transactions after `base`, in order.
    transactions: Vec<Transaction>,
    sources: HashMap<String, SourceState>,
    live: BTreeMap<String, OutputEntry>,
    /// When its log was read (`None`: made in memory).
    loaded_at: Option<std::time::Instant>,
}

impl Manifest {
    /// Reads the lake's latest checkpoint and every transaction committed after it.
    pub fn load(lake: &Lake) -> Result<Self> {
        Ok(Self::read(lake, false)?.0)
    }

    /// [`Manifest::load`], and the transactions before its checkpoint whose log entries are
    /// still kept (the last days': see `checkpoint.rs`), in order: the recent history, for
    /// reports. One read of the log gives both.
    pub fn load_with_history(lake: &Lake) -> Result<(Self, Vec<Transaction>)> {
        Self::read(lake, true)
    }

    fn read(lake: &Lake, with_history: bool) -> Result<(Self, Vec<Transaction>)> {
        for _ in 0..LOAD_ATTEMPTS {
            let started = std::time::Instant::now();
            let checkpoint = checkpoint::latest(lake)?;
            let base = checkpoint.as_ref().map_or(0, |c| c.seq);
            let mut manifest = match checkpoint {
                Some(checkpoint) => checkpoint.into_manifest(),
                None => Manifest::default(),
            };
            let mut history = Vec::new();
            let mut contiguous = true;
            for transaction in read_entries(lake, if with_history { 0 } else { base })? {
                if transaction.seq <= base {
                    history.push(transaction);
                    continue;
                }
                if transaction.seq != manifest.next_seq() {
                    contiguous = false;
                    break;
                }
                manifest.push(transaction);
            }
            if contiguous {
                manifest.loaded_at = Some(started);
                return Ok((manifest, history));
            }
            // Another writer checkpointed and cleaned the log between the two reads.
            log::debug!("the manifest changed while it was read; reading it again");
        }
        Err(Error::Manifest {
            path: lake.log_dir(),
            message: "the log has a gap after its latest checkpoint (an entry was deleted)"
                .to_string(),
        })
    }

    /// A manifest at a checkpoint's state.
    pub(super) fn at_checkpoint(
        seq: u64,
        sources: HashMap<String, SourceState>,
        live: BTreeMap<String, OutputEntry>,
    ) -> Self {
        Self {
            base: seq,
            transactions: Vec::new(),
            sources,
            live,
            loaded_at: None,
        }
    }

    /// How long ago its log was read.
    pub fn age(&self) -> std::time::Duration {
        self.loaded_at.map(|t| t.elapsed()).unwrap_or_default()
    }

    /// The latest state of every source object any transaction read, by key.
    pub fn sources(&self) -> &HashMap<String, SourceState> {
        &self.sources
    }

    /// The transactions committed after the checkpoint it was loaded from, in order.
    pub fn transactions(&self) -> &[Transaction] {
        &self.transactions
    }

    /// The latest state of a source object, if any transaction read it.
    pub fn source(&self, key: &str) -> Option<&SourceState> {
        self.sources.get(key)
    }

    /// The committed transaction with this id, among those after the checkpoint (a checkpoint
    /// covers only transactions whose publish is finished).
    pub fn transaction(&self, txid: &str) -> Option<&Transaction> {
        self.transactions.iter().find(|t| t.txid == txid)
    }

    /// The files the committed transactions left in the lake (published and not replaced), by
    /// lake-relative path.
    pub fn live_files(&self) -> &BTreeMap<String, OutputEntry> {
        &self.live
    }

    /// The live files directly in a lake-relative folder (`events/event_date=2024-03-05`).
    pub fn live_in(&self, dir: &str) -> Vec<String> {
        self.live
            .keys()
            .filter(|path| {
                path.rsplit_once('/')
                    .is_some_and(|(parent, _)| parent == dir)
            })
            .cloned()
            .collect()
    }

    /// The sequence number of the last committed transaction (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.transactions.last().map_or(self.base, |t| t.seq)
    }

    /// The sequence number the next commit takes.
    pub fn next_seq(&self) -> u64 {
        self.last_seq() + 1
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
                    seq: transaction.seq,
                    error: source.error.clone(),
                    sha256: source.sha256.clone(),
                },
            );
        }
        for output in &transaction.outputs {
            self.live.insert(output.path.clone(), output.clone());
        }
        for removed in &transaction.removed {
            self.live.remove(removed);
        }
        self.transactions.push(transaction);
    }
}

/// The manifest log's directory, relative to the lake.
pub const LOG_DIR: &str = "_trailq/log";

/// How often [`Manifest::load`] reads again when a concurrent checkpoint cleaned the log
/// under it.
const LOAD_ATTEMPTS: usize = 3;

/// The sequence number of a log directory entry that is a committed transaction (not a
/// temporary file).
pub(super) fn log_entry_seq(path: &str) -> Option<u64> {
    numbered_file(path, ".json")
}

/// The sequence number of a file named `<seq><suffix>` (a log entry, a checkpoint).
pub(super) fn numbered_file(path: &str, suffix: &str) -> Option<u64> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(suffix)?.parse().ok()
}

/// The lake's log entries after sequence number `after`, parsed, in order.
fn read_entries(lake: &Lake, after: u64) -> Result<Vec<Transaction>> {
    let entries: Vec<(PathBuf, Vec<u8>)> = match lake.remote() {
        Some(remote) => {
            let start = format!("{LOG_DIR}/{}", log_file_name(after));
            let names: Vec<String> = remote
                .list_after(LOG_DIR, &start)?
                .into_iter()
                .map(|object| object.path)
                .filter(|path| log_entry_seq(path).is_some_and(|seq| seq > after))
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
                if log_entry_seq(&path.to_string_lossy()).is_some_and(|seq| seq > after) {
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
    entries
        .into_iter()
        .map(|(path, text)| {
            serde_json::from_slice(&text).map_err(|err| Error::Manifest {
                path,
                message: err.to_string(),
            })
        })
        .collect()
}

/// The log file name of a sequence number (zero-padded, so names sort in commit order).
pub fn log_file_name(seq: u64) -> String {
    format!("{seq:020}.json")
}
