//! The CloudTrail record model: the table schema, parsing a record, building Arrow batches, and
//! rebuilding the original JSON from a row.

mod batch;
mod parse;
pub mod principal;
mod rebuild;
pub mod schema;
pub mod time;

pub use batch::EventBatchBuilder;
pub use parse::{Record, Slots, Value, parse_record};
pub use rebuild::rebuild_record;
