//! The verdict, kept in the lake: `deliveries` and `logfiles` are rewritten whole by each check
//! (they are derived from `digests` and the ledger, and a month of them is checked in seconds),
//! in one transaction that replaces the previous ones.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use chrono::Utc;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use super::digest::{DigestRow, digest_rows};
use super::keys::PublicKeys;
use super::verify::{Verification, deliveries_schema, logfiles_schema, verify};
use crate::error::{Error, Result};
use crate::lake::{Lake, Manifest, Table, Transaction, commit, new_txid};
use crate::record::time::{day_of, parse_time};
use crate::sink::stage_batch;

/// Every row of the lake's `digests` table.
pub fn load_digests(lake: &Lake, manifest: &Manifest) -> Result<Vec<DigestRow>> {
    let prefix = format!("{}/", Table::Digests.name());
    let mut rows = Vec::new();
    for path in manifest
        .live_files()
        .keys()
        .filter(|p| p.starts_with(&prefix))
    {
        let reader = ParquetRecordBatchReaderBuilder::try_new(lake.open_file(path)?)
            .and_then(|builder| builder.build())
            .map_err(|err| Error::LakeData(format!("{path}: {err}")))?;
        for batch in reader {
            let batch = batch.map_err(|err| Error::LakeData(format!("{path}: {err}")))?;
            rows.extend(
                digest_rows(&batch).map_err(|err| Error::LakeData(format!("{path}: {err}")))?,
            );
        }
    }
    Ok(rows)
}

/// What a check of the lake's evidence uses.
pub struct CheckOptions<'a> {
    /// Keys to add to the lake's (`--public-keys`).
    pub keys: &'a PublicKeys,
    /// Where to ask CloudTrail (`ListPublicKeys`) for keys the digests name and the lake lacks.
    pub cloudtrail: Option<(&'a crate::s3::S3Config, &'a tokio::runtime::Handle)>,
    /// Whether the lake changed since its verdict was last kept: when it did not, and no key is
    /// new, the kept verdict stands and nothing is checked.
    pub changed: bool,
}

/// Checks the lake's evidence and keeps the verdict in `deliveries` and `logfiles`: one read of
/// the ledger and of `digests`, under the lake's lock. `None` when the lake holds no digests, or
/// when nothing changed since the kept verdict.
pub fn check(lake: &Lake, options: &CheckOptions) -> Result<Option<Verification>> {
    let _lock = lake.lock()?;
    let mut manifest = Manifest::load(lake)?;
    crate::lake::recover(lake, &manifest)?;
    let live = |table: Table| {
        let prefix = format!("{}/", table.name());
        manifest
            .live_files()
            .keys()
            .any(|path| path.starts_with(&prefix))
    };
    if !live(Table::Digests) {
        return Ok(None);
    }
    let kept = live(Table::Deliveries);
    let mut keys = PublicKeys::cached(lake)?;
    let mut new_keys = keys.merge(options.keys);
    if !options.changed && new_keys == 0 && kept && options.cloudtrail.is_none() {
        return Ok(None);
    }
    let digests = load_digests(lake, &manifest)?;
    if let Some((config, handle)) = options.cloudtrail {
        new_keys += keys.merge(&fetch_missing_keys(&digests, &keys, config, handle));
    }
    if new_keys > 0 {
        lake.write_meta(super::keys::CACHE, keys.to_json().as_bytes())?;
    } else if !options.changed && kept {
        return Ok(None);
    }
    let verification = verify(digests, manifest.sources(), &keys);
    store(lake, &mut manifest, &verification)?;
    Ok(Some(verification))
}

/// Rows by the day of their hour, as batches of `schema`.
fn by_day<T: Serialize>(
    rows: &[T],
    hour: impl Fn(&T) -> i64,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<BTreeMap<i32, RecordBatch>> {
    let mut days: BTreeMap<i32, Vec<&T>> = BTreeMap::new();
    for row in rows {
        days.entry(day_of(hour(row))).or_default().push(row);
    }
    days.into_iter()
        .map(|(day, rows)| {
            let batch = serde_arrow::to_record_batch(schema.fields(), &rows)
                .map_err(|err| Error::Internal(format!("building an integrity batch: {err}")))?;
            Ok((day, batch))
        })
        .collect()
}

fn store(lake: &Lake, manifest: &mut Manifest, verification: &Verification) -> Result<()> {
    let txid = new_txid();
    let staging = lake.staging_dir(&txid);
    let started_at = Utc::now();
    let mut outputs = Vec::new();
    let mut removed = Vec::new();
    let tables = [
        (
            Table::Deliveries,
            by_day(&verification.deliveries, |r| r.hour, &deliveries_schema())?,
        ),
        (
            Table::LogFiles,
            by_day(&verification.files, |r| r.hour, &logfiles_schema())?,
        ),
    ];
    for (table, days) in tables {
        let prefix = format!("{}/", table.name());
        removed.extend(
            manifest
                .live_files()
                .keys()
                .filter(|p| p.starts_with(&prefix))
                .cloned(),
        );
        for (day, batch) in days {
            let path = format!("{}/part-{txid}.parquet", Lake::partition_dir(table, day));
            outputs.push(stage_batch(&staging, path, batch)?);
        }
    }
    if outputs.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let transaction = Transaction::replacing(txid, "verify", started_at, outputs, removed);
    commit(lake, manifest, transaction)
}

/// Asks CloudTrail (`ListPublicKeys`, in each region whose signed digests name a key not in
/// `known`, over the span of those digests) for the keys. A region that cannot be asked is
/// reported, not failed: its digests stay `unknown-key` until `--public-keys` gives the key.
fn fetch_missing_keys(
    digests: &[DigestRow],
    known: &PublicKeys,
    config: &crate::s3::S3Config,
    handle: &tokio::runtime::Handle,
) -> PublicKeys {
    let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for row in digests {
        let fingerprint = row.digestpublickeyfingerprint.as_deref().unwrap_or("");
        if row.signature.is_none() || known.get(fingerprint).is_some() {
            continue;
        }
        let (Some(start), Some(end)) = (
            parse_time(&row.digeststarttime),
            parse_time(&row.digestendtime),
        ) else {
            continue;
        };
        let span = spans.entry(&row.region).or_insert((start, end));
        *span = (span.0.min(start), span.1.max(end));
    }
    const HOUR: i64 = 3_600_000;
    let mut fetched = PublicKeys::default();
    for (region, (start, end)) in spans {
        let client = config.cloudtrail(region);
        // As the AWS CLI does: keys valid up to two hours after the last digest.
        match handle.block_on(super::keys::fetch(&client, start - HOUR, end + 2 * HOUR)) {
            Ok(keys) => {
                fetched.merge(&keys);
            }
            Err(err) => log::warn!(
                "could not get CloudTrail's public keys in {region} (ListPublicKeys: {err}); \
                 its digests stay unchecked: give --public-keys, the output of `aws cloudtrail \
                 list-public-keys --region {region}`"
            ),
        }
    }
    fetched
}
