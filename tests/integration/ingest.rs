//! `trailq ingest` end to end on generated and real trails.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use serde_json::{Value, json};
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

/// A one-day trail of two accounts and two regions, 1% duplicates.
pub fn small_spec(seed: u64) -> TrailSpec {
    TrailSpec {
        seed,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 9).unwrap(),
        days: 1,
        events_per_day: 6_000,
        events_per_file: 150,
        duplicate_rate: 0.01,
        ..TrailSpec::default()
    }
}

/// Distinct event keys of input records: the eventID, or the lineage for records without one.
fn distinct_inputs(inputs: &[InputRecord]) -> HashSet<String> {
    inputs
        .iter()
        .map(|r| match r.json.get("eventID").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => format!("{}#{}", r.file, r.index),
        })
        .collect()
}

fn row_keys(rows: &[LakeRow]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            r.event_id
                .clone()
                .unwrap_or_else(|| format!("{}#{}", r.file, r.index))
        })
        .collect()
}

#[test]
fn generated_trail_round_trips_once_per_event() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let stats = generate(&small_spec(11), &trail).unwrap();
    let (code, summary, stderr) = ingest(&trail, &lake, &["--threads", "2"]);
    assert_eq!(code, 0, "{stderr}");

    let RoundTrip {
        events_in,
        events,
        insights,
        ..
    } = check_round_trip(&trail, &lake);

    // One row per event: exactly the distinct inputs, none twice.
    let keys = row_keys(&events);
    let unique: HashSet<String> = keys.iter().cloned().collect();
    assert_eq!(keys.len(), unique.len(), "an event appears twice");
    assert_eq!(unique, distinct_inputs(&events_in));
    assert_eq!(events.len() as u64, stats.events);
    assert_eq!(insights.len() as u64, stats.insights);
    assert_eq!(summary["duplicates"], json!(stats.duplicates));
    assert!(
        stats.duplicates > 0,
        "the generator re-delivers some events"
    );
    assert_eq!(summary["events"], json!(stats.events + stats.insights));
    assert_eq!(summary["digests"], json!(stats.digests));
    assert_eq!(summary["failed"], json!(0));
    assert_eq!(reject_count(&lake), 0);

    // Few files: one per partition for a run this size, each row group ordered by API, then
    // time, and the row groups in time order.
    let files = published_files(&lake);
    let partitions: HashSet<_> = files.iter().map(|(p, _)| p.parent().unwrap()).collect();
    assert_eq!(files.len(), partitions.len());
    for (file, _) in files {
        assert_laid_out(&file);
    }
}

#[test]
fn second_run_changes_nothing_and_says_so() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&small_spec(12), &trail).unwrap();
    assert_eq!(ingest(&trail, &lake, &[]).0, 0);
    let before = published_files(&lake);
    let log_before = files_below(&lake.join("_trailq/log"));
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0);
    assert!(stderr.contains("nothing new"), "{stderr}");
    assert_eq!(summary["transactions"], json!(0));
    // Digests are ledger entries like log files: unchanged too.
    assert_eq!(summary["unchanged"], summary["listed"]);
    assert_eq!(published_files(&lake), before);
    assert_eq!(files_below(&lake.join("_trailq/log")), log_before);
}

#[test]
fn new_and_changed_files_are_picked_up_and_duplicates_across_runs_removed() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(
        &TrailSpec {
            extras: false,
            ..small_spec(13)
        },
        &trail,
    )
    .unwrap();
    assert_eq!(ingest(&trail, &lake, &[]).0, 0);
    let first = read_rows(&lake, "events").len();

    // A late delivery on another day: 25 events re-delivered and 3 new ones.
    let old: Vec<Value> = read_inputs(&trail)
        .into_iter()
        .take(25)
        .map(|r| r.json)
        .collect();
    let mut records = old.clone();
    for i in 0..3 {
        let mut new = old[0].clone();
        new["eventID"] = json!(format!("00000000-0000-4000-8000-00000000000{i}"));
        records.push(new);
    }
    let late = trail.join("AWSLogs/late/CloudTrail/us-east-1/2024/03/11/late.json.gz");
    write_gz(
        &late,
        &serde_json::to_vec(&json!({"Records": records})).unwrap(),
    );
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["ingested"], json!(1));
    assert_eq!(summary["duplicates"], json!(25));
    assert_eq!(summary["events"], json!(3));
    assert_eq!(read_rows(&lake, "events").len(), first + 3);

    // The same file rewritten with one more event: only that event is added.
    records.push({
        let mut new = old[1].clone();
        new["eventID"] = json!("00000000-0000-4000-8000-000000000009");
        new
    });
    write_gz(
        &late,
        &serde_json::to_vec(&json!({"Records": records})).unwrap(),
    );
    let (code, summary, _) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0);
    assert_eq!(summary["duplicates"], json!(28));
    assert_eq!(summary["events"], json!(1));
    let keys = row_keys(&read_rows(&lake, "events"));
    assert_eq!(keys.len(), first + 4);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len());
}

