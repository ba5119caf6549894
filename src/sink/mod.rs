//! Writing Parquet: per-partition row buffers, and sorted, compressed, indexed files.

mod buffers;
mod parquet_file;

pub use buffers::{Partition, PartitionBuffers, TakenPartition};
pub use parquet_file::{LAYOUT, WrittenFile, parquet_writer, write_batches, write_sorted};
