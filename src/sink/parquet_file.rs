//! One Parquet file: zstd-compressed, with page statistics and the page index so time and
//! account filters prune, and rows sorted by `eventtime`.

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::interleave;
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::compute_leaves;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::record::schema::{EVENT_TIME, event_time_leaf_index};

/// Rows per row group: large enough for good compression, small enough that time statistics
/// prune within a day's file.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows gathered into sorted order at a time while writing a row group.
const GATHER_ROWS: usize = 8 * 1024;

fn writer_properties(sorted_by_time: bool) -> WriterProperties {
    let builder = WriterProperties::builder()
        // zstd(1): about zstd(3)'s size at two thirds of the time (TOOLCHAIN.md 3.3).
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("level 1 is valid"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("trailq {}", env!("CARGO_PKG_VERSION")));
    let builder = if sorted_by_time {
        builder.set_sorting_columns(Some(vec![SortingColumn {
            column_idx: event_time_leaf_index() as i32,
            descending: false,
            nulls_first: false,
        }]))
    } else {
        builder
    };
    builder.build()
}

/// Writes the kept rows of `batches` (events schema) to `path`, sorted by event time, and
/// returns the file's size. Rows with equal times keep their input order.
pub fn write_sorted(path: &Path, batches: &[RecordBatch], keep: &[bool]) -> Result<u64> {
    let schema = batches[0].schema();
    let mut order: Vec<(i64, u32, u32)> = Vec::with_capacity(keep.len());
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
    let columns: Vec<Vec<&dyn Array>> = (0..schema.fields().len())
        .map(|c| batches.iter().map(|b| b.column(c).as_ref()).collect())
        .collect();
    // Rows are gathered a slice at a time: small buffers are reused by the allocator, where
    // gathering a whole row group at once costs a page fault for every page of it.
    let row_groups = order.chunks(ROW_GROUP_ROWS).map(|group| {
        group.chunks(GATHER_ROWS).map(|slice| {
            let indices: Vec<(usize, usize)> = slice
                .iter()
                .map(|&(_, b, r)| (b as usize, r as usize))
                .collect();
            let arrays = columns
                .par_iter()
                .map(|column| interleave(column, &indices))
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            Ok(RecordBatch::try_new(schema.clone(), arrays)?)
        })
    });
    write_file(path, &schema, true, row_groups)
}

/// Writes batches as they are, one row group (used for the small rejects table).
pub fn write_batches(path: &Path, schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<u64> {
    write_file(
        path,
        schema,
        false,
        std::iter::once(batches.into_iter().map(Ok)),
    )
}

/// Writes row groups (each given as batches), encoding columns in parallel on the rayon pool, so
/// one large partition still uses every core.
fn write_file<G, B>(
    path: &Path,
    schema: &SchemaRef,
    sorted_by_time: bool,
    row_groups: G,
) -> Result<u64>
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
        file,
        schema.clone(),
        Some(writer_properties(sorted_by_time)),
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
    let file = writer.into_inner().map_err(parquet)?;
    file.sync_all().map_err(|err| Error::io(path, err))?;
    let bytes = file.metadata().map_err(|err| Error::io(path, err))?.len();
    Ok(bytes)
}
