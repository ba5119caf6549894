//! `trailq compact`: a partition's many small files become a few large ones in the current
//! layout, with exactly the same rows, atomically for trailq's readers, and a crash loses
//! nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde_json::{Value, json};
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

fn spec() -> TrailSpec {
    TrailSpec {
        seed: 33,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 12).unwrap(),
        days: 2,
        events_per_day: 6_000,
        events_per_file: 150,
        duplicate_rate: 0.01,
        ..TrailSpec::default()
    }
}

/// A trail ingested with a small memory budget, so each day is written as several files.
fn fragmented_lake() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&spec(), &trail).unwrap();
    let (code, _, stderr) = ingest(&trail, &lake, &["--memory-budget", "2MiB"]);
    assert_eq!(code, 0, "{stderr}");
    (dir, trail, lake)
}

/// Runs `trailq compact --lake LAKE --json [extra]`.
fn compact(lake: &Path, extra: &[&str], env: &[(&str, &str)]) -> (i32, Option<Value>, String) {
    let mut args = vec!["compact", "--lake", lake.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let output = trailq_with_env(&args, env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_slice(&output.stdout).ok();
    (output.status.code().unwrap_or(-1), summary, stderr)
}

/// Published files per partition folder.
fn files_by_partition(lake: &Path) -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut partitions: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for (file, _) in published_files(lake) {
        if !file.to_string_lossy().contains("/rejects/") {
            let partition = file.parent().unwrap().to_path_buf();
            partitions.entry(partition).or_default().push(file);
        }
    }
    partitions
}

/// Every row of both tables as (source file, index, rebuilt JSON), sorted: equal sets of rows
/// give equal vectors, and a row twice shows.
fn all_rows(lake: &Path) -> Vec<(String, u64, String)> {
    let mut rows: Vec<_> = ["events", "insights"]
        .iter()
        .flat_map(|table| read_rows(lake, table))
        .map(|row| (row.file, row.index, row.json.to_string()))
        .collect();
    rows.sort();
    rows
}

/// Rows of `events` as trailq's own query engine sees them.
fn counted(lake: &Path) -> u64 {
    let rows = query(
        lake,
        "SELECT count(*) AS n, count(DISTINCT sourcefile || '#' || CAST(sourceindex AS VARCHAR)) AS distinct_rows FROM events",
    );
    assert_eq!(
        rows[0]["n"], rows[0]["distinct_rows"],
        "an event is visible twice"
    );
    rows[0]["n"].as_u64().unwrap()
}

#[test]
fn small_files_become_one_laid_out_file_per_day_with_the_same_rows() {
    let (_dir, trail, lake) = fragmented_lake();
    let before = files_by_partition(&lake);
    assert!(
        before.values().any(|files| files.len() > 2),
        "the small budget should split days into several files: {before:?}"
    );
    let rows_before = all_rows(&lake);

    let (code, summary, stderr) = compact(&lake, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let summary = summary.unwrap();
    let after = files_by_partition(&lake);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(after.values().all(|files| files.len() == 1), "{after:?}");
    let rewritten = before.values().filter(|files| files.len() > 1).count();
    assert_eq!(summary["partitions"], json!(rewritten));
    assert_eq!(
        summary["files_before"],
        json!(
            before
                .values()
                .filter(|f| f.len() > 1)
                .map(Vec::len)
                .sum::<usize>()
        )
    );
    assert_eq!(summary["files_after"], json!(rewritten));
    for files in after.values() {
        assert_laid_out(&files[0]);
    }
    // The same rows, each once, and every one still rebuilds the record it came from.
    assert_eq!(all_rows(&lake), rows_before);
    check_round_trip(&trail, &lake);
    assert_eq!(counted(&lake), read_rows(&lake, "events").len() as u64);
    assert!(files_below(&lake.join("_trailq/staging")).is_empty());

    // Nothing left to do: a re-run changes nothing, and ingest still knows every source.
    let (code, summary, stderr) = compact(&lake, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary.unwrap()["partitions"], json!(0));
    assert!(stderr.contains("nothing to compact"), "{stderr}");
    assert_eq!(files_by_partition(&lake), after);
    let (code, summary, _) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0);
    assert_eq!(summary["transactions"], json!(0));
}

#[test]
fn a_small_budget_writes_each_day_as_disjoint_slices_of_time() {
    let (_dir, _trail, lake) = fragmented_lake();
    let rows_before = all_rows(&lake);
    let (code, summary, stderr) = compact(&lake, &["--memory-budget", "1MiB"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let summary = summary.unwrap();
    assert!(
        summary["files_after"].as_u64() > summary["partitions"].as_u64(),
        "{summary}"
    );
    for files in files_by_partition(&lake).values() {
        let mut spans: Vec<(i64, i64)> = files.iter().map(|f| assert_laid_out(f)).collect();
        spans.sort();
        assert!(
            spans.windows(2).all(|w| w[0].1 < w[1].0),
            "slices overlap: {spans:?}"
        );
    }
    assert_eq!(all_rows(&lake), rows_before);
}

#[test]
fn only_the_chosen_days_are_compacted() {
    let (_dir, _trail, lake) = fragmented_lake();
    let before = files_by_partition(&lake);
    let (code, summary, stderr) = compact(&lake, &["--since", "2024-03-13"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(summary.unwrap()["partitions"].as_u64().unwrap() > 0);
    for (partition, files) in files_by_partition(&lake) {
        if partition
            .to_string_lossy()
            .contains("event_date=2024-03-12")
        {
            assert_eq!(
                files, before[&partition],
                "a day before --since was rewritten"
            );
        } else {
            assert_eq!(files.len(), 1, "{}", partition.display());
        }
    }
}

#[test]
fn a_crash_in_each_commit_window_loses_and_duplicates_nothing() {
    let (_dir, _trail, reference) = fragmented_lake();
    let rows = all_rows(&reference);
    let events = counted(&reference);
    for failpoint in [
        "before-commit",
        "after-commit",
        "mid-publish",
        "mid-delta-sync",
    ] {
        let lake = reference.with_file_name(failpoint);
        copy_dir(&reference, &lake);
        let (code, _, _) = compact(&lake, &[], &[("TRAILQ_FAILPOINT", failpoint)]);
        assert_ne!(code, 0, "{failpoint}: the failpoint did not fire");
        // Readers see each event once, whatever the crash left on disk.
        assert_eq!(counted(&lake), events, "{failpoint}");
        // The next run finishes the job (or does it again) exactly.
        let (code, _, stderr) = compact(&lake, &[], &[]);
        assert_eq!(code, 0, "{failpoint}: {stderr}");
        assert_eq!(all_rows(&lake), rows, "{failpoint}");
        assert!(files_by_partition(&lake).values().all(|f| f.len() == 1));
        assert!(files_below(&lake.join("_trailq/staging")).is_empty());
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for file in files_below(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
    for dir in ["_trailq/staging", "_trailq/log"] {
        std::fs::create_dir_all(to.join(dir)).unwrap();
    }
}

#[test]
fn a_missing_lake_is_an_error_that_says_how_to_make_one() {
    let (_dir, root) = temp_dir();
    let (code, _, stderr) = compact(&root.join("nowhere"), &[], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("trailq ingest"), "{stderr}");
}

#[test]
fn an_open_shell_sees_each_commit_made_while_it_runs() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let (_dir, trail, lake) = fragmented_lake();
    let mut shell = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["shell", "--lake", lake.to_str().unwrap()])
        .env("XDG_STATE_HOME", lake.with_file_name("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = shell.stdin.take().unwrap();
    let mut output = BufReader::new(shell.stdout.take().unwrap()).lines();
    let mut count = || -> u64 {
        writeln!(input, "SELECT count(*) AS n FROM events;").unwrap();
        loop {
            let line = output.next().expect("the shell answers").unwrap();
            let cell = line.trim_matches(|c: char| c == '|' || c.is_whitespace());
            if let Ok(n) = cell.parse() {
                return n;
            }
        }
    };
    let before = count();
    assert_eq!(before, read_rows(&lake, "events").len() as u64);

    // A compaction replaces every file the shell has listed: it reads the new ones.
    assert_eq!(compact(&lake, &[], &[]).0, 0);
    assert_eq!(count(), before);

    // New events ingested meanwhile show up in the next statement.
    let more = trail.with_file_name("more");
    let spec = TrailSpec {
        seed: 34,
        start: NaiveDate::from_ymd_opt(2024, 3, 14).unwrap(),
        days: 1,
        ..spec()
    };
    generate(&spec, &more).unwrap();
    assert_eq!(ingest(&more, &lake, &[]).0, 0);
    let after = count();
    assert_eq!(after, read_rows(&lake, "events").len() as u64);
    assert!(after > before);
    drop(input);
    assert!(shell.wait().unwrap().success());
}
