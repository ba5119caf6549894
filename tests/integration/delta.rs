//! Every table of the lake is a Delta table: readers that share no code with trailq (delta-rs's
//! Python package and polars, from PyPI, installed by scripts/test.sh) see exactly the rows that
//! `trailq query` gives, after an ingest, a compaction and a re-run of detect.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chrono::NaiveDate;
use serde_json::Value;
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

/// The SQL that names each row as `delta_reader.py` does.
const KEYS: [(&str, &str); 4] = [
    (
        "events",
        "SELECT coalesce(eventid, sourcefile || '#' || CAST(sourceindex AS VARCHAR)) AS k FROM events",
    ),
    (
        "insights",
        "SELECT coalesce(eventid, sourcefile || '#' || CAST(sourceindex AS VARCHAR)) AS k FROM insights",
    ),
    ("findings", "SELECT eventid AS k FROM findings"),
    (
        "rejects",
        "SELECT sourcefile || '#' || CAST(coalesce(sourceindex, -1) AS VARCHAR) || '#' || reason AS k FROM rejects",
    ),
];

/// The test environment's python (with deltalake, polars, pyarrow and awscli).
pub fn python() -> String {
    std::env::var("TRAILQ_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "these tests read the lake with Python's deltalake and polars, and check digests \
             with awscli: run `bash scripts/test.sh` (it installs them), or set \
             TRAILQ_TEST_PYTHON to a python that has them"
        )
    })
}

/// What the independent readers see of the lake at `lake` (a folder or `s3://` URL; S3
/// settings in `env`): per table, `None` without a Delta log, else each reader's sorted keys
/// and the table's version.
pub fn delta_view(lake: &str, env: &[(&str, &str)]) -> BTreeMap<String, Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/delta_reader.py");
    let output = Command::new(python())
        .arg(script)
        .arg(lake)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "delta_reader.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The sorted keys `trailq query` gives for each table of a local lake.
pub fn trailq_keys(lake: &Path) -> BTreeMap<String, Vec<String>> {
    KEYS.iter()
        .map(|(table, sql)| {
            let mut keys: Vec<String> = query(lake, sql)
                .into_iter()
                .map(|row| row["k"].as_str().unwrap().to_string())
                .collect();
            keys.sort();
            (table.to_string(), keys)
        })
        .collect()
}

/// Asserts both readers see trailq's rows in every table that has any; returns the tables'
/// versions.
fn assert_readers_agree(lake: &Path) -> BTreeMap<String, u64> {
    assert_view_has(&delta_view(lake.to_str().unwrap(), &[]), trailq_keys(lake))
}

/// Asserts both readers' view has the `expected` keys in every table that has any; returns
/// the tables' versions.
pub fn assert_view_has(
    view: &BTreeMap<String, Value>,
    expected: BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, u64> {
    let mut versions = BTreeMap::new();
    for (table, expected) in expected {
        let seen = &view[&table];
        if expected.is_empty() && seen.is_null() {
            continue;
        }
        assert!(!seen.is_null(), "{table} has rows but no Delta log");
        for reader in ["deltalake", "polars"] {
            let keys: Vec<String> = serde_json::from_value(seen[reader].clone()).unwrap();
            assert_eq!(
                keys.len(),
                expected.len(),
                "{reader} reads {} rows of {table}, trailq {}",
                keys.len(),
                expected.len()
            );
            assert!(keys == expected, "{reader} reads other rows of {table}");
        }
        let partitioned = table != "rejects";
        assert_eq!(
            seen["partitions"].as_array().unwrap().len(),
            usize::from(partitioned),
            "{table}: {}",
            seen["partitions"]
        );
        versions.insert(table, seen["version"].as_u64().unwrap());
    }
    versions
}

/// Runs detect (detectors and rules) over the days of [`spec`], writing findings.
fn detect_spec_days(lake: &Path) {
    let days = [
        "--since",
        "2024-03-12",
        "--until",
        "2024-03-14",
        "--format",
        "json",
    ];
    let (code, _, stderr) = crate::detect::detect(lake, &days);
    assert!(code == 0 || code == 1, "{stderr}");
}

fn spec() -> TrailSpec {
    TrailSpec {
        seed: 71,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 12).unwrap(),
        days: 2,
        events_per_day: 4_000,
        events_per_file: 150,
        duplicate_rate: 0.01,
        ..TrailSpec::default()
    }
}

