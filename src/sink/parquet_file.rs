//! One Parquet file: zstd-compressed, with page statistics and the page index, laid out so that
//! both time ranges and API filters skip most of it.
//!
//! Rows are ordered by `eventtime` and cut into row groups, so each row group is a slice of
//! time whose statistics prune on time. Within a row group, rows are ordered by (`eventsource`,
//! `eventname`, `eventtime`): the calls of one API sit together in a few pages, so a filter on
//! the API (most investigations) skips the other pages of every column, payloads included.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::{cast, interleave};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::record::schema::{EVENT_NAME, EVENT_SOURCE, EVENT_TIME, events_file_schema};

/// Rows per row group: large enough for good compression, small enough that time statistics
/// prune within a day's file.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows per data page at most: small enough that the page index narrows an API filter to a
/// few thousand rows of each row group (the default, 20,000, leaves a third of them).
const PAGE_ROWS: usize = 4096;
/// Rows gathered into sorted order at a time while writing a row group.
const GATHER_ROWS: usize = 8 * 1024;
/// File metadata key naming the row layout, for readers of a file without the manifest (which
/// records it too).
const LAYOUT_KEY: &str = "trailq.layout";
/// The current row layout: time-sliced row groups, each clustered by API.
pub const LAYOUT: &str = "time-slices,api-clustered";

fn writer_properties(layout: Option<&str>, group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        // zstd(1): within 1% of zstd(3)'s size at two thirds of its time, measured on CloudTrail
        // JSON before this was chosen.
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("level 1 is valid"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(group_rows))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_created_by(format!("trailq {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(
            layout.map(|layout| vec![KeyValue::new(LAYOUT_KEY.into(), layout.to_string())]),
        )
        .build()
}

/// A row of the input: its time, batch and index in the batch.
type Row = (i64, u32, u32);

/// Writes the kept rows of `batches` (events schema, or the file schema `events_file_schema`
/// that it is written with) to `path` in the layout above. Rows with equal keys keep their
/// input order.
pub fn write_sorted(path: &Path, batches: &[RecordBatch], keep: &[bool]) -> Result<WrittenFile> {
    write_laid_out(path, batches, keep, ROW_GROUP_ROWS)
}

fn write_laid_out(
    path: &Path,
    batches: &[RecordBatch],
    keep: &[bool],
    group_rows: usize,
) -> Result<WrittenFile> {
    let file_schema = events_file_schema();
    let mut order: Vec<Row> = Vec::with_capacity(keep.len());
    let mut row_number = 0;
    for (b, batch) in batches.iter().enumerate() {
        let times = batch
            .column(EVENT_TIME)
            .as_primitive::<TimestampMillisecondType>();
        for (r, time) in times.values().iter().enumerate() {
            if keep[row_number] {
                order.push((*time, b as u32, r as u32));
            }
            row_number += 1;
        }
    }
    order.sort_unstable();
    order
        .par_chunks_mut(group_rows)
        .for_each(|group| cluster_by_api(group, batches));
    let columns: Vec<Vec<&dyn Array>> = (0..file_schema.fields().len())
        .map(|c| batches.iter().map(|b| b.column(c).as_ref()).collect())
        .collect();
    // Rows are gathered a slice at a time: small buffers are reused by the allocator, where
    // gathering a whole row group at once costs a page fault for every page of it.
    let row_groups = order.chunks(group_rows).map(|group| {
        group.chunks(GATHER_ROWS).map(|slice| {
            let indices: Vec<(usize, usize)> = slice
                .iter()
                .map(|&(_, b, r)| (b as usize, r as usize))
                .collect();
            let arrays = columns
                .par_iter()
                .zip(file_schema.fields().par_iter())
                .map(|(column, field)| {
                    let array = interleave(column, &indices)?;
                    match array.data_type() == field.data_type() {
                        true => Ok(array),
                        false => cast(&array, field.data_type()),
                    }
                })
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            Ok(RecordBatch::try_new(file_schema.clone(), arrays)?)
        })
    });
    write_file(path, &file_schema, Some(LAYOUT), group_rows, row_groups)
}

/// Orders one row group's rows (already in time order) by API, then time. APIs are ranked
/// once, so the sort compares integers, not strings.
fn cluster_by_api(rows: &mut [Row], batches: &[RecordBatch]) {
    let text = |column: usize| -> Vec<&StringArray> {
        batches
            .iter()
            .map(|batch| batch.column(column).as_string::<i32>())
            .collect()
    };
    let (sources, names) = (text(EVENT_SOURCE), text(EVENT_NAME));
    let api = |&(_, b, r): &Row| (value(sources[b as usize], r), value(names[b as usize], r));
    let mut ranks: HashMap<(Option<&str>, Option<&str>), u32> = HashMap::new();
    for row in rows.iter() {
        ranks.entry(api(row)).or_default();
    }
    let mut apis: Vec<_> = ranks.keys().copied().collect();
    apis.sort_unstable();
    for (rank, key) in apis.into_iter().enumerate() {
        ranks.insert(key, rank as u32);
    }
    let mut keyed: Vec<(u32, Row)> = rows.iter().map(|row| (ranks[&api(row)], *row)).collect();
    keyed.sort_unstable();
    for (slot, (_, row)) in rows.iter_mut().zip(keyed) {
        *slot = row;
    }
}

fn value(array: &StringArray, row: u32) -> Option<&str> {
    let row = row as usize;
    array.is_valid(row).then(|| array.value(row))
}

/// A Parquet writer with the lake's settings (zstd, page statistics) and no row layout, for
/// files other than the lake's own (query results).
pub fn parquet_writer<W: std::io::Write + Send>(
    out: W,
    schema: &SchemaRef,
) -> parquet::errors::Result<ArrowWriter<W>> {
    ArrowWriter::try_new(
        out,
        schema.clone(),
        Some(writer_properties(None, ROW_GROUP_ROWS)),
    )
}

/// A Parquet file just written: its size, and its statistics as a Delta `add` action carries
/// them.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Size in bytes.
    pub bytes: u64,
    /// Delta statistics (`lake::delta::file_stats`).
    pub stats: String,
}

