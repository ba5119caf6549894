//! The CloudTrail record model: the table schemas, parsing a record, building Arrow batches,
//! rebuilding the original JSON from a row, and the findings table's typed row.

mod batch;
pub mod finding;
mod parse;
pub mod principal;
mod rebuild;
pub mod rows;
pub mod schema;
pub mod time;

pub use batch::EventBatchBuilder;
pub use parse::{Record, Slots, Value, parse_record};
pub use rebuild::rebuild_record;
