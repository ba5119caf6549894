//! Rows waiting to be written, grouped by table and `event_date`, within a memory budget.

use std::collections::HashMap;

use arrow::array::RecordBatch;

use crate::lake::Table;
use crate::record::{EventBatchBuilder, Record};

/// Rows per Arrow batch while buffering.
const BATCH_ROWS: usize = 8192;
/// Bytes per Arrow batch while buffering: keeps string offsets far from `i32::MAX` when
/// payloads are large.
const BATCH_BYTES: usize = 64 << 20;

/// A table partition: one `event_date` of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// The table.
    pub table: Table,
    /// Days since 1970-01-01 (UTC).
    pub day: i32,
}

#[derive(Default)]
struct Buffer {
    builder: EventBatchBuilder,
    batches: Vec<RecordBatch>,
    keys: Vec<u128>,
    bytes: usize,
}

/// The buffered rows of one partition, taken out to be written.
pub struct TakenPartition {
    /// Which partition.
    pub partition: Partition,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// The de-duplication key of each row, in row order.
    pub keys: Vec<u128>,
}

/// Buffers rows per partition and says when the memory budget is reached.
///
/// Rows of the source object being read can be taken back ([`rollback_object`]): an object
/// that fails half-way contributes nothing, so it can be retried whole.
///
/// [`rollback_object`]: PartitionBuffers::rollback_object
pub struct PartitionBuffers {
    buffers: HashMap<Partition, Buffer>,
    bytes: usize,
    budget: usize,
    /// Rows each partition held before the current object's first row.
    object_start: HashMap<Partition, usize>,
}

impl PartitionBuffers {
    /// Buffers that ask to be flushed once about `budget` bytes of JSON are held.
    pub fn new(budget: usize) -> Self {
        Self {
            buffers: HashMap::new(),
            bytes: 0,
            budget,
            object_start: HashMap::new(),
        }
    }

    /// Adds one record.
    pub fn push(
        &mut self,
        partition: Partition,
        record: &Record<'_>,
        key: u128,
        source: &str,
        index: u64,
        json_bytes: usize,
    ) {
        let buffer = self.buffers.entry(partition).or_default();
        self.object_start
            .entry(partition)
            .or_insert(buffer.keys.len());
        let before = buffer.builder.bytes();
        buffer.builder.append(record, source, index, json_bytes);
        buffer.keys.push(key);
        let added = buffer.builder.bytes() - before;
        buffer.bytes += added;
        self.bytes += added;
        if buffer.builder.rows() >= BATCH_ROWS || buffer.builder.bytes() >= BATCH_BYTES {
            buffer.batches.push(buffer.builder.finish());
        }
    }

    /// Whether the buffered rows have reached the budget.
    pub fn over_budget(&self) -> bool {
        self.bytes >= self.budget
    }

    /// Whether the buffered rows have reached twice the budget: only an object too large for
    /// the budget gets there, and it must be written before it is read to the end.
    pub fn far_over_budget(&self) -> bool {
        self.bytes >= 2 * self.budget
    }

    /// Keeps the rows of the current object: the next rows belong to a new one.
    pub fn commit_object(&mut self) {
        self.object_start.clear();
    }

    /// Drops the rows pushed since the last [`commit_object`](Self::commit_object) that are
    /// still buffered.
    pub fn rollback_object(&mut self) {
        for (partition, start) in self.object_start.drain() {
            let Some(buffer) = self.buffers.get_mut(&partition) else {
                continue;
            };
            if buffer.builder.rows() > 0 {
                buffer.batches.push(buffer.builder.finish());
            }
            let rows = buffer.keys.len();
            let kept_bytes = buffer.bytes.checked_div(rows).unwrap_or(0) * start;
            self.bytes -= buffer.bytes - kept_bytes;
            buffer.bytes = kept_bytes;
            buffer.keys.truncate(start);
            let mut excess = rows - start;
            while excess > 0 {
                let last = buffer.batches.pop().expect("rows are in batches");
                if last.num_rows() > excess {
                    buffer.batches.push(last.slice(0, last.num_rows() - excess));
                    excess = 0;
                } else {
                    excess -= last.num_rows();
                }
            }
        }
    }

    /// Takes out the partition holding the most bytes.
    pub fn take_largest(&mut self) -> Option<TakenPartition> {
        let partition = *self.buffers.iter().max_by_key(|(_, b)| b.bytes)?.0;
        self.take(partition)
    }

    /// Takes out every partition, in partition order.
    pub fn take_all(&mut self) -> Vec<TakenPartition> {
        let mut partitions: Vec<Partition> = self.buffers.keys().copied().collect();
        partitions.sort();
        partitions
            .into_iter()
            .filter_map(|p| self.take(p))
            .collect()
    }

    fn take(&mut self, partition: Partition) -> Option<TakenPartition> {
        let mut buffer = self.buffers.remove(&partition)?;
        self.object_start.remove(&partition);
        if buffer.builder.rows() > 0 {
            buffer.batches.push(buffer.builder.finish());
        }
        self.bytes -= buffer.bytes;
        Some(TakenPartition {
            partition,
            batches: buffer.batches,
            keys: buffer.keys,
        })
    }
}
