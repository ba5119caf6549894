//! Who was behind each call, at scale: a day of 1 million events joined to their origins
//! through `events_with_origin`, on all cores (issue target: under a second on 2 cores).
//!
//! `cargo bench --bench origins` (`TRAILQ_BENCH_ORIGIN_EVENTS_PER_DAY` sets the daily volume,
//! default 1,000,000). The lake (two generated days, so the second day's sessions were issued
//! in the lake) is built once under `target/trailq-bench/` and reused. Printed: the origin
//! index's build (reading `sessions`, resolving every key), then the join of the second day,
//! aggregated and materialised, with the index already built, as the shell's second statement
//! finds it.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use trailq::generate::{TrailSpec, generate};
use trailq::lake::LakeLocation;
use trailq::sql::{execute, open_session};

const RUNS: usize = 5;
const DAY: &str = "2024-03-02";

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("origin benchmark: run it with `cargo bench --bench origins`");
        return;
    }
    let per_day: u64 = std::env::var("TRAILQ_BENCH_ORIGIN_EVENTS_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trailq-bench");
    let lake = work.join(format!("origins-lake-{per_day}"));
    if !lake.join("_trailq/done").exists() {
        build_lake(&work, &lake, per_day);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let location = LakeLocation::Local(lake.clone());
    let run = |ctx: &datafusion::prelude::SessionContext, sql: &str| -> (f64, Vec<RecordBatch>) {
        let start = Instant::now();
        let (_, batches) = runtime
            .block_on(execute(ctx, sql, Default::default()))
            .unwrap();
        (start.elapsed().as_secs_f64() * 1e3, batches)
    };
    let single = |batches: &[RecordBatch], column: usize| {
        arrow::util::display::array_value_to_string(batches[0].column(column), 0).unwrap()
    };

    // The index's build: a fresh session per run, the statement asks for one origin only.
    let mut builds = Vec::new();
    for _ in 0..RUNS {
        let ctx = runtime.block_on(open_session(&location, None)).unwrap();
        builds.push(run(&ctx, "SELECT origin_of(NULL)").0);
    }
    let ctx = runtime.block_on(open_session(&location, None)).unwrap();
    let (_, counts) = run(
        &ctx,
        &format!(
            "SELECT (SELECT count(*) FROM sessions) AS sessions, count(*) AS events FROM events WHERE event_date = DATE '{DAY}'"
        ),
    );
    let (sessions, events) = (single(&counts, 0), single(&counts, 1));
    println!(
        "lake: {} ({sessions} sessions; {events} events on {DAY})",
        lake.display()
    );
    println!(
        "origin index build: {:.0} ms (median of {RUNS}, fresh sessions)",
        median(builds)
    );

    let aggregate = format!(
        "SELECT origin['type'] AS type, count(*) AS calls, sum(origin['hops']) AS hops, \
         count(*) FILTER (WHERE origin['resolved']) AS resolved \
         FROM events_with_origin WHERE event_date = DATE '{DAY}' GROUP BY 1 ORDER BY 2 DESC"
    );
    let materialise = format!(
        "SELECT eventid, eventname, origin FROM events_with_origin WHERE event_date = DATE '{DAY}'"
    );
    run(&ctx, &aggregate); // builds the index and warms the file-system cache
    let (_, by_type) = run(&ctx, &aggregate);
    println!(
        "{:<22} {:>9} {:>9} {:>9}",
        "origin type", "calls", "hops", "resolved"
    );
    for batch in &by_type {
        for row in 0..batch.num_rows() {
            let cell = |c: usize| {
                arrow::util::display::array_value_to_string(batch.column(c), row).unwrap()
            };
            println!(
                "{:<22} {:>9} {:>9} {:>9}",
                cell(0),
                cell(1),
                cell(2),
                cell(3)
            );
        }
    }
    let mut slowest: f64 = 0.0;
    for (name, sql) in [("aggregated", &aggregate), ("materialised", &materialise)] {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..RUNS {
            let (ms, batches) = run(&ctx, sql);
            times.push(ms);
            rows = batches.iter().map(RecordBatch::num_rows).sum::<usize>();
        }
        let ms = median(times);
        slowest = slowest.max(ms);
        println!("join of {DAY}, {name}: {ms:.0} ms ({rows} rows, median of {RUNS})");
    }
    println!("slowest join: {slowest:.0} ms (target: under 1000 ms on 2 cores)");
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Generates two days and ingests them with the release binary; the trail is removed afterwards.
fn build_lake(work: &Path, lake: &Path, per_day: u64) {
    let trail = work.join("origins-trail");
    let _ = std::fs::remove_dir_all(&trail);
    let _ = std::fs::remove_dir_all(lake);
    let spec = TrailSpec {
        seed: 18,
        accounts: 4,
        regions: vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ],
        start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        days: 2,
        events_per_day: per_day,
        events_per_file: 2_000,
        duplicate_rate: 0.0005,
        extras: false,
        ..TrailSpec::default()
    };
    println!("generating 2 days × {per_day} events (once)...");
    let start = Instant::now();
    let stats = generate(&spec, &trail).unwrap();
    println!(
        "generated {} MB of JSON in {:.0} s; ingesting...",
        stats.json_bytes / 1_000_000,
        start.elapsed().as_secs_f64()
    );
    let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args([
            "ingest",
            trail.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&trail).unwrap();
    std::fs::write(lake.join("_trailq/done"), "").unwrap();
}
