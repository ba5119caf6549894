//! The `rejects` table: every input that could not be placed in `events`, with the reason and
//! the raw record, so nothing is dropped silently. Failed inputs are retried on later runs; a
//! retry that fails the same way adds no second row.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};
use crate::lake::{Lake, OutputEntry, Table};
use crate::record::schema::rejects_schema;
use crate::sink::write_batches;

/// One rejected input: a whole object (`index` is `None`) or one record of it.
#[derive(Debug, Clone)]
pub struct Reject {
    /// The source object.
    pub source: String,
    /// The record's index in `Records`, for a record.
    pub index: Option<u64>,
    /// Decompressed byte offset of the record, or of the point where reading failed.
    pub offset: Option<u64>,
    /// Why.
    pub reason: String,
    /// The record's JSON text (invalid UTF-8 replaced), for a record.
    pub raw: Option<String>,
}

fn reject_key(source: &str, index: Option<u64>, reason: &str) -> u128 {
    let mut hasher = Xxh3::new();
    hasher.update(source.as_bytes());
    hasher.update(&[0]);
    hasher.update(&index.map_or(-1, |i| i as i64).to_le_bytes());
    hasher.update(reason.as_bytes());
    hasher.digest128()
}

/// Keys of the rejects already in the lake.
fn existing_keys(lake: &Lake) -> Result<HashSet<u128>> {
    let mut keys = HashSet::new();
    for path in lake.parquet_files(Table::Rejects.name())? {
        let file = lake.open_file(&path)?;
        let path = std::path::PathBuf::from(lake.display()).join(&path);
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|builder| builder.build())
            .map_err(|err| Error::parquet(&path, err))?;
        for batch in reader {
            let batch =
                batch.map_err(|err| Error::LakeData(format!("{}: {err}", path.display())))?;
            let sources = batch.column(0).as_string::<i32>();
            let indexes = batch.column(1).as_primitive::<Int64Type>();
            let reasons = batch.column(3).as_string::<i32>();
            for row in 0..batch.num_rows() {
                let index = indexes.is_valid(row).then(|| indexes.value(row) as u64);
                keys.insert(reject_key(sources.value(row), index, reasons.value(row)));
            }
        }
    }
    Ok(keys)
}

/// Stages the new rejects of a transaction as one file; `None` when all were known already.
pub fn stage_rejects(
    lake: &Lake,
    txid: &str,
    rejects: Vec<Reject>,
    rejected_at_ms: i64,
) -> Result<Option<OutputEntry>> {
    if rejects.is_empty() {
        return Ok(None);
    }
    let known = existing_keys(lake)?;
    let fresh: Vec<Reject> = rejects
        .into_iter()
        .filter(|r| !known.contains(&reject_key(&r.source, r.index, &r.reason)))
        .collect();
    if fresh.is_empty() {
        return Ok(None);
    }
    let rows = fresh.len();
    let schema = rejects_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                fresh.iter().map(|r| &r.source),
            )),
            Arc::new(Int64Array::from_iter(
                fresh.iter().map(|r| r.index.map(|i| i as i64)),
            )),
            Arc::new(Int64Array::from_iter(
                fresh.iter().map(|r| r.offset.map(|o| o as i64)),
            )),
            Arc::new(StringArray::from_iter_values(
                fresh.iter().map(|r| &r.reason),
            )),
            Arc::new(StringArray::from_iter(
                fresh.iter().map(|r| r.raw.as_deref()),
            )),
            Arc::new(
                TimestampMillisecondArray::from(vec![rejected_at_ms; rows]).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![txid; rows])),
        ],
    )?;
    let path = format!("{}/part-{txid}.parquet", Table::Rejects);
    let written = write_batches(&lake.staging_dir(txid).join(&path), &schema, vec![batch])?;
    Ok(Some(OutputEntry {
        path,
        rows: rows as u64,
        bytes: written.bytes,
        layout: None,
        stats: Some(written.stats),
        sessions: false,
    }))
}
