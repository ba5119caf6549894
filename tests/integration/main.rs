//! Integration tests: the real `trailq` binary on generated, hostile and real CloudTrail data.

mod athena;
mod bad_input;
mod canned;
mod crash;
mod ingest;
mod readme;
mod roundtrip;
mod util;
