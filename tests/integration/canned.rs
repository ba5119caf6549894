//! Golden tests of the canned queries: a trail built so that each query's rows are known, run
//! through the real binary.

use std::path::Path;

use serde_json::{Value, json};

use crate::util::*;

const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";

fn user(name: &str) -> Value {
    json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
           "accountId": ACCOUNT, "userName": name})
}

fn role(name: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:s",
           "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/s"), "accountId": ACCOUNT,
           "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
                                                 "accountId": ACCOUNT, "userName": name}}})
}

fn root() -> Value {
    json!({"type": "Root", "principalId": ACCOUNT, "arn": format!("arn:aws:iam::{ACCOUNT}:root"), "accountId": ACCOUNT})
}

/// A record at 2024-03-05 10:mm:ss (minute, second), in us-east-1 unless `extra` says otherwise.
fn event(at: (u32, u32), source: &str, name: &str, identity: Value, extra: Value) -> Value {
    let mut record = json!({
        "eventVersion": "1.10", "eventTime": format!("2024-03-05T10:{:02}:{:02}Z", at.0, at.1),
        "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.1", "userAgent": "aws-cli/2", "userIdentity": identity,
        "eventID": format!("{name}-{}-{}", at.0, at.1), "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT, "eventCategory": "Management",
    });
    for (key, value) in extra.as_object().unwrap() {
        record[key] = value.clone();
    }
    record
}

fn login(at: (u32, u32), identity: Value, ip: &str, ok: bool, mfa: &str) -> Value {
    let mut extra = json!({"sourceIPAddress": ip, "eventType": "AwsConsoleSignIn",
        "responseElements": {"ConsoleLogin": if ok { "Success" } else { "Failure" }},
        "additionalEventData": {"MFAUsed": mfa}});
    if !ok {
        extra["errorMessage"] = json!("Failed authentication");
    }
    event(at, "signin.amazonaws.com", "ConsoleLogin", identity, extra)
}

