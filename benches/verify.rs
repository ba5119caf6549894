//! `trailq verify` over a month of one account's digests: 720 hourly digests listing hundreds of
//! thousands of log files, checked from the lake alone (no log file read again), with the
//! release binary; and the verification itself in process, without the lake's reading.
//!
//! `cargo bench --bench verify` (`TRAILQ_BENCH_VERIFY_FILES` sets the log files, default
//! 300,000). The trail and its lake are kept in `target/trailq-bench/` for the next run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use trailq::generate::{TrailSpec, generate, write_public_keys};
use trailq::integrity::keys::PublicKeys;
use trailq::integrity::store::load_digests;
use trailq::integrity::verify;
use trailq::lake::{Lake, Manifest};

const RUNS: usize = 3;
const DAYS: u32 = 30;

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("verify benchmark: run it with `cargo bench --bench verify`");
        return;
    }
    let files: u64 = std::env::var("TRAILQ_BENCH_VERIFY_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trailq-bench");
    let trail = work.join(format!("verify-trail-{files}"));
    let lake = work.join(format!("verify-lake-{files}"));
    let keys = work.join("verify-public-keys.json");
    write_public_keys(&keys).unwrap();
    if !lake.join("_trailq/log").is_dir() {
        // Two events a file: a month of an account in one region, many small files.
        let per_file = 2;
        let spec = TrailSpec {
            seed: 11,
            accounts: 1,
            regions: vec!["us-east-1".into()],
            start: NaiveDate::from_ymd_opt(2024, 4, 1).unwrap(),
            days: DAYS,
            events_per_day: files * per_file / u64::from(DAYS),
            events_per_file: per_file as usize,
            duplicate_rate: 0.0,
            extras: true,
            attacks: false,
            ..TrailSpec::default()
        };
        let started = Instant::now();
        let stats = generate(&spec, &trail).expect("generate the trail");
        println!(
            "generated {} log files and {} digests in {:.0} s",
            stats.log_files,
            stats.digests,
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
            .args(["-q", "ingest"])
            .arg(&trail)
            .arg("--lake")
            .arg(&lake)
            .arg("--public-keys")
            .arg(&keys)
            .status()
            .unwrap();
        assert!(status.success());
        println!("ingested in {:.0} s", started.elapsed().as_secs_f64());
    }

    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_trailq"))
            .args(["verify", "--lake"])
            .arg(&lake)
            .args(["--format", "json"])
            .output()
            .unwrap();
        runs.push(started.elapsed().as_secs_f64());
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        last = Some(output);
    }
    runs.sort_by(f64::total_cmp);
    let verdict: serde_json::Value = serde_json::from_slice(&last.unwrap().stdout).unwrap();
    let trail_summary = &verdict["trails"][0];
    println!(
        "trailq verify (CLI, reading the lake and rewriting deliveries and logfiles): {:.2} s \
         median of {RUNS} for {} digests and {} log files ({} hours)",
        runs[RUNS / 2],
        trail_summary["digests"],
        trail_summary["files_verified"],
        trail_summary["hours"],
    );

    // The parts, in process.
    let opened = Lake::open(&lake).unwrap();
    let started = Instant::now();
    let manifest = Manifest::load(&opened).unwrap();
    let ledger_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let digests = load_digests(&opened, &manifest).unwrap();
    let digests_s = started.elapsed().as_secs_f64();
    let keys = PublicKeys::cached(&opened).unwrap();
    let started = Instant::now();
    let verification = verify(digests, manifest.sources(), &keys);
    let verify_s = started.elapsed().as_secs_f64();
    println!(
        "in process: ledger load {ledger_s:.2} s ({} sources), digests table read {digests_s:.2} s, \
         verification {verify_s:.2} s ({} digests, {} files, {} hours)",
        manifest.sources().len(),
        verification.digests.len(),
        verification.files.len(),
        verification.deliveries.len()
    );
}
