//! The one error type of trailq. Each variant names the object it concerns and, where the user
//! can act, says what to do next. The variants say who must act: the user who typed the command
//! (`Usage`), whoever runs the machine or the network (`Io`, `Resources`, `S3`, `Network`), the
//! lake's keeper (`NoLake`, `Locked`, `Manifest`, `Delta`, `LakeData`, `Conflict`), the query's author
//! (`Query`, `DataFusion`), or trailq's developers (`Internal`, `Arrow`: bugs).

use std::path::{Path, PathBuf};

/// A failure that stops a command. (A bad input file does not: it is reported and the run goes
/// on; see `ingest::IngestSummary`.)
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A command needs a lake that does not exist yet.
    #[error(
        "no trailq lake at {}: create one with `trailq ingest <logs> --lake {}`",
        .0.display(), .0.display()
    )]
    NoLake(PathBuf),
    /// Another ingest holds the lake's writer lock.
    #[error(
        "another trailq ingest is writing this lake (lock held on {}); wait for it to finish and run again",
        .0.display()
    )]
    Locked(PathBuf),
    /// The manifest log cannot be read; the lake's state is unknown.
    #[error(
        "manifest entry {} is unreadable: {message}; move it aside only if you know the transaction never committed",
        path.display()
    )]
    Manifest {
        /// The log file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Two writers raced for the same commit.
    #[error("commit conflict: {0}; another writer committed to this lake, run again")]
    Conflict(String),
    /// A table's Delta log cannot be read or written.
    #[error(
        "the Delta log of {table}: {message}; the lake's manifest is intact: a run of ingest, compact or migrate brings the Delta log up to it"
    )]
    Delta {
        /// The table (`<lake>/<table>`).
        table: String,
        /// What went wrong.
        message: String,
    },
    /// Writing or reading Parquet failed.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: parquet::errors::ParquetError,
    },
    /// A published lake file cannot be read, so the run cannot tell which events it already has.
    #[error("cannot read the lake's existing data: {0}; restore or move aside the named file")]
    LakeData(String),
    /// An Arrow computation failed: a bug, since trailq builds its arrays itself.
    #[error("internal error (a bug, please report it): {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Something trailq holds true turned out false (a panicked task, a row that does not fit
    /// its own table): a bug.
    #[error("internal error (a bug, please report it): {0}")]
    Internal(String),
    /// The machine refused what a command needs to run (threads, the async runtime, a terminal).
    #[error("{0}; check the machine's limits (threads, open files, memory) and run again")]
    Resources(String),
    /// An HTTP peer other than S3 (a webhook) failed or refused.
    #[error("{url}: {message}")]
    Network {
        /// Where (without credentials or query strings).
        url: String,
        /// What happened.
        message: String,
    },
    /// A query failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// A query failed, with a hint for the user.
    #[error("{0}")]
    Query(String),
    /// An S3 request failed after its retries (credentials never appear in the message).
    #[error("{url}: {message}")]
    S3 {
        /// The bucket, prefix or object.
        url: String,
        /// What S3 answered, and what to do about it where known.
        message: String,
    },
    /// The command line asks for something that cannot be done: fix the command.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// An I/O failure on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A Parquet failure on `path`.
    pub fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<object_store::Error> for Error {
    fn from(err: object_store::Error) -> Self {
        let url = match &err {
            object_store::Error::NotFound { path, .. }
            | object_store::Error::AlreadyExists { path, .. }
            | object_store::Error::Precondition { path, .. } => path.clone(),
            _ => String::from("lake store"),
        };
        Error::S3 {
            url,
            message: err.to_string(),
        }
    }
}

/// The result of a trailq operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