/// Puts what a shared log bucket holds beside a trail at `root` (which holds `AWSLogs/`): other
/// services' logs under each account, and files beside `AWSLogs/`. Returns both lists of keys
/// relative to `root`.
pub fn add_shared_bucket_neighbours(root: &Path) -> (Vec<String>, Vec<String>) {
    let accounts: std::collections::BTreeSet<String> = files_below(root)
        .iter()
        .filter_map(|p| {
            let key = p.to_string_lossy().into_owned();
            trailq::source::key_parts(&key).map(|parts| parts.account.to_string())
        })
        .collect();
    let mut other = Vec::new();
    for account in &accounts {
        let base = format!("AWSLogs/{account}");
        let day = "us-east-1/2024/03/09";
        let elb = format!(
            "{base}/elasticloadbalancing/{day}/{account}_elasticloadbalancing_us-east-1_app.web.1a2b_20240309T0005Z_10.0.0.1_x.log.gz"
        );
        write_gz(
            &root.join(&elb),
            b"https 2024-03-09T00:04:59.1Z app/web/1a2b 203.0.113.9:443 10.0.0.1:80 0.001 0.002 0.000 200 200 34 366 \"GET https://example.com:443/ HTTP/1.1\" \"curl/8\" - - arn:aws:elasticloadbalancing:us-east-1 \"Root=1-abc\" \"-\" \"-\" 0 2024-03-09T00:04:59.0Z \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\"\n",
        );
        let flow = format!(
            "{base}/vpcflowlogs/{day}/{account}_vpcflowlogs_us-east-1_fl-0abc_20240309T0000Z_deadbeef.log.gz"
        );
        write_gz(
            &root.join(&flow),
            b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 123456789012 eni-0abc 10.0.0.5 10.0.0.9 443 49152 6 10 840 1709942400 1709942460 ACCEPT OK\n",
        );
        let config = format!(
            "{base}/Config/us-east-1/2024/3/9/ConfigSnapshot/{account}_Config_us-east-1_ConfigSnapshot_20240309T000000Z_x.json.gz"
        );
        write_gz(
            &root.join(&config),
            br#"{"fileVersion":"1.0","configSnapshotId":"x","configurationItems":[]}"#,
        );
        let check = format!("{base}/Config/ConfigWritabilityCheckFile");
        std::fs::create_dir_all(root.join(&check).parent().unwrap()).unwrap();
        std::fs::write(root.join(&check), b"").unwrap();
        let guardduty = format!("{base}/GuardDuty/us-east-1/2024/03/09/0f1e2d3c.jsonl.gz");
        write_gz(
            &root.join(&guardduty),
            br#"{"schemaVersion":"2.0","type":"Recon:EC2/PortProbeUnprotectedPort"}"#,
        );
        other.extend([elb, flow, config, check, guardduty]);
    }
    let beside = [
        "manifest.json",
        "labels.jsonl",
        "README.md",
        "access-logs/2024-03-09-00-00-00-ABCDEF",
    ];
    for name in beside {
        std::fs::create_dir_all(root.join(name).parent().unwrap()).unwrap();
        std::fs::write(root.join(name), b"not a CloudTrail log\n").unwrap();
    }
    (other, beside.iter().map(|s| s.to_string()).collect())
}

/// A bucket shared with other services: their logs under `AWSLogs/<account>/`, and files beside
/// `AWSLogs/`, are skipped and counted, never failed nor retried; the trail lands as without them.
#[test]
fn shared_log_bucket_skips_what_is_not_a_trail() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    generate(&small_spec(15), &trail).unwrap();
    let alone = root.join("alone");
    let (code, expected, stderr) = ingest(&trail, &alone, &[]);
    assert_eq!(code, 0, "{stderr}");

    let (other, beside) = add_shared_bucket_neighbours(&trail);
    let lake = root.join("lake");
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["failed"], 0, "{stderr}");
    assert_eq!(summary["other_services"], json!(other.len()));
    assert_eq!(summary["outside_logs"], json!(beside.len()));
    for field in ["ingested", "events", "duplicates", "rejected", "digests"] {
        assert_eq!(summary[field], expected[field], "{field}");
    }
    assert!(
        stderr.contains(&format!("{} other services' log files", other.len()))
            && stderr.contains(&format!("{} files outside AWSLogs/", beside.len())),
        "the summary line says what was skipped: {stderr}"
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");

    // Nothing is left to retry.
    let (code, again, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again["transactions"], 0);
    assert!(stderr.contains("nothing new"), "{stderr}");

    // A folder without an AWSLogs/ tree is any folder of log files: each file is read.
    let loose = root.join("loose");
    std::fs::create_dir_all(&loose).unwrap();
    std::fs::write(loose.join("README.md"), b"notes\n").unwrap();
    let (code, summary, _) = ingest(&loose, &root.join("loose-lake"), &[]);
    assert_eq!((code, summary["failed"].clone()), (2, json!(1)));
}

