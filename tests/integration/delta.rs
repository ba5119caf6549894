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

fn python() -> String {
    std::env::var("TRAILQ_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "the Delta tests read the lake with Python's deltalake and polars: run `bash \
             scripts/test.sh` (it installs them), or set TRAILQ_TEST_PYTHON to a python that has them"
        )
    })
}

/// What the independent readers see: per table, `None` without a Delta log, else each
/// reader's sorted keys and the table's version.
fn delta_view(lake: &str, env: &[(&str, &str)]) -> BTreeMap<String, Value> {
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

/// The sorted keys `trailq query` gives for each table.
fn trailq_keys(lake: &Path) -> BTreeMap<String, Vec<String>> {
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
    let view = delta_view(lake.to_str().unwrap(), &[]);
    let mut versions = BTreeMap::new();
    for (table, expected) in trailq_keys(lake) {
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
        let (code, _, stderr) = crate::detect::detect(
            &lake,
            &[
                "--since",
                "2024-03-12",
                "--until",
                "2024-03-14",
                "--format",
                "json",
            ],
        );
        assert!(code == 0 || code == 1, "{stderr}");
    }
    let detected = assert_readers_agree(&lake);
    assert!(
        detected.contains_key("findings"),
        "detect wrote findings: {detected:?}"
    );
}
