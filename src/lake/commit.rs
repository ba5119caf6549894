//! Making a transaction's files visible: one atomic commit, then an idempotent publish.
//!
//! 1. Data files are written and fsynced under `_trailq/staging/<txid>/`: invisible to readers.
//! 2. The transaction is written to a temporary file, fsynced, and hard-linked to the next
//!    `_trailq/log/<seq>.json` name. The link fails if that name exists, so two writers can
//!    never both commit the same sequence number. **This is the commit point.**
//! 3. Each staged file is renamed to its place under the table directory (an atomic rename on
//!    one file system), each table's Delta log is brought up to the manifest (`delta.rs`), then
//!    the staging directory is removed. The files the transaction replaces (`removed`) stay for
//!    time travel, until `trailq vacuum` deletes them.
//!
//! A crash before 2 leaves only staging files, which the next run deletes: their sources are not
//! in the manifest, so they are read again. A crash during 3 leaves some files published and
//! some staged; the next run's [`recover`] finishes the renames and the Delta commits before it
//! reads anything. Readers (trailq's and other engines) read the Delta logs, which change in one
//! step per table.
//! Readers never see a partial file (renames are atomic) nor an event twice (every file of a
//! transaction holds distinct events, and no source is committed twice).

use std::fs;
use std::io::Write;
use std::path::Path;

use super::manifest::{LOG_DIR, log_file_name};
use super::{
    ABANDONED_AFTER, Lake, Manifest, Remote, RemoteObject, Transaction, checkpoint, delta, sync_dir,
};
use crate::error::{Error, Result};
use crate::failpoint;

/// Commits `transaction` (whose files are staged) and publishes its files.
pub fn commit(lake: &Lake, manifest: &mut Manifest, mut transaction: Transaction) -> Result<()> {
    if let Some(remote) = lake.remote() {
        return commit_remote(lake, remote, manifest, transaction);
    }
    transaction.seq = manifest.next_seq();
    let log_dir = lake.log_dir();
    let temp = log_dir.join(format!(".{}.json.tmp", transaction.txid));
    let text = serde_json::to_vec_pretty(&transaction).expect("a transaction always serializes");
    let mut file = fs::File::create(&temp).map_err(|err| Error::io(&temp, err))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(|err| Error::io(&temp, err))?;
    drop(file);
    failpoint("before-commit");
    let entry = log_dir.join(log_file_name(transaction.seq));
    match fs::hard_link(&temp, &entry) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&temp);
            return Err(Error::Conflict(format!(
                "{} already exists",
                entry.display()
            )));
        }
        Err(err) => return Err(Error::io(&entry, err)),
    }
    sync_dir(&log_dir)?;
    fs::remove_file(&temp).map_err(|err| Error::io(&temp, err))?;
    failpoint("after-commit");
    let txid = transaction.txid.clone();
    manifest.push(transaction);
    let transaction = manifest.transaction(&txid).expect("just pushed");
    publish(lake, manifest, transaction)?;
    checkpoint::after_publish(lake, manifest);
    Ok(())
}

/// Moves a committed transaction's staged files into place (files already moved are skipped),
/// then brings the tables' Delta logs up to the manifest. The files it replaces stay, for
/// readers of earlier versions, until `trailq vacuum`.
fn publish(lake: &Lake, manifest: &Manifest, transaction: &Transaction) -> Result<()> {
    let staging = lake.staging_dir(&transaction.txid);
    let mut dirs = Vec::new();
    for (i, output) in transaction.outputs.iter().enumerate() {
        let staged = staging.join(&output.path);
        let target = lake.root().join(&output.path);
        if !staged.exists() {
            continue;
        }
        let dir = target.parent().expect("an output path has a directory");
        fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
        fs::rename(&staged, &target).map_err(|err| Error::io(&staged, err))?;
        dirs.push(dir.to_path_buf());
        if i == 0 {
            failpoint("mid-publish");
        }
    }
    delta::sync(lake, manifest)?;
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        sync_dir(dir)?;
    }
    remove_dir(&staging)
}

