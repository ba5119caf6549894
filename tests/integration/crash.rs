//! A run killed at any instant leaves the lake readable, with no event twice, and the next run
//! finishes the job exactly.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::NaiveDate;
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

fn spec() -> TrailSpec {
    TrailSpec {
        seed: 21,
        accounts: 1,
        regions: vec!["us-east-1".into(), "ap-southeast-2".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 16).unwrap(),
        days: 2,
        events_per_day: 8_000,
        events_per_file: 200,
        duplicate_rate: 0.01,
        extras: false,
        ..TrailSpec::default()
    }
}

/// The event keys of a lake, checking on the way that no event is there twice and every
/// published file is complete (readable to its footer).
fn unique_keys(lake: &Path) -> HashSet<String> {
    let rows = read_rows(lake, "events");
    let keys: HashSet<String> = rows
        .iter()
        .map(|r| {
            r.event_id
                .clone()
                .unwrap_or_else(|| format!("{}#{}", r.file, r.index))
        })
        .collect();
    assert_eq!(keys.len(), rows.len(), "an event is visible twice");
    keys
}

fn ingest_args<'a>(trail: &'a Path, lake: &'a Path) -> Vec<&'a str> {
    vec![
        "ingest",
        trail.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--commit-every",
        "300KiB",
        "--memory-budget",
        "4MiB",
    ]
}

/// A generated trail and the event keys an uninterrupted ingest of it gives.
fn trail_and_reference() -> (tempfile::TempDir, PathBuf, PathBuf, HashSet<String>) {
    let (dir, root) = temp_dir();
    let trail = root.join("trail");
    generate(&spec(), &trail).unwrap();
    let reference = root.join("reference");
    assert_eq!(ingest(&trail, &reference, &[]).0, 0);
    let expected = unique_keys(&reference);
    (dir, root, trail, expected)
}

#[test]
fn a_crash_in_each_commit_window_loses_and_duplicates_nothing() {
    let (_dir, root, trail, expected) = trail_and_reference();

    for failpoint in [
        "before-commit",
        "after-commit",
        "mid-publish",
        "mid-delta-sync",
    ] {
        let lake = root.join(failpoint);
        let output = trailq_with_env(
            &ingest_args(&trail, &lake),
            &[("TRAILQ_FAILPOINT", failpoint)],
        );
        assert!(
            !output.status.success(),
            "{failpoint}: the failpoint did not fire"
        );
        let visible = unique_keys(&lake);
        assert!(visible.is_subset(&expected), "{failpoint}");

        let (code, summary, stderr) = ingest(&trail, &lake, &[]);
        assert_eq!(code, 0, "{failpoint}: {stderr}");
        assert_eq!(
            unique_keys(&lake),
            expected,
            "{failpoint}: the rerun is not exact"
        );
        assert_eq!(summary["recovered"], serde_json::json!(1), "{failpoint}");
        assert!(
            files_below(&lake.join("_trailq/staging")).is_empty(),
            "{failpoint}"
        );
    }
}

/// A manifest checkpoint every other commit, and the log entries it covers deleted at once, so
/// that kills land in checkpoints and in the log's cleaning too.
const CHECKPOINT_OFTEN: &[(&str, &str)] = &[
    ("TRAILQ_CHECKPOINT_INTERVAL", "2"),
    ("TRAILQ_LOG_RETENTION_SECS", "0"),
];

#[test]
fn kill_at_random_instants_then_rerun_is_exact() {
    let (_dir, root, trail, expected) = trail_and_reference();

    let mut rng = fastrand::Rng::with_seed(5);
    for attempt in 0..4 {
        let lake = root.join(format!("killed-{attempt}"));
        // Kill some runs twice, so recovery itself is interrupted too.
        for _ in 0..=(attempt % 2) {
            let mut child = Command::new(env!("CARGO_BIN_EXE_trailq"))
                .args(ingest_args(&trail, &lake))
                .envs(CHECKPOINT_OFTEN.iter().copied())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.u64(20..900)));
            let _ = child.kill(); // SIGKILL
            child.wait().unwrap();
            assert!(unique_keys(&lake).is_subset(&expected));
        }
        let output = trailq_with_env(&ingest_args(&trail, &lake), CHECKPOINT_OFTEN);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(unique_keys(&lake), expected, "attempt {attempt}");
        if attempt == 3 {
            assert!(
                !files_below(&lake.join("_trailq/checkpoint")).is_empty(),
                "no manifest checkpoint was written"
            );
        }
    }
}
