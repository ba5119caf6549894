//! Manifest checkpoints: the manifest's state (every source object's latest outcome, every live
//! file) as of one sequence number, in `_trailq/checkpoint/<seq>.json.gz`.
//!
//! Opening the manifest reads the newest checkpoint and the log entries after it, so a lake
//! with years of nightly runs opens as fast as a new one. A writer checkpoints after its
//! publish, every [`interval`] transactions, and only a state every table's Delta log already
//! follows and no staged transaction still needs (a crashed publish is finished from its log
//! entry, which must then lie after the checkpoint). It then deletes the log entries the
//! checkpoint covers once they are older than [`log_retention`] (kept meanwhile for reports
//! and for readers that loaded the previous checkpoint), and all but the newest two
//! checkpoints.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::time::Duration;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::commit::STAGING_DIR;
use super::manifest::{LOG_DIR, log_entry_seq, numbered_file};
use super::{Lake, Manifest, OutputEntry, sync_dir};
use crate::error::{Error, Result};

/// The checkpoint directory, relative to the lake.
pub const CHECKPOINT_DIR: &str = "_trailq/checkpoint";

/// How long log entries stay after a checkpoint covers them: 7 days, or
/// `TRAILQ_LOG_RETENTION_SECS` (for tests).
pub fn log_retention() -> Duration {
    Duration::from_secs(setting("TRAILQ_LOG_RETENTION_SECS").unwrap_or(7 * 24 * 3600))
}

/// Transactions between checkpoints: 100, or `TRAILQ_CHECKPOINT_INTERVAL` (for tests).
pub fn interval() -> usize {
    setting("TRAILQ_CHECKPOINT_INTERVAL")
        .filter(|&n| n > 0)
        .map_or(100, |n| n as usize)
}

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// The manifest's state as of one sequence number.
#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last transaction it covers.
    pub seq: u64,
    /// trailq version that wrote it.
    pub writer: String,
    /// When (RFC 3339).
    pub written_at: String,
    /// Every source object's latest state.
    pub sources: Vec<CheckpointSource>,
    /// Every live file.
    pub live: Vec<OutputEntry>,
}

/// One source object of a checkpoint.
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckpointSource {
    /// File path or `s3://bucket/key`.
    pub key: String,
    /// Its latest state.
    #[serde(flatten)]
    pub state: super::manifest::SourceState,
}

impl Checkpoint {
    /// The checkpoint of a manifest's whole state.
    fn of(manifest: &Manifest) -> Self {
        let mut sources: Vec<CheckpointSource> = manifest
            .sources()
            .iter()
            .map(|(key, state)| CheckpointSource {
                key: key.clone(),
                state: state.clone(),
            })
            .collect();
        sources.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            seq: manifest.last_seq(),
            writer: format!("trailq {}", env!("CARGO_PKG_VERSION")),
            written_at: chrono::Utc::now().to_rfc3339(),
            sources,
            live: manifest.live_files().values().cloned().collect(),
        }
    }

    /// The manifest at this checkpoint, with no transaction after it yet.
    pub fn into_manifest(self) -> Manifest {
        let sources: HashMap<_, _> = self.sources.into_iter().map(|s| (s.key, s.state)).collect();
        let live: BTreeMap<_, _> = self
            .live
            .into_iter()
            .map(|entry| (entry.path.clone(), entry))
            .collect();
        Manifest::at_checkpoint(self.seq, sources, live)
    }
}

/// The checkpoint file name of a sequence number (zero-padded, so names sort by it).
fn file_name(seq: u64) -> String {
    format!("{seq:020}.json.gz")
}

fn checkpoint_seq(path: &str) -> Option<u64> {
    numbered_file(path, ".json.gz")
}

/// The sequence numbers of the lake's checkpoints, ascending.
fn list(lake: &Lake) -> Result<Vec<u64>> {
    let mut seqs: Vec<u64> = match lake.remote() {
        Some(remote) => remote
            .list(CHECKPOINT_DIR)?
            .iter()
            .filter_map(|object| checkpoint_seq(&object.path))
            .collect(),
        None => {
            let dir = lake.root().join(CHECKPOINT_DIR);
            match fs::read_dir(&dir) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(err) => return Err(Error::io(&dir, err)),
                Ok(entries) => {
                    let mut seqs = Vec::new();
                    for entry in entries {
                        let name = entry.map_err(|err| Error::io(&dir, err))?.file_name();
                        seqs.extend(checkpoint_seq(&name.to_string_lossy()));
                    }
                    seqs
                }
            }
        }
    };
    seqs.sort_unstable();
    Ok(seqs)
}

