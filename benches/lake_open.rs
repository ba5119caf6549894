//! How opening the lake scales with its history: the time to open it and run
//! `SELECT count(*) FROM events WHERE eventtime > now() - interval '1 day'`, and the time of an
//! ingest with nothing new, after 10, 1,000 and 10,000 commits, on disk and (when
//! `TRAILQ_TEST_S3_ENDPOINT` names an S3 server, e.g. the moto that `scripts/test.sh` starts) in S3.
//!
//! `cargo bench --profile perf --bench lake_open` (`TRAILQ_BENCH_COMMITS=10,1000` picks the
//! sizes). Each lake is built once under `target/trailq-bench/` and reused:
//!
//! 1. a generated trail of yesterday and today is ingested (real commits);
//! 2. the history is made of compaction-like transactions, each replacing the day's file with
//!    a copy of itself (a hard link), written to the manifest and then applied to the Delta log
//!    by trailq's own sync (one Delta commit each, checkpoints every 50 as always);
//! 3. `trailq vacuum --retain 0s` deletes the replaced copies, and one more real ingest (a
//!    re-delivered file) commits, which checkpoints the manifest. `TRAILQ_LOG_RETENTION_SECS=0`
//!    stands in for the years that pass in a real lake: the manifest entries its checkpoint covers
//!    are deleted at once, as they are after 7 days. The Delta logs keep every commit (delta-rs
//!    cleans them after 30 days), so this is the worst case for them.
//!
//! Every figure is a process's wall time (as a user sees it), the median of 5 runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::Utc;
use trailq::generate::{TrailSpec, generate};
use trailq::lake::{Lake, Manifest, Table, Transaction, delta, log_file_name};

const RUNS: usize = 5;
const QUERY: &str = "SELECT count(*) FROM events WHERE eventtime > now() - interval '1 day'";
const AWS_ENV: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("lake-open benchmark: run it with `cargo bench --bench lake_open`");
        return;
    }
    let sizes: Vec<u64> = std::env::var("TRAILQ_BENCH_COMMITS")
        .unwrap_or_else(|_| "10,1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("TRAILQ_BENCH_COMMITS: numbers"))
        .collect();
    let endpoint = std::env::var("TRAILQ_TEST_S3_ENDPOINT").ok();
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trailq-bench/open");
    std::fs::create_dir_all(&work).unwrap();
    let trail = work.join("trail");
    if !trail.is_dir() {
        let spec = TrailSpec {
            start: Utc::now().date_naive() - chrono::Days::new(1),
            days: 2,
            events_per_day: 20_000,
            ..TrailSpec::default()
        };
        generate(&spec, &trail).unwrap();
    }
    if endpoint.is_none() {
        println!("S3: skipped (set TRAILQ_TEST_S3_ENDPOINT to an S3 server, e.g. moto)");
    }
    println!(
        "{:>8} {:>8} {:>14} {:>14} {:>14} {:>14}",
        "commits", "version", "disk query ms", "disk no-op ms", "s3 query ms", "s3 no-op ms"
    );
    let mut rows = Vec::new();
    for &commits in &sizes {
        let lake = work.join(format!("lake-{commits}"));
        if !lake.join("_trailq/log").is_dir() {
            build(&trail, &lake, commits);
        }
        let local = lake.to_str().unwrap().to_string();
        let disk = (
            median(|| run(&["query", "--lake", &local, QUERY], &[])),
            median(|| run(&["ingest", trail.to_str().unwrap(), "--lake", &local], &[])),
        );
        let s3 = endpoint.as_deref().map(|endpoint| {
            let url = format!("s3://trailq-bench-open/lake-{commits}/");
            upload(&lake, endpoint, &format!("lake-{commits}/"));
            let with = ["--endpoint-url", endpoint];
            (
                median(|| run(&["query", "--lake", &url, QUERY], &with)),
                median(|| run(&["ingest", trail.to_str().unwrap(), "--lake", &url], &with)),
            )
        });
        let version = events_version(&lake);
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |ms| format!("{ms:.0}"));
        println!(
            "{commits:>8} {version:>8} {:>14.0} {:>14.0} {:>14} {:>14}",
            disk.0,
            disk.1,
            cell(s3.map(|s| s.0)),
            cell(s3.map(|s| s.1)),
        );
        rows.push((disk, s3));
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!(
            "ratio {} / {} commits: disk query {:.2}x, disk no-op ingest {:.2}x{}",
            sizes.last().unwrap(),
            sizes[0],
            last.0.0 / first.0.0,
            last.0.1 / first.0.1,
            match (first.1, last.1) {
                (Some(a), Some(b)) => format!(
                    ", S3 query {:.2}x, S3 no-op ingest {:.2}x",
                    b.0 / a.0,
                    b.1 / a.1
                ),
                _ => String::new(),
            }
        );
    }
}