fn remove_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::io(dir, err)),
    }
}

/// The staging prefix of a transaction in a remote lake.
fn remote_staging(txid: &str) -> String {
    format!("{STAGING_DIR}/{txid}")
}

/// The staging directory, relative to the lake.
pub(super) const STAGING_DIR: &str = "_trailq/staging";

/// The remote commit (see `remote.rs`): upload to staging, conditional put of the log entry,
/// then copy into place.
fn commit_remote(
    lake: &Lake,
    remote: &Remote,
    manifest: &mut Manifest,
    mut transaction: Transaction,
) -> Result<()> {
    let txid = transaction.txid.clone();
    let local = lake.staging_dir(&txid);
    let staging = remote_staging(&txid);
    let uploads: Vec<(std::path::PathBuf, String)> = transaction
        .outputs
        .iter()
        .map(|output| {
            (
                local.join(&output.path),
                format!("{staging}/{}", output.path),
            )
        })
        .collect();
    remote.upload(&uploads)?;
    failpoint("before-commit");
    let first_seq = manifest.next_seq();
    // Log entries a checkpoint covers are deleted once older than the retention, so a number
    // taken longer ago than that is free again: a writer whose manifest is half as old reads
    // it again before it picks one.
    let mut stale = manifest.age() >= checkpoint::log_retention() / 2;
    loop {
        if stale {
            *manifest = Manifest::load(lake)?;
            if manifest.transaction(&transaction.txid).is_some() {
                break;
            }
            if let Some(conflict) = conflict(&transaction, manifest, first_seq) {
                let staged: Vec<String> = uploads.iter().map(|(_, to)| to.clone()).collect();
                remote.delete_all(&staged)?;
                return Err(Error::Conflict(conflict));
            }
        }
        transaction.seq = manifest.next_seq();
        let text =
            serde_json::to_vec_pretty(&transaction).expect("a transaction always serializes");
        let entry = format!("{LOG_DIR}/{}", log_file_name(transaction.seq));
        if remote.create(&entry, text)? {
            break;
        }
        // The number is taken: by this very put when its answer was lost and the retry was
        // refused, or by another writer. The log tells which.
        log::debug!(
            "log entry {} was taken; reading the log again",
            transaction.seq
        );
        stale = true;
    }
    failpoint("after-commit");
    log::debug!(
        "committed transaction {} as {}",
        transaction.txid,
        transaction.seq
    );
    if manifest.transaction(&transaction.txid).is_none() {
        manifest.push(transaction);
    }
    let transaction = manifest.transaction(&txid).expect("committed");
    publish_remote(lake, remote, manifest, transaction)?;
    remove_dir(&local)?;
    checkpoint::after_publish(lake, manifest);
    Ok(())
}

/// Why `transaction` cannot follow the transactions committed since `first_seq`: another
/// writer ingested one of its sources, or replaced one of the files it replaces.
fn conflict(transaction: &Transaction, manifest: &Manifest, first_seq: u64) -> Option<String> {
    if let Some(source) = transaction.sources.iter().find(|source| {
        manifest
            .source(&source.key)
            .is_some_and(|state| state.seq >= first_seq)
    }) {
        return Some(format!(
            "another writer ingested {} at the same time",
            source.key
        ));
    }
    let live = manifest.live_files();
    transaction
        .removed
        .iter()
        .find(|path| !live.contains_key(path.as_str()))
        .map(|path| format!("another writer replaced {path} at the same time"))
}