/// The lake's newest checkpoint, if it has one.
pub fn latest(lake: &Lake) -> Result<Option<Checkpoint>> {
    let Some(&seq) = list(lake)?.last() else {
        return Ok(None);
    };
    let relative = format!("{CHECKPOINT_DIR}/{}", file_name(seq));
    let (path, bytes) = match lake.remote() {
        Some(remote) => (remote.display(&relative), remote.get(&relative)?.to_vec()),
        None => {
            let path = lake.root().join(&relative);
            let bytes = fs::read(&path).map_err(|err| Error::io(&path, err))?;
            (path.display().to_string(), bytes)
        }
    };
    let unreadable = |message: String| Error::Manifest {
        path: path.clone().into(),
        message,
    };
    let mut text = Vec::new();
    GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut text)
        .map_err(|err| unreadable(err.to_string()))?;
    let checkpoint: Checkpoint =
        serde_json::from_slice(&text).map_err(|err| unreadable(err.to_string()))?;
    if checkpoint.seq != seq {
        return Err(unreadable(format!(
            "it says it covers transaction {}, its name {seq}",
            checkpoint.seq
        )));
    }
    Ok(Some(checkpoint))
}

/// After a publish: writes a checkpoint when [`interval`] transactions followed the last one
/// and none of them is still staged, then cleans the log. `manifest` must be fully applied to
/// the Delta logs (the publish's sync just made it so). A failure here loses nothing (the log
/// still has every entry), so it is only reported: the next commit tries again.
pub fn after_publish(lake: &Lake, manifest: &Manifest) {
    if manifest.transactions().len() < interval() {
        return;
    }
    let result = staged_transactions(lake, manifest).and_then(|staged| {
        if staged {
            log::debug!("not checkpointing the manifest: a committed transaction is still staged");
            return Ok(());
        }
        write(lake, &Checkpoint::of(manifest))?;
        clean(lake, manifest.last_seq(), log_retention())
    });
    if let Err(err) = result {
        log::warn!("could not checkpoint the manifest ({err}); the next commit tries again");
    }
}

/// Whether a transaction of `manifest` still has staged files (its publish is unfinished).
fn staged_transactions(lake: &Lake, manifest: &Manifest) -> Result<bool> {
    let txids: Vec<String> = match lake.remote() {
        Some(remote) => remote
            .list(&format!("{STAGING_DIR}/"))?
            .into_iter()
            .filter_map(|object| {
                let rest = object.path.strip_prefix(STAGING_DIR)?.strip_prefix('/')?;
                Some(rest.split('/').next()?.to_string())
            })
            .collect(),
        None => {
            let dir = lake.root().join(STAGING_DIR);
            let mut txids = Vec::new();
            for entry in fs::read_dir(&dir).map_err(|err| Error::io(&dir, err))? {
                let name = entry.map_err(|err| Error::io(&dir, err))?.file_name();
                txids.push(name.to_string_lossy().into_owned());
            }
            txids
        }
    };
    Ok(txids
        .iter()
        .any(|txid| manifest.transaction(txid).is_some()))
}

/// Writes a checkpoint atomically (a renamed temporary file; in S3 a put).
fn write(lake: &Lake, checkpoint: &Checkpoint) -> Result<()> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    serde_json::to_writer(&mut encoder, checkpoint).expect("a checkpoint always serializes");
    let bytes = encoder.finish().expect("writing to memory cannot fail");
    let relative = format!("{CHECKPOINT_DIR}/{}", file_name(checkpoint.seq));
    log::debug!(
        "checkpointing the manifest at transaction {}",
        checkpoint.seq
    );
    if let Some(remote) = lake.remote() {
        return remote.put(&relative, bytes);
    }
    let dir = lake.root().join(CHECKPOINT_DIR);
    fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
    let temp = dir.join(format!(".{}.tmp", checkpoint.seq));
    let mut file = fs::File::create(&temp).map_err(|err| Error::io(&temp, err))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|err| Error::io(&temp, err))?;
    let target = lake.root().join(&relative);
    fs::rename(&temp, &target).map_err(|err| Error::io(&temp, err))?;
    sync_dir(&dir)
}

