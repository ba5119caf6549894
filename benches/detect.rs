//! Detection and the report: the evaluation harness (precision, recall and delay of each rate
//! detector on synthetic series with injected anomalies), then all four detectors end to end
//! over a generated lake of 30 days × 1 million events, on one core (`taskset -c 0`) and on
//! all, then the rules alone (the built-in library plus synthetic rules, 150 or more), then
//! the HTML report over the last 7 days of that lake.
//!
//! `cargo bench --bench detect` (`TRAILQ_BENCH_DETECT_EVENTS_PER_DAY` sets the daily volume,
//! default 1,000,000). The lake is built once under `target/trailq-bench/` and reused.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::NaiveDate;
use trailq::detect::eval::evaluate_detectors;
use trailq::generate::{TrailSpec, generate};

const DAYS: u32 = 30;
/// Days generated and ingested at a time, so the JSON on disk stays small.
const CHUNK_DAYS: u32 = 5;
const RUNS: usize = 3;

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("detect benchmark: run it with `cargo bench --bench detect`");
        return;
    }
    let started = Instant::now();
    for score in evaluate_detectors(24, 30, 11) {
        print!("{}", score.report());
    }
    println!("harness: {:.1} s\n", started.elapsed().as_secs_f64());

    let per_day: u64 = std::env::var("TRAILQ_BENCH_DETECT_EVENTS_PER_DAY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/trailq-bench");
    let lake = work.join(format!("detect-lake-{per_day}"));
    if !lake.join("_trailq/done").exists() {
        build_lake(&work, &lake, per_day);
    }
    // As the nightly job does after ingest (a no-op on a lake already compacted).
    let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["compact", "--lake", lake.to_str().unwrap()])
        .status()
        .expect("trailq runs");
    assert!(status.success());
    let args = [
        "-q",
        "detect",
        "--lake",
        lake.to_str().unwrap(),
        "--since",
        "2024-03-01",
        "--until",
        "2024-03-31",
        "--format",
        "json",
    ];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut times = Vec::new();
    for (label, pinned) in [("1 core", true), (&*format!("{cores} cores"), false)] {
        let mut runs: Vec<(f64, usize)> = (0..RUNS)
            .map(|_| {
                let mut command = trailq_on(pinned);
                let start = Instant::now();
                let output = command.args(args).output().expect("trailq runs");
                let seconds = start.elapsed().as_secs_f64();
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                let records: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
                (seconds, records.as_array().map_or(0, Vec::len))
            })
            .collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (seconds, records) = runs[RUNS / 2];
        println!(
            "detect, four detectors and the built-in rules, 30 days x {per_day} events/day, {label}: {seconds:.1} s ({records} records)"
        );
        times.push(seconds);
    }
    println!("speed-up 1 -> {cores} cores: {:.2}x", times[0] / times[1]);

    // The rules alone: the built-in library plus synthetic rules shaped like SigmaHQ's
    // CloudTrail rules, 150 or more in all, over the same 30 days.
    let rules_dir = work.join("bench-rules");
    let _ = std::fs::remove_dir_all(&rules_dir);
    std::fs::create_dir_all(&rules_dir).unwrap();
    let built_in = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["-q", "rules", "list", "--format", "json"])
        .output()
        .expect("trailq runs");
    let built_in = serde_json::from_slice::<serde_json::Value>(&built_in.stdout)
        .unwrap()
        .as_array()
        .map_or(0, Vec::len);
    let synthetic = 150usize.saturating_sub(built_in).max(105);
    for i in 0..synthetic {
        std::fs::write(
            rules_dir.join(format!("synthetic_{i:03}.yml")),
            synthetic_rule(i),
        )
        .unwrap();
    }
    let mut rule_times = Vec::new();
    for (label, pinned) in [("1 core", true), (&*format!("{cores} cores"), false)] {
        let mut runs: Vec<(f64, usize)> = (0..RUNS)
            .map(|_| {
                let mut command = trailq_on(pinned);
                let start = Instant::now();
                // A backtest: the findings the report reads next stay the built-in rules'.
                let output = command
                    .args(&args[..args.len() - 2])
                    .args(["--detectors", "rule", "--backtest"])
                    .args(["--rules", rules_dir.to_str().unwrap()])
                    .output()
                    .expect("trailq runs");
                let seconds = start.elapsed().as_secs_f64();
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
                // Its table: one line per day, the day's findings last.
                let findings = String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .filter(|line| line.starts_with("20"))
                    .filter_map(|line| line.split_whitespace().last()?.parse::<usize>().ok())
                    .sum();
                (seconds, findings)
            })
            .collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (seconds, records) = runs[RUNS / 2];
        println!(
            "rules, {} loaded ({built_in} built-in), 30 days x {per_day} events/day, {label}: {seconds:.1} s ({records} findings)",
            built_in + synthetic
        );
        rule_times.push(seconds);
    }
    println!(
        "rules speed-up 1 -> {cores} cores: {:.2}x",
        rule_times[0] / rule_times[1]
    );

    let out = work.join("bench-report.html");
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
                .args(["-q", "report", "--lake", lake.to_str().unwrap()])
                .args([
                    "--since",
                    "2024-03-24",
                    "--until",
                    "2024-03-31",
                    "--format",
                    "html",
                ])
                .args(["--out", out.to_str().unwrap()])
                .status()
                .expect("trailq runs");
            assert!(status.success());
            start.elapsed().as_secs_f64()
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "report, HTML, 7 days x {per_day} events/day, {cores} cores: {:.1} s ({} KB)",
        runs[RUNS / 2],
        std::fs::metadata(&out).map_or(0, |m| m.len() / 1024)
    );
}

