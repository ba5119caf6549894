//! Canned queries over a generated lake of at least 10 million events: one benchmark per query
//! name, DataFusion (in process, as `trailq query` runs it) against DuckDB running the same SQL
//! on the same Parquet files (when the `duckdb` Python package is present), with the ratios.
//!
//! `cargo bench --bench queries` (`TRAILQ_BENCH_QUERY_EVENTS` sets the lake size, default
//! 10,000,000). The lake is built once under `target/trailq-bench/` (generated, ingested and
//! compacted, as the README's nightly job does) and reused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use trailq::generate::{TrailSpec, generate};
use trailq::sql::canned;
use trailq::sql::params::bind;
use trailq::sql::{execute, open_session};

const RUNS: usize = 5;

/// Parameters every canned query gets: the whole generated period, and values present in it.
const PARAMS: &[(&str, &str)] = &[
    ("since", "2024-03-01"),
    ("until", "2024-04-01"),
    ("baseline_since", "2024-02-01"),
    ("principal", "ci-deployer"),
    ("cidr", "203.0.113.0/24"),
];

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("query benchmark: run it with `cargo bench --bench queries`");
        return;
    }
    let events: u64 = std::env::var("TRAILQ_BENCH_QUERY_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trailq-bench");
    let lake = work.join(format!("lake-{events}"));
    if !lake.join("_trailq/log").is_dir() {
        build_lake(&work, &lake, events);
    }
    // As the nightly job does after ingest: a backfill leaves many files a day (a no-op on a
    // lake already compacted).
    let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["compact", "--lake", lake.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let location = trailq::lake::LakeLocation::Local(lake.clone());
    let ctx = runtime.block_on(open_session(&location, None)).unwrap();
    let count = runtime
        .block_on(execute(
            &ctx,
            "SELECT count(*) FROM events",
            Default::default(),
        ))
        .unwrap();
    let events = arrow::util::display::array_value_to_string(count.1[0].column(0), 0).unwrap();
    println!("lake: {} ({events} events)", lake.display());
    let duckdb = duckdb_times(&lake);
    println!(
        "{:<30} {:>8} {:>12} {:>12} {:>8}",
        "query", "rows", "trailq ms", "duckdb ms", "ratio"
    );
    let mut slowest: f64 = 0.0;
    // The bench trail is plain CloudTrail/ files (no digests), so the lake has no `logfiles`.
    for query in canned::all()
        .into_iter()
        .filter(|q| !q.sql.contains("logfiles"))
    {
        let given: Vec<(String, String)> = PARAMS
            .iter()
            .filter(|(name, _)| query.params.iter().any(|p| p.name == *name))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let now = chrono::Utc::now();
        let mut times = Vec::new();
        let mut rows = 0;
        for run in 0..=RUNS {
            let params = bind(&query.params, &given, now).unwrap();
            let start = Instant::now();
            let (_, batches) = runtime.block_on(execute(&ctx, &query.sql, params)).unwrap();
            // The first run warms the file-system cache and metadata, as a second query would.
            if run > 0 {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        times.sort_by(f64::total_cmp);
        let ours = times[RUNS / 2];
        slowest = slowest.max(ours);
        let theirs = duckdb
            .as_ref()
            .and_then(|d| d.iter().find(|(n, _, _)| n == &query.name));
        if let Some((_, _, their_rows)) = theirs {
            assert_eq!(
                rows, *their_rows,
                "{}: DuckDB returns other rows",
                query.name
            );
        }
        println!(
            "{:<30} {rows:>8} {ours:>12.1} {:>12} {:>8}",
            query.name,
            theirs.map_or("-".into(), |(_, t, _)| format!("{t:.1}")),
            theirs.map_or("-".into(), |(_, t, _)| format!("{:.2}", ours / t)),
        );
    }
    println!(
        "slowest canned query: {slowest:.0} ms (target: under 1000 ms); ratio = trailq / duckdb, below 1 is faster"
    );
}

/// Generates a trail and ingests it with the release binary; the trail is removed afterwards.
fn build_lake(work: &Path, lake: &Path, events: u64) {
    let trail = work.join("query-trail");
    let _ = std::fs::remove_dir_all(&trail);
    let days = 20;
    let spec = TrailSpec {
        seed: 99,
        accounts: 4,
        regions: vec![
            "us-east-1".into(),
            "eu-west-1".into(),
            "ap-southeast-2".into(),
        ],
        start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        days,
        events_per_day: events / u64::from(days),
        events_per_file: 2_000,
        duplicate_rate: 0.0005,
        extras: false,
        ..TrailSpec::default()
    };
    println!(
        "generating {events} events into {} (once)...",
        trail.display()
    );
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
            "--memory-budget",
            "1GiB",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&trail).unwrap();
}

/// The events files of the lake's latest Delta snapshot, lake-relative.
fn events_files(lake: &Path) -> Vec<String> {
    use trailq::lake::delta::{AsOf, Tables, snapshot};
    let lake = trailq::lake::Lake::open(lake).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let snapshot = runtime
        .block_on(snapshot(&Tables::of(&lake), AsOf::Latest))
        .unwrap();
    snapshot
        .files
        .into_keys()
        .filter(|path| path.starts_with("events/"))
        .collect()
}

/// DuckDB's median time and row count per canned query it can run, from one Python process
/// (`None` without duckdb).
fn duckdb_times(lake: &Path) -> Option<Vec<(String, f64, usize)>> {
    // Origins come from trailq's own index (`origin_of`), which DuckDB has no equivalent of.
    let queries: Vec<(String, String)> = canned::all()
        .into_iter()
        .filter(|q| !q.sql.contains("origin_of") && !q.sql.contains(trailq::sql::origins::VIEW))
        .filter(|q| !q.sql.contains("logfiles"))
        .map(|q| (q.name, q.sql))
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_queries.py");
    let files_json = lake.with_extension("events-files.json");
    std::fs::write(
        &files_json,
        serde_json::to_vec(&events_files(lake)).unwrap(),
    )
    .unwrap();
    let output = Command::new("python3")
        .arg(&script)
        .arg(lake)
        .arg(RUNS.to_string())
        .arg(serde_json::to_string(&queries).unwrap())
        .arg(serde_json::to_string(&PARAMS).unwrap())
        .arg(&files_json)
        .output()
        .ok()?;
    if !output.status.success() {
        println!(
            "duckdb: skipped ({})",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("no output")
        );
        return None;
    }
    serde_json::from_slice(&output.stdout).ok()
}
