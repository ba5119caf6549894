//! The lake's `findings` table: one row per Insights-shaped record, partitioned by the day of
//! its `eventtime`, with the full record as JSON in `record`.
//!
//! A run owns the findings of its detectors that start inside its judged span. It rewrites each
//! partition that holds any of them: the rows it does not own are kept, its own are replaced by
//! what it found now. Ids are stable, so re-running a window changes nothing, and late events
//! update the insights they touch. The rewrite is one transaction: new files and the files they
//! replace are committed together, and the old ones are deleted when it is published.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::TimestampMillisecondType;
use chrono::Utc;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::rate::JudgeSpan;
use crate::error::{Error, Result};
use crate::lake::{Lake, Manifest, Table, Transaction, commit, new_txid};
use crate::record::finding::{FindingRow, findings_schema};
use crate::record::time::{day_of, format_day};
use crate::sink::stage_batch;

/// The rows as a batch of the table.
fn rows_batch(rows: &[FindingRow]) -> Result<RecordBatch> {
    crate::record::finding::findings_batch(rows)
        .map_err(|err| Error::Internal(format!("findings do not fit their table: {err}")))
}

/// The column of `batch` named `name` (a findings batch always has it).
fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("a findings batch has `{name}`"))
}

/// A batch of an older findings file with the table's current columns: those it lacks (added
/// since it was written, all nullable) are null.
fn current_columns(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = findings_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => column.clone(),
            None => arrow::array::new_null_array(field.data_type(), batch.num_rows()),
        })
        .collect();
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Rows of `batch` whose `eventtime` falls on `day`.
fn rows_of_day(batch: &RecordBatch, day: i32) -> Result<RecordBatch> {
    let times = column(batch, "eventtime").as_primitive::<TimestampMillisecondType>();
    let mask: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| day_of(t) == day)))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// Rows a run does not own: other detectors, or insights starting outside its span.
fn not_owned(batch: &RecordBatch, detectors: &[&str], span: JudgeSpan) -> Result<RecordBatch> {
    let names = column(batch, "detector").as_string::<i32>();
    let starts = column(batch, "starttime").as_primitive::<TimestampMillisecondType>();
    let mask: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            let minute = starts.value(row).div_euclid(60_000);
            let owned =
                detectors.contains(&names.value(row)) && minute >= span.from && minute <= span.to;
            Some(!owned)
        })
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// What a run did to the findings table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows of this run's findings.
    pub rows: u64,
    /// Rows the same detectors wrote before for insights starting in the same judged span:
    /// re-judged now, so replaced (an unchanged insight is replaced by itself, same ids).
    pub replaced: u64,
    /// Rows of other detectors, or outside the span, in the days rewritten: kept as they were.
    pub kept: u64,
}

/// Writes a run's findings (as rows) into the lake, replacing what the same detectors found
/// before in the same span.
pub fn write(
    lake: &Lake,
    rows: &[FindingRow],
    detectors: &[&str],
    span: JudgeSpan,
) -> Result<Written> {
    let _lock = lake.lock()?;
    let mut manifest = Manifest::load(lake)?;
    crate::lake::recover(lake, &manifest)?;
    let new = rows_batch(rows)?;
    let first_day = day_of(span.from * 60_000);
    let last_day = day_of((span.to + 1) * 60_000);
    let mut days: BTreeSet<i32> = (first_day..=last_day).collect();
    let times = column(&new, "eventtime").as_primitive::<TimestampMillisecondType>();
    days.extend(times.iter().flatten().map(day_of));
    let started_at = Utc::now();
    let txid = new_txid();
    let staging = lake.staging_dir(&txid);
    let mut outputs = Vec::new();
    let mut removed = Vec::new();
    let mut written = Written::default();
    for day in days {
        let dir = Lake::partition_dir(Table::Findings, day);
        let old_files = manifest.live_in(&dir);
        let mut parts = Vec::new();
        for file in &old_files {
            let reader = ParquetRecordBatchReaderBuilder::try_new(lake.open_file(file)?)
                .and_then(|b| b.build())
                .map_err(|err| Error::LakeData(format!("{}: {err}", lake.display())))?;
            for batch in reader {
                let batch = batch.map_err(|err| Error::LakeData(format!("{file}: {err}")))?;
                let batch = current_columns(&batch)?;
                let kept = not_owned(&batch, detectors, span)?;
                written.replaced += (batch.num_rows() - kept.num_rows()) as u64;
                written.kept += kept.num_rows() as u64;
                parts.push(kept);
            }
        }
        let ours = rows_of_day(&new, day)?;
        written.rows += ours.num_rows() as u64;
        parts.push(ours);
        let merged = concat_batches(&findings_schema(), &parts)?;
        if merged.num_rows() == 0 && old_files.is_empty() {
            continue;
        }
        removed.extend(old_files);
        if merged.num_rows() > 0 {
            let path = format!("{dir}/part-{txid}.parquet");
            outputs.push(stage_batch(&staging, path, merged)?);
        }
    }
    if outputs.is_empty() && removed.is_empty() {
        return Ok(written);
    }
    let transaction = Transaction::replacing(txid, "detect", started_at, outputs, removed);
    commit(lake, &mut manifest, transaction)?;
    Ok(written)
}

/// Per day and detector, how many insights would have started: the backtest's table.
pub fn starts_per_day(rows: &[FindingRow]) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for row in rows.iter().filter(|r| r.state == "Start") {
        let day = format_day(day_of(row.starttime));
        *counts.entry((day, row.detector.clone())).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Finding;

    #[test]
    fn a_closed_finding_is_two_rows_and_an_open_one_is_one() {
        let closed = super::super::finding::tests::sample(Some(28_600_012));
        let open = super::super::finding::tests::sample(None);
        let rows: Vec<FindingRow> = [closed, open].iter().flat_map(Finding::rows).collect();
        let batch = rows_batch(&rows).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let states = column(&batch, "state").as_string::<i32>();
        assert_eq!(
            (0..3).map(|i| states.value(i)).collect::<Vec<_>>(),
            ["Start", "End", "Start"]
        );
        let record: serde_json::Value =
            serde_json::from_str(column(&batch, "record").as_string::<i32>().value(1)).unwrap();
        assert_eq!(record["insightDetails"]["state"], "End");
        assert_eq!(
            column(&batch, "insightduration")
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(1),
            12
        );
    }
}
