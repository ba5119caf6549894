//! Who was behind each call: the `sessions` table, `origin_of`, `events_with_origin` and
//! `who_was_it`, on hand-written chains of every kind the origin resolver must follow or stop
//! at.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::util::{ingest, query, temp_dir, trailq, write_gz};

const A: &str = "111111111111";
const B: &str = "222222222222";
/// An account whose trail is not in the lake.
const OUTSIDE: &str = "999999999999";
const START: &str = "2024-03-05T10:00:00Z";

fn at(minutes: i64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339(START).unwrap();
    (start + chrono::Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// CloudTrail's form of `credentials.expiration`, `minutes` after [`START`].
fn expiration(minutes: i64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339(START).unwrap();
    (start + chrono::Duration::minutes(minutes))
        .format("%b %-d, %Y, %-I:%M:%S %p")
        .to_string()
}

fn user(account: &str, name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "principalId": format!("AIDA{name}"), "arn": format!("arn:aws:iam::{account}:user/{name}"),
           "accountId": account, "accessKeyId": key, "userName": name})
}

fn session(account: &str, role: &str, name: &str, key: &str, created: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": format!("AROA{role}:{name}"),
           "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{name}"),
           "accountId": account, "accessKeyId": key,
           "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": format!("AROA{role}"),
               "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
               "attributes": {"creationDate": created, "mfaAuthenticated": "false"}}})
}

fn record(id: &str, time: &str, account: &str, identity: Value, name: &str) -> Value {
    json!({"eventVersion": "1.09", "userIdentity": identity, "eventTime": time,
           "eventSource": if name.starts_with("Assume") || name.starts_with("Get") { "sts.amazonaws.com" } else { "cloudtrail.amazonaws.com" },
           "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
           "userAgent": "aws-cli/2.15", "requestParameters": null, "responseElements": null,
           "requestID": format!("req-{id}"), "eventID": id, "readOnly": false, "eventType": "AwsApiCall",
           "managementEvent": true, "recipientAccountId": account, "eventCategory": "Management"})
}

/// A successful `AssumeRole` of `account`'s `role` by `caller`, issuing `key` for an hour.
fn assume(id: &str, minute: i64, account: &str, caller: Value, role: &str, key: &str) -> Value {
    let mut r = record(id, &at(minute), account, caller, "AssumeRole");
    r["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"),
        "roleSessionName": format!("s-{id}"), "durationSeconds": 3600});
    r["responseElements"] = json!({"credentials": {"accessKeyId": key, "sessionToken": "x", "expiration": expiration(minute + 60)},
        "assumedRoleUser": {"assumedRoleId": format!("AROA{role}:s-{id}"), "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/s-{id}")}});
    r
}

/// A `DeleteTrail` call, the event whose origin each case asks for.
fn call(id: &str, minute: i64, account: &str, identity: Value) -> Value {
    record(id, &at(minute), account, identity, "DeleteTrail")
}

fn write_trail(dir: &Path, account: &str, name: &str, records: Vec<Value>) {
    let path = dir.join(format!(
        "AWSLogs/{account}/CloudTrail/us-east-1/2024/03/05/{account}_CloudTrail_us-east-1_20240305T1000Z_{name}.json.gz"
    ));
    write_gz(&path, json!({"Records": records}).to_string().as_bytes());
}

