//! Progress of long work, reported through a small trait: the library says how much work there
//! is and how much is done; only the command line draws it (a bar on a terminal, nothing else).

/// What work is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of input.
    Bytes,
    /// Pieces of work, named in the plural (`"hours of logs"`, `"day scans"`).
    Items(&'static str),
}

/// Receives progress (the CLI draws a bar; tests and embedders may stay silent).
pub trait Progress: Sync {
    /// Work of `total` units begins; `what` says what it is (`"2,557 files"`).
    fn begin(&self, _total: u64, _unit: Unit, _what: &str) {}
    /// More work turned up (a detector planning its scans).
    fn add_work(&self, _more: u64) {}
    /// `done` more units are done.
    fn advance(&self, _done: u64) {}
    /// The work is over.
    fn finish(&self) {}
}

/// Progress that reports nothing.
pub struct Silent;

impl Progress for Silent {}