#[test]
fn organization_trail_with_prefix_routes_every_folder() {
    let (_dir, root) = temp_dir();
    let trail = root.join("bucket");
    let lake = root.join("lake");
    let spec = TrailSpec {
        org_id: Some("o-abc123def4".into()),
        prefix: Some("security/trails".into()),
        ..small_spec(14)
    };
    let stats = generate(&spec, &trail).unwrap();
    assert!(trail.join("security/trails/AWSLogs/o-abc123def4").is_dir());
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(read_rows(&lake, "events").len() as u64, stats.events);
    assert_eq!(read_rows(&lake, "insights").len() as u64, stats.insights);
    assert_eq!(summary["digests"], json!(stats.digests));
    let network = read_rows(&lake, "events")
        .into_iter()
        .filter(|r| r.file.contains("CloudTrail-NetworkActivity"))
        .count();
    assert!(network > 0, "network-activity events land in events");
}

/// Every real event in the shared samples: in the lake and rebuilt exactly, or rejected with a
/// reason; the counts add up.
#[test]
#[ignore = "reads ../shared/testdata/cloudtrail-public: scripts/test.sh runs it when that folder is there"]
fn real_events_round_trip() {
    let samples = shared_samples();
    for name in [
        "awsdocs",
        "stratus-red-team",
        "aws-cloudtrail-processing-library",
    ] {
        let (_dir, root) = temp_dir();
        let lake = root.join("lake");
        let source = samples.join(name).join("AWSLogs");
        let (code, summary, stderr) = ingest(&source, &lake, &[]);
        let RoundTrip {
            events_in,
            insights_in,
            events,
            insights,
        } = check_round_trip(&source, &lake);

        let rejected = summary["rejected"].as_u64().unwrap();
        assert_eq!(code, if rejected > 0 { 2 } else { 0 }, "{name}: {stderr}");
        assert_eq!(reject_count(&lake) as u64, rejected, "{name}");
        let total = (events_in.len() + insights_in.len()) as u64;
        let placed = (events.len() + insights.len()) as u64;
        assert_eq!(
            placed + rejected + summary["duplicates"].as_u64().unwrap(),
            total,
            "{name}: every input record is placed, rejected, or a duplicate"
        );
        // An eventID is unique within a day: a re-delivered event has the same eventTime. (The
        // documentation samples reuse example ids across years; those are distinct events.)
        let day_keys: Vec<(String, String)> = events
            .iter()
            .map(|r| {
                (
                    row_keys(std::slice::from_ref(r)).remove(0),
                    r.json["eventTime"].as_str().unwrap()[..10].to_string(),
                )
            })
            .collect();
        assert_eq!(
            day_keys.iter().collect::<HashSet<_>>().len(),
            day_keys.len(),
            "{name}"
        );
        // Records sharing an eventID in the samples appear once; every eventID not rejected is present.
        let rejected_at = rejected_positions(&lake);
        let wanted: HashSet<String> = events_in
            .iter()
            .filter(|r| !rejected_at.contains(&(r.file.clone(), r.index)))
            .filter_map(|r| {
                r.json
                    .get("eventID")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let present: HashSet<String> = events.iter().filter_map(|r| r.event_id.clone()).collect();
        assert_eq!(wanted, present, "{name}");
    }
}

/// The README's first command: generate, ingest, query, detect and report, on a fresh folder.
#[test]
fn demo_runs_end_to_end() {
    let (_dir, root) = temp_dir();
    let dir = root.join("demo");
    let output = trailq(&["demo", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("| event_date | events |"), "{stdout}");
    assert!(stdout.contains("| AssumedRole "), "{stdout}");
    let lake = dir.join("lake");
    let records = read_rows(&lake, "events").len() + read_rows(&lake, "insights").len();
    assert!(
        stderr.contains(&format!("ingested {records} records")),
        "{stderr}"
    );
    // Then detect and report on the last day.
    let findings = read_table(&lake, "findings")
        .iter()
        .map(|b| b.num_rows())
        .sum::<usize>();
    assert!(findings > 0, "the detectors wrote findings: {stderr}");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(report.contains("Findings from the detectors") && report.contains("<svg"));
    // Running it again finds nothing new.
    let again = trailq(&["demo", dir.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("ingested 0 records"));
}
