//! Ingest throughput: end to end (the real binary, 1 thread and all cores, with peak memory),
//! the single-core ceiling of its two input stages (gunzip alone, JSON parsing alone) on the
//! same files, the SHA-256 of their content alone (what the ledger's hashes cost), DuckDB converting the same files (when the `duckdb` Python package is present),
//! the same trail read from an S3 server on loopback (moto, from the test script's virtual
//! environment) and written to a lake in it, and peak memory on one 1 GB log file.
//!
//! `cargo bench --bench ingest` (`TRAILQ_BENCH_EVENTS` sets the trail size, default 160,000).
//! Figures are MB/s of uncompressed JSON, 1 MB = 10^6 bytes.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use flate2::read::MultiGzDecoder;
use serde_json::Value;
use trailq::decode::RecordSplitter;
use trailq::generate::{TrailSpec, generate};
use trailq::record::parse_record;

const RUNS: usize = 3;

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: do not benchmark then.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("ingest benchmark: run it with `cargo bench --bench ingest`");
        return;
    }
    let events: u64 = std::env::var("TRAILQ_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(160_000);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trailq-bench");
    let trail = work.join(format!("trail-{events}"));
    if !trail.exists() {
        let spec = TrailSpec {
            seed: 7,
            accounts: 1,
            regions: vec!["us-east-1".into()],
            start: NaiveDate::from_ymd_opt(2024, 3, 5).unwrap(),
            days: 1,
            events_per_day: events,
            events_per_file: 1000,
            duplicate_rate: 0.001,
            extras: false,
            ..TrailSpec::default()
        };
        let tmp = work.join("trail.tmp");
        let _ = fs::remove_dir_all(&tmp);
        generate(&spec, &tmp).expect("generate the trail");
        fs::rename(&tmp, &trail).unwrap();
    }
    let files = gz_files(&trail);
    let compressed: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let gz_bytes: usize = compressed.iter().map(Vec::len).sum();

    // Stage ceilings, one core, in memory.
    let (gunzip_s, plain) = median_of(|| {
        let start = Instant::now();
        let plain: Vec<Vec<u8>> = compressed
            .iter()
            .map(|gz| {
                let mut out = Vec::new();
                MultiGzDecoder::new(gz.as_slice())
                    .read_to_end(&mut out)
                    .unwrap();
                out
            })
            .collect();
        (start.elapsed().as_secs_f64(), plain)
    });
    let json_bytes: usize = plain.iter().map(Vec::len).sum();
    let (parse_s, records) = median_of(|| {
        let start = Instant::now();
        let mut records = 0u64;
        let mut buf = Vec::new();
        for json in &plain {
            let mut splitter = RecordSplitter::new(json.as_slice(), 64 << 20);
            while let Some(_text) = splitter.next_record(&mut buf).unwrap() {
                let record = parse_record(&buf).unwrap();
                std::hint::black_box(&record);
                records += 1;
            }
        }
        (start.elapsed().as_secs_f64(), records)
    });
    // SHA-256 of every file's content, which ingest computes in the same pass for the ledger.
    let (sha_s, _) = median_of(|| {
        let start = Instant::now();
        for json in &plain {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, json));
        }
        (start.elapsed().as_secs_f64(), ())
    });
    let mb = json_bytes as f64 / 1e6;
    println!(
        "data: {} files, {records} records, {:.1} MB JSON, {:.1} MB gzip",
        files.len(),
        mb,
        gz_bytes as f64 / 1e6
    );
    println!(
        "{:<44} {:>9} {:>10} {:>10} {:>10}",
        "stage", "seconds", "MB/s", "events/s", "peak MB"
    );
    let row = |name: &str, seconds: f64, peak: Option<f64>| {
        println!(
            "{name:<44} {seconds:>9.3} {:>10.0} {:>10.0} {:>10}",
            mb / seconds,
            records as f64 / seconds,
            peak.map_or("-".to_string(), |p| format!("{p:.0}"))
        );
    };
    row("gunzip alone (1 core)", gunzip_s, None);
    row("SHA-256 of the content alone (1 core)", sha_s, None);
    row("split + typed parse alone (1 core)", parse_s, None);
    let ceiling = gunzip_s + parse_s;
    row("ceiling: gunzip + parse (1 core)", ceiling, None);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut per_thread = Vec::new();
    for threads in [1, cores] {
        let (seconds, peak) = median_of(|| ingest(&trail, &work.join("lake"), threads));
        row(
            &format!("trailq ingest end to end, {threads} thread(s)"),
            seconds,
            Some(peak),
        );
        per_thread.push(seconds);
    }
    println!(
        "end to end per core vs ceiling: {:.0}%; speed-up with {cores} cores: {:.2}x",
        100.0 * ceiling / per_thread[0],
        per_thread[0] / per_thread[1]
    );
    println!(
        "hashing's share of a 1-thread ingest: {:.1}% (its time alone over the end-to-end time)",
        100.0 * sha_s / per_thread[0]
    );
    for threads in [1, cores] {
        match duckdb(&trail, &work.join("duckdb.parquet"), threads) {
            Some(seconds) => row(
                &format!("duckdb COPY to zstd Parquet, {threads} thread(s)"),
                seconds,
                None,
            ),
            None => println!("duckdb: not installed (pip install duckdb), skipped"),
        }
    }

    match MotoServer::start() {
        Some(moto) => {
            let bucket = "trailq-bench";
            moto.upload(bucket, &trail);
            for (name, source, lake) in [
                (
                    "from S3 on loopback to a local lake",
                    format!("s3://{bucket}/AWSLogs/"),
                    work.join("lake-from-s3").to_string_lossy().into_owned(),
                ),
                (
                    "from a local folder to a lake in S3",
                    trail.to_string_lossy().into_owned(),
                    format!("s3://{bucket}/lake-{}/", fastrand::u32(..)),
                ),
            ] {
                let (seconds, peak) = median_of(|| moto.ingest(&source, &lake, cores));
                row(&format!("{name}, {cores} threads"), seconds, Some(peak));
            }
        }
        None => println!("S3: moto_server not found (run scripts/test.sh once), skipped"),
    }

    // The lake just ingested, read back whole: `SELECT *` streamed to a file in each format,
    // with the query's peak memory (bounded by a batch, not by the result).
    for format in ["csv", "ndjson", "parquet"] {
        let out = work.join(format!("select-all.{format}"));
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_trailq"))
            .args(["query", "-v", "--lake"])
            .arg(work.join("lake"))
            .args(["--format", format, "--output"])
            .arg(&out)
            .arg("SELECT * FROM events")
            .output()
            .expect("trailq runs");
        let seconds = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let peak = stderr
            .lines()
            .find_map(|line| line.split("peak memory ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or("?");
        let size = fs::metadata(&out).map_or(0, |m| m.len()) as f64 / 1e6;
        println!(
            "SELECT * of {records} events to {format}: {seconds:.1} s, {size:.0} MB written, peak memory {peak} MB"
        );
        let _ = fs::remove_file(&out);
    }

    let (big, big_bytes) = big_file(&work, &plain);
    let (seconds, peak) = ingest(&big, &work.join("lake-big"), cores);
    let big_mb = big_bytes as f64 / 1e6;
    println!(
        "one {big_mb:.0} MB log file, {cores} threads: {seconds:.1} s, {:.0} MB/s, peak memory {peak:.0} MB",
        big_mb / seconds
    );
}

/// Runs `f` RUNS times and returns the run with the median time.
fn median_of<T>(mut f: impl FnMut() -> (f64, T)) -> (f64, T) {
    let mut runs: Vec<(f64, T)> = (0..RUNS).map(|_| f()).collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs.swap_remove(RUNS / 2)
}

fn gz_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".json.gz") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// One ingest by the real binary into a fresh lake: (wall seconds, peak memory MB).
fn ingest(source: &Path, lake: &Path, threads: usize) -> (f64, f64) {
    let _ = fs::remove_dir_all(lake);
    run_ingest(
        source.to_str().unwrap(),
        lake.to_str().unwrap(),
        threads,
        &[],
        &[],
    )
}

