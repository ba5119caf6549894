//! `trailq rules`: the built-in Sigma library and a user's own rules, through the real binary.

use crate::util::*;

const RULE: &str = "title: Access keys created
id: 11111111-2222-4333-8444-555555555555
name: access-key-created
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventName: CreateAccessKey
  condition: selection
tags:
  - attack.persistence
  - attack.t1098.001
falsepositives:
  - Key rotation
level: medium
";

fn record(name: &str) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09", "eventTime": "2024-03-05T10:00:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
    })
}

#[test]
fn the_built_in_library_lists_shows_and_passes_its_examples() {
    let output = trailq(&["rules", "test"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains("FAILED") && stdout.contains(": ok"),
        "{stdout}"
    );
    let list = trailq(&["rules", "list", "--technique", "T1562", "--format", "json"]);
    let rules: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert!(!rules.is_empty());
    assert!(rules.iter().all(|r| {
        r["techniques"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().starts_with("T1562"))
    }));
    let layer = trailq(&["rules", "coverage", "--format", "navigator"]);
    let layer: serde_json::Value = serde_json::from_slice(&layer.stdout).unwrap();
    assert_eq!(layer["domain"], "enterprise-attack");
    let covered: Vec<&str> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["techniqueID"].as_str().unwrap())
        .collect();
    for technique in ["T1562.008", "T1078.004", "T1537", "T1098.003"] {
        assert!(covered.contains(&technique), "{technique} in {covered:?}");
    }
    let show = trailq(&["rules", "show", "cloudtrail-stop-logging", "--sql"]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("T1562.008") && text.contains("SELECT * FROM events WHERE"),
        "{text}"
    );
}

