//! Helpers shared by the integration tests: running the real binary, reading inputs with an
//! independent reader, and reading the lake back.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::Int64Type;
use flate2::read::MultiGzDecoder;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use trailq::record::rebuild_record;

/// Runs `trailq` with `args`.
pub fn trailq(args: &[&str]) -> Output {
    trailq_with_env(args, &[])
}

/// Runs `trailq` with `args` and extra environment variables.
pub fn trailq_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailq"));
    command.args(args).env_remove("TRAILQ_FAILPOINT");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("trailq runs")
}

/// Runs `trailq ingest SOURCE --lake LAKE --json [extra]`, returning exit code, summary, stderr.
pub fn ingest(source: &Path, lake: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "ingest",
        source.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = trailq(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("no JSON summary ({err}); stderr:\n{stderr}"));
    (output.status.code().unwrap_or(-1), summary, stderr)
}

/// Runs `trailq ARGS` (a query with `--format json`), asserts success, and returns the rows.
pub fn json_rows(args: &[&str]) -> Vec<Value> {
    let output = trailq(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Runs `sql` over `lake` with `trailq query`, asserts success, and returns the rows.
pub fn query(lake: &Path, sql: &str) -> Vec<Value> {
    json_rows(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
        sql,
    ])
}

/// Runs `trailq detect --detectors rule` over `[since, until)` of `lake`, with `extra` flags,
/// asserts success, and returns its stdout and stderr.
pub fn detect_rules(lake: &Path, since: &str, until: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "detect",
        "--lake",
        lake.to_str().unwrap(),
        "--since",
        since,
        "--until",
        until,
        "--detectors",
        "rule",
    ];
    args.extend_from_slice(extra);
    let output = trailq(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A temporary directory with a canonical path (lineage records canonical paths).
pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    (dir, path)
}

/// Every file below `dir`, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// One input record: its file, its index, and its JSON.
pub struct InputRecord {
    pub file: String,
    pub index: u64,
    pub json: Value,
}

/// Reads every log file under `dir` (not digests) with serde_json alone: the test oracle.
pub fn read_inputs(dir: &Path) -> Vec<InputRecord> {
    let mut records = Vec::new();
    for path in files_below(dir) {
        let text = path.to_string_lossy().into_owned();
        if text.contains("CloudTrail-Digest") {
            continue;
        }
        let mut bytes = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut bytes).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            MultiGzDecoder::new(bytes.as_slice())
                .read_to_end(&mut plain)
                .unwrap();
            bytes = plain;
        }
        let document: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("{text} is not JSON: {err}"));
        for (index, record) in document["Records"].as_array().unwrap().iter().enumerate() {
            records.push(InputRecord {
                file: text.clone(),
                index: index as u64,
                json: record.clone(),
            });
        }
    }
    records
}