/// Runs trailq and returns its wall time in ms; it must succeed.
fn run(args: &[&str], extra: &[&str]) -> f64 {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(args)
        .args(extra)
        .arg("-q")
        .envs(AWS_ENV)
        .output()
        .unwrap();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert!(
        output.status.success(),
        "trailq {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    ms
}

fn median(mut f: impl FnMut() -> f64) -> f64 {
    let mut times: Vec<f64> = (0..RUNS).map(|_| f()).collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

/// Builds a lake of `commits` transactions (see the module's documentation).
fn build(trail: &Path, lake: &Path, commits: u64) {
    println!("building {} ...", lake.display());
    let started = Instant::now();
    run(
        &[
            "ingest",
            trail.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ],
        &[],
    );
    let opened = Lake::open(lake).unwrap();
    let mut manifest = Manifest::load(&opened).unwrap();
    let (mut day_file, entry) = manifest
        .live_files()
        .iter()
        .rev()
        .find(|(path, _)| path.starts_with("events/"))
        .map(|(path, entry)| (path.clone(), entry.clone()))
        .expect("the ingest wrote events");
    let dir = day_file.rsplit_once('/').unwrap().0.to_string();
    let mut previous = day_file.clone();
    // Two real commits come before and after the history: the ingest, and the re-delivery.
    for seq in manifest.next_seq()..commits.max(manifest.next_seq()) {
        let path = format!("{dir}/part-history-{seq}.parquet");
        // A file system allows some 65,000 links to one file: a real copy now and then.
        if seq % 50_000 == 0 {
            std::fs::copy(lake.join(&day_file), lake.join(&path)).unwrap();
            day_file = path.clone();
        } else {
            std::fs::hard_link(lake.join(&day_file), lake.join(&path)).unwrap();
        }
        let transaction = Transaction {
            seq,
            txid: format!("history-{seq}"),
            writer: "lake_open bench compact".into(),
            started_at: Utc::now().to_rfc3339(),
            committed_at: Utc::now().to_rfc3339(),
            sources: Vec::new(),
            outputs: vec![trailq::lake::OutputEntry {
                path: path.clone(),
                ..entry.clone()
            }],
            removed: vec![std::mem::replace(&mut previous, path)],
        };
        let text = serde_json::to_vec(&transaction).unwrap();
        std::fs::write(opened.log_dir().join(log_file_name(seq)), text).unwrap();
        manifest.push(transaction);
    }
    delta::sync(&opened, &manifest).unwrap();
    let local = lake.to_str().unwrap();
    run(&["vacuum", "--lake", local, "--retain", "0s"], &[]);
    // A re-delivered file: all duplicates, one commit, which checkpoints the manifest.
    let redelivered = first_file(trail);
    let copy = redelivered.with_file_name(format!(
        "redelivered-{}",
        redelivered.file_name().unwrap().to_string_lossy()
    ));
    let scratch = lake.with_extension("redelivery");
    let target = scratch.join(copy.strip_prefix(trail).unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(&redelivered, &target).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["ingest", scratch.to_str().unwrap(), "--lake", local, "-q"])
        .env("TRAILQ_LOG_RETENTION_SECS", "0")
        .status()
        .unwrap();
    assert!(status.success());
    let manifest = Manifest::load(&opened).unwrap();
    println!(
        "  {} commits in {:.0} s ({} log entries after the checkpoint)",
        manifest.last_seq(),
        started.elapsed().as_secs_f64(),
        manifest.transactions().len()
    );
}

fn first_file(dir: &Path) -> PathBuf {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let first = entries.into_iter().next().expect("a non-empty trail");
    if first.is_dir() {
        first_file(&first)
    } else {
        first
    }
}

/// The latest version of the lake's events table.
fn events_version(lake: &Path) -> u64 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lake = Lake::open(lake).unwrap();
    let tables = delta::Tables::of(&lake);
    let snapshot = runtime
        .block_on(delta::snapshot(&tables, delta::AsOf::Latest))
        .unwrap();
    snapshot.versions[&Table::Events]
}

/// Uploads the lake once to `s3://trailq-bench-open/<prefix>` (skipped when it is there).
fn upload(lake: &Path, endpoint: &str, prefix: &str) {
    use object_store::{ObjectStoreExt, PutPayload, aws::AmazonS3Builder};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = aws_sdk_s3::config::Builder::new()
            .endpoint_url(endpoint)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::for_tests())
            .force_path_style(true)
            .behavior_version_latest()
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        let _ = client
            .create_bucket()
            .bucket("trailq-bench-open")
            .send()
            .await;
        let store = AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_bucket_name("trailq-bench-open")
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap();
        let marker = object_store::path::Path::from(format!("{prefix}_trailq/uploaded"));
        if store.head(&marker).await.is_ok() {
            return;
        }
        let files: Vec<PathBuf> = walk(lake);
        println!("  uploading {} objects to {endpoint}", files.len());
        use futures::StreamExt;
        futures::stream::iter(files)
            .map(|file| {
                let store = &store;
                async move {
                    let relative = file.strip_prefix(lake).unwrap().to_string_lossy();
                    let path = object_store::path::Path::from(format!("{prefix}{relative}"));
                    let bytes = tokio::fs::read(&file).await.unwrap();
                    store.put(&path, PutPayload::from(bytes)).await.unwrap();
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
        store
            .put(&marker, PutPayload::from_static(b""))
            .await
            .unwrap();
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if !path.ends_with("_trailq/lock") {
            files.push(path);
        }
    }
    files
}