/// Runs `trailq ingest SOURCE --lake LAKE --json --threads N EXTRA` with `env`:
/// (seconds, peak memory MB).
fn run_ingest(
    source: &str,
    lake: &str,
    threads: usize,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (f64, f64) {
    let output = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["-q", "ingest", source, "--lake", lake, "--json"])
        .args(["--threads", &threads.to_string()])
        .args(extra)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    (
        summary["elapsed_seconds"].as_f64().unwrap(),
        summary["peak_memory_bytes"].as_f64().unwrap_or(0.0) / 1e6,
    )
}

/// A moto S3 server on a free loopback port, stopped when dropped.
struct MotoServer {
    endpoint: String,
    child: std::process::Child,
}

impl MotoServer {
    fn start() -> Option<Self> {
        let home = std::env::var("HOME").ok()?;
        let venv = std::env::var("TRAILQ_TEST_VENV")
            .unwrap_or_else(|_| format!("{home}/.cache/trailq-test-venv"));
        let program = Path::new(&venv).join("bin/moto_server");
        if !program.exists() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Self { endpoint, child });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    fn upload(&self, bucket: &str, dir: &Path) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "bench", "bench", None, None, "bench",
            ))
            .build();
        let client = aws_sdk_s3::Client::from_conf(config);
        runtime.block_on(async {
            client.create_bucket().bucket(bucket).send().await.unwrap();
            for path in gz_files(dir) {
                let key = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let body = aws_sdk_s3::primitives::ByteStream::from(fs::read(&path).unwrap());
                let put = client.put_object().bucket(bucket).key(key).body(body);
                put.send().await.unwrap();
            }
        });
    }

    /// One ingest against this server into a fresh lake (a new prefix or a cleared folder).
    fn ingest(&self, source: &str, lake: &str, threads: usize) -> (f64, f64) {
        let lake = if lake.starts_with("s3://") {
            format!("{lake}{}/", fastrand::u32(..))
        } else {
            let _ = fs::remove_dir_all(lake);
            lake.to_string()
        };
        let env = [
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        run_ingest(
            source,
            &lake,
            threads,
            &["--endpoint-url", &self.endpoint],
            &env,
        )
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DuckDB converting the same gzipped files to zstd Parquet (`benches/duckdb_ingest.py`, timed
/// inside Python); `None` when the duckdb package is missing.
fn duckdb(trail: &Path, out: &Path, threads: usize) -> Option<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_ingest.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(trail)
        .arg(threads.to_string())
        .arg(RUNS.to_string())
        .arg(out)
        .output()
        .ok()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!(
            "duckdb: skipped ({})",
            stderr.lines().last().unwrap_or("no output")
        );
        return None;
    }
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// A single gzipped log file of about 1 GB of JSON, made by repeating the trail's records
/// with fresh event ids (written once, then reused).
fn big_file(work: &Path, plain: &[Vec<u8>]) -> (PathBuf, u64) {
    let path = work.join("big/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/big.json.gz");
    let size_file = work.join("big.size");
    let known = fs::read_to_string(&size_file)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    if let Some(size) = known
        && path.exists()
    {
        return (path, size);
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::File::create(&path).unwrap();
    let mut out = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    out.write_all(b"{\"Records\":[").unwrap();
    let mut written = 0usize;
    let mut copy = 0;
    'outer: loop {
        for json in plain {
            let document: Value = serde_json::from_reader(BufReader::new(json.as_slice())).unwrap();
            for record in document["Records"].as_array().unwrap() {
                let mut record = record.clone();
                if let Some(id) = record.get("eventID").and_then(Value::as_str) {
                    record["eventID"] = Value::String(format!("{id}-{copy}"));
                }
                let text = serde_json::to_vec(&record).unwrap();
                if written > 0 {
                    out.write_all(b",").unwrap();
                }
                out.write_all(&text).unwrap();
                written += text.len() + 1;
                if written >= 1_000_000_000 {
                    break 'outer;
                }
            }
        }
        copy += 1;
    }
    out.write_all(b"]}").unwrap();
    out.finish().unwrap();
    let size = written as u64 + 14;
    fs::write(size_file, size.to_string()).unwrap();
    (path, size)
}