/// Writes batches as they are, one row group (used for the small rejects table).
pub fn write_batches(
    path: &Path,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<WrittenFile> {
    let rows = batches
        .iter()
        .map(RecordBatch::num_rows)
        .sum::<usize>()
        .max(1);
    write_file(
        path,
        schema,
        None,
        rows,
        std::iter::once(batches.into_iter().map(Ok)),
    )
}

/// Writes row groups (each given as batches), encoding columns in parallel on the rayon pool, so
/// one large partition still uses every core.
fn write_file<G, B>(
    path: &Path,
    schema: &SchemaRef,
    layout: Option<&str>,
    group_rows: usize,
    row_groups: G,
) -> Result<WrittenFile>
where
    G: Iterator<Item = B>,
    B: Iterator<Item = Result<RecordBatch>>,
{
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
    }
    let parquet = |err| Error::parquet(path, err);
    let file = File::create(path).map_err(|err| Error::io(path, err))?;
    // ArrowWriter sets up the file (schema, the embedded Arrow schema, properties); the row
    // groups are then encoded column by column in parallel.
    let (mut writer, factory) = ArrowWriter::try_new(
        &file,
        schema.clone(),
        Some(writer_properties(layout, group_rows)),
    )
    .and_then(ArrowWriter::into_serialized_writer)
    .map_err(parquet)?;
    for (index, batches) in row_groups.enumerate() {
        let mut writers = factory.create_column_writers(index).map_err(parquet)?;
        for batch in batches {
            let batch = batch?;
            let mut leaves = Vec::new();
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                leaves.extend(compute_leaves(field, column).map_err(parquet)?);
            }
            writers
                .par_iter_mut()
                .zip(leaves.into_par_iter())
                .try_for_each(|(writer, leaf)| writer.write(&leaf))
                .map_err(parquet)?;
        }
        let chunks = writers
            .into_par_iter()
            .map(|writer| writer.close())
            .collect::<Result<Vec<_>, _>>()
            .map_err(parquet)?;
        let mut group = writer.next_row_group().map_err(parquet)?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group).map_err(parquet)?;
        }
        group.close().map_err(parquet)?;
    }
    let metadata = writer.close().map_err(parquet)?;
    file.sync_all().map_err(|err| Error::io(path, err))?;
    let bytes = file.metadata().map_err(|err| Error::io(path, err))?.len();
    Ok(WrittenFile {
        bytes,
        stats: crate::lake::delta::file_stats(&metadata),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{EventBatchBuilder, parse_record};
    use arrow::array::TimestampMillisecondArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// (source, name, minute) of each row of each row group of a file.
    fn row_groups(path: &Path) -> Vec<Vec<(String, String, i64)>> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let layout = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap();
        assert!(
            layout
                .iter()
                .any(|kv| kv.key == LAYOUT_KEY && kv.value.as_deref() == Some(LAYOUT))
        );
        let groups = builder.metadata().num_row_groups();
        (0..groups)
            .map(|g| {
                let file = File::open(path).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .with_row_groups(vec![g])
                    .build()
                    .unwrap();
                let mut rows = Vec::new();
                for batch in reader {
                    let batch = batch.unwrap();
                    let text = |c: usize| batch.column(c).as_string::<i32>().clone();
                    let (sources, names) = (text(EVENT_SOURCE), text(EVENT_NAME));
                    let times = batch
                        .column(EVENT_TIME)
                        .as_any()
                        .downcast_ref::<TimestampMillisecondArray>()
                        .unwrap();
                    for r in 0..batch.num_rows() {
                        rows.push((
                            sources.value(r).to_string(),
                            names.value(r).to_string(),
                            times.value(r) / 60_000 % 60,
                        ));
                    }
                }
                rows
            })
            .collect()
    }

    #[test]
    fn row_groups_are_time_slices_clustered_by_api() {
        let apis = [
            ("sts.amazonaws.com", "AssumeRole"),
            ("ec2.amazonaws.com", "RunInstances"),
            ("ec2.amazonaws.com", "DescribeInstances"),
        ];
        let mut builder = EventBatchBuilder::default();
        let mut batches = Vec::new();
        // 30 events, one a minute, the APIs taking turns; written in reverse time order, in
        // two batches.
        for (i, minute) in (0..30).rev().enumerate() {
            let (source, name) = apis[minute % 3];
            let json = format!(
                r#"{{"eventVersion":"1.08","eventTime":"2024-03-01T00:{minute:02}:00Z","eventSource":"{source}","eventName":"{name}","eventID":"e{minute}"}}"#
            );
            builder.append(
                &parse_record(json.as_bytes()).unwrap(),
                "f",
                i as u64,
                json.len(),
            );
            if i == 14 {
                batches.push(builder.finish());
            }
        }
        batches.push(builder.finish());
        let mut keep = vec![true; 30];
        keep[0] = false; // minute 29 is dropped
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        write_laid_out(&path, &batches, &keep, 10).unwrap();
        let groups = row_groups(&path);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 9]);
        for (g, rows) in groups.iter().enumerate() {
            // Each row group holds the next ten minutes of time...
            let mut minutes: Vec<i64> = rows.iter().map(|r| r.2).collect();
            minutes.sort();
            let first = 10 * g as i64;
            assert_eq!(minutes, (first..(first + 10).min(29)).collect::<Vec<_>>());
            // ...ordered by API, then time.
            let mut sorted = rows.clone();
            sorted.sort();
            assert_eq!(rows, &sorted);
            assert_eq!(rows[0].0, "ec2.amazonaws.com");
            assert_eq!(rows.last().unwrap().1, "AssumeRole");
        }
    }
}
