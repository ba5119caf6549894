//! Evidence integrity: digests read into `digests`, and the SHA-256 of every log file recorded
//! in the ledger as it is decoded.

use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};
use trailq::generate::{Tamper, TrailSpec, generate, tamper, write_public_keys};
use trailq::lake::{Lake, Manifest};

use crate::ingest::small_spec;
use crate::util::{files_below, ingest, query, temp_dir, trailq, write_gz};

/// Hex SHA-256 of a file's decompressed content, computed here from scratch.
pub fn content_sha256(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    let mut content = Vec::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut content)
            .unwrap();
    } else {
        content = raw;
    }
    content_sha256_of(&content)
}

/// Hex SHA-256 of `bytes`.
pub fn content_sha256_of(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn digests_are_read_whole_and_every_log_file_is_hashed_as_it_is_decoded() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let stats = generate(&small_spec(41), &trail).unwrap();
    assert!(stats.digests > 0);
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["digests"], json!(stats.digests));

    let manifest = Manifest::load(&Lake::open(&lake).unwrap()).unwrap();
    // Every file the ledger holds has the SHA-256 of its content, log files and digests alike
    // (signature sidecars are read with their digests).
    let files: Vec<_> = files_below(&trail)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".metadata.json"))
        .collect();
    for path in &files {
        let state = manifest
            .source(&path.to_string_lossy())
            .unwrap_or_else(|| panic!("{} is not in the ledger", path.display()));
        assert_eq!(
            state.sha256.as_deref(),
            Some(content_sha256(path).as_str()),
            "{}",
            path.display()
        );
    }

    let digests = query(
        &lake,
        "SELECT sourcefile, trail, region, backfill, sha256, signature, digests3object, \
         digestendtime, logfiles FROM digests",
    );
    assert_eq!(digests.len() as u64, stats.digests);
    let mut listed = 0;
    for digest in &digests {
        let source = Path::new(digest["sourcefile"].as_str().unwrap());
        assert_eq!(digest["sha256"], json!(content_sha256(source)));
        assert_eq!(digest["trail"], "org-trail");
        assert_eq!(digest["backfill"], false);
        let sidecar: Value = serde_json::from_slice(
            &std::fs::read(format!("{}.metadata.json", source.display())).unwrap(),
        )
        .unwrap();
        assert_eq!(
            digest["signature"], sidecar["signature"],
            "a folder keeps signatures in sidecars"
        );
        assert!(
            source.ends_with(digest["digests3object"].as_str().unwrap()),
            "{source:?}"
        );
        // Each listed log file is in the trail with the listed hash, which is what the
        // ledger recorded when the file was decoded.
        for file in digest["logfiles"].as_array().unwrap() {
            let path = trail.join(file["s3object"].as_str().unwrap());
            let state = manifest.source(&path.to_string_lossy()).unwrap();
            assert_eq!(
                state.sha256.as_ref(),
                file["hashvalue"].as_str().map(String::from).as_ref()
            );
            listed += 1;
        }
    }
    assert_eq!(listed, stats.log_files);
    let day_of_end = query(
        &lake,
        "SELECT count(*) AS n FROM digests WHERE event_date <> CAST(CAST(digestendtime AS TIMESTAMP) AS DATE)",
    );
    assert_eq!(
        day_of_end[0]["n"], 0,
        "partitioned by the day of digestEndTime"
    );
}

#[test]
fn a_bad_digest_fails_with_its_reason_and_is_retried_until_it_reads() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let dir = trail.join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05");
    std::fs::create_dir_all(&dir).unwrap();
    let name = "111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20240305T110000Z.json.gz";
    let mut digest = json!({
        "awsAccountId": "111122223333",
        "digestStartTime": "2024-03-05T10:00:00Z",
        "digestEndTime": "2024-03-05T11:00:00Z",
        "digestS3Bucket": "b",
        "digestS3Object": format!("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/{name}"),
        "logFiles": [],
    });
    let broken = {
        let mut d = digest.clone();
        d.as_object_mut().unwrap().remove("digestS3Object");
        d
    };
    write_gz(&dir.join(name), broken.to_string().as_bytes());
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(summary["failed"], 1);
    assert!(
        stderr.contains(name) && stderr.contains("no `digestS3Object`"),
        "the error names the file and what is wrong: {stderr}"
    );
    // Retried next run, and read once it is whole.
    let (code, _, _) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 2);
    digest["aNewMember"] = json!([1, 2]);
    write_gz(&dir.join(name), digest.to_string().as_bytes());
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["digests"], 1);
    let rows = query(&lake, "SELECT trail, extra, logfiles FROM digests");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["trail"], "main");
    assert_eq!(rows[0]["extra"], r#"{"aNewMember":[1,2]}"#);
    assert_eq!(rows[0]["logfiles"], json!([]));
}