#[test]
fn a_user_rule_is_tested_on_its_examples_and_bad_rules_name_the_file_and_field() {
    let (_dir, root) = temp_dir();
    let rules = root.join("my-rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("keys.yml"), RULE).unwrap();
    let examples = serde_json::json!({"match": [record("CreateAccessKey")], "nomatch": [record("ListAccessKeys")]});
    std::fs::write(rules.join("keys.examples.json"), examples.to_string()).unwrap();
    std::fs::write(
        rules.join("windows.yml"),
        "title: Not ours\nid: 22222222-2222-4333-8444-555555555555\nlogsource:\n  product: windows\ndetection:\n  s:\n    EventID: 4624\n  condition: s\n",
    )
    .unwrap();
    let output = trailq(&["rules", "test", rules.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Access keys created: ok"));
    let list = trailq(&[
        "rules",
        "list",
        "--no-built-in",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&list.stderr).contains("skipped"),
        "the Windows rule is skipped with a note"
    );
    assert!(String::from_utf8_lossy(&list.stdout).contains("T1098.001"));

    // A negative example the rule matches fails the test.
    let examples = serde_json::json!({"match": [record("CreateAccessKey")], "nomatch": [record("CreateAccessKey")]});
    std::fs::write(rules.join("keys.examples.json"), examples.to_string()).unwrap();
    let output = trailq(&["rules", "test", rules.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stdout).contains("matched negative examples [0]"));

    // A field no CloudTrail event has stops the load, naming the file, the rule and the field.
    std::fs::write(
        rules.join("keys.yml"),
        RULE.replace("eventName:", "eventNme:"),
    )
    .unwrap();
    let output = trailq(&["rules", "test", rules.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("keys.yml")
            && stderr.contains("Access keys created")
            && stderr.contains("eventNme"),
        "{stderr}"
    );
}

/// Matches of a rule by one principal are one finding with a count, the matched ids and the
/// rule's techniques; a re-run replaces it under the same id.
#[test]
fn detect_runs_the_rules_and_groups_their_matches() {
    let (_dir, root) = temp_dir();
    let logs = root.join("logs");
    let mut records = Vec::new();
    for (i, minute) in [1, 7, 30].iter().enumerate() {
        let mut r = record("StopLogging");
        r["eventSource"] = "cloudtrail.amazonaws.com".into();
        r["eventTime"] = format!("2024-03-05T10:{minute:02}:00Z").into();
        r["eventID"] = format!("stop-{i}").into();
        records.push(r);
    }
    let mut other = record("StopLogging");
    other["eventSource"] = "cloudtrail.amazonaws.com".into();
    other["eventTime"] = "2024-03-05T11:00:00Z".into();
    other["eventID"] = "denied".into();
    other["errorCode"] = "AccessDenied".into();
    records.push(other);
    write_gz(
        &logs.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/f.json.gz"),
        &serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap(),
    );
    let lake = root.join("lake");
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let lake_arg = lake.to_str().unwrap();
    let detect = |extra: &[&str]| detect_rules(&lake, "2024-03-05", "2024-03-06", extra);
    let (stdout, _) = detect(&["--backtest"]);
    assert!(stdout.contains("2024-03-05   rule"), "{stdout}");
    assert!(
        query(&lake, "SELECT count(*) AS n FROM findings")[0]["n"] == 0,
        "a backtest writes nothing"
    );
    detect(&[]);
    let sql = "SELECT ruleid, ruletitle, techniques, eventids, matchcount, principal, eventid FROM findings";
    let rows = query(&lake, sql);
    assert_eq!(
        rows.len(),
        1,
        "one principal's three stops are one finding: {rows:?}"
    );
    assert_eq!(rows[0]["ruleid"], "5b0f3c8e-2a51-4c1e-9a3e-6f1d2c7b8a01");
    assert_eq!(rows[0]["matchcount"], 3, "the denied call is not a match");
    assert_eq!(
        rows[0]["eventids"],
        serde_json::json!(["stop-0", "stop-1", "stop-2"])
    );
    assert_eq!(rows[0]["techniques"], serde_json::json!(["T1562.008"]));
    assert_eq!(rows[0]["principal"], "arn:aws:iam::111122223333:user/alice");
    let (_, stderr) = detect(&[]);
    assert!(
        stderr.contains("1 rows the same detectors wrote before"),
        "{stderr}"
    );
    assert_eq!(
        query(&lake, sql),
        rows,
        "a re-run replaces the finding with itself"
    );

    // A suppression of that principal: the finding is kept in the table, marked, and counted
    // in the report instead of shown; one for another principal changes nothing.
    let config = root.join("trailq-rules.yml");
    std::fs::write(
        &config,
        "suppressions:\n  - rule: cloudtrail-stop-logging\n    principal: 'arn:aws:iam::*:user/ali*'\n    reason: alice rotates the trail\n  - principal: 'arn:aws:iam::*:user/bob'\n    reason: bob is trusted\n",
    )
    .unwrap();
    let (stdout, stderr) = detect(&["--config", config.to_str().unwrap()]);
    assert!(stdout.contains("no findings"), "{stdout}");
    assert!(
        stderr.contains("1 findings suppressed by 1 suppressions"),
        "{stderr}"
    );
    let marked = query(
        &lake,
        "SELECT suppressedby, matchcount FROM findings WHERE detector = 'rule'",
    );
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0]["suppressedby"], "alice rotates the trail");
    assert_eq!(marked[0]["matchcount"], 3);
    let report = trailq(&[
        "report",
        "--lake",
        lake_arg,
        "--since",
        "2024-03-05",
        "--until",
        "2024-03-06",
        "--format",
        "md",
        "--no-queries",
    ]);
    let markdown = String::from_utf8_lossy(&report.stdout);
    assert!(
        markdown.contains("1 findings suppressed by 1 suppressions: alice rotates the trail (1)"),
        "{markdown}"
    );
    assert!(!markdown.contains("matched rule"), "{markdown}");
    // A suppression without a reason, or without a condition, is refused.
    std::fs::write(&config, "suppressions:\n  - principal: '*'\n").unwrap();
    let output = trailq(&[
        "detect",
        "--lake",
        lake_arg,
        "--since",
        "2024-03-05",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("has no `reason`"));
}

/// Coverage on real attack detonations: detect over the Stratus Red Team logs (each technique
/// in its own account) flags every one of the 35 techniques with a rule finding.
#[test]
#[ignore = "reads ../shared/testdata/cloudtrail-public: scripts/test.sh runs it when that folder is there"]
fn every_stratus_technique_is_flagged_by_a_rule() {
    let samples = shared_samples().join("stratus-red-team");
    let mut technique_of_account = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(samples.join("labels.jsonl"))
        .unwrap()
        .lines()
    {
        let label: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = label["key"].as_str().unwrap();
        let account = key.split('/').nth(1).unwrap().to_string();
        technique_of_account.insert(
            account,
            label["stratus_technique"].as_str().unwrap().to_string(),
        );
    }
    assert_eq!(
        technique_of_account
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        35
    );
    let (_dir, root) = temp_dir();
    let lake = root.join("lake");
    let (code, _, stderr) = ingest(&samples.join("AWSLogs"), &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    detect_rules(&lake, "2024-07-01", "2025-01-01", &["--watermark-lag", "0"]);
    let flagged: std::collections::BTreeSet<String> = query(
        &lake,
        "SELECT DISTINCT recipientaccountid FROM findings WHERE detector = 'rule'",
    )
    .iter()
    .map(|r| r["recipientaccountid"].as_str().unwrap().to_string())
    .collect();
    let missed: Vec<&String> = technique_of_account
        .iter()
        .filter(|(account, _)| !flagged.contains(*account))
        .map(|(_, technique)| technique)
        .collect();
    eprintln!(
        "Stratus coverage: {} of {} techniques flagged",
        technique_of_account.len() - missed.len(),
        technique_of_account.len()
    );
    assert!(missed.is_empty(), "techniques no rule flagged: {missed:?}");
}

const CORRELATION: &str = "title: Failed console sign-in
id: 22222222-3333-4444-8555-666666666666
name: failed-console-sign-in
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventName: ConsoleLogin
    responseElements.ConsoleLogin: Failure
  condition: selection
level: low
---
title: Password spraying from one address
id: 33333333-4444-4555-8666-777777777777
correlation:
  type: value_count
  rules:
    - failed-console-sign-in
  group-by:
    - sourceIPAddress
  timespan: 15m
  condition:
    field: userIdentity.userName
    gte: 3
tags:
  - attack.credential-access
  - attack.t1110.003
falsepositives:
  - A shared office address where many people mistype
level: high
";

/// A correlation through the binary: a spray that crosses midnight is one finding (the days
/// are scanned one at a time), the slow failures of another address are none, the rule it
/// names makes no findings of its own, and a re-run keeps the same finding.
#[test]
fn a_correlation_fires_across_midnight_once_and_not_on_slow_failures() {
    let (_dir, root) = temp_dir();
    let rules = root.join("rules/spray.yml");
    std::fs::create_dir_all(rules.parent().unwrap()).unwrap();
    std::fs::write(&rules, CORRELATION).unwrap();
    let failure = |time: &str, user: &str, ip: &str, id: &str| {
        let mut r = record("ConsoleLogin");
        r["eventSource"] = "signin.amazonaws.com".into();
        r["eventTime"] = time.into();
        r["eventID"] = id.into();
        r["sourceIPAddress"] = ip.into();
        r["userIdentity"] = serde_json::json!({"type": "IAMUser", "userName": user});
        r["responseElements"] = serde_json::json!({"ConsoleLogin": "Failure"});
        r
    };
    let day1 = vec![
        failure("2024-03-05T23:55:00Z", "alice", "198.51.100.7", "s1"),
        failure("2024-03-05T23:58:00Z", "bob", "198.51.100.7", "s2"),
        failure("2024-03-05T10:00:00Z", "alice", "203.0.113.5", "w1"),
        failure("2024-03-05T10:30:00Z", "bob", "203.0.113.5", "w2"),
        failure("2024-03-05T11:00:00Z", "carol", "203.0.113.5", "w3"),
    ];
    // A later event: detect judges only up to the newest event less its lag.
    let mut later = record("GetUser");
    later["eventTime"] = "2024-03-06T06:00:00Z".into();
    let day2 = vec![
        failure("2024-03-06T00:02:00Z", "carol", "198.51.100.7", "s3"),
        later,
    ];
    let logs = root.join("logs");
    for (day, records) in [("05", day1), ("06", day2)] {
        write_gz(
            &logs.join(format!(
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/{day}/f.json.gz"
            )),
            &serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap(),
        );
    }
    let lake = root.join("lake");
    assert_eq!(ingest(&logs, &lake, &[]).0, 0);
    let rules_arg = rules.to_str().unwrap();
    let detect = || {
        detect_rules(
            &lake,
            "2024-03-05",
            "2024-03-07",
            &["--no-built-in-rules", "--rules", rules_arg],
        )
    };
    detect();
    let sql = "SELECT ruleid, eventids, matchcount, insighttype, eventid, reason FROM findings";
    let rows = query(&lake, sql);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["ruleid"], "33333333-4444-4555-8666-777777777777");
    assert_eq!(rows[0]["insighttype"], "RuleCorrelation");
    assert_eq!(rows[0]["eventids"], serde_json::json!(["s1", "s2", "s3"]));
    assert_eq!(rows[0]["matchcount"], 3);
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("sourceIPAddress 198.51.100.7"),
        "{rows:?}"
    );
    detect();
    assert_eq!(query(&lake, sql), rows, "a re-run replaces it with itself");

    // The rule file's examples: a correlation's examples are lists of records.
    let examples = serde_json::json!({
        "match": [[
            failure("2024-03-05T10:00:00Z", "a", "192.0.2.1", "1"),
            failure("2024-03-05T10:01:00Z", "b", "192.0.2.1", "2"),
            failure("2024-03-05T10:02:00Z", "c", "192.0.2.1", "3"),
        ]],
        "nomatch": [[
            failure("2024-03-05T10:00:00Z", "a", "192.0.2.1", "1"),
            failure("2024-03-05T10:01:00Z", "a", "192.0.2.1", "2"),
            failure("2024-03-05T10:02:00Z", "b", "192.0.2.2", "3"),
        ]],
    });
    std::fs::write(
        root.join("rules/spray.examples.json"),
        serde_json::to_vec(&examples).unwrap(),
    )
    .unwrap();
    let output = trailq(&["rules", "test", rules.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "33333333-4444-4555-8666-777777777777  Password spraying from one address: ok"
        ),
        "{stdout}"
    );

    // A correlation naming a rule that is not loaded fails to load, naming both.
    std::fs::write(
        &rules,
        CORRELATION.replace("    - failed-console-sign-in", "    - no-such-rule"),
    )
    .unwrap();
    let output = trailq(&[
        "rules",
        "list",
        "--no-built-in",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("spray.yml") && stderr.contains("`no-such-rule`"),
        "{stderr}"
    );
}