/// The data files of a lake table, as its Delta log has them now (none without a Delta log),
/// read with delta-rs: the lake's own reader is not the oracle.
pub fn table_files(lake: &Path, table: &str) -> Vec<PathBuf> {
    let dir = lake.join(table);
    if !dir.join("_delta_log").is_dir() {
        return Vec::new();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut files: Vec<PathBuf> = runtime.block_on(async {
        let url = url::Url::from_directory_path(&dir).unwrap();
        // A run killed before a table's first Delta commit leaves an empty `_delta_log/`:
        // no commit yet, so no files (as trailq's own readers see it).
        let delta = match deltalake::open_table(url).await {
            Err(deltalake::DeltaTableError::NotATable(_)) => return Vec::new(),
            other => other.unwrap(),
        };
        delta
            .snapshot()
            .unwrap()
            .log_data()
            .iter()
            .map(|file| dir.join(file.path().as_ref()))
            .collect()
    });
    files.sort();
    files
}

/// Reads every data file of a lake table (as its Delta log has them).
pub fn read_table(lake: &Path, table: &str) -> Vec<RecordBatch> {
    table_files(lake, table)
        .into_iter()
        .flat_map(|path| {
            let file = File::open(&path).unwrap();
            ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
                .map(|batch| batch.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The rows of each row group of a Parquet file.
pub fn read_row_groups(path: &Path) -> Vec<Vec<RecordBatch>> {
    let open = || ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    (0..open().metadata().num_row_groups())
        .map(|group| {
            let reader = open().with_row_groups(vec![group]).build().unwrap();
            reader.map(|batch| batch.unwrap()).collect()
        })
        .collect()
}

/// Asserts the file's layout: each row group ordered by API, then time, and the row groups in
/// time order. Returns the file's first and last event time.
pub fn assert_laid_out(file: &Path) -> (i64, i64) {
    let (mut first, mut previous_end) = (i64::MAX, i64::MIN);
    for group in read_row_groups(file) {
        let mut rows = Vec::new();
        for batch in &group {
            let text = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>();
            let times = batch
                .column_by_name("eventtime")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
            for r in 0..batch.num_rows() {
                let api = (text("eventsource").value(r), text("eventname").value(r));
                rows.push((api.0.to_string(), api.1.to_string(), times.value(r)));
            }
        }
        assert!(
            rows.is_sorted(),
            "{}: a row group not ordered by API and time",
            file.display()
        );
        let start = rows.iter().map(|r| r.2).min().unwrap();
        assert!(
            start >= previous_end,
            "{}: row groups overlap in time",
            file.display()
        );
        first = first.min(start);
        previous_end = rows.iter().map(|r| r.2).max().unwrap();
    }
    (first, previous_end)
}

/// One row of `events` or `insights`, rebuilt.
pub struct LakeRow {
    pub file: String,
    pub index: u64,
    pub event_id: Option<String>,
    pub json: Value,
}

/// The lineage columns of a batch: source file and record index.
fn lineage(batch: &RecordBatch) -> (&StringArray, &Int64Array) {
    let files = batch
        .column_by_name("sourcefile")
        .unwrap()
        .as_string::<i32>();
    let indexes = batch
        .column_by_name("sourceindex")
        .unwrap()
        .as_primitive::<Int64Type>();
    (files, indexes)
}

/// Every row of a table, rebuilt into its CloudTrail JSON.
pub fn read_rows(lake: &Path, table: &str) -> Vec<LakeRow> {
    let mut rows = Vec::new();
    for batch in read_table(lake, table) {
        let (files, indexes) = lineage(&batch);
        let ids = batch.column_by_name("eventid").unwrap().as_string::<i32>();
        for row in 0..batch.num_rows() {
            rows.push(LakeRow {
                file: files.value(row).to_string(),
                index: indexes.value(row) as u64,
                event_id: ids.is_valid(row).then(|| ids.value(row).to_string()),
                json: rebuild_record(&batch, row).unwrap(),
            });
        }
    }
    rows
}

/// Asserts that every row rebuilds to exactly the input record it names.
fn assert_rows_rebuild_inputs(rows: &[LakeRow], inputs: &[InputRecord]) {
    let by_position: HashMap<(String, u64), Value> = inputs
        .iter()
        .map(|r| ((r.file.clone(), r.index), r.json.clone()))
        .collect();
    for row in rows {
        let input = by_position
            .get(&(row.file.clone(), row.index))
            .unwrap_or_else(|| panic!("row names no input: {} #{}", row.file, row.index));
        assert_eq!(
            &row.json, input,
            "{} #{} does not rebuild",
            row.file, row.index
        );
    }
}

/// A lake read back next to the inputs it came from, every row checked against its input.
pub struct RoundTrip {
    pub events_in: Vec<InputRecord>,
    pub insights_in: Vec<InputRecord>,
    pub events: Vec<LakeRow>,
    pub insights: Vec<LakeRow>,
}

/// Reads `source` and `lake`, and asserts that every row rebuilds to the input it names.
pub fn check_round_trip(source: &Path, lake: &Path) -> RoundTrip {
    let (events_in, insights_in): (Vec<_>, Vec<_>) = read_inputs(source)
        .into_iter()
        .partition(|r| !r.file.contains("CloudTrail-Insight"));
    let events = read_rows(lake, "events");
    let insights = read_rows(lake, "insights");
    assert_rows_rebuild_inputs(&events, &events_in);
    assert_rows_rebuild_inputs(&insights, &insights_in);
    RoundTrip {
        events_in,
        insights_in,
        events,
        insights,
    }
}

/// The number of rows of the rejects table.
pub fn reject_count(lake: &Path) -> usize {
    read_table(lake, "rejects")
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

/// (file, record index) of every rejected record.
pub fn rejected_positions(lake: &Path) -> std::collections::HashSet<(String, u64)> {
    let mut positions = std::collections::HashSet::new();
    for batch in read_table(lake, "rejects") {
        let (files, indexes) = lineage(&batch);
        for row in 0..batch.num_rows() {
            if indexes.is_valid(row) {
                positions.insert((files.value(row).to_string(), indexes.value(row) as u64));
            }
        }
    }
    positions
}

/// Every data file of the lake's tables (as their Delta logs have them), with sizes (to detect
/// changes).
pub fn published_files(lake: &Path) -> Vec<(PathBuf, u64)> {
    ["events", "insights", "findings", "rejects"]
        .into_iter()
        .flat_map(|table| table_files(lake, table))
        .map(|p| {
            let size = std::fs::metadata(&p).unwrap().len();
            (p, size)
        })
        .collect()
}

/// The shared public samples. The tests that read them are `#[ignore]`d, so a clone without
/// them reports them as ignored; scripts/test.sh runs them when the folder is there.
pub fn shared_samples() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/cloudtrail-public");
    dir.canonicalize().unwrap_or_else(|err| {
        panic!(
            "{} is needed by this test and cannot be read ({err}); without it, run the tests \
             without --include-ignored",
            dir.display()
        )
    })
}

/// Writes `text` gzipped to `path`, creating folders.
pub fn write_gz(path: &Path, text: &[u8]) {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text).unwrap();
    std::fs::write(path, encoder.finish().unwrap()).unwrap();
}
