//! The lake's `findings` table: one row per Insights-shaped record, partitioned by the day of
//! its `eventtime`, with the full record as JSON in `record`.
//!
//! A run owns the findings of its detectors that start inside its judged span. It rewrites each
//! partition that holds any of them: the rows it does not own are kept, its own are replaced by
//! what it found now. Ids are stable, so re-running a window changes nothing, and late events
//! update the insights they touch. The rewrite is one transaction: new files and the files they
//! replace are committed together, and the old ones are deleted when it is published.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListBuilder, RecordBatch,
    StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMillisecondType};
use chrono::Utc;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::Finding;
use super::rate::JudgeSpan;
use crate::error::{Error, Result};
use crate::lake::{Lake, Manifest, OutputEntry, Transaction, commit, new_txid};
use crate::record::schema::timestamp_type;
use crate::record::time::{day_of, format_day, parse_time};
use crate::sink::write_batches;

/// The table's folder in the lake.
pub const FINDINGS: &str = "findings";

/// The schema of the `findings` table (without its `event_date` partition column).
pub fn findings_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        Arc::new(Schema::new(vec![
            text("eventid", false),
            text("sharedeventid", false),
            Field::new("eventtime", timestamp_type(), false),
            text("state", false),
            text("detector", false),
            text("insighttype", false),
            text("severity", false),
            text("recipientaccountid", false),
            text("awsregion", false),
            text("eventsource", false),
            text("eventname", false),
            text("errorcode", true),
            text("principal", true),
            text("metric", true),
            Field::new("baselineaverage", DataType::Float64, false),
            Field::new("insightaverage", DataType::Float64, false),
            Field::new("insightduration", DataType::Int64, false),
            Field::new("baselineduration", DataType::Int64, false),
            Field::new("starttime", timestamp_type(), false),
            Field::new("endtime", timestamp_type(), true),
            Field::new("eventcount", DataType::Float64, false),
            text("reason", false),
            Field::new(
                "sourcefiles",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                false,
            ),
            text("record", false),
            text("subject", false),
        ]))
    });
    SCHEMA.clone()
}