/// Deletes the log entries up to `seq` older than `retention`, and the checkpoints before the
/// newest two.
fn clean(lake: &Lake, seq: u64, retention: Duration) -> Result<()> {
    let checkpoints = list(lake)?;
    let old_checkpoints: Vec<String> = checkpoints
        .iter()
        .rev()
        .skip(2)
        .map(|&seq| format!("{CHECKPOINT_DIR}/{}", file_name(seq)))
        .collect();
    let covered = |path: &str| log_entry_seq(path).is_some_and(|entry| entry <= seq);
    match lake.remote() {
        Some(remote) => {
            let mut expired: Vec<String> = remote
                .list(LOG_DIR)?
                .into_iter()
                .filter(|object| covered(&object.path) && object.age >= retention)
                .map(|object| object.path)
                .collect();
            expired.extend(old_checkpoints);
            log::debug!("cleaning the manifest log: {expired:?}");
            remote.delete_all(&expired)
        }
        None => {
            let dir = lake.log_dir();
            let now = std::time::SystemTime::now();
            for entry in fs::read_dir(&dir).map_err(|err| Error::io(&dir, err))? {
                let entry = entry.map_err(|err| Error::io(&dir, err))?;
                let path = entry.path();
                if !covered(&path.to_string_lossy()) {
                    continue;
                }
                let modified = entry
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .map_err(|err| Error::io(&path, err))?;
                if now.duration_since(modified).unwrap_or_default() >= retention {
                    fs::remove_file(&path).map_err(|err| Error::io(&path, err))?;
                }
            }
            for relative in old_checkpoints {
                let path = lake.root().join(relative);
                fs::remove_file(&path).map_err(|err| Error::io(&path, err))?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::{SourceEntry, SourceStatus, Transaction};

    fn transaction(seq: u64, source: &str, output: &str, removed: &[&str]) -> Transaction {
        Transaction {
            seq,
            txid: format!("tx{seq}"),
            writer: "test".into(),
            started_at: String::new(),
            committed_at: String::new(),
            sources: vec![SourceEntry {
                key: source.into(),
                size: seq,
                version: "v".into(),
                status: SourceStatus::Ingested,
                events: 1,
                rejected: 0,
                error: None,
                sha256: None,
            }],
            outputs: vec![OutputEntry {
                path: output.into(),
                rows: 1,
                bytes: 1,
                layout: None,
                stats: None,
                sessions: false,
            }],
            removed: removed.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn commit(lake: &Lake, transaction: &Transaction) {
        let path = lake
            .log_dir()
            .join(super::super::manifest::log_file_name(transaction.seq));
        fs::write(path, serde_json::to_vec(transaction).unwrap()).unwrap();
    }

    #[test]
    fn a_checkpointed_and_cleaned_log_loads_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let log = [
            transaction(1, "a", "events/d=1/x.parquet", &[]),
            transaction(2, "b", "events/d=1/y.parquet", &[]),
            transaction(3, "a", "events/d=1/z.parquet", &["events/d=1/x.parquet"]),
        ];
        for t in &log[..2] {
            commit(&lake, t);
        }
        let before = Manifest::load(&lake).unwrap();
        write(&lake, &Checkpoint::of(&before)).unwrap();
        clean(&lake, before.last_seq(), Duration::ZERO).unwrap();
        assert_eq!(fs::read_dir(lake.log_dir()).unwrap().count(), 0);
        commit(&lake, &log[2]);

        let manifest = Manifest::load(&lake).unwrap();
        assert_eq!(manifest.next_seq(), 4);
        assert_eq!(manifest.transactions().len(), 1);
        assert_eq!(manifest.source("a").unwrap().seq, 3);
        assert_eq!(manifest.source("b").unwrap().size, 2);
        let live: Vec<&String> = manifest.live_files().keys().collect();
        assert_eq!(live, ["events/d=1/y.parquet", "events/d=1/z.parquet"]);
        let (_, history) = Manifest::load_with_history(&lake).unwrap();
        assert!(history.is_empty(), "cleaned");
    }

    #[test]
    fn entries_within_retention_stay_and_only_two_checkpoints_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        for seq in 1..=3 {
            commit(&lake, &transaction(seq, "a", "events/d=1/x.parquet", &[]));
            let manifest = Manifest::load(&lake).unwrap();
            write(&lake, &Checkpoint::of(&manifest)).unwrap();
            clean(&lake, seq, log_retention()).unwrap();
        }
        assert_eq!(list(&lake).unwrap(), [2, 3]);
        let (manifest, history) = Manifest::load_with_history(&lake).unwrap();
        assert_eq!(history.len(), 3, "kept for the retention");
        assert_eq!((manifest.last_seq(), manifest.transactions().len()), (3, 0));
    }

    #[test]
    fn a_gap_after_the_checkpoint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        commit(&lake, &transaction(1, "a", "events/d=1/x.parquet", &[]));
        commit(&lake, &transaction(3, "b", "events/d=1/y.parquet", &[]));
        let err = Manifest::load(&lake).unwrap_err().to_string();
        assert!(err.contains("gap"), "{err}");
    }
}
