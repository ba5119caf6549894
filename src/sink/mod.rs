//! Writing Parquet: per-partition row buffers, and sorted, compressed, indexed files.

mod buffers;
mod parquet_file;

pub use buffers::{Partition, PartitionBuffers, TakenPartition};
pub use parquet_file::{LAYOUT, WrittenFile, parquet_writer, write_batches, write_sorted};

/// Writes one batch of a table outside the clustered layout to `path` (relative to the lake)
/// under the transaction's `staging` directory, and describes it for the manifest.
pub fn stage_batch(
    staging: &std::path::Path,
    path: String,
    batch: arrow::array::RecordBatch,
) -> crate::error::Result<crate::lake::OutputEntry> {
    let rows = batch.num_rows() as u64;
    let written = write_batches(&staging.join(&path), &batch.schema(), vec![batch])?;
    Ok(crate::lake::OutputEntry {
        path,
        rows,
        bytes: written.bytes,
        layout: None,
        stats: Some(written.stats),
        sessions: false,
    })
}