#[test]
fn independent_delta_readers_see_the_rows_trailq_queries() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&spec(), &trail).unwrap();
    // A file cut short: one row in rejects.
    write_gz(
        &trail.join("AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/12/cut-short.json.gz"),
        br#"{"Records":[{"eventVersion":"1.08","eventID":"#,
    );
    let (code, summary, stderr) = ingest(&trail, &lake, &["--memory-budget", "2MiB"]);
    assert_eq!(code, 2, "the cut-short file fails the run: {stderr}");
    assert!(summary["events"].as_u64().unwrap() > 7_000);
    assert!(
        lake.join("events/_delta_log/00000000000000000000.json")
            .is_file()
    );
    let ingested = assert_readers_agree(&lake);
    assert!(ingested.contains_key("rejects"), "{ingested:?}");

    let output = trailq(&["compact", "--lake", lake.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let compacted = assert_readers_agree(&lake);
    assert!(
        compacted["events"] > ingested["events"],
        "the compaction is a commit"
    );

    for _ in 0..2 {
        detect_spec_days(&lake);
    }
    let detected = assert_readers_agree(&lake);
    assert!(
        detected.contains_key("findings"),
        "detect wrote findings: {detected:?}"
    );
}

/// `trailq history TABLE --json`.
fn history(lake: &Path, table: &str) -> Vec<Value> {
    json_rows(&["history", table, "--lake", lake.to_str().unwrap(), "--json"])
}

fn count(lake: &Path, extra: &[&str]) -> u64 {
    let mut args = vec![
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    args.push("SELECT count(*) AS n FROM events");
    json_rows(&args)[0]["n"].as_u64().unwrap()
}

#[test]
fn time_travel_history_and_vacuum() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&spec(), &trail).unwrap();
    let budget = ["--memory-budget", "2MiB"];
    let first_day = [&budget[..], &["--until", "2024-03-13"]].concat();
    assert_eq!(ingest(&trail, &lake, &first_day).0, 0);
    let day_one = count(&lake, &[]);
    assert_eq!(ingest(&trail, &lake, &budget).0, 0);
    let both_days = count(&lake, &[]);
    assert!(both_days > day_one && day_one > 0);
    assert!(
        trailq(&["compact", "--lake", lake.to_str().unwrap()])
            .status
            .success()
    );

    // History: create, two appends, one compaction, newest first.
    let versions = history(&lake, "events");
    let operations: Vec<&str> = versions
        .iter()
        .map(|v| v["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations, ["OPTIMIZE", "WRITE", "WRITE", "CREATE TABLE"]);
    let optimize = &versions[0];
    let appended: u64 = versions[1..]
        .iter()
        .map(|v| v["files_added"].as_u64().unwrap())
        .sum();
    assert_eq!(optimize["files_removed"].as_u64().unwrap(), appended);
    assert_eq!(optimize["rows_added"].as_u64().unwrap(), both_days);
    assert_eq!(versions[2]["rows_added"].as_u64().unwrap(), day_one);

    // Time travel, by version of events and by time.
    assert_eq!(count(&lake, &["--as-of-version", "1"]), day_one);
    assert_eq!(count(&lake, &["--as-of-version", "0"]), 0);
    assert_eq!(count(&lake, &["--as-of-version", "3"]), both_days);
    let first_commit = versions[2]["timestamp"].as_i64().unwrap();
    let between = chrono::DateTime::from_timestamp_millis(first_commit)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(count(&lake, &["--as-of", &between]), day_one);
    assert_eq!(
        count(&lake, &["--as-of", "2020-01-01"]),
        0,
        "before the lake"
    );
    let too_far = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--as-of-version",
        "99",
        "SELECT 1",
    ]);
    assert_eq!(too_far.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&too_far.stderr).contains("trailq history"));

    // The compaction's inputs stay for readers of older versions until a vacuum.
    let on_disk = || {
        files_below(&lake.join("events"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .filter(|p| !p.to_string_lossy().contains("_delta_log"))
            .count() as u64
    };
    let live = table_files(&lake, "events").len() as u64;
    assert_eq!(on_disk(), live + appended);
    let vacuum = |retain: &str| {
        let output = trailq(&[
            "vacuum",
            "--lake",
            lake.to_str().unwrap(),
            "--retain",
            retain,
            "--json",
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        value["files"]["events"]
            .as_array()
            .map_or(0, |files| files.len() as u64)
    };
    assert_eq!(vacuum("7d"), 0, "replaced minutes ago: kept");
    assert_eq!(on_disk(), live + appended);
    assert_eq!(vacuum("0s"), appended);
    assert_eq!(on_disk(), live);
    assert_eq!(count(&lake, &[]), both_days);
    // A version whose files were vacuumed is refused, not read without them.
    let gone = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--as-of-version",
        "1",
        "SELECT count(*) FROM events",
    ]);
    assert_eq!(gone.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(stderr.contains("trailq vacuum"), "{stderr}");
    assert_readers_agree(&lake);
}

#[test]
fn migrate_converts_a_lake_of_the_previous_release_in_place() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&spec(), &trail).unwrap();
    assert_eq!(ingest(&trail, &lake, &["--memory-budget", "2MiB"]).0, 0);
    assert!(
        trailq(&["compact", "--lake", lake.to_str().unwrap()])
            .status
            .success()
    );
    detect_spec_days(&lake);
    assert!(
        trailq(&["vacuum", "--lake", lake.to_str().unwrap(), "--retain", "0s"])
            .status
            .success()
    );
    let expected = trailq_keys(&lake);
    let files_before = published_files(&lake);

    // What the previous release left: the same files and manifest, without Delta logs or
    // statistics in the manifest.
    for table in trailq::lake::Table::ALL {
        let _ = std::fs::remove_dir_all(lake.join(table.name()).join("_delta_log"));
    }
    for entry in files_below(&lake.join("_trailq/log")) {
        let mut transaction: Value =
            serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
        for output in transaction["outputs"].as_array_mut().unwrap() {
            output.as_object_mut().unwrap().remove("stats");
        }
        std::fs::write(&entry, serde_json::to_vec_pretty(&transaction).unwrap()).unwrap();
    }
    let refused = trailq(&["query", "--lake", lake.to_str().unwrap(), "SELECT 1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("trailq migrate"));

    // Interrupted after its first table, then run again.
    let interrupted = trailq_with_env(
        &["migrate", "--lake", lake.to_str().unwrap()],
        &[("TRAILQ_FAILPOINT", "mid-delta-sync")],
    );
    assert!(!interrupted.status.success(), "the failpoint did not fire");
    let migrated = trailq(&["migrate", "--lake", lake.to_str().unwrap()]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert_eq!(trailq_keys(&lake), expected, "every row, once");
    assert_readers_agree(&lake);
    let mut files_after = published_files(&lake);
    files_after.sort();
    let mut files_before = files_before;
    files_before.sort();
    assert_eq!(files_after, files_before, "no data file rewritten");

    // The source ledger came along: nothing is read again.
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["transactions"], 0, "{summary}");
    assert_eq!(summary["events"], 0, "{summary}");
    assert!(summary["unchanged"].as_u64().unwrap() > 2_000, "{summary}");
}