/// `trailq verify --lake LAKE --format json [extra]`: exit code and the summary.
fn verify(lake: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "verify",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = trailq(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("no JSON verdict ({err}); stderr:\n{stderr}"));
    (output.status.code().unwrap_or(-1), summary)
}

/// The public key of a generated trail's digests, written beside it.
pub fn keys_of(trail: &Path) -> String {
    let path = trail.with_file_name("public-keys.json");
    write_public_keys(&path).unwrap();
    path.to_string_lossy().into_owned()
}

/// Two days, so that tampering has hours to work in.
fn two_days(seed: u64) -> TrailSpec {
    TrailSpec {
        days: 2,
        events_per_day: 3_000,
        ..small_spec(seed)
    }
}

#[test]
fn an_untouched_trail_verifies_fully() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let stats = generate(&two_days(51), &trail).unwrap();
    let (code, summary, stderr) = ingest(&trail, &lake, &["--public-keys", &keys_of(&trail)]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["integrity"]["problems"], 0, "{stderr}");
    assert_eq!(
        summary["integrity"]["digests_verified"],
        json!(stats.digests)
    );
    assert_eq!(
        summary["integrity"]["files_verified"],
        json!(stats.log_files)
    );

    let (code, verdict) = verify(&lake, &[]);
    assert_eq!(code, 0, "{verdict:#}");
    assert_eq!(verdict["problems"], json!([]));
    let trails = verdict["trails"].as_array().unwrap();
    assert_eq!(trails.len(), 4, "two accounts in two regions: {verdict:#}");
    for trail in trails {
        assert_eq!(trail["digests"], trail["digests_verified"]);
        assert_eq!(trail["gap_hours"], 0);
        assert!(trail["hours"].as_u64().unwrap() >= 48, "{trail}");
    }
    // The tables say the same: every hour verified, every log file verified.
    let hours = query(
        &lake,
        "SELECT status, count(*) AS n, sum(files_expected) AS expected, sum(verified) AS verified \
         FROM deliveries GROUP BY status",
    );
    assert_eq!(hours.len(), 1, "{hours:?}");
    assert_eq!(hours[0]["status"], "verified");
    assert_eq!(hours[0]["expected"], json!(stats.log_files));
    assert_eq!(hours[0]["verified"], json!(stats.log_files));
    let files = query(
        &lake,
        "SELECT status, count(*) AS n FROM logfiles GROUP BY status",
    );
    assert_eq!(
        files,
        vec![json!({"status": "verified", "n": stats.log_files})]
    );
    // Every event's file is verified: the join through sourcefile loses none.
    let joined = query(
        &lake,
        "SELECT count(*) AS n FROM events e JOIN logfiles f ON e.sourcefile = f.sourcefile \
         WHERE f.status = 'verified'",
    );
    let events = query(&lake, "SELECT count(*) AS n FROM events");
    assert_eq!(joined[0]["n"], events[0]["n"]);
}

/// The key from `AWSLogs/` on, as problems name files (an S3 key, or where it was read).
fn tail(path: &Path) -> String {
    let text = path.to_string_lossy();
    text[text.find("AWSLogs/").unwrap()..].to_string()
}

