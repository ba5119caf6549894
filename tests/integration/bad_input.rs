//! Bad input is reported by name with the reason, kept in `rejects`, retried, and never stops
//! the good input.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::util::*;

fn record(id: &str, second: u32) -> Value {
    json!({
        "eventVersion": "1.09",
        "eventTime": format!("2024-03-05T10:{:02}:{:02}Z", second / 60 % 60, second % 60),
        "eventSource": "iam.amazonaws.com",
        "eventName": "GetRole",
        "awsRegion": "us-east-1",
        "eventID": id,
        "readOnly": true,
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "userName": "alice"},
    })
}

fn records(ids: &[&str]) -> Vec<u8> {
    let records: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| record(id, i as u32))
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

struct BadTrail {
    dir: PathBuf,
}

impl BadTrail {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::write(self.path(name), bytes).unwrap();
    }

    fn key(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

/// Each bad input of the issue, next to a good file.
fn bad_trail(root: &Path) -> BadTrail {
    let trail = BadTrail {
        dir: root.join("logs/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05"),
    };
    trail.write(
        "good.json.gz",
        &gzip(&records(&["good-0", "good-1", "good-2"])),
    );

    let mut corrupt = gzip(&records(&["c-0", "c-1", "c-2", "c-3"]));
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 8] {
        *byte ^= 0x5a;
    }
    trail.write("corrupt.json.gz", &corrupt);

    let many: Vec<String> = (0..400).map(|i| format!("t-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let truncated = gzip(&records(&many));
    trail.write("truncated.json.gz", &truncated[..truncated.len() * 2 / 3]);

    trail.write(
        "invalid.json.gz",
        &gzip(br#"{"Records":[{"eventTime":"2024-03-05T10:00:00Z","eventID":"inv-0"} {"eventID":"inv-1"}]}"#),
    );
    trail.write(
        "sqs.json",
        br#"{"Type":"Notification","MessageId":"1","TopicArn":"arn:aws:sns:us-east-1:111122223333:t","Message":"{}"}"#,
    );
    trail.write(
        "digest.json.gz",
        &gzip(br#"{"awsAccountId":"111122223333","digestStartTime":"2024-03-05T09:00:00Z","logFiles":[]}"#),
    );
    trail.write("empty.json.gz", b"");
    let mut mixed = vec![record("mixed-0", 1)];
    let mut no_time = record("mixed-1", 2);
    no_time.as_object_mut().unwrap().remove("eventTime");
    mixed.push(no_time);
    let mut wrong_type = record("mixed-2", 3);
    wrong_type["eventName"] = json!(5);
    mixed.push(wrong_type);
    let mut bad_bool = record("mixed-3", 4);
    bad_bool["readOnly"] = json!("maybe");
    mixed.push(bad_bool);
    mixed.push(json!("not a record"));
    trail.write(
        "mixed.json.gz",
        &gzip(&serde_json::to_vec(&json!({ "Records": mixed })).unwrap()),
    );

    let mut bomb = b"{\"Records\":[".to_vec();
    bomb.extend(std::iter::repeat_n(b' ', 40 << 20));
    bomb.extend(b"]}");
    trail.write("bomb.json.gz", &gzip(&bomb));
    trail.write(".DS_Store", b"\0\0\0\x01Bud1");
    trail
}

const CAP: &[&str] = &["--max-decompressed-size", "10MiB"];

#[test]
fn each_bad_input_is_reported_kept_and_retried() {
    let (_dir, root) = temp_dir();
    let trail = bad_trail(&root);
    let logs = root.join("logs");
    let lake = root.join("lake");

    let (code, summary, stderr) = ingest(&logs, &lake, CAP);
    assert_eq!(code, 2, "{stderr}");
    let expected_reasons = [
        ("corrupt.json.gz", "read failed after"),
        ("truncated.json.gz", "read failed after"),
        (
            "invalid.json.gz",
            "invalid JSON at decompressed byte 67: expected `,` or `]` after a record (gzip input read to byte 89); none of the 1 records before it were kept",
        ),
        ("sqs.json", "SNS or SQS message body"),
        ("digest.json.gz", "looks like a CloudTrail digest file"),
        ("empty.json.gz", "empty file"),
        ("bomb.json.gz", "gzip bomb"),
        ("mixed.json.gz", "record 1: record has no eventTime"),
    ];
    for (name, reason) in expected_reasons {
        let line = stderr
            .lines()
            .find(|line| line.contains(&trail.key(name)))
            .unwrap_or_else(|| panic!("{name} is not reported:\n{stderr}"));
        assert!(line.contains(reason), "{name}: {line}");
    }
    assert!(!stderr.contains("good.json.gz"));
    assert_eq!(summary["failed"], json!(7));
    assert_eq!(summary["partial"], json!(1));
    assert_eq!(summary["ingested"], json!(1));
    assert_eq!(summary["rejected"], json!(4), "{stderr}");
    assert_eq!(summary["ignored"], json!(1));

    // Good events are in; a file that fails is all or nothing, so it can be retried whole
    // (a corrupt gzip is only known to be corrupt at its checksum, after its records decoded).
    let rows = read_rows(&lake, "events");
    let ids: HashSet<String> = rows.iter().filter_map(|r| r.event_id.clone()).collect();
    let expected: HashSet<String> = ["good-0", "good-1", "good-2", "mixed-0"]
        .map(String::from)
        .into();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), rows.len());
    assert_eq!(summary["events"], json!(rows.len()));

    // The rejects table: one row per failed file, one per rejected record with its raw text.
    let rejects = read_table(&lake, "rejects");
    assert_eq!(reject_count(&lake), 7 + 4);
    let mut record_rejects = Vec::new();
    for batch in &rejects {
        use arrow::array::{Array, AsArray};
        let files = batch
            .column_by_name("sourcefile")
            .unwrap()
            .as_string::<i32>();
        let indexes = batch.column_by_name("sourceindex").unwrap();
        let reasons = batch.column_by_name("reason").unwrap().as_string::<i32>();
        let raws = batch.column_by_name("raw").unwrap().as_string::<i32>();
        for row in 0..batch.num_rows() {
            if indexes.is_valid(row) {
                assert!(files.value(row).ends_with("mixed.json.gz"));
                let raw: Value = serde_json::from_str(raws.value(row)).unwrap();
                record_rejects.push((reasons.value(row).to_string(), raw));
            }
        }
    }
    record_rejects.sort_by(|a, b| a.0.cmp(&b.0));
    let reasons: Vec<&str> = record_rejects.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "element of `Records` is not a JSON object",
            "field `eventName`: expected a string, found number 5",
            "field `readOnly`: expected a boolean, found string \"maybe\"",
            "record has no eventTime",
        ]
    );
    assert_eq!(record_rejects[1].1["eventID"], json!("mixed-2"));

    // Run again: the failed and partial files are retried, and nothing is added twice.
    let (code, summary, stderr) = ingest(&logs, &lake, CAP);
    assert_eq!(code, 2);
    for (name, _) in expected_reasons {
        assert!(stderr.contains(&trail.key(name)), "{name} not retried");
    }
    assert_eq!(summary["events"], json!(0));
    assert_eq!(summary["unchanged"], json!(1));
    assert_eq!(read_rows(&lake, "events").len(), rows.len());
    assert_eq!(
        reject_count(&lake),
        7 + 4,
        "a retry that fails the same way adds no rejects"
    );

    // Replace the corrupt file with a good one and remove the rest: the next run is clean.
    let rows = read_rows(&lake, "events");
    trail.write(
        "corrupt.json.gz",
        &gzip(&records(&["c-0", "c-1", "c-2", "c-3"])),
    );
    for name in [
        "truncated.json.gz",
        "invalid.json.gz",
        "sqs.json",
        "digest.json.gz",
        "empty.json.gz",
        "mixed.json.gz",
        "bomb.json.gz",
    ] {
        std::fs::remove_file(trail.path(name)).unwrap();
    }
    let (code, summary, stderr) = ingest(&logs, &lake, CAP);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["events"], json!(4));
    assert_eq!(read_rows(&lake, "events").len(), rows.len() + 4);
}

#[test]
fn oversized_records_fail_their_file_only() {
    let (_dir, root) = temp_dir();
    let trail = BadTrail {
        dir: root.join("logs"),
    };
    trail.write("ok.json", &records(&["a", "b"]));
    let mut big = record("big", 1);
    big["requestParameters"] = json!({"blob": "x".repeat(200_000)});
    trail.write(
        "big.json",
        &serde_json::to_vec(&json!({"Records": [big]})).unwrap(),
    );
    let (code, summary, stderr) = ingest(
        &root.join("logs"),
        &root.join("lake"),
        &["--max-record-size", "100KiB"],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("record 0 at decompressed byte 12 is larger than"),
        "{stderr}"
    );
    assert_eq!(summary["events"], json!(2));
}
