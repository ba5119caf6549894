//! Evidence integrity: CloudTrail's hourly digest files, which list every log file a trail
//! delivered with the SHA-256 of its content, chained and signed; the keys that sign them; and
//! the verdict on a lake's log files (`verify`), kept as the `deliveries` and `logfiles` tables.

pub mod digest;
pub mod keys;
pub mod sidecar;
pub mod signing;
pub mod store;
pub mod summary;
pub mod verify;

pub use digest::{
    DigestRow, ListedLogFile, digest_rows, digests_batch, digests_schema, parse_digest,
};
pub use keys::{PublicKey, PublicKeys};
pub use store::{CheckOptions, check};
pub use summary::Summary;
pub use verify::{
    DeliveryRow, LogFileRow, Verification, deliveries_schema, logfiles_schema, verify,
};
