//! `trailq detect` end to end: a generated background trail with hand-made anomalies on top,
//! through ingest, detection, the findings table and re-runs.

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use serde_json::{Value, json};
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

const ACCOUNT: &str = "111122223333";
pub const QUIET_REGION: &str = "ap-southeast-2";
/// An attacker-controlled user agent: the report must show it as text, never run it.
pub const USER_AGENT: &str = "aws-cli/2.15.0 <script>document.body.setAttribute('data-pwned','yes')</script><img src=x onerror=\"document.title='pwned'\">";

/// One write event at `time` by the IAM user `user`.
pub fn event(
    time: &str,
    id: &str,
    region: &str,
    source: &str,
    name: &str,
    user: &str,
    error: Option<&str>,
) -> Value {
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/{user}"),
            "accountId": ACCOUNT,
            "userName": user,
        },
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": USER_AGENT,
        "requestParameters": {},
        "responseElements": null,
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    });
    if let Some(code) = error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!("not authorized");
    }
    record
}

/// `per_minute` events a minute for `minutes` minutes from `start` (HH:MM on 2024-03-09).
pub fn burst(
    tag: &str,
    start: (u32, u32),
    minutes: u32,
    per_minute: u32,
    name: &str,
    error: Option<&str>,
) -> Vec<Value> {
    let mut records = Vec::new();
    for m in 0..minutes {
        let minute = start.0 * 60 + start.1 + m;
        for k in 0..per_minute {
            let time = format!("2024-03-09T{:02}:{:02}:{:02}Z", minute / 60, minute % 60, k);
            let id = format!("{tag}-{m}-{k}");
            records.push(event(
                &time,
                &id,
                QUIET_REGION,
                "iam.amazonaws.com",
                name,
                "mallory",
                error,
            ));
        }
    }
    records
}

/// Twelve CreateUser calls a minute, 10:00-10:05, and twelve AccessDenied errors a minute,
/// 14:00-14:04, by mallory on 2024-03-09.
pub fn calls_and_errors() -> Vec<Value> {
    let mut records = burst("calls", (10, 0), 6, 12, "CreateUser", None);
    records.extend(burst(
        "errors",
        (14, 0),
        5,
        12,
        "ListAttachedUserPolicies",
        Some("AccessDenied"),
    ));
    records
}

pub fn write_log(logs: &Path, name: &str, records: &[Value]) {
    write_gz(
        &logs.join(format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/{QUIET_REGION}/2024/03/09/{ACCOUNT}_CloudTrail_{QUIET_REGION}_{name}.json.gz"
        )),
        &serde_json::to_vec(&json!({ "Records": records })).unwrap(),
    );
}

/// A background trail of nine days (2024-03-01 to 03-09) for the account, in two regions.
pub fn background(root: &Path) -> std::path::PathBuf {
    let logs = root.join("logs");
    let spec = TrailSpec {
        seed: 41,
        accounts: 1,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
        days: 9,
        events_per_day: 2_000,
        events_per_file: 200,
        extras: false,
        ..TrailSpec::default()
    };
    generate(&spec, &logs).unwrap();
    logs
}