/// The scenario's trails, in two accounts.
fn scenario(dir: &Path) {
    let alice = user(A, "alice", "AKIAALICE");
    let r1 = session(A, "r1", "s-i1", "ASIA1", &at(1));
    let r2 = session(A, "r2", "s-i2", "ASIA2", &at(2));
    let mut a = vec![
        // 1, 2 hops, and (below, in B) 3 with a cross-account hop.
        assume("i1", 1, A, alice.clone(), "r1", "ASIA1"),
        assume("i2", 2, A, r1.clone(), "r2", "ASIA2"),
        call("c1", 5, A, r1.clone()),
        call("c2", 6, A, r2.clone()),
        // Credentials used two hours after they were issued for one.
        call("expired", 121, A, r1.clone()),
    ];
    // Role chaining with a source identity: set on the first hop, carried by the second.
    let mut i4 = assume("i4", 3, A, user(A, "bob", "AKIABOB"), "r4", "ASIA4");
    i4["requestParameters"]["sourceIdentity"] = json!("bob@corp.example");
    i4["responseElements"]["sourceIdentity"] = json!("bob@corp.example");
    let mut r4 = session(A, "r4", "s-i4", "ASIA4", &at(3));
    r4["sessionContext"]["sourceIdentity"] = json!("bob@corp.example");
    let i5 = assume("i5", 4, A, r4.clone(), "r5", "ASIA5");
    let mut r5 = session(A, "r5", "s-i5", "ASIA5", &at(4));
    r5["sessionContext"]["sourceIdentity"] = json!("bob@corp.example");
    a.extend([i4, i5, call("c5", 7, A, r5)]);
    // SAML through an external IdP and through Identity Center, and web identity.
    for (id, provider, key) in [
        (
            "saml",
            "arn:aws:iam::111111111111:saml-provider/Okta",
            "ASIA6",
        ),
        (
            "sso",
            "arn:aws:iam::111111111111:saml-provider/AWSSSO_abc_DO_NOT_DELETE",
            "ASIA7",
        ),
    ] {
        let caller = json!({"type": "SAMLUser", "principalId": "q:carol@corp.example", "userName": "carol@corp.example", "identityProvider": provider});
        let mut r = record(id, &at(8), A, caller, "AssumeRoleWithSAML");
        r["requestParameters"] =
            json!({"roleArn": format!("arn:aws:iam::{A}:role/{id}"), "principalArn": provider});
        r["responseElements"] = json!({"credentials": {"accessKeyId": key, "expiration": expiration(68)},
            "assumedRoleUser": {"arn": format!("arn:aws:sts::{A}:assumed-role/{id}/carol@corp.example")},
            "subject": "carol@corp.example", "subjectType": "persistent", "issuer": "https://idp.example/", "audience": "https://signin.aws.amazon.com/saml"});
        a.push(r);
        a.push(call(
            &format!("c-{id}"),
            9,
            A,
            session(A, id, "carol@corp.example", key, &at(8)),
        ));
    }
    let github = json!({"type": "WebIdentityUser", "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:repo:corp/app",
        "userName": "repo:corp/app", "identityProvider": "token.actions.githubusercontent.com"});
    let mut web = record("web", &at(8), A, github, "AssumeRoleWithWebIdentity");
    web["requestParameters"] =
        json!({"roleArn": format!("arn:aws:iam::{A}:role/ci"), "roleSessionName": "gha-1"});
    web["responseElements"] = json!({"credentials": {"accessKeyId": "ASIA8", "expiration": expiration(68)},
        "assumedRoleUser": {"arn": format!("arn:aws:sts::{A}:assumed-role/ci/gha-1")},
        "subjectFromWebIdentityToken": "repo:corp/app", "provider": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com", "audience": "sts.amazonaws.com"});
    a.extend([
        web,
        call("c-web", 9, A, session(A, "ci", "gha-1", "ASIA8", &at(8))),
    ]);
    // AssumeRoot: a root session in a member account, taken by dave.
    let mut root = record(
        "root",
        &at(10),
        A,
        user(A, "dave", "AKIADAVE"),
        "AssumeRoot",
    );
    root["requestParameters"] = json!({"targetPrincipal": B, "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"}});
    root["responseElements"] =
        json!({"credentials": {"accessKeyId": "ASIA9", "expiration": expiration(25)}});
    a.push(root);
    // A failed AssumeRole issues nothing, even with a key in its (partial) response.
    let mut failed = assume("failed", 11, A, user(A, "eve", "AKIAEVE"), "admin", "ASIAF");
    failed["errorCode"] = json!("AccessDenied");
    a.push(failed);
    // Chains that leave the lake: a session older than the lake, one from an outside account.
    a.push(call(
        "old",
        12,
        A,
        session(A, "legacy", "x", "ASIAOLD", "2024-03-01T00:00:00Z"),
    ));
    let outsider = session(OUTSIDE, "ext", "y", "ASIAEXT", &at(12));
    a.push(assume("i-out", 12, A, outsider, "r-out", "ASIAOUT"));
    a.push(call(
        "c-out",
        13,
        A,
        session(A, "r-out", "s-i-out", "ASIAOUT", &at(12)),
    ));
    // A cycle (forged or corrupt data): each key issued by a call signed with the other.
    a.push(assume(
        "cy1",
        14,
        A,
        session(A, "cy", "a", "ASIACY2", &at(14)),
        "cy",
        "ASIACY1",
    ));
    a.push(assume(
        "cy2",
        14,
        A,
        session(A, "cy", "b", "ASIACY1", &at(14)),
        "cy",
        "ASIACY2",
    ));
    a.push(call(
        "c-cy",
        15,
        A,
        session(A, "cy", "a", "ASIACY1", &at(14)),
    ));
    write_trail(dir, A, "a1", a);
    // The first AssumeRole delivered twice (a re-delivery in another file).
    write_trail(dir, A, "a2", vec![assume("i1", 1, A, alice, "r1", "ASIA1")]);
    // Account B's trail: A's r2 session assumes B's r3; calls with it and with the root session.
    let mut b = vec![assume("i3", 3, B, r2, "r3", "ASIA3")];
    b.push(call("c3", 7, B, session(B, "r3", "s-i3", "ASIA3", &at(3))));
    let mut root_session = json!({"type": "Root", "principalId": B, "arn": format!("arn:aws:iam::{B}:root"), "accountId": B, "accessKeyId": "ASIA9"});
    root_session["sessionContext"] = json!({"assumedRoot": "true"});
    b.push(call("c-root", 12, B, root_session));
    write_trail(dir, B, "b1", b);
}

/// Each `DeleteTrail` call's `origin`, by event id.
fn origins(lake: &Path) -> HashMap<String, Value> {
    query(
        lake,
        "SELECT eventid, origin FROM events_with_origin WHERE eventname = 'DeleteTrail'",
    )
    .into_iter()
    .map(|row| {
        (
            row["eventid"].as_str().unwrap().to_string(),
            row["origin"].clone(),
        )
    })
    .collect()
}

fn chain_keys(origin: &Value) -> Vec<&str> {
    origin["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hop| hop["accesskeyid"].as_str().unwrap())
        .collect()
}

#[test]
fn origins_follow_every_kind_of_chain_and_say_where_they_stop() {
    let (_dir, root) = temp_dir();
    scenario(&root.join("trail"));
    let lake = root.join("lake");
    let (code, summary, stderr) = ingest(&root.join("trail"), &lake, &[]);
    assert_eq!(code, 0, "{summary}\n{stderr}");

    // One row per successful issuing call: the re-delivered one once, the failed one not at all.
    let sessions = query(
        &lake,
        "SELECT accesskeyid, eventid FROM sessions ORDER BY 1",
    );
    let keys: Vec<&str> = sessions
        .iter()
        .map(|r| r["accesskeyid"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "ASIA1", "ASIA2", "ASIA3", "ASIA4", "ASIA5", "ASIA6", "ASIA7", "ASIA8", "ASIA9",
            "ASIACY1", "ASIACY2", "ASIAOUT"
        ]
    );

    let o = origins(&lake);
    let arn = |id: &str| o[id]["arn"].as_str().unwrap_or_default().to_string();
    // Members read one by one (each its own evaluation of origin_of over the same batch) agree
    // with the whole struct.
    let members = query(
        &lake,
        "SELECT eventid, origin['arn'] AS arn, origin['hops'] AS hops, origin['ends'] AS ends \
         FROM events_with_origin WHERE eventname = 'DeleteTrail'",
    );
    assert_eq!(members.len(), o.len());
    for row in &members {
        let whole = &o[row["eventid"].as_str().unwrap()];
        for member in ["arn", "hops", "ends"] {
            assert_eq!(row[member], whole[member], "{member} of {}", row["eventid"]);
        }
    }
    // 1, 2 and 3 hops, the third across accounts.
    assert_eq!(
        (o["c1"]["hops"].as_i64(), arn("c1")),
        (Some(1), format!("arn:aws:iam::{A}:user/alice"))
    );
    assert_eq!(chain_keys(&o["c2"]), ["ASIA2", "ASIA1"]);
    assert_eq!(arn("c2"), format!("arn:aws:iam::{A}:user/alice"));
    assert_eq!(chain_keys(&o["c3"]), ["ASIA3", "ASIA2", "ASIA1"]);
    assert_eq!(o["c3"]["type"], "IAMUser");
    let summary = o["c3"]["summary"].as_str().unwrap();
    assert_eq!(
        summary,
        format!("role/r3, assumed by role/r2 ({A}), assumed by role/r1, assumed by user/alice")
    );
    // The source identity set on the first hop is carried to the second.
    assert_eq!(o["c5"]["hops"], 2);
    assert_eq!(o["c5"]["sourceidentity"], "bob@corp.example");
    assert_eq!(arn("c5"), format!("arn:aws:iam::{A}:user/bob"));
    // SAML, Identity Center and web identity.
    assert_eq!(o["c-saml"]["type"], "SAMLUser");
    assert_eq!(o["c-saml"]["name"], "carol@corp.example");
    assert_eq!(o["c-sso"]["type"], "IdentityCenterUser");
    assert!(
        o["c-sso"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("user/carol@corp.example via SSO")
    );
    assert_eq!(o["c-web"]["type"], "WebIdentityUser");
    assert_eq!(
        o["c-web"]["summary"],
        "role/ci, assumed by repo:corp/app via OIDC (token.actions.githubusercontent.com)"
    );
    // AssumeRoot: the member account's root session is dave's.
    assert_eq!(arn("c-root"), format!("arn:aws:iam::{A}:user/dave"));
    assert_eq!(o["c-root"]["hops"], 1);
    assert!(o["c-root"]["resolved"].as_bool().unwrap());
    // Credentials reused after they expired are flagged; those in time are not.
    assert_eq!(o["expired"]["expired"], true);
    assert_eq!(o["c1"]["expired"], false);
    // Chains that leave the lake end with what is known, and why.
    assert_eq!(o["old"]["resolved"], false);
    assert!(
        o["old"]["ends"]
            .as_str()
            .unwrap()
            .contains("before the lake's first event"),
        "{}",
        o["old"]
    );
    assert_eq!(
        o["old"]["arn"],
        format!("arn:aws:sts::{A}:assumed-role/legacy/x")
    );
    assert_eq!(o["c-out"]["resolved"], false);
    assert_eq!(o["c-out"]["hops"], 1);
    assert!(
        o["c-out"]["ends"]
            .as_str()
            .unwrap()
            .contains(&format!("{OUTSIDE}, whose trail is not in the lake")),
        "{}",
        o["c-out"]
    );
    // A cycle stops.
    assert!(
        o["c-cy"]["ends"].as_str().unwrap().starts_with("cycle"),
        "{}",
        o["c-cy"]
    );
    assert_eq!(o["c-cy"]["resolved"], false);

    // origin_of by key alone; a long-term key has no issuing call.
    let rows = query(
        &lake,
        "SELECT origin_of('ASIA2')['hops'] AS hops, origin_of('AKIAALICE')['ends'] AS ends",
    );
    assert_eq!(rows[0]["hops"], 2);
    assert_eq!(rows[0]["ends"], "no call in the lake issued AKIAALICE");

    // who_was_it: by key, by session name and by event, hop by hop, the origin last.
    let who = |param: &str| {
        crate::util::json_rows(&[
            "query",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "json",
            "who_was_it",
            "--param",
            param,
            "--param",
            "since=2024-03-01",
        ])
    };
    for param in ["access_key=ASIA3", "session=s-i3", "event_id=c3"] {
        let rows = who(param);
        let hops: Vec<i64> = rows.iter().map(|r| r["hop"].as_i64().unwrap()).collect();
        assert_eq!(hops, [1, 2, 3, 4], "{param}: {rows:?}");
        assert_eq!(rows[2]["accesskeyid"], "ASIA1", "{param}");
        assert_eq!(rows[3]["issuedby"], "origin");
        assert_eq!(rows[3]["session"], format!("arn:aws:iam::{A}:user/alice"));
    }
}

#[test]
fn compaction_derives_the_sessions_of_a_lake_ingested_before_the_table_existed() {
    let (_dir, root) = temp_dir();
    scenario(&root.join("trail"));
    let lake = root.join("lake");
    assert_eq!(ingest(&root.join("trail"), &lake, &[]).0, 0);
    let count = "SELECT count(*) AS n FROM sessions";
    let before = query(&lake, count)[0]["n"].clone();
    assert_eq!(before, 12);

    // What an earlier trailq left: no sessions table, events files not marked as derived.
    std::fs::remove_dir_all(lake.join("sessions")).unwrap();
    for entry in crate::util::files_below(&lake.join("_trailq")) {
        let name = entry.to_string_lossy().to_string();
        if name.contains("/checkpoint/") {
            std::fs::remove_file(&entry).unwrap();
            continue;
        }
        if !name.contains("/log/") {
            continue;
        }
        let mut transaction: Value =
            serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
        let outputs = transaction["outputs"].as_array_mut().unwrap();
        outputs.retain(|o| !o["path"].as_str().unwrap().starts_with("sessions/"));
        for output in outputs {
            output.as_object_mut().unwrap().remove("sessions");
        }
        std::fs::write(&entry, serde_json::to_vec(&transaction).unwrap()).unwrap();
    }
    assert_eq!(query(&lake, count)[0]["n"], 0);

    let compacted = trailq(&["compact", "--lake", lake.to_str().unwrap()]);
    assert!(
        compacted.status.success(),
        "{}",
        String::from_utf8_lossy(&compacted.stderr)
    );
    assert_eq!(query(&lake, count)[0]["n"], before);
    assert_eq!(origins(&lake)["c3"]["hops"], 3);
    // Once derived, a second compaction has nothing to do.
    let again = trailq(&["compact", "--lake", lake.to_str().unwrap(), "--json"]);
    let summary: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["partitions"], 0, "{summary}");
}