/// The trailq binary, pinned to one core (`taskset -c 0`) or free to use all.
fn trailq_on(pinned: bool) -> Command {
    if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", env!("CARGO_BIN_EXE_trailq")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_trailq"))
    }
}

/// A synthetic rule in the shape of SigmaHQ's CloudTrail rules: an event source and names,
/// mostly of APIs a healthy account rarely calls, and often one more test of a payload, the
/// caller or the outcome; a rule on an everyday API always has one (as SigmaHQ's do), so the
/// payload tests run on many rows.
fn synthetic_rule(i: usize) -> String {
    const RARE: &[(&str, &str)] = &[
        ("iam.amazonaws.com", "CreateRole"),
        ("iam.amazonaws.com", "DeleteRolePermissionsBoundary"),
        ("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
        ("iam.amazonaws.com", "CreateVirtualMFADevice"),
        ("iam.amazonaws.com", "DeactivateMFADevice"),
        ("ec2.amazonaws.com", "CreateKeyPair"),
        ("ec2.amazonaws.com", "ImportKeyPair"),
        ("ec2.amazonaws.com", "ModifyInstanceAttribute"),
        ("ec2.amazonaws.com", "CreateVpcPeeringConnection"),
        ("s3.amazonaws.com", "PutBucketVersioning"),
        ("s3.amazonaws.com", "PutBucketLogging"),
        ("kms.amazonaws.com", "PutKeyPolicy"),
        ("lambda.amazonaws.com", "CreateFunction20150331"),
        ("sts.amazonaws.com", "GetSessionToken"),
        ("rds.amazonaws.com", "ModifyDBInstance"),
        ("logs.amazonaws.com", "DeleteLogGroup"),
        ("route53.amazonaws.com", "ChangeResourceRecordSets"),
        ("eks.amazonaws.com", "CreateAccessEntry"),
        ("sso.amazonaws.com", "CreatePermissionSet"),
        ("ec2.amazonaws.com", "TerminateInstances"),
        ("glue.amazonaws.com", "CreateTable"),
    ];
    const EVERYDAY: &[(&str, &str)] = &[
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("s3.amazonaws.com", "GetObject"),
        ("kms.amazonaws.com", "Decrypt"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("ecs.amazonaws.com", "RunTask"),
        ("secretsmanager.amazonaws.com", "GetSecretValue"),
    ];
    let everyday = i.is_multiple_of(5);
    let pool = if everyday { EVERYDAY } else { RARE };
    let (source, name) = pool[(i / 5) % pool.len()];
    let (other_source, other_name) = pool[(i * 7 + 3) % pool.len()];
    let restrictive = [
        "    requestParameters.roleArn|contains: 'admin'\n".to_string(),
        "    sourceIPAddress|cidr: 192.0.2.0/24\n".to_string(),
        "    userAgent|re: '(?i)(kali|parrot|pentoo)'\n".to_string(),
        format!("    userIdentity.arn|endswith: '/variant-{i}'\n"),
    ];
    let extra = match (everyday, i % 6) {
        (true, k) => restrictive[k % restrictive.len()].clone(),
        (false, k @ 0..=3) => restrictive[k].clone(),
        (false, 4) => "    errorCode|exists: false\n".to_string(),
        (false, _) => String::new(),
    };
    [
        format!("title: Synthetic rule {i}"),
        format!("id: 00000000-0000-4000-8000-{i:012}"),
        "logsource:".into(),
        "  product: aws".into(),
        "  service: cloudtrail".into(),
        "detection:".into(),
        "  selection:".into(),
        "    eventSource:".into(),
        format!("      - {source}"),
        format!("      - {other_source}"),
        "    eventName:".into(),
        format!("      - {name}"),
        format!("      - {other_name}"),
        format!("{extra}  condition: selection"),
        "level: low".into(),
        "tags:".into(),
        "  - attack.t1078".into(),
        "falsepositives:".into(),
        "  - none".into(),
        String::new(),
    ]
    .join("\n")
}

/// Generates and ingests the lake in chunks of days (the JSON of 30 M events is ~40 GB).
fn build_lake(work: &Path, lake: &Path, per_day: u64) {
    let _ = std::fs::remove_dir_all(lake);
    let trail = work.join("detect-trail");
    for chunk in 0..DAYS / CHUNK_DAYS {
        let _ = std::fs::remove_dir_all(&trail);
        let spec = TrailSpec {
            seed: 500 + u64::from(chunk),
            accounts: 4,
            regions: vec![
                "us-east-1".into(),
                "eu-west-1".into(),
                "ap-southeast-2".into(),
            ],
            start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap()
                + chrono::Days::new(u64::from(chunk * CHUNK_DAYS)),
            days: CHUNK_DAYS,
            events_per_day: per_day,
            events_per_file: 2_000,
            duplicate_rate: 0.0005,
            extras: false,
            ..TrailSpec::default()
        };
        let start = Instant::now();
        generate(&spec, &trail).unwrap();
        let generated = start.elapsed().as_secs_f64();
        let status = Command::new(env!("CARGO_BIN_EXE_trailq"))
            .args([
                "-q",
                "ingest",
                trail.to_str().unwrap(),
                "--lake",
                lake.to_str().unwrap(),
            ])
            .args(["--memory-budget", "1GiB"])
            .status()
            .unwrap();
        assert!(status.success());
        println!(
            "lake chunk {}/{}: generated in {generated:.0} s, ingested in {:.0} s",
            chunk + 1,
            DAYS / CHUNK_DAYS,
            start.elapsed().as_secs_f64() - generated
        );
    }
    let _ = std::fs::remove_dir_all(&trail);
    std::fs::write(lake.join("_trailq/done"), b"").unwrap();
}