pub fn detect(lake: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec![
        "detect",
        "--lake",
        lake.to_str().unwrap(),
        "--watermark-lag",
        "0",
    ];
    all.extend_from_slice(args);
    let output = trailq(&all);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn records_of(stdout: &str) -> Vec<Value> {
    serde_json::from_str::<Value>(stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn by_detector<'a>(records: &'a [Value], detector: &str, state: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| {
            r["trailqDetails"]["detector"] == detector && r["insightDetails"]["state"] == state
        })
        .collect()
}

#[test]
fn bursts_become_insights_with_exact_bounds_and_rerun_idempotently() {
    let (_dir, root) = temp_dir();
    let logs = background(&root);
    // Twelve CreateUser calls a minute, 10:00-10:05; twelve AccessDenied a minute, 14:00-14:04;
    // and one event at 16:00 so the watermark is past both.
    let mut records = calls_and_errors();
    // An enumeration: eve reads 12 different APIs a minute for 5 minutes, 15:00-15:04.
    for m in 0..5 {
        for k in 0..12 {
            let time = format!("2024-03-09T15:{m:02}:{k:02}Z");
            let name = format!("ListThing{k}");
            let id = format!("enum-{m}-{k}");
            let mut read = event(
                &time,
                &id,
                QUIET_REGION,
                "iam.amazonaws.com",
                &name,
                "eve",
                None,
            );
            read["readOnly"] = json!(true);
            records.push(read);
        }
    }
    records.push(event(
        "2024-03-09T16:00:00Z",
        "late-marker",
        QUIET_REGION,
        "iam.amazonaws.com",
        "GetUser",
        "mallory",
        None,
    ));
    write_log(&logs, "20240309T1600Z_burst", &records);
    let lake = root.join("lake");
    let (code, _, stderr) = ingest(&logs, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");

    let (code, stdout, stderr) = detect(&lake, &["--since", "2024-03-09", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let records = records_of(&stdout);

    let calls = by_detector(&records, "api-call-rate", "End");
    let calls: Vec<&&Value> = calls
        .iter()
        .filter(|r| r["insightDetails"]["eventName"] == "CreateUser")
        .collect();
    assert_eq!(calls.len(), 1, "{stdout}");
    let end = calls[0];
    assert_eq!(end["awsRegion"], QUIET_REGION);
    assert_eq!(end["insightDetails"]["insightType"], "ApiCallRateInsight");
    assert_eq!(end["trailqDetails"]["startTime"], "2024-03-09T10:00:00Z");
    assert_eq!(
        end["eventTime"], "2024-03-09T10:06:00Z",
        "ends after the last busy minute"
    );
    let stats = &end["insightDetails"]["insightContext"]["statistics"];
    assert_eq!(stats["insightDuration"], 6);
    assert_eq!(stats["insight"]["average"], 12.0);
    assert_eq!(
        stats["baseline"]["average"], 0.0,
        "nothing in this region before"
    );
    assert_eq!(stats["baselineDuration"], 10080);
    let attributions = end["insightDetails"]["insightContext"]["attributions"]
        .as_array()
        .unwrap();
    assert_eq!(attributions[0]["attribute"], "userIdentityArn");
    assert_eq!(
        attributions[0]["insight"][0]["value"],
        format!("arn:aws:iam::{ACCOUNT}:user/mallory")
    );
    assert_eq!(attributions[0]["insight"][0]["average"], 12.0);
    assert_eq!(
        attributions[2]["insight"][0]["value"], "null",
        "no error code is the string null"
    );
    let files = end["trailqDetails"]["sourceFiles"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .as_str()
            .unwrap()
            .ends_with("20240309T1600Z_burst.json.gz")
    );
    let start = by_detector(&records, "api-call-rate", "Start");
    let start = start
        .iter()
        .find(|r| r["sharedEventID"] == end["sharedEventID"])
        .unwrap();
    assert_eq!(
        start["insightDetails"]["insightContext"]["statistics"]["insight"]["average"],
        12.0
    );
    assert_ne!(start["eventID"], end["eventID"]);

    let errors = by_detector(&records, "api-error-rate", "End");
    assert_eq!(errors.len(), 1, "{stdout}");
    assert_eq!(errors[0]["insightDetails"]["errorCode"], "AccessDenied");
    assert_eq!(
        errors[0]["trailqDetails"]["startTime"],
        "2024-03-09T14:00:00Z"
    );
    assert_eq!(
        errors[0]["insightDetails"]["insightContext"]["statistics"]["insightDuration"],
        5
    );
    let attributes: Vec<&Value> = errors[0]["insightDetails"]["insightContext"]["attributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["attribute"])
        .collect();
    assert_eq!(
        attributes,
        ["userIdentityArn", "userAgent"],
        "no errorCode attribution on error insights"
    );

    let bursts = by_detector(&records, "principal-burst", "Start");
    assert!(
        bursts
            .iter()
            .any(|r| r["trailqDetails"]["principal"]
                == format!("arn:aws:iam::{ACCOUNT}:user/mallory"))
    );

    let eve = format!("arn:aws:iam::{ACCOUNT}:user/eve");
    let enumeration = by_detector(&records, "principal-burst", "End");
    let enumeration: Vec<&&Value> = enumeration
        .iter()
        .filter(|r| r["trailqDetails"]["principal"] == eve)
        .collect();
    assert_eq!(enumeration.len(), 1, "{stdout}");
    assert_eq!(
        enumeration[0]["trailqDetails"]["metric"],
        "distinct APIs per minute"
    );
    assert_eq!(
        enumeration[0]["trailqDetails"]["startTime"],
        "2024-03-09T15:00:00Z"
    );
    let stats = &enumeration[0]["insightDetails"]["insightContext"]["statistics"];
    assert_eq!(stats["insight"]["average"], 12.0);

    // The findings table holds each record once; a re-run changes nothing.
    let count = |lake: &Path| {
        query(
            lake,
            "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM findings",
        )[0]
        .clone()
    };
    let before = count(&lake);
    assert_eq!(before["n"], records.len());
    assert_eq!(before["n"], before["ids"]);
    let (code, again, _) = detect(&lake, &["--since", "2024-03-09", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(records_of(&again), records, "same findings, same ids");
    assert_eq!(count(&lake), before);
    let rows = query(
        &lake,
        "SELECT detector, state, severity FROM findings WHERE eventname = 'CreateUser' AND detector = 'api-call-rate' ORDER BY state DESC",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["state"], "Start");

    // --fail-on: exit 1 when a finding at or above the severity exists.
    let (code, _, _) = detect(&lake, &["--since", "2024-03-09", "--fail-on", "low"]);
    assert_eq!(code, 1);

    // A backtest counts per day and writes nothing.
    let (code, table, stderr) = detect(&lake, &["--since", "2024-03-02", "--backtest"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("2024-03-09") && l.contains("api-call-rate")),
        "{table}"
    );
    assert_eq!(count(&lake), before);
}

#[test]
fn late_events_close_an_open_insight_under_the_same_id() {
    let (_dir, root) = temp_dir();
    let logs = background(&root);
    write_log(
        &logs,
        "20240309T1003Z_first",
        &burst("part1", (10, 0), 3, 15, "CreateAccessKey", None),
    );
    let lake = root.join("lake");
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let detectors = [
        "--detectors",
        "api-call-rate",
        "--since",
        "2024-03-09",
        "--format",
        "json",
    ];
    // The background runs to the end of the day: --until stands for a watermark at 10:03.
    let mut early = detectors.to_vec();
    early.extend(["--until", "2024-03-09T10:03:00Z"]);
    let (code, stdout, stderr) = detect(&lake, &early);
    assert_eq!(code, 0, "{stderr}");
    let first = records_of(&stdout);
    let open: Vec<&Value> = first
        .iter()
        .filter(|r| r["insightDetails"]["eventName"] == "CreateAccessKey")
        .collect();
    assert_eq!(
        open.len(),
        1,
        "only a Start while the insight is open: {stdout}"
    );
    assert_eq!(open[0]["insightDetails"]["state"], "Start");
    assert!(open[0]["trailqDetails"]["endTime"].is_null());

    // The rest of the burst, delivered late, and later activity that moves the watermark.
    let mut late = burst("part2", (10, 3), 3, 15, "CreateAccessKey", None);
    late.push(event(
        "2024-03-09T12:00:00Z",
        "marker",
        QUIET_REGION,
        "iam.amazonaws.com",
        "GetUser",
        "mallory",
        None,
    ));
    write_log(&logs, "20240309T1200Z_late", &late);
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let (code, stdout, _) = detect(&lake, &detectors);
    assert_eq!(code, 0);
    let second = records_of(&stdout);
    let closed: Vec<&Value> = second
        .iter()
        .filter(|r| r["insightDetails"]["eventName"] == "CreateAccessKey")
        .collect();
    assert_eq!(closed.len(), 2, "{stdout}");
    assert_eq!(
        closed[0]["sharedEventID"], open[0]["sharedEventID"],
        "the same insight"
    );
    assert_eq!(
        closed[0]["eventID"], open[0]["eventID"],
        "the same Start record id"
    );
    let stats = &closed[1]["insightDetails"]["insightContext"]["statistics"];
    assert_eq!(stats["insightDuration"], 6);
    assert_eq!(stats["insight"]["average"], 15.0);
    let rows = query(
        &lake,
        "SELECT state FROM findings WHERE eventname = 'CreateAccessKey' ORDER BY state DESC",
    );
    assert_eq!(rows.len(), 2, "the open Start was replaced, not duplicated");
}

#[test]
fn an_established_principal_calling_a_critical_api_is_first_seen() {
    let (_dir, root) = temp_dir();
    let logs = background(&root);
    let lake = root.join("lake");
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let top = query(
        &lake,
        "SELECT principal, awsregion, recipientaccountid, count(*) AS n FROM events \
         WHERE principal LIKE 'arn:aws:iam::%:user/%' AND eventtime < '2024-03-09' \
         GROUP BY 1, 2, 3 ORDER BY n DESC, 1 LIMIT 1",
    );
    let principal = top[0]["principal"].as_str().unwrap().to_string();
    let region = top[0]["awsregion"].as_str().unwrap().to_string();
    let account = top[0]["recipientaccountid"].as_str().unwrap().to_string();
    let user = principal.rsplit('/').next().unwrap().to_string();
    let used: HashSet<String> = query(
        &lake,
        &format!("SELECT DISTINCT eventname FROM events WHERE principal = '{principal}'"),
    )
    .iter()
    .map(|r| r["eventname"].as_str().unwrap().to_string())
    .collect();
    assert!(!used.contains("DeleteFlowLogs"));
    let mut record = event(
        "2024-03-09T09:30:00Z",
        "tamper-1",
        &region,
        "ec2.amazonaws.com",
        "DeleteFlowLogs",
        &user,
        None,
    );
    record["userIdentity"]["arn"] = json!(principal);
    record["userIdentity"]["accountId"] = json!(account);
    record["recipientAccountId"] = json!(account);
    write_gz(
        &logs.join(format!("AWSLogs/{ACCOUNT}/CloudTrail/{region}/2024/03/09/{ACCOUNT}_CloudTrail_{region}_20240309T0935Z_tamper.json.gz")),
        &serde_json::to_vec(&json!({ "Records": [record] })).unwrap(),
    );
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let (code, stdout, stderr) = detect(
        &lake,
        &[
            "--detectors",
            "first-seen",
            "--since",
            "2024-03-09",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let records = records_of(&stdout);
    let hits: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["insightDetails"]["eventName"] == "DeleteFlowLogs"
                && r["insightDetails"]["state"] == "Start"
        })
        .collect();
    assert_eq!(hits.len(), 1, "{stdout}");
    assert_eq!(hits[0]["trailqDetails"]["severity"], "high");
    assert_eq!(hits[0]["trailqDetails"]["principal"], principal);
    assert_eq!(hits[0]["eventTime"], "2024-03-09T09:30:00Z");
    assert_eq!(hits[0]["insightDetails"]["insightType"], "FirstSeenInsight");
    // The claim names the history it rests on: from the principal's first event to the call.
    let first = query(
        &lake,
        &format!("SELECT CAST(min(eventtime) AS BIGINT) AS ms FROM events WHERE principal = '{principal}'"),
    )[0]["ms"]
        .as_i64()
        .unwrap();
    let call = trailq::record::time::parse_time("2024-03-09T09:30:00Z").unwrap();
    let days = (call - first) / 86_400_000;
    let reason = hits[0]["trailqDetails"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("for the first time in {days} days of its history")),
        "{reason} (history from {first})"
    );
    // A wider window judges the same use against the same history: it is still found, even
    // when the window starts where the data does (with nothing before the window).
    let data_start = query(
        &lake,
        "SELECT CAST(min(eventtime) AS BIGINT) AS ms FROM events",
    )[0]["ms"]
        .as_i64()
        .unwrap();
    let first_day = trailq::record::time::format_day(trailq::record::time::day_of(data_start));
    let (code, stdout, stderr) = detect(
        &lake,
        &[
            "--detectors",
            "first-seen",
            "--since",
            &first_day,
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let wider = records_of(&stdout);
    let same: Vec<&Value> = wider
        .iter()
        .filter(|r| r["eventID"] == hits[0]["eventID"])
        .collect();
    assert_eq!(
        same.len(),
        1,
        "the wider run keeps the finding, same id: {stdout}"
    );
    assert_eq!(
        same[0]["trailqDetails"]["reason"],
        hits[0]["trailqDetails"]["reason"]
    );
    assert!(stderr.contains("replaced (re-judged)"), "{stderr}");

    // A principal with less history than asked for is not judged at all.
    let (code, stdout, stderr) = detect(
        &lake,
        &[
            "--detectors",
            "first-seen",
            "--since",
            "2024-03-09",
            "--format",
            "json",
            "--set",
            &format!("first-seen.min-history-days={}", days + 1),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let records = records_of(&stdout);
    assert!(
        !records
            .iter()
            .any(|r| r["insightDetails"]["eventName"] == "DeleteFlowLogs"),
        "{stdout}"
    );
}

#[test]
fn list_and_settings_come_from_the_registry() {
    let output = trailq(&["detect", "--list"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for name in [
        "api-call-rate",
        "api-error-rate",
        "principal-burst",
        "first-seen",
    ] {
        assert!(text.contains(name), "{text}");
    }
    assert!(text.contains("--set api-call-rate.min-events=10"), "{text}");
    let (_dir, root) = temp_dir();
    let output = trailq(&[
        "detect",
        "--lake",
        root.to_str().unwrap(),
        "--since",
        "1d",
        "--set",
        "api-call-rate.min-event=3",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no parameter `min-event`"));
}

/// The JSON paths of a value with the type at each (`insightDetails.state: string`).
fn shape(value: &Value, path: &str, out: &mut HashSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                shape(inner, &path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                shape(item, &format!("{path}[]"), out);
            }
        }
        Value::Number(_) => {
            out.insert(format!("{path}: number"));
        }
        Value::String(_) => {
            out.insert(format!("{path}: string"));
        }
        other => {
            out.insert(format!(
                "{path}: {}",
                if other.is_null() { "null" } else { "bool" }
            ));
        }
    }
}

#[test]
#[ignore = "reads ../shared/testdata/cloudtrail-public: scripts/test.sh runs it when that folder is there"]
fn findings_have_the_shape_of_aws_insights_records() {
    let samples = shared_samples();
    let (_dir, root) = temp_dir();
    let logs = background(&root);
    let mut records = burst("calls", (10, 0), 6, 12, "CreateUser", None);
    // A few calls in the baseline, so its attribution lists are not empty.
    for day in 3..6 {
        let time = format!("2024-03-0{day}T08:00:00Z");
        records.push(event(
            &time,
            &format!("old-{day}"),
            QUIET_REGION,
            "iam.amazonaws.com",
            "CreateUser",
            "alice",
            None,
        ));
    }
    write_log(&logs, "20240309T1600Z_burst", &records);
    let lake = root.join("lake");
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let (_, stdout, _) = detect(
        &lake,
        &[
            "--detectors",
            "api-call-rate",
            "--since",
            "2024-03-09",
            "--format",
            "json",
        ],
    );
    let ours = records_of(&stdout);
    let mut our_shape = HashSet::new();
    for record in &ours {
        shape(record, "", &mut our_shape);
    }
    let mut compared = 0;
    for path in files_below(&samples.join("awsdocs")) {
        if !path.to_string_lossy().contains("CloudTrail-Insight") {
            continue;
        }
        for record in read_inputs(path.parent().unwrap()) {
            let mut theirs = HashSet::new();
            shape(&record.json, "", &mut theirs);
            let missing: Vec<&String> = theirs.difference(&our_shape).collect();
            assert!(
                missing.is_empty(),
                "{}: our records lack {missing:?}",
                record.file
            );
            compared += 1;
        }
    }
    assert!(compared > 0);
}
