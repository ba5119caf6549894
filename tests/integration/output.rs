//! What `trailq query` writes: every format to stdout and to `--output FILE`, streamed, and a
//! reader that stops reading (`| head`) is not an error.

use std::process::{Command, Stdio};

use serde_json::Value;
use trailq::generate::generate;

use crate::ingest::small_spec;
use crate::util::*;

const FORMATS: [&str; 5] = ["csv", "tsv", "json", "ndjson", "table"];

fn lake_with_events() -> (tempfile::TempDir, std::path::PathBuf, usize) {
    let (dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&small_spec(21), &trail).unwrap();
    assert_eq!(ingest(&trail, &lake, &[]).0, 0);
    let events = query(&lake, "SELECT count(*) AS n FROM events")[0]["n"]
        .as_u64()
        .unwrap() as usize;
    (dir, lake, events)
}

/// Rows of one output, counted the way its format writes them.
fn rows_in_output(format: &str, bytes: &[u8]) -> usize {
    let text = String::from_utf8_lossy(bytes);
    match format {
        "csv" | "tsv" => {
            let mut reader = csv_reader(format, bytes);
            reader.records().filter(|r| r.is_ok()).count()
        }
        "json" => serde_json::from_slice::<Value>(bytes)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        "ndjson" => text
            .lines()
            .filter(|line| serde_json::from_str::<Value>(line).is_ok())
            .count(),
        "table" => text.lines().filter(|l| l.starts_with("| ")).count() - 1,
        other => panic!("{other}"),
    }
}

fn csv_reader<'a>(format: &str, bytes: &'a [u8]) -> csv::Reader<&'a [u8]> {
    csv::ReaderBuilder::new()
        .delimiter(if format == "csv" { b',' } else { b'\t' })
        .from_reader(bytes)
}

#[test]
fn every_format_writes_every_row_to_stdout_and_to_a_file() {
    let (_dir, lake, events) = lake_with_events();
    let lake = lake.to_str().unwrap();
    let sql = "SELECT eventid, eventname, useridentity, resources FROM events";
    for format in FORMATS {
        let stdout = trailq(&[
            "query",
            "--lake",
            lake,
            "--format",
            format,
            "--max-rows",
            "100000",
            sql,
        ]);
        assert!(
            stdout.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&stdout.stderr)
        );
        assert_eq!(
            rows_in_output(format, &stdout.stdout),
            events,
            "{format} on stdout"
        );

        let (_out_dir, out_root) = temp_dir();
        let file = out_root.join(format!("result.{format}"));
        let written = trailq(&[
            "query",
            "--lake",
            lake,
            "--format",
            format,
            "--max-rows",
            "100000",
            "--output",
            file.to_str().unwrap(),
            sql,
        ]);
        assert!(
            written.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&written.stderr)
        );
        assert!(
            written.stdout.is_empty(),
            "{format}: --output leaves stdout empty"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            stdout.stdout,
            "{format}: the file holds what stdout would"
        );
        assert_eq!(
            files_below(&out_root),
            vec![file.clone()],
            "no partial file is left"
        );
    }

    // Parquet to a file, read back by an independent reader.
    let (_out_dir, out_root) = temp_dir();
    let file = out_root.join("result.parquet");
    let written = trailq(&[
        "query",
        "--lake",
        lake,
        "--format",
        "parquet",
        "--output",
        file.to_str().unwrap(),
        sql,
    ]);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, events);

    // A query that fails leaves no file behind, not even a partial one.
    let failed = trailq(&[
        "query",
        "--lake",
        lake,
        "--output",
        file.to_str().unwrap(),
        "SELECT nosuchcolumn FROM events",
    ]);
    assert_eq!(failed.status.code(), Some(2));
    assert_eq!(
        files_below(&out_root),
        vec![file],
        "the earlier result stays, nothing else"
    );
}

#[test]
fn the_table_format_shows_a_bounded_preview_and_says_so() {
    let (_dir, lake, events) = lake_with_events();
    let output = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "table",
        "--max-rows",
        "7",
        "SELECT eventid FROM events",
    ]);
    assert!(output.status.success());
    assert_eq!(rows_in_output("table", &output.stdout), 7);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{events} rows")), "{stderr}");
    assert!(stderr.contains("showing the first 7 rows"), "{stderr}");
}

/// A canned query whose default period (counted back from now) holds nothing says where the
/// lake's data is.
#[test]
fn an_empty_default_period_says_where_the_data_is() {
    let (_dir, lake, _) = lake_with_events();
    let output = trailq(&["query", "--lake", lake.to_str().unwrap(), "root_activity"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("0 rows"), "{stderr}");
    assert!(
        stderr.contains("the lake's events run from 2024-03-0"),
        "{stderr}"
    );
    let with_period = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "root_activity",
        "--param",
        "since=2024-03-09",
        "--param",
        "until=2024-03-10",
    ]);
    assert!(!String::from_utf8_lossy(&with_period.stderr).contains("the lake's events run"));
    let before = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "root_activity",
        "--param",
        "since=2023-01-01",
        "--param",
        "until=2023-01-02",
    ]);
    assert!(String::from_utf8_lossy(&before.stderr).contains("the lake's events run"));
}

/// `trailq ARGS | head`: the reader goes away before trailq writes. That is the reader's
/// choice: exit 0, nothing on stderr about it.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let (_dir, lake, _) = lake_with_events();
    let lake = lake.to_str().unwrap();
    let mut commands: Vec<Vec<&str>> = FORMATS
        .iter()
        .map(|format| {
            vec![
                "query",
                "--lake",
                lake,
                "--format",
                format,
                "SELECT * FROM events",
            ]
        })
        .collect();
    commands.push(vec!["query", "--list"]);
    commands.push(vec!["query", "--functions"]);
    commands.push(vec!["detect", "--list"]);
    commands.push(vec!["ddl", "--lake", "s3://bucket/lake"]);
    commands.push(vec![
        "report",
        "--lake",
        lake,
        "--since",
        "2024-03-09",
        "--until",
        "2024-03-10",
        "--format",
        "md",
    ]);
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trailq"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("error") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}