/// One row per record of `findings`, as a batch.
pub fn findings_batch(findings: &[Finding]) -> Result<RecordBatch> {
    let records: Vec<(&Finding, serde_json::Value)> = findings
        .iter()
        .flat_map(|f| f.records().into_iter().map(move |r| (f, r)))
        .collect();
    let text = |get: &dyn Fn(&Finding, &serde_json::Value) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(
            records.iter().map(|(f, r)| get(f, r)).collect::<Vec<_>>(),
        ))
    };
    let stat = |r: &serde_json::Value, path: &[&str]| -> serde_json::Value {
        path.iter()
            .fold(
                &r["insightDetails"]["insightContext"]["statistics"],
                |v, k| &v[*k],
            )
            .clone()
    };
    let time = |text: &serde_json::Value| text.as_str().and_then(parse_time);
    let mut files = ListBuilder::new(StringBuilder::new());
    for (finding, _) in &records {
        for file in &finding.source_files {
            files.values().append_value(file);
        }
        files.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        text(&|_, r| r["eventID"].as_str().map(String::from)),
        text(&|_, r| r["sharedEventID"].as_str().map(String::from)),
        Arc::new(
            TimestampMillisecondArray::from(
                records
                    .iter()
                    .map(|(_, r)| time(&r["eventTime"]))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        text(&|_, r| r["insightDetails"]["state"].as_str().map(String::from)),
        text(&|f, _| Some(f.candidate.detector.to_string())),
        text(&|f, _| Some(f.candidate.insight_type.to_string())),
        text(&|f, _| Some(f.candidate.severity.name().to_string())),
        text(&|f, _| Some(f.candidate.account.clone())),
        text(&|f, _| Some(f.candidate.region.clone())),
        text(&|f, _| Some(f.candidate.event_source.clone())),
        text(&|f, _| Some(f.candidate.event_name.clone())),
        text(&|f, _| f.candidate.error_code.clone()),
        text(&|f, _| f.candidate.principal.clone()),
        text(&|f, _| f.candidate.metric.map(String::from)),
        Arc::new(Float64Array::from(
            records
                .iter()
                .map(|(_, r)| stat(r, &["baseline", "average"]).as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            records
                .iter()
                .map(|(_, r)| stat(r, &["insight", "average"]).as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            records
                .iter()
                .map(|(_, r)| stat(r, &["insightDuration"]).as_i64().unwrap_or(0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            records
                .iter()
                .map(|(_, r)| stat(r, &["baselineDuration"]).as_i64().unwrap_or(0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMillisecondArray::from(
                records
                    .iter()
                    .map(|(f, _)| Some(f.candidate.episode.start * 60_000))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMillisecondArray::from(
                records
                    .iter()
                    .map(|(f, _)| f.candidate.episode.end.map(|e| e * 60_000))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from(
            records
                .iter()
                .map(|(f, _)| f.candidate.episode.total)
                .collect::<Vec<_>>(),
        )),
        text(&|f, _| Some(f.candidate.reason.clone())),
        Arc::new(files.finish()),
        text(&|_, r| Some(r.to_string())),
        text(&|f, _| Some(f.candidate.subject_json())),
    ];
    Ok(RecordBatch::try_new(findings_schema(), columns)?)
}

/// Rows of `batch` whose `eventtime` falls on `day`.
fn rows_of_day(batch: &RecordBatch, day: i32) -> Result<RecordBatch> {
    let times = batch.column(2).as_primitive::<TimestampMillisecondType>();
    let mask: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| day_of(t) == day)))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// Rows a run does not own: other detectors, or insights starting outside its span.
fn not_owned(batch: &RecordBatch, detectors: &[&str], span: JudgeSpan) -> Result<RecordBatch> {
    let names = batch.column(4).as_string::<i32>();
    let starts = batch.column(18).as_primitive::<TimestampMillisecondType>();
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

/// Writes a run's findings into the lake, replacing what the same detectors found before in
/// the same span. Returns the number of rows written.
pub fn write(
    lake: &Lake,
    findings: &[Finding],
    detectors: &[&str],
    span: JudgeSpan,
) -> Result<u64> {
    let _lock = lake.lock()?;
    let mut manifest = Manifest::load(lake)?;
    crate::lake::recover(lake, &manifest)?;
    let new = findings_batch(findings)?;
    let first_day = day_of(span.from * 60_000);
    let last_day = day_of((span.to + 1) * 60_000);
    let mut days: BTreeSet<i32> = (first_day..=last_day).collect();
    let times = new.column(2).as_primitive::<TimestampMillisecondType>();
    days.extend(times.iter().flatten().map(day_of));
    let started_at = Utc::now();
    let txid = new_txid();
    let staging = lake.staging_dir(&txid);
    let mut outputs = Vec::new();
    let mut removed = Vec::new();
    let mut rows = 0;
    for day in days {
        let dir = format!("{FINDINGS}/event_date={}", format_day(day));
        let old_files = lake.parquet_files(&dir)?;
        let mut parts = Vec::new();
        for file in &old_files {
            let reader = ParquetRecordBatchReaderBuilder::try_new(lake.open_file(file)?)
                .and_then(|b| b.build())
                .map_err(|err| Error::LakeData(format!("{}: {err}", lake.display())))?;
            for batch in reader {
                let batch = batch.map_err(|err| Error::LakeData(format!("{file}: {err}")))?;
                parts.push(not_owned(&batch, detectors, span)?);
            }
        }
        parts.push(rows_of_day(&new, day)?);
        let merged = concat_batches(&findings_schema(), &parts)?;
        if merged.num_rows() == 0 && old_files.is_empty() {
            continue;
        }
        removed.extend(old_files);
        if merged.num_rows() > 0 {
            let path = format!("{dir}/part-{txid}.parquet");
            let bytes = write_batches(
                &staging.join(&path),
                &findings_schema(),
                vec![merged.clone()],
            )?;
            rows += merged.num_rows() as u64;
            outputs.push(OutputEntry {
                path,
                rows: merged.num_rows() as u64,
                bytes,
                layout: None,
            });
        }
    }
    if outputs.is_empty() && removed.is_empty() {
        return Ok(0);
    }
    let transaction = Transaction::replacing(txid, "detect", started_at, outputs, removed);
    commit(lake, &mut manifest, transaction)?;
    Ok(rows)
}

/// Per day and detector, how many insights would have started: the backtest's table.
pub fn starts_per_day(findings: &[Finding]) -> BTreeMap<(String, &'static str), u64> {
    let mut counts = BTreeMap::new();
    for finding in findings {
        let day = format_day(day_of(finding.candidate.episode.start * 60_000));
        *counts.entry((day, finding.candidate.detector)).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_finding_is_two_rows_and_an_open_one_is_one() {
        let closed = super::super::finding::tests::sample(Some(28_600_012));
        let open = super::super::finding::tests::sample(None);
        let batch = findings_batch(&[closed, open]).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let states = batch.column(3).as_string::<i32>();
        assert_eq!(
            (0..3).map(|i| states.value(i)).collect::<Vec<_>>(),
            ["Start", "End", "Start"]
        );
        let record: serde_json::Value =
            serde_json::from_str(batch.column(23).as_string::<i32>().value(1)).unwrap();
        assert_eq!(record["insightDetails"]["state"], "End");
        assert_eq!(
            batch
                .column(16)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(1),
            12
        );
    }
}