#[test]
fn each_tampering_is_reported_as_what_it_is() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    generate(&two_days(52), &trail).unwrap();
    let done = tamper(&trail, &Tamper::ALL).unwrap();
    let (code, summary, stderr) = ingest(&trail, &lake, &["--public-keys", &keys_of(&trail)]);
    assert_eq!(code, 0, "tampering never blocks ingest: {stderr}");
    assert!(stderr.contains("trailq verify --lake"), "{stderr}");
    assert!(summary["integrity"]["problems"].as_u64().unwrap() > 0);

    let (code, verdict) = verify(&lake, &[]);
    assert_eq!(code, 1, "{verdict:#}");
    let problems = verdict["problems"].as_array().unwrap();
    let kinds_of = |path: &Path| -> Vec<String> {
        let tail = tail(path);
        problems
            .iter()
            .filter(|p| p["key"].as_str().is_some_and(|k| k.ends_with(&tail)))
            .map(|p| p["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let detail_mentions = |kind: &str, text: &str| {
        problems
            .iter()
            .any(|p| p["kind"] == kind && p["detail"].as_str().unwrap().contains(text))
    };
    for tampered in &done {
        let path = &tampered.path;
        match tampered.kind {
            Tamper::EditLog => assert_eq!(kinds_of(path), ["altered"]),
            Tamper::DeleteLog => assert_eq!(kinds_of(path), ["missing"]),
            Tamper::DeleteDigest => {
                assert!(detail_mentions("gap", &tail(path)), "{problems:#?}")
            }
            Tamper::ForgeDigest => {
                let kinds = kinds_of(path);
                assert!(kinds.contains(&"bad-signature".to_string()), "{kinds:?}");
                assert!(kinds.contains(&"replaced".to_string()), "{kinds:?}");
                let hidden = tampered.other.as_ref().unwrap();
                assert_eq!(kinds_of(hidden), ["unlisted-no-digest"]);
            }
            Tamper::MoveDigest => {
                assert_eq!(kinds_of(tampered.other.as_ref().unwrap()), ["moved"]);
                assert!(detail_mentions("gap", &tail(path)), "{problems:#?}");
            }
            Tamper::ExtraLog => assert_eq!(kinds_of(path), ["injected"]),
        }
    }
    // Only the tampered account and region has problems; the others verify.
    let tampered_place: Vec<&str> = problems
        .iter()
        .map(|p| p["account"].as_str().unwrap())
        .collect();
    assert!(
        tampered_place.windows(2).all(|w| w[0] == w[1]),
        "{problems:#?}"
    );
    let clean = verdict["trails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["digests"] == t["digests_verified"] && t["files"] == json!({}))
        .count();
    assert_eq!(clean, 3, "{verdict:#}");
    // The canned query lists every file that does not verify, with its events in the lake.
    let listed = crate::util::json_rows(&[
        "query",
        "--lake",
        lake.to_str().unwrap(),
        "unverified_files",
        "--param",
        "since=2024-03-01",
        "--param",
        "until=2024-04-01",
        "--format",
        "json",
    ]);
    for tampered in &done {
        let path = match tampered.kind {
            Tamper::EditLog | Tamper::DeleteLog | Tamper::ExtraLog => &tampered.path,
            Tamper::ForgeDigest => tampered.other.as_ref().unwrap(),
            Tamper::DeleteDigest | Tamper::MoveDigest => continue,
        };
        let row = listed
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(&tail(path)))
            .unwrap_or_else(|| panic!("{} not listed: {listed:#?}", path.display()));
        let events = row["events"].as_u64().unwrap();
        match tampered.kind {
            Tamper::DeleteLog => assert_eq!(events, 0, "{row}"),
            _ => assert!(events > 0, "{row}"),
        }
    }
    // The morning report's "Log integrity" section names the hours that do not verify.
    let output = trailq(&[
        "report",
        "--lake",
        lake.to_str().unwrap(),
        "--since",
        "2024-03-09",
        "--until",
        "2024-03-11",
        "--format",
        "json",
        "--no-queries",
    ]);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&output.stderr)));
    let integrity = &report["integrity"];
    assert!(
        integrity["hours_verified"].as_u64() < integrity["hours"].as_u64(),
        "{integrity:#}"
    );
    assert_eq!(integrity["files_altered"], 1, "{integrity:#}");
    assert_eq!(integrity["files_missing"], 1, "{integrity:#}");
    let statuses: Vec<&str> = integrity["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    for status in ["altered", "missing", "gap", "invalid-digest", "unlisted"] {
        assert!(statuses.contains(&status), "{status} not in {statuses:?}");
    }
    // The altered file's events are in the lake, and a join through sourcefile shows them.
    let altered = query(
        &lake,
        "SELECT count(*) AS n FROM events e JOIN logfiles f ON e.sourcefile = f.sourcefile \
         WHERE f.status = 'altered'",
    );
    assert!(altered[0]["n"].as_u64().unwrap() > 0);
    let hours = query(
        &lake,
        "SELECT DISTINCT status FROM deliveries WHERE status <> 'verified' ORDER BY status",
    );
    let statuses: Vec<&str> = hours
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    for status in ["altered", "gap", "invalid-digest", "missing", "unlisted"] {
        assert!(statuses.contains(&status), "{status} not in {statuses:?}");
    }
}

