//! trailq: audit-log analytics for AWS CloudTrail.
//!
//! `trailq ingest` turns CloudTrail log files into a lossless, partitioned Parquet lake; the
//! README describes the commands, the table schema and the guarantees. This library is what an
//! embedder uses (sources, ingest, the lake, SQL, detection, reports); the command line, with its
//! flags, progress bars and exit codes, is the binary's (`src/main.rs`, `src/cli/`).

pub mod compact;
pub mod decode;
pub mod detect;
pub mod error;
pub mod generate;
pub mod identity;
pub mod ingest;
pub mod integrity;
pub mod lake;
pub mod progress;
pub mod record;
pub mod report;
pub mod rules;
pub mod s3;
pub mod sink;
pub mod source;
pub mod sql;

/// Test hook for the crash-safety tests: aborts the process at the named point of a commit when
/// the `TRAILQ_FAILPOINT` environment variable names it. Costs one environment lookup per commit.
#[doc(hidden)]
pub fn failpoint(name: &str) {
    if std::env::var_os("TRAILQ_FAILPOINT").is_some_and(|value| value == name) {
        eprintln!("trailq: failpoint {name}: aborting");
        std::process::abort();
    }
}
