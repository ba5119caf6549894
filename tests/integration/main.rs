//! Integration tests: the real `trailq` binary on generated, hostile and real CloudTrail data.

mod athena;
mod bad_input;
mod canned;
mod cloudtrail_server;
mod compact;
mod crash;
mod delta;
mod detect;
mod fault_proxy;
mod grouping;
mod identity;
mod ingest;
mod integrity;
mod output;
mod readme;
mod report;
mod roundtrip;
mod rules;
mod s3;
mod time_ranges;
mod util;