/// Copies a committed transaction's staged objects into place, brings the tables' Delta logs
/// up to the manifest, then deletes its staged objects. Every step can run again: while any
/// staged object is left, a crashed publish is finished by the next run's recovery. Readers
/// (trailq's and other engines, through the Delta logs) see the files of a transaction once
/// its Delta commits are made, and the files it replaces until then.
fn publish_remote(
    lake: &Lake,
    remote: &Remote,
    manifest: &Manifest,
    transaction: &Transaction,
) -> Result<()> {
    let staging = remote_staging(&transaction.txid);
    let copies: Vec<(String, String)> = transaction
        .outputs
        .iter()
        .map(|output| (format!("{staging}/{}", output.path), output.path.clone()))
        .collect();
    if let Some((first, rest)) = copies.split_first() {
        remote.copy_all(std::slice::from_ref(first))?;
        failpoint("mid-publish");
        remote.copy_all(rest)?;
    }
    delta::sync(lake, manifest)?;
    let staged: Vec<String> = copies.into_iter().map(|(from, _)| from).collect();
    remote.delete_all(&staged)
}

/// [`recover`] for a remote lake. Staged objects of an uncommitted transaction are deleted only
/// once abandoned: a younger one may belong to a writer still running (another shard).
fn recover_remote(lake: &Lake, remote: &Remote, manifest: &Manifest) -> Result<(usize, usize)> {
    let mut by_txid: std::collections::BTreeMap<String, Vec<RemoteObject>> = Default::default();
    for object in remote.list(&format!("{STAGING_DIR}/"))? {
        let txid = object.path[STAGING_DIR.len() + 1..]
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        by_txid.entry(txid).or_default().push(object);
    }
    let (mut finished, mut discarded) = (0, 0);
    for (txid, objects) in by_txid {
        if let Some(transaction) = manifest.transaction(&txid) {
            log::warn!("finishing the publish of transaction {txid}, interrupted by a crash");
            publish_remote(lake, remote, manifest, transaction)?;
            finished += 1;
        } else if objects.iter().all(|object| object.age >= ABANDONED_AFTER) {
            log::warn!("discarding uncommitted objects of transaction {txid}, left by a crash");
            let paths: Vec<String> = objects.into_iter().map(|object| object.path).collect();
            remote.delete_all(&paths)?;
            discarded += 1;
        } else {
            log::debug!("leaving staged objects of {txid}: another writer may still be running");
        }
    }
    delta::sync(lake, manifest)?;
    Ok((finished, discarded))
}

/// Finishes what a crashed run left: publishes committed transactions' remaining staged files,
/// deletes the staging files of transactions that never committed, and brings the tables'
/// Delta logs up to the manifest. Returns how many transactions were finished and discarded.
pub fn recover(lake: &Lake, manifest: &Manifest) -> Result<(usize, usize)> {
    if let Some(remote) = lake.remote() {
        return recover_remote(lake, remote, manifest);
    }
    let staging_root = lake.root().join(STAGING_DIR);
    let mut finished = 0;
    let mut discarded = 0;
    let entries = fs::read_dir(&staging_root).map_err(|err| Error::io(&staging_root, err))?;
    for entry in entries {
        let path = entry.map_err(|err| Error::io(&staging_root, err))?.path();
        let txid = path.file_name().unwrap_or_default().to_string_lossy();
        match manifest.transaction(&txid) {
            Some(transaction) => {
                log::warn!("finishing the publish of transaction {txid}, interrupted by a crash");
                publish(lake, manifest, transaction)?;
                finished += 1;
            }
            None => {
                log::warn!("discarding uncommitted files of transaction {txid}, left by a crash");
                remove_dir(&path)?;
                discarded += 1;
            }
        }
    }
    // Temporary log files of a commit that crashed before its link.
    let log_dir = lake.log_dir();
    for entry in fs::read_dir(&log_dir).map_err(|err| Error::io(&log_dir, err))? {
        let path = entry.map_err(|err| Error::io(&log_dir, err))?.path();
        if path.to_string_lossy().ends_with(".json.tmp") {
            fs::remove_file(&path).map_err(|err| Error::io(&path, err))?;
        }
    }
    delta::sync(lake, manifest)?;
    Ok((finished, discarded))
}