#[test]
fn signatures_and_keys_that_are_absent_are_said_so_until_they_come() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let stats = generate(&small_spec(53), &trail).unwrap();
    // A mirror copied without its sidecars, ingested without the public key.
    let sidecars: Vec<_> = files_below(&trail)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".metadata.json"))
        .collect();
    let away = root.join("sidecars");
    std::fs::create_dir_all(&away).unwrap();
    for (i, sidecar) in sidecars.iter().enumerate() {
        std::fs::rename(sidecar, away.join(i.to_string())).unwrap();
    }
    assert_eq!(ingest(&trail, &lake, &[]).0, 0);
    let (code, verdict) = verify(&lake, &[]);
    assert_eq!(code, 1);
    let kinds: std::collections::BTreeSet<&str> = verdict["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["unsigned", "unverified"].into_iter().collect());
    assert!(
        verdict["problems"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("fetch-signatures"),
        "{verdict:#}"
    );

    // The sidecars come back: the digests are read again, with their signatures; the key is
    // still unknown, and the message says how to give it.
    for (i, sidecar) in sidecars.iter().enumerate() {
        std::fs::rename(away.join(i.to_string()), sidecar).unwrap();
    }
    let (code, summary, stderr) = ingest(&trail, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["digests"], json!(stats.digests), "read again");
    let (code, verdict) = verify(&lake, &[]);
    assert_eq!(code, 1);
    assert!(
        verdict["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "unknown-key"
                && p["detail"].as_str().unwrap().contains("--public-keys")),
        "{verdict:#}"
    );

    // Given once, the key is kept by the lake: a later verify needs it no more.
    let (code, verdict) = verify(&lake, &["--public-keys", &keys_of(&trail)]);
    assert_eq!(code, 0, "{verdict:#}");
    let (code, _) = verify(&lake, &[]);
    assert_eq!(code, 0);
    let digests = query(&lake, "SELECT count(*) AS n FROM digests");
    assert_eq!(
        digests[0]["n"],
        json!(2 * stats.digests),
        "each reading is kept; verification takes the current one"
    );
}

/// trailq's signing string and signatures, checked by the AWS CLI's own validator: the digests
/// `trailq generate` signs verify there, and a forged one does not.
#[test]
fn the_aws_clis_validator_agrees_with_trailqs_signatures() {
    let python = crate::delta::python();
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    generate(&two_days(54), &trail).unwrap();
    let done = tamper(&trail, &[Tamper::ForgeDigest]).unwrap();
    let forged = &done[0].path;
    let keys: Value = serde_json::from_slice(&std::fs::read(keys_of(&trail)).unwrap()).unwrap();
    let public_key = keys["PublicKeyList"][0]["Value"].as_str().unwrap();
    let digests: Vec<_> = files_below(&trail)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/CloudTrail-Digest/"))
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let jobs: String = digests
        .iter()
        .map(|path| {
            json!({
                "digest": path,
                "metadata": format!("{}.metadata.json", path.display()),
                "public_key": public_key,
            })
            .to_string()
                + "\n"
        })
        .collect();
    let mut child = std::process::Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/awscli_validate.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the test python runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(jobs.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "awscli's validator: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(verdicts.len(), digests.len());
    for (path, verdict) in digests.iter().zip(&verdicts) {
        if path == forged {
            assert!(verdict.starts_with("invalid"), "{verdict}");
        } else {
            assert_eq!(verdict, "valid", "{}", path.display());
        }
    }
}