fn scenario() -> Vec<Value> {
    let hidden = json!({"type": "IAMUser", "accountId": ACCOUNT, "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"});
    vec![
        // Root: one real use; a service acting for root and a service event are not listed.
        event(
            (1, 0),
            "ec2.amazonaws.com",
            "RunInstances",
            root(),
            json!({"sourceIPAddress": "203.0.113.50"}),
        ),
        event(
            (1, 1),
            "ec2.amazonaws.com",
            "DescribeInstances",
            json!({"type": "Root", "accountId": ACCOUNT, "invokedBy": "config.amazonaws.com"}),
            json!({}),
        ),
        event(
            (1, 2),
            "kms.amazonaws.com",
            "RotateKey",
            root(),
            json!({"eventType": "AwsServiceEvent"}),
        ),
        // Console sign-ins.
        login((2, 0), user("alice"), "203.0.113.5", true, "No"),
        login((2, 1), user("bob"), "203.0.113.5", true, "Yes"),
        login((2, 2), user("alice"), "203.0.113.5", false, "No"),
        login((2, 3), hidden.clone(), "203.0.113.5", false, "No"),
        login((2, 4), hidden, "203.0.113.5", false, "No"),
        login((2, 5), user("carol"), "192.0.2.7", false, "No"),
        // Access denied.
        event(
            (3, 0),
            "s3.amazonaws.com",
            "GetObject",
            role("app"),
            json!({"errorCode": "AccessDenied"}),
        ),
        event(
            (3, 1),
            "s3.amazonaws.com",
            "GetObject",
            role("app"),
            json!({"errorCode": "AccessDenied"}),
        ),
        event(
            (3, 2),
            "ec2.amazonaws.com",
            "RunInstances",
            user("bob"),
            json!({"errorCode": "Client.UnauthorizedOperation"}),
        ),
        event(
            (3, 3),
            "ec2.amazonaws.com",
            "DescribeInstances",
            user("bob"),
            json!({"errorCode": "ThrottlingException"}),
        ),
        // IAM changes.
        event(
            (4, 0),
            "iam.amazonaws.com",
            "AttachUserPolicy",
            user("alice"),
            json!({"requestParameters": {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}),
        ),
        event(
            (4, 1),
            "iam.amazonaws.com",
            "CreateUser",
            role("admin"),
            json!({"requestParameters": {"userName": "mallory"}}),
        ),
        event(
            (4, 2),
            "iam.amazonaws.com",
            "GetRole",
            role("admin"),
            json!({"requestParameters": {"roleName": "x"}}),
        ),
        // CloudTrail.
        event(
            (5, 0),
            "cloudtrail.amazonaws.com",
            "StopLogging",
            role("admin"),
            json!({"requestParameters": {"name": "org-trail"}}),
        ),
        event(
            (5, 1),
            "cloudtrail.amazonaws.com",
            "PutEventSelectors",
            role("admin"),
            json!({"requestParameters": {"trailName": "org-trail"}}),
        ),
        event(
            (5, 2),
            "cloudtrail.amazonaws.com",
            "LookupEvents",
            role("admin"),
            json!({}),
        ),
        // KMS.
        event(
            (6, 0),
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            role("admin"),
            json!({"requestParameters": {"keyId": "k1", "pendingWindowInDays": 7}}),
        ),
        event(
            (6, 1),
            "kms.amazonaws.com",
            "DisableKey",
            role("admin"),
            json!({"requestParameters": {"keyId": "k2"}}),
        ),
        event(
            (6, 2),
            "kms.amazonaws.com",
            "Decrypt",
            role("app"),
            json!({"requestParameters": {"keyId": "k1"}}),
        ),
        // S3 exposure.
        event(
            (7, 0),
            "s3.amazonaws.com",
            "PutBucketPolicy",
            user("alice"),
            json!({"requestParameters": {"bucketName": "b1"}}),
        ),
        event(
            (7, 1),
            "s3.amazonaws.com",
            "DeleteBucketPublicAccessBlock",
            user("alice"),
            json!({"requestParameters": {"bucketName": "b2"}}),
        ),
        event(
            (7, 2),
            "s3.amazonaws.com",
            "GetBucketPolicy",
            user("alice"),
            json!({"requestParameters": {"bucketName": "b1"}}),
        ),
        // Security groups.
        event(
            (8, 0),
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            user("bob"),
            json!({"requestParameters": {"groupId": "sg-1", "ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}}),
        ),
        event(
            (8, 1),
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            user("bob"),
            json!({"requestParameters": {"groupId": "sg-2", "ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}}),
        ),
        event(
            (8, 2),
            "ec2.amazonaws.com",
            "ModifySecurityGroupRules",
            user("bob"),
            json!({"requestParameters": {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-3",
                "SecurityGroupRule": {"SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {"CidrIpv6": "::/0"}}}}}),
        ),
        // Access keys.
        event(
            (9, 0),
            "iam.amazonaws.com",
            "CreateAccessKey",
            user("alice"),
            json!({"requestParameters": {"userName": "bob"}, "responseElements": {"accessKey": {"accessKeyId": "AKIAEXAMPLEKEY"}}}),
        ),
        // Role chain: alice -> role ops -> role prod.
        event(
            (10, 0),
            "sts.amazonaws.com",
            "AssumeRole",
            user("alice"),
            json!({"requestParameters": {"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/ops"), "roleSessionName": "alice"}}),
        ),
        event(
            (10, 1),
            "sts.amazonaws.com",
            "AssumeRole",
            role("ops"),
            json!({"requestParameters": {"roleArn": format!("arn:aws:iam::{OTHER}:role/prod"), "roleSessionName": "hop"}}),
        ),
        // Security services.
        event(
            (11, 0),
            "guardduty.amazonaws.com",
            "DeleteDetector",
            role("admin"),
            json!({}),
        ),
        event(
            (11, 1),
            "config.amazonaws.com",
            "StopConfigurationRecorder",
            role("admin"),
            json!({}),
        ),
        event(
            (11, 2),
            "securityhub.amazonaws.com",
            "DisableSecurityHub",
            role("admin"),
            json!({}),
        ),
        event(
            (11, 3),
            "guardduty.amazonaws.com",
            "ListDetectors",
            role("admin"),
            json!({}),
        ),
        // A new region for the account, and a cross-account caller.
        event(
            (12, 0),
            "ec2.amazonaws.com",
            "RunInstances",
            role("app"),
            json!({"awsRegion": "ap-south-1"}),
        ),
        event(
            (12, 1),
            "s3.amazonaws.com",
            "ListBuckets",
            json!({"type": "AWSAccount", "principalId": "AIDAPARTNER", "accountId": OTHER}),
            json!({}),
        ),
    ]
}

/// The baseline for `new_region_activity`: the account was active in us-east-1 in February.
fn baseline() -> Vec<Value> {
    let mut record = event(
        (0, 0),
        "ec2.amazonaws.com",
        "DescribeInstances",
        role("app"),
        json!({}),
    );
    record["eventTime"] = json!("2024-02-20T08:00:00Z");
    record["eventID"] = json!("baseline-1");
    vec![record]
}

pub fn build_lake(root: &Path) -> std::path::PathBuf {
    let logs = root.join("logs");
    write_gz(
        &logs.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/scenario.json.gz"),
        &serde_json::to_vec(&json!({"Records": scenario()})).unwrap(),
    );
    write_gz(
        &logs.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/02/20/baseline.json.gz"),
        &serde_json::to_vec(&json!({"Records": baseline()})).unwrap(),
    );
    let lake = root.join("lake");
    let (code, _, stderr) = ingest(&logs, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    lake
}

pub fn run(lake: &Path, name: &str, params: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "query",
        "--lake",
        lake.to_str().unwrap(),
        name,
        "--format",
        "json",
    ];
    let window = ["since=2024-03-05", "until=2024-03-06"];
    for param in window.iter().chain(params) {
        args.extend(["--param", param]);
    }
    json_rows(&args)
}

/// The given columns of each row.
fn pick(rows: &[Value], columns: &[&str]) -> Vec<Vec<Value>> {
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| row.get(*c).cloned().unwrap_or(Value::Null))
                .collect()
        })
        .collect()
}

fn arn(kind: &str, name: &str) -> Value {
    json!(format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}"))
}

#[test]
fn every_canned_query_returns_its_known_rows() {
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    let check = |name: &str, params: &[&str], columns: &[&str], expected: Vec<Vec<Value>>| {
        assert_eq!(pick(&run(&lake, name, params), columns), expected, "{name}");
    };
    check(
        "root_activity",
        &[],
        &["eventname", "sourceipaddress"],
        vec![vec![json!("RunInstances"), json!("203.0.113.50")]],
    );
    check(
        "console_login_without_mfa",
        &[],
        &["user", "sourceipaddress"],
        vec![vec![arn("user", "alice"), json!("203.0.113.5")]],
    );
    check(
        "failed_console_logins_by_ip",
        &[],
        &["sourceipaddress", "failures", "users"],
        vec![
            vec![
                json!("203.0.113.5"),
                json!(3),
                json!("HIDDEN_DUE_TO_SECURITY_REASONS, alice"),
            ],
            vec![json!("192.0.2.7"), json!(1), json!("carol")],
        ],
    );
    check(
        "access_denied_by_principal",
        &[],
        &["principal", "eventname", "errorcode", "denied"],
        vec![
            vec![
                arn("role", "app"),
                json!("GetObject"),
                json!("AccessDenied"),
                json!(2),
            ],
            vec![
                arn("user", "bob"),
                json!("RunInstances"),
                json!("Client.UnauthorizedOperation"),
                json!(1),
            ],
        ],
    );
    check(
        "iam_policy_and_user_changes",
        &[],
        &["eventname", "target", "policy"],
        vec![
            vec![
                json!("AttachUserPolicy"),
                json!("bob"),
                json!("arn:aws:iam::aws:policy/AdministratorAccess"),
            ],
            vec![json!("CreateUser"), json!("mallory"), Value::Null],
        ],
    );
    check(
        "cloudtrail_tampering",
        &[],
        &["eventname", "trail"],
        vec![
            vec![json!("StopLogging"), json!("org-trail")],
            vec![json!("PutEventSelectors"), json!("org-trail")],
        ],
    );
    check(
        "kms_key_disable_or_deletion",
        &[],
        &["eventname", "key", "pending_days"],
        vec![
            vec![json!("ScheduleKeyDeletion"), json!("k1"), json!(7)],
            vec![json!("DisableKey"), json!("k2"), Value::Null],
        ],
    );
    check(
        "s3_bucket_policy_changes",
        &[],
        &["eventname", "bucket"],
        vec![
            vec![json!("PutBucketPolicy"), json!("b1")],
            vec![json!("DeleteBucketPublicAccessBlock"), json!("b2")],
        ],
    );
    check(
        "security_group_open_to_world",
        &[],
        &["eventname", "group_id"],
        vec![
            vec![json!("AuthorizeSecurityGroupIngress"), json!("sg-1")],
            vec![json!("ModifySecurityGroupRules"), json!("sg-3")],
        ],
    );
    check(
        "new_access_keys",
        &[],
        &["user", "access_key"],
        vec![vec![json!("bob"), json!("AKIAEXAMPLEKEY")]],
    );
    check(
        "assume_role_chain",
        &["principal=user/alice"],
        &["role", "session"],
        vec![vec![arn("role", "ops"), json!("alice")]],
    );
    check(
        "assume_role_chain",
        &["principal=role/ops"],
        &["role", "session"],
        vec![vec![
            json!(format!("arn:aws:iam::{OTHER}:role/prod")),
            json!("hop"),
        ]],
    );
    check(
        "activity_from_ip",
        &["cidr=203.0.113.0/24"],
        &["principal", "eventname", "calls", "errors"],
        vec![
            vec![
                json!("HIDDEN_DUE_TO_SECURITY_REASONS"),
                json!("ConsoleLogin"),
                json!(2),
                json!(0),
            ],
            vec![
                arn("user", "alice"),
                json!("ConsoleLogin"),
                json!(2),
                json!(0),
            ],
            vec![
                json!(format!("arn:aws:iam::{ACCOUNT}:root")),
                json!("RunInstances"),
                json!(1),
                json!(0),
            ],
            vec![
                arn("user", "bob"),
                json!("ConsoleLogin"),
                json!(1),
                json!(0),
            ],
        ],
    );
    // The baseline follows the period (30 days before `since`), not the clock: by default too.
    for given in [&["baseline_since=2024-02-01"][..], &[]] {
        check(
            "new_region_activity",
            given,
            &["account", "awsregion", "principal", "calls"],
            vec![vec![
                json!(ACCOUNT),
                json!("ap-south-1"),
                arn("role", "app"),
                json!(1),
            ]],
        );
    }
    check(
        "security_services_disabled",
        &[],
        &["eventname"],
        vec![
            vec![json!("DeleteDetector")],
            vec![json!("StopConfigurationRecorder")],
            vec![json!("DisableSecurityHub")],
        ],
    );
    check(
        "cross_account_access",
        &[],
        &["caller_account", "principal", "eventname"],
        vec![vec![
            json!(OTHER),
            json!("AIDAPARTNER"),
            json!("ListBuckets"),
        ]],
    );
    // Top talkers: counted independently from the scenario.
    let mut counts = std::collections::BTreeMap::new();
    for row in run(&lake, "activity_from_ip", &["cidr=0.0.0.0/0"]) {
        *counts
            .entry(row["principal"].as_str().unwrap().to_string())
            .or_insert(0) += row["calls"].as_i64().unwrap();
    }
    let talkers = run(&lake, "top_talkers", &[]);
    let top: Vec<(String, i64)> = talkers
        .iter()
        .map(|r| {
            (
                r["principal"].as_str().unwrap().to_string(),
                r["calls"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top[0],
        (arn("role", "admin").as_str().unwrap().to_string(), 11)
    );
    for (principal, calls) in &top {
        assert_eq!(counts.get(principal), Some(calls), "{principal}");
    }
}

/// The rules that took over from the detection queries (which stay as investigations): on the
/// same scenario each finds the events its query lists, and nothing the query leaves out.
#[test]
fn the_rules_find_what_the_detection_queries_they_replaced_found() {
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    // The scenario is twelve minutes long: judge all of it.
    detect_rules(&lake, "2024-03-05", "2024-03-06", &["--watermark-lag", "0"]);
    let matched = |rule: &str| -> Vec<Value> {
        let sql = format!(
            "SELECT e.eventname FROM events e JOIN \
             (SELECT unnest(eventids) AS id FROM findings WHERE ruletitle = '{rule}') f \
             ON e.eventid = f.id ORDER BY e.eventtime, e.eventname"
        );
        query(&lake, &sql)
            .into_iter()
            .map(|row| row["eventname"].clone())
            .collect()
    };
    let names = |list: &[&str]| list.iter().map(|n| json!(n)).collect::<Vec<_>>();
    for (rule, expected) in [
        ("The root user acted", names(&["RunInstances"])),
        ("Console sign-in without MFA", names(&["ConsoleLogin"])),
        (
            "Console sign-in failures",
            names(&["ConsoleLogin", "ConsoleLogin", "ConsoleLogin"]),
        ),
        ("IAM policy changes", names(&["AttachUserPolicy"])),
        (
            "IAM users created, deleted or moved between groups",
            names(&["CreateUser"]),
        ),
        (
            "CloudTrail logging stopped or its trail deleted",
            names(&["StopLogging", "PutEventSelectors"]),
        ),
        (
            "KMS key disabled or scheduled for deletion",
            names(&["ScheduleKeyDeletion", "DisableKey"]),
        ),
        (
            "S3 bucket policy or ACL changed",
            names(&["PutBucketPolicy", "DeleteBucketPublicAccessBlock"]),
        ),
        (
            "Security group opened to the whole internet",
            names(&["AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules"]),
        ),
    ] {
        assert_eq!(matched(rule), expected, "{rule}");
    }
}

#[test]
fn cloudtrail_functions_work_on_the_lake_columns() {
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    let rows = query(
        &lake,
        "SELECT count(*) AS n,
                count(*) FILTER (WHERE principal(useridentity) IS NOT DISTINCT FROM principal) AS same_principal,
                count(*) FILTER (WHERE arn_account(useridentity.arn) = useridentity.accountid) AS own_account,
                count(*) FILTER (WHERE ip_in_cidr(sourceipaddress, '198.51.100.0/24')) AS in_network,
                count(*) FILTER (WHERE sourceipaddress LIKE '198.51.100.%') AS in_network_by_text,
                count(arn_role_name(useridentity.sessioncontext.sessionissuer.arn)) AS with_role
         FROM events",
    );
    let row = &rows[0];
    assert_eq!(row["same_principal"], row["n"], "{row}");
    assert_eq!(row["in_network"], row["in_network_by_text"], "{row}");
    for column in ["own_account", "in_network", "with_role"] {
        assert!(row[column].as_u64().unwrap() > 0, "{column}: {row}");
    }
}

#[test]
fn query_errors_say_what_to_do() {
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    let lake_arg = lake.to_str().unwrap();
    let stderr = |args: &[&str]| {
        let output = trailq(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let err = stderr(&[
        "query",
        "--lake",
        lake_arg,
        "SELECT \"eventName\" FROM events",
    ]);
    assert!(err.contains("lower case"), "{err}");
    let err = stderr(&["query", "--lake", lake_arg, "assume_role_chain"]);
    assert!(err.contains("missing parameter: principal"), "{err}");
    let err = stderr(&[
        "query",
        "--lake",
        root.join("nowhere").to_str().unwrap(),
        "SELECT 1",
    ]);
    assert!(err.contains("create one with `trailq ingest"), "{err}");
    // A value is bound, never pasted: a quote in it changes nothing.
    let rows = run(&lake, "assume_role_chain", &["principal=' OR 1=1 --"]);
    assert!(rows.is_empty());
    // Unquoted camelCase works: identifiers are folded to lower case.
    let output = trailq(&[
        "query",
        "--lake",
        lake_arg,
        "SELECT eventName FROM events WHERE eventName = 'StopLogging'",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "eventname\nStopLogging\n"
    );
}

#[test]
fn shell_runs_statements_and_commands_and_survives_errors() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["shell", "--lake", lake.to_str().unwrap()])
        .env("XDG_STATE_HOME", root.join("state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\\d\n\\d rejects\nSELECT count(*) AS n\nFROM events\nWHERE eventname = 'StopLogging';\nSELECT eventsorce FROM events;\n\\nope\nSELECT 41 + 1 AS answer;\n\\q\nSELECT 'not reached';\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for table in ["| events ", "| insights ", "| rejects "] {
        assert!(stdout.contains(table), "{stdout}");
    }
    assert!(
        stdout.contains("| rejectedat  | Timestamp(ms, \"UTC\")"),
        "{stdout}"
    );
    assert!(stdout.contains("| n |\n|---|\n| 1 |"), "{stdout}");
    assert!(stderr.contains("did you mean eventsource"), "{stderr}");
    assert!(stderr.contains("unknown command \\nope"), "{stderr}");
    assert!(
        stdout.contains("| 42     |"),
        "an error does not end the session: {stdout}"
    );
    assert!(!stdout.contains("not reached"));
    assert!(root.join("state/trailq/history").exists());
}

/// `trailq ddl` defines every table of the lake, for each engine, by its Delta location.
#[test]
fn ddl_names_every_delta_table() {
    for engine in ["athena", "spark", "trino", "duckdb"] {
        let output = trailq(&["ddl", "--lake", "s3://sec-lake/trailq/", "--engine", engine]);
        assert!(output.status.success());
        let text = String::from_utf8_lossy(&output.stdout);
        for table in trailq::lake::Table::ALL {
            assert!(
                text.contains(&format!("s3://sec-lake/trailq/{table}")),
                "{engine}: {table}\n{text}"
            );
        }
        let form = match engine {
            "athena" => "TBLPROPERTIES ('table_type' = 'DELTA')",
            "spark" => "USING DELTA LOCATION",
            "trino" => "CALL delta.system.register_table",
            _ => "delta_scan(",
        };
        assert_eq!(
            text.matches(form).count(),
            trailq::lake::Table::ALL.len(),
            "{engine}\n{text}"
        );
    }
}

/// Every output format carries the same rows; data on stdout, the row count on stderr.
/// The records of a CSV text after its header (quoted fields with doubled quotes).
fn csv_rows(text: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(text);
    let mut rows = Vec::new();
    for line in text.lines().skip(1) {
        let (mut fields, mut field, mut quoted, mut chars) =
            (Vec::new(), String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut field)),
                _ => field.push(c),
            }
        }
        fields.push(field);
        rows.push(fields);
    }
    rows
}

#[test]
fn output_formats() {
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    let sql = "SELECT eventname, eventtime, readonly FROM events WHERE eventsource = 'kms.amazonaws.com' \
               AND eventname <> 'RotateKey' ORDER BY eventtime";
    let out = |format: &str| {
        let output = trailq(&[
            "query",
            "--lake",
            lake.to_str().unwrap(),
            sql,
            "--format",
            format,
        ]);
        assert!(output.status.success(), "{format}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("3 rows in"),
            "{format}"
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(
        out("csv"),
        "eventname,eventtime,readonly\nScheduleKeyDeletion,2024-03-05T10:06:00Z,\nDisableKey,2024-03-05T10:06:01Z,\nDecrypt,2024-03-05T10:06:02Z,\n"
    );
    assert!(out("tsv").starts_with("eventname\teventtime\treadonly\nScheduleKeyDeletion\t"));
    // Structs and lists go to CSV as JSON text.
    let nested = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "SELECT useridentity, resources FROM events WHERE eventname = 'DisableKey'",
        "--format",
        "csv",
    ]);
    assert!(
        nested.status.success(),
        "{}",
        String::from_utf8_lossy(&nested.stderr)
    );
    let mut reader = csv_rows(&nested.stdout);
    let identity: Value = serde_json::from_str(&reader.remove(0)[0]).unwrap();
    assert_eq!(identity["type"], json!("AssumedRole"));
    assert_eq!(
        identity["sessioncontext"]["sessionissuer"]["username"],
        json!("admin")
    );
    let json: Value = serde_json::from_str(&out("json")).unwrap();
    assert_eq!(json[1]["eventname"], json!("DisableKey"));
    let lines: Vec<Value> = out("ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["eventname"], json!("Decrypt"));
    let table = out("table");
    assert!(
        table.starts_with("| eventname           | eventtime            | readonly |\n|-----"),
        "{table}"
    );
    assert!(
        table.contains("| Decrypt             | 2024-03-05T10:06:02Z | NULL     |"),
        "{table}"
    );
    let file = root.join("out.parquet");
    let output = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        sql,
        "--format",
        "parquet",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 3);
    let output = trailq(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        sql,
        "--format",
        "parquet",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("add --output FILE.parquet"));
}
