//! S3 end to end: the real binary against a real S3-compatible server on loopback (moto, started
//! by scripts/test.sh, its address in TRAILQ_TEST_S3_ENDPOINT), directly and through a proxy
//! that injects faults.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use trailq::generate::{TrailSpec, generate};

use crate::fault_proxy::{Fault, FaultProxy, Rules};
use crate::ingest::{add_shared_bucket_neighbours, small_spec};
use crate::util::*;

/// The S3 server every test of this module uses.
fn endpoint() -> String {
    std::env::var("TRAILQ_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "the S3 tests need an S3-compatible server: run `bash scripts/test.sh` (it installs \
             and starts moto), or start `moto_server -p 5000` and set \
             TRAILQ_TEST_S3_ENDPOINT=http://127.0.0.1:5000"
        )
    })
}

/// Credentials and settings for the child processes: fixed test keys, never the user's files.
const AWS_ENV: [(&str, &str); 6] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/nonexistent"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

fn client() -> Client {
    let config = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    Client::from_conf(config)
}

/// A new empty bucket with a name unique to this test run.
fn new_bucket(hint: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "{hint}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    runtime()
        .block_on(client().create_bucket().bucket(&name).send())
        .unwrap();
    name
}

fn put(bucket: &str, key: &str, bytes: Vec<u8>) {
    runtime()
        .block_on(
            client()
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(bytes))
                .send(),
        )
        .unwrap();
}

/// Uploads every file below `dir` to `bucket` under `prefix`, keyed by its path below `dir`. A
/// digest's signature sidecar (`<digest>.metadata.json`) becomes the digest object's metadata,
/// as CloudTrail stores it.
fn upload_dir(bucket: &str, dir: &Path, prefix: &str) -> usize {
    use futures::StreamExt;
    let files: Vec<PathBuf> = files_below(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".metadata.json"))
        .collect();
    let client = client();
    runtime().block_on(async {
        let uploads = futures::stream::iter(&files).map(|path| {
            let key = format!(
                "{prefix}{}",
                path.strip_prefix(dir).unwrap().to_string_lossy()
            );
            let body = std::fs::read(path).unwrap();
            let sidecar = PathBuf::from(format!("{}.metadata.json", path.display()));
            let metadata: BTreeMap<String, String> = std::fs::read(&sidecar)
                .map(|text| serde_json::from_slice(&text).unwrap())
                .unwrap_or_default();
            let client = client.clone();
            async move {
                let mut put = client.put_object().bucket(bucket).key(key);
                for (name, value) in metadata {
                    put = put.metadata(name, value);
                }
                put.body(ByteStream::from(body)).send().await.unwrap();
            }
        });
        // A few at a time: moto serves requests one thread each.
        uploads.buffer_unordered(8).collect::<Vec<()>>().await;
    });
    files.len()
}

/// Copies every object of `bucket` under `prefix` into `dir` (to read a lake in S3 back).
fn download_prefix(bucket: &str, prefix: &str, dir: &Path) -> usize {
    let client = client();
    runtime().block_on(async {
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            for object in page.unwrap().contents() {
                let key = object.key().unwrap();
                let body = client.get_object().bucket(bucket).key(key).send().await;
                let bytes = body.unwrap().body.collect().await.unwrap().into_bytes();
                let path = dir.join(key.strip_prefix(prefix).unwrap());
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
                count += 1;
            }
        }
        count
    })
}

/// `trailq ARGS` with test credentials and `--endpoint-url`.
fn command(args: &[&str], endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trailq"));
    command
        .args(args)
        .args(["--endpoint-url", endpoint])
        .env_remove("TRAILQ_FAILPOINT")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(AWS_ENV);
    command
}

/// `trailq ingest SOURCE --lake LAKE --json [extra]` against `endpoint`.
fn s3_ingest(source: &str, lake: &str, extra: &[&str], endpoint: &str) -> (i32, Value, String) {
    let mut args = vec!["ingest", source, "--lake", lake, "--json"];
    args.extend_from_slice(extra);
    let output = command(&args, endpoint).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("no JSON summary ({err}); stderr:\n{stderr}"));
    (output.status.code().unwrap_or(-1), summary, stderr)
}

/// A writer of several commits that checkpoints the manifest after every other one and cleans
/// its log after seconds, so that concurrent writers race on checkpoints and cleaning too.
fn spawn_ingest(source: &str, lake: &str, extra: &[&str]) -> Child {
    let mut args = vec!["ingest", source, "--lake", lake, "--json"];
    args.extend_from_slice(&["--commit-every", "256KiB", "--memory-budget", "4MiB"]);
    args.extend_from_slice(extra);
    command(&args, &endpoint())
        .env("TRAILQ_CHECKPOINT_INTERVAL", "2")
        .env("TRAILQ_LOG_RETENTION_SECS", "4")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn spec(seed: u64) -> TrailSpec {
    TrailSpec {
        events_per_day: 3_000,
        duplicate_rate: TrailSpec::default().duplicate_rate,
        ..small_spec(seed)
    }
}

/// Generates `spec` into `root/trail` and uploads it to a new bucket named after `hint`.
fn uploaded_trail(root: &Path, spec: &TrailSpec, hint: &str) -> (PathBuf, String) {
    let trail = root.join("trail");
    let bucket = new_bucket(hint);
    let spec = TrailSpec {
        bucket: bucket.clone(),
        ..spec.clone()
    };
    generate(&spec, &trail).unwrap();
    upload_dir(&bucket, &trail, "");
    (trail, bucket)
}

/// A lake's rows by day and event id (or, without one, by key relative to the source root and record
/// index: re-delivered copies of an event may survive from either file), rebuilt to JSON, with
/// the number of rows (to catch duplicates).
fn rows_by_key(lake: &Path, root: &str) -> (BTreeMap<String, Value>, usize) {
    let mut rows = BTreeMap::new();
    let mut count = 0;
    for table in ["events", "insights"] {
        for row in read_rows(lake, table) {
            let file = row
                .file
                .strip_prefix(root)
                .unwrap_or_else(|| panic!("{} is not under {root}", row.file))
                .trim_start_matches('/');
            // Events are de-duplicated by id within a day.
            let day = row.json["eventTime"].as_str().unwrap_or_default();
            let key = match &row.event_id {
                Some(id) => format!("{table}/{}/{id}", &day[..day.len().min(10)]),
                None => format!("{table}/{file}#{}", row.index),
            };
            rows.insert(key, row.json);
            count += 1;
        }
    }
    (rows, count)
}

/// Asserts that two lakes hold the same events from the same relative keys, each once.
fn assert_same_lake(s3_lake: &Path, s3_root: &str, local_lake: &Path, local_root: &str) {
    let (s3_rows, s3_count) = rows_by_key(s3_lake, s3_root);
    let (local_rows, local_count) = rows_by_key(local_lake, local_root);
    assert!(!local_rows.is_empty(), "the reference lake is empty");
    assert_eq!(s3_count, s3_rows.len(), "duplicate rows in the S3-fed lake");
    assert_eq!(
        local_count,
        local_rows.len(),
        "duplicate rows in the reference"
    );
    assert_eq!(s3_rows.len(), local_rows.len(), "row counts differ");
    for (key, json) in &local_rows {
        assert_eq!(s3_rows.get(key), Some(json), "{key:?} differs");
    }
}

/// Asserts that each day of a lake's `events` is one file (as a compaction leaves it).
fn assert_one_file_a_day(lake: &Path) {
    let days = table_files(lake, "events");
    let folders: HashSet<_> = days.iter().map(|p| p.parent().unwrap()).collect();
    assert_eq!(days.len(), folders.len(), "{days:?}");
}

#[test]
fn trail_bucket_ingests_like_the_local_folder() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(&root, &spec(31), "trail");
    let endpoint = endpoint();

    let local_lake = root.join("local-lake");
    let (code, local, stderr) = ingest(&trail, &local_lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    let lake = root.join("lake");
    let source = format!("s3://{bucket}/AWSLogs/");
    let (code, summary, stderr) = s3_ingest(&source, lake.to_str().unwrap(), &[], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    for field in ["ingested", "events", "duplicates", "rejected"] {
        assert_eq!(summary[field], local[field], "{field}");
    }
    assert_same_lake(
        &lake,
        &format!("s3://{bucket}"),
        &local_lake,
        trail.to_str().unwrap(),
    );

    // A re-run reads nothing; an object delivered late, under an earlier key, is picked up.
    let (code, again, stderr) = s3_ingest(&source, lake.to_str().unwrap(), &[], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again["transactions"], 0);
    assert_eq!(again["unchanged"], summary["ingested"]);
    let late_key = "AWSLogs/000000000000/CloudTrail/us-east-1/2024/03/09/000000000000_CloudTrail_us-east-1_20240309T0000Z_late.json";
    let late = r#"{"Records":[{"eventVersion":"1.08","eventID":"late-0001","eventTime":"2024-03-09T00:00:01Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","recipientAccountId":"000000000000"}]}"#;
    put(&bucket, late_key, late.as_bytes().to_vec());
    let (code, late_run, stderr) = s3_ingest(&source, lake.to_str().unwrap(), &[], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(late_run["ingested"], 1);
    assert_eq!(late_run["events"], 1);
    let ids: HashSet<String> = read_rows(&lake, "events")
        .into_iter()
        .filter_map(|row| row.event_id)
        .collect();
    assert!(ids.contains("late-0001"));
}

/// Without credentials, S3 says what to do, not what the SDK's provider chain tried.
#[test]
fn missing_credentials_say_where_to_put_them() {
    let bucket = new_bucket("nocreds");
    let (_dir, root) = temp_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_trailq"))
        .args(["ingest", &format!("s3://{bucket}/AWSLogs/"), "--lake"])
        .arg(root.join("lake"))
        .args(["--endpoint-url", &endpoint()])
        .env_remove("TRAILQ_FAILPOINT")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(AWS_ENV.into_iter().filter(|(key, _)| !key.contains("KEY")))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no AWS credentials found: set AWS_ACCESS_KEY_ID"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("CredentialsNotLoaded"),
        "no debug structures: {stderr}"
    );
}

/// A bucket shared with other services: their folders are never listed, files beside
/// `AWSLogs/` are skipped, and the run is clean.
#[test]
fn shared_log_bucket_lists_only_the_trail_folders() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    generate(&spec(33), &trail).unwrap();
    let local_lake = root.join("local-lake");
    let (code, local, stderr) = ingest(&trail, &local_lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (other, beside) = add_shared_bucket_neighbours(&trail);
    let bucket = new_bucket("shared");
    upload_dir(&bucket, &trail, "");

    let proxy = FaultProxy::start(&endpoint(), Rules::default());
    let lake = root.join("lake");
    let (code, summary, stderr) = s3_ingest(
        &format!("s3://{bucket}/"),
        lake.to_str().unwrap(),
        &[],
        &proxy.endpoint,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["failed"], 0, "{stderr}");
    for field in ["ingested", "events", "duplicates", "rejected"] {
        assert_eq!(summary[field], local[field], "{field}");
    }
    assert_eq!(
        summary["other_services"], 0,
        "never listed, so never counted as files"
    );
    assert!(
        summary["skipped_folders"].as_u64().unwrap() > 0,
        "{summary}"
    );
    // Files directly beside AWSLogs/ come with the root's one delimited listing; the folder
    // beside it (access-logs/) is not searched.
    assert_eq!(
        summary["outside_logs"],
        json!(beside.iter().filter(|b| !b.contains('/')).count())
    );
    for line in proxy.request_lines() {
        for service in [
            "elasticloadbalancing",
            "vpcflowlogs",
            "Config",
            "GuardDuty",
            "access-logs",
        ] {
            assert!(
                !line.contains(&format!("{service}%2F")) && !line.contains(&format!("{service}/")),
                "{service} was requested: {line}"
            );
        }
    }
    assert!(other.iter().all(|key| !key.contains("CloudTrail")));
}

#[test]
#[ignore = "reads ../shared/testdata/cloudtrail-public: scripts/test.sh runs it when that folder is there"]
fn public_samples_ingest_from_s3_like_from_disk() {
    let samples = shared_samples();
    let bucket = new_bucket("samples");
    upload_dir(&bucket, &samples, "public/");
    for name in [
        "awsdocs",
        "stratus-red-team",
        "aws-cloudtrail-processing-library",
    ] {
        let (_dir, root) = temp_dir();
        let source = samples.join(name).join("AWSLogs");
        let (local_code, local, _) = ingest(&source, &root.join("local"), &[]);
        let s3_source = format!("s3://{bucket}/public/{name}/AWSLogs/");
        let lake = root.join("lake");
        let (code, summary, stderr) =
            s3_ingest(&s3_source, lake.to_str().unwrap(), &[], &endpoint());
        assert_eq!(code, local_code, "{name}: {stderr}");
        assert_eq!(summary["events"], local["events"], "{name}");
        assert_eq!(summary["rejected"], local["rejected"], "{name}");
        // These samples reuse event ids with different content, so which copy survives
        // de-duplication depends on order: compare the kept keys, and check each row against
        // the input it names.
        let s3_root = format!("s3://{bucket}/public/{name}/AWSLogs");
        let local_root = source.to_str().unwrap();
        let (s3_rows, s3_count) = rows_by_key(&lake, &s3_root);
        let (local_rows, local_count) = rows_by_key(&root.join("local"), local_root);
        assert_eq!(s3_count, local_count, "{name}");
        assert!(s3_rows.keys().eq(local_rows.keys()), "{name}");
        let inputs: BTreeMap<(String, u64), Value> = read_inputs(&source)
            .into_iter()
            .map(|r| ((r.file, r.index), r.json))
            .collect();
        for table in ["events", "insights"] {
            for row in read_rows(&lake, table) {
                let file = row.file.replacen(&s3_root, local_root, 1);
                assert_eq!(inputs.get(&(file, row.index)), Some(&row.json), "{name}");
            }
        }
    }
}

#[test]
fn org_trail_listing_reads_only_the_selected_prefixes() {
    let (_dir, root) = temp_dir();
    let spec = TrailSpec {
        org_id: Some("o-abc123def4".into()),
        prefix: Some("org/logs".into()),
        days: 4,
        events_per_day: 1_500,
        ..spec(32)
    };
    let (trail, bucket) = uploaded_trail(&root, &spec, "org");
    let account = files_below(&trail)
        .iter()
        .find_map(|p| {
            let key = p.to_string_lossy().into_owned();
            trailq::source::key_parts(&key).map(|parts| parts.account.to_string())
        })
        .unwrap();
    let proxy = FaultProxy::start(&endpoint(), Rules::default());
    let lake = root.join("lake");
    let (code, summary, stderr) = s3_ingest(
        &format!("s3://{bucket}/org/logs/AWSLogs/"),
        lake.to_str().unwrap(),
        &[
            "--accounts",
            &account,
            "--regions",
            "us-east-1",
            "--since",
            "2024-03-10",
            "--until",
            "2024-03-10",
        ],
        &proxy.endpoint,
    );
    assert_eq!(code, 0, "{stderr}");

    // Exactly the files of that account and region delivered on the 10th or the 11th.
    let selected: HashSet<String> = files_below(&trail)
        .iter()
        .map(|p| {
            p.strip_prefix(&trail)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        // Signature sidecars were uploaded as their digests' metadata.
        .filter(|key| !key.ends_with(".metadata.json"))
        .filter(|key| {
            let parts = trailq::source::key_parts(key).unwrap();
            parts.account == account
                && parts.region == Some("us-east-1")
                && ["2024/03/10/", "2024/03/11/"]
                    .iter()
                    .any(|d| key.contains(d))
        })
        .collect();
    assert!(!selected.is_empty());
    // Log files and digests alike.
    assert_eq!(summary["ingested"], selected.len() as u64);
    let digests = selected
        .iter()
        .filter(|key| key.contains("/CloudTrail-Digest/"))
        .count();
    assert!(digests > 0);
    assert_eq!(summary["digests"], digests as u64);
    let read: HashSet<String> = read_rows(&lake, "events")
        .into_iter()
        .chain(read_rows(&lake, "insights"))
        .map(|row| {
            row.file
                .strip_prefix(&format!("s3://{bucket}/"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(read.is_subset(&selected));

    // The listing walked the layout: no flat listing from the root, and flat listings only of
    // the selected day prefixes.
    let lists: Vec<String> = proxy
        .request_lines()
        .into_iter()
        .filter(|line| line.contains("list-type=2"))
        .collect();
    assert!(!lists.is_empty());
    for line in &lists {
        let flat = !line.contains("delimiter=");
        if flat {
            assert!(
                line.contains("2024%2F03%2F10%2F") || line.contains("2024%2F03%2F11%2F"),
                "flat listing outside the selected days: {line}"
            );
            assert!(line.contains(&account), "{line}");
        }
    }
}

#[test]
fn lake_in_s3_is_written_read_back_and_queried() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    generate(&spec(33), &trail).unwrap();
    let local_lake = root.join("local-lake");
    assert_eq!(ingest(&trail, &local_lake, &[]).0, 0);

    let bucket = new_bucket("lake");
    let lake_url = format!("s3://{bucket}/security/trailq/");
    let endpoint = endpoint();
    let (code, summary, stderr) = s3_ingest(trail.to_str().unwrap(), &lake_url, &[], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    assert!(summary["events"].as_u64().unwrap() > 0);
    let (code, again, stderr) = s3_ingest(trail.to_str().unwrap(), &lake_url, &[], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        again["transactions"], 0,
        "the manifest in S3 makes re-runs no-ops"
    );

    let mirror = root.join("mirror");
    download_prefix(&bucket, "security/trailq/", &mirror);
    assert!(
        mirror
            .join("_trailq/log/00000000000000000001.json")
            .is_file()
    );
    assert!(
        files_below(&mirror)
            .iter()
            .all(|p| !p.to_string_lossy().contains("_trailq/staging")),
        "staging objects were left behind"
    );
    let root_str = trail.to_str().unwrap();
    assert_same_lake(&mirror, root_str, &local_lake, root_str);

    let sql = "SELECT eventname, count(*) AS n FROM events WHERE event_date = DATE '2024-03-09' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5";
    let remote = command(
        &["query", "--lake", &lake_url, "--format", "csv", sql],
        &endpoint,
    )
    .output()
    .unwrap();
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let local = trailq(&[
        "query",
        "--lake",
        local_lake.to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    assert_eq!(remote.stdout, local.stdout);
    assert!(remote.stdout.len() > 20);

    let missing = command(
        &[
            "query",
            "--lake",
            &format!("s3://{bucket}/nothing/"),
            "SELECT 1",
        ],
        &endpoint,
    )
    .output()
    .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("trailq ingest"));
}

#[test]
fn lake_in_s3_is_compacted_and_a_crash_mid_publish_shows_no_event_twice() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    generate(&spec(34), &trail).unwrap();
    let local_lake = root.join("local-lake");
    assert_eq!(ingest(&trail, &local_lake, &[]).0, 0);
    let bucket = new_bucket("compact");
    let lake_url = format!("s3://{bucket}/lake/");
    let endpoint = endpoint();
    let source = trail.to_str().unwrap();
    let (code, _, stderr) = s3_ingest(source, &lake_url, &["--memory-budget", "1MiB"], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    let count_sql = "SELECT count(*) AS n FROM events";
    let count = || -> String {
        let output = command(
            &["query", "--lake", &lake_url, "--format", "csv", count_sql],
            &endpoint,
        )
        .output()
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let events = count();

    // A compaction that dies after its commit, half-way through moving its files into place:
    // old and new files are both in the bucket, yet a query counts each event once.
    let crashed = command(&["compact", "--lake", &lake_url], &endpoint)
        .env("TRAILQ_FAILPOINT", "mid-publish")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the failpoint did not fire");
    assert_eq!(count(), events);

    // The next run finishes the publish; then every day is one file with the same rows.
    let finished = command(&["compact", "--lake", &lake_url, "--json"], &endpoint)
        .output()
        .unwrap();
    assert!(
        finished.status.success(),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );
    assert_eq!(count(), events);
    let mirror = root.join("mirror");
    download_prefix(&bucket, "lake/", &mirror);
    assert_one_file_a_day(&mirror);
    assert!(
        files_below(&mirror)
            .iter()
            .all(|p| !p.to_string_lossy().contains("_trailq/staging"))
    );
    assert_same_lake(&mirror, source, &local_lake, source);

    // Other engines read the compacted lake in S3 through its Delta logs: the same rows.
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    let view = crate::delta::delta_view(&lake_url, &env);
    let versions = crate::delta::assert_view_has(&view, crate::delta::trailq_keys(&local_lake));
    assert!(
        versions["events"] >= 2,
        "created, ingested, compacted: {versions:?}"
    );
}

#[test]
fn corrupt_object_is_reported_by_url_and_retried() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(
        &root,
        &TrailSpec {
            extras: false,
            ..spec(34)
        },
        "corrupt",
    );
    let good = files_below(&trail).pop().unwrap();
    let key = good
        .strip_prefix(&trail)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let bytes = std::fs::read(&good).unwrap();
    put(&bucket, &key, bytes[..bytes.len() / 2].to_vec());

    let lake = root.join("lake");
    let source = format!("s3://{bucket}/");
    let endpoint = endpoint();
    let (code, summary, stderr) = s3_ingest(&source, lake.to_str().unwrap(), &[], &endpoint);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(summary["failed"], 1);
    assert!(stderr.contains(&format!("s3://{bucket}/{key}")), "{stderr}");
    let total = read_inputs(&trail).len();
    let first = read_rows(&lake, "events").len();
    assert!(first > 0 && first < total);

    // Repaired (a new ETag), the object is read on the next run, and nothing is doubled.
    put(&bucket, &key, bytes);
    let (code, summary, stderr) = s3_ingest(&source, lake.to_str().unwrap(), &[], &endpoint);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["ingested"], 1);
    let local_lake = root.join("local");
    assert_eq!(ingest(&trail, &local_lake, &[]).0, 0);
    assert_same_lake(
        &lake,
        &format!("s3://{bucket}"),
        &local_lake,
        trail.to_str().unwrap(),
    );
}

#[test]
fn faults_on_every_request_kind_lose_nothing() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(&root, &spec(35), "faults");
    let local_lake = root.join("local");
    assert_eq!(ingest(&trail, &local_lake, &[]).0, 0);

    // Every fourth request fails: throttled, 500, dropped, answer lost, or body cut short. Both
    // the trail bucket and the lake (in S3 too) go through the proxy.
    let proxy = FaultProxy::start(
        &endpoint(),
        Rules {
            fault_every: 4,
            ..Rules::default()
        },
    );
    let lake_url = format!("s3://{bucket}/lake/");
    let source = format!("s3://{bucket}/AWSLogs/");
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (code, summary, stderr) = s3_ingest(&source, &lake_url, &[], &proxy.endpoint);
        runs.push((code, summary, stderr));
        if runs.last().unwrap().0 == 0 {
            break;
        }
    }
    let (code, _, stderr) = runs.last().unwrap();
    assert_eq!(
        *code,
        0,
        "still failing after {} runs: {stderr}",
        runs.len()
    );
    for (code, summary, stderr) in &runs[..runs.len() - 1] {
        // A run that gave up on an object named it and exited 2; the next run read it.
        assert_eq!(*code, 2);
        assert!(stderr.contains("s3://"), "{stderr}");
        assert!(summary["failed"].as_u64().unwrap() > 0);
    }
    for fault in [
        Fault::SlowDown,
        Fault::InternalError,
        Fault::Drop,
        Fault::LostAnswer,
        Fault::CutBody,
    ] {
        assert!(proxy.injected(fault) > 0, "{fault:?} was never injected");
    }
    let mirror = root.join("mirror");
    download_prefix(&bucket, "lake/", &mirror);
    assert_same_lake(
        &mirror,
        &format!("s3://{bucket}"),
        &local_lake,
        trail.to_str().unwrap(),
    );
}

#[test]
fn access_denied_on_one_account_does_not_stop_the_others() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(
        &root,
        &TrailSpec {
            extras: false,
            ..spec(36)
        },
        "denied",
    );
    let accounts: Vec<String> = std::fs::read_dir(trail.join("AWSLogs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(accounts.len(), 2);
    let denied = format!("AWSLogs/{}/", accounts[0]);
    let proxy = FaultProxy::start(
        &endpoint(),
        Rules {
            deny_prefix: Some(denied.clone()),
            ..Rules::default()
        },
    );
    let lake = root.join("lake");
    let (code, summary, stderr) = s3_ingest(
        &format!("s3://{bucket}/AWSLogs/"),
        lake.to_str().unwrap(),
        &[],
        &proxy.endpoint,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(proxy.denied() > 0);
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(
        stderr.contains(&format!("s3://{bucket}/{denied}")),
        "{stderr}"
    );
    let expected = read_inputs(&trail.join("AWSLogs").join(&accounts[1]))
        .iter()
        .filter_map(|r| r.json["eventID"].as_str().map(str::to_string))
        .collect::<HashSet<_>>();
    let got: HashSet<String> = read_rows(&lake, "events")
        .into_iter()
        .filter_map(|row| row.event_id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected, "the other account is ingested whole");
    assert!(summary["failed"].as_u64().unwrap() >= 1);
}

#[test]
fn shards_and_concurrent_writers_share_one_lake() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(&root, &spec(37), "shards");
    let local_lake = root.join("local");
    assert_eq!(ingest(&trail, &local_lake, &[]).0, 0);
    let source = format!("s3://{bucket}/AWSLogs/");

    // Two shards at once into one lake in S3: no conflict, no duplicate, nothing missing.
    let lake_url = format!("s3://{bucket}/sharded/");
    let shards: Vec<Child> = (0..2)
        .map(|i| spawn_ingest(&source, &lake_url, &["--shard", &format!("{i}/2")]))
        .collect();
    let mut ingested = 0;
    for child in shards {
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            summary["ingested"].as_u64().unwrap() > 0,
            "each shard has work"
        );
        ingested += summary["ingested"].as_u64().unwrap();
    }
    let mirror = root.join("sharded");
    download_prefix(&bucket, "sharded/", &mirror);
    assert_same_lake(
        &mirror,
        &format!("s3://{bucket}"),
        &local_lake,
        trail.to_str().unwrap(),
    );
    let (_, whole, _) = ingest(&trail, &root.join("again"), &[]);
    assert_eq!(ingested, whole["ingested"].as_u64().unwrap());

    // Two unsharded writers racing on one lake: one may lose the commit, none corrupts it.
    let lake_url = format!("s3://{bucket}/raced/");
    let racers: Vec<Child> = (0..2)
        .map(|_| spawn_ingest(&source, &lake_url, &[]))
        .collect();
    let codes: Vec<i32> = racers
        .into_iter()
        .map(|child| child.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert!(codes.contains(&0), "{codes:?}");
    let (code, _, stderr) = s3_ingest(&source, &lake_url, &[], &endpoint());
    assert_eq!(code, 0, "{stderr}");
    let mirror = root.join("raced");
    download_prefix(&bucket, "raced/", &mirror);
    assert_same_lake(
        &mirror,
        &format!("s3://{bucket}"),
        &local_lake,
        trail.to_str().unwrap(),
    );
}

#[test]
fn compactions_racing_appends_to_the_same_days_lose_nothing() {
    let (_dir, root) = temp_dir();
    let full = root.join("full");
    generate(&spec(39), &full).unwrap();
    let reference = root.join("reference");
    assert_eq!(ingest(&full, &reference, &[]).0, 0);
    // Every other file first, so that the rest lands in the days being compacted.
    let trail = root.join("trail");
    let mut files = files_below(&full);
    files.sort();
    let later: Vec<PathBuf> = files.iter().skip(1).step_by(2).cloned().collect();
    for (i, file) in files.iter().enumerate() {
        let target = trail.join(file.strip_prefix(&full).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        if i % 2 == 0 {
            std::fs::copy(file, &target).unwrap();
        }
    }
    let bucket = new_bucket("race");
    let lake_url = format!("s3://{bucket}/lake/");
    let endpoint = endpoint();
    let source = trail.to_str().unwrap();
    let small = ["--memory-budget", "1MiB"];
    let (code, _, stderr) = s3_ingest(source, &lake_url, &small, &endpoint);
    assert_eq!(code, 0, "{stderr}");
    for file in &later {
        std::fs::copy(file, trail.join(file.strip_prefix(&full).unwrap())).unwrap();
    }

    // Two compactions and an append of the same days, at once.
    let spawn = |args: &[&str]| {
        command(args, &endpoint)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let compactions: Vec<Child> = (0..2)
        .map(|_| spawn(&["compact", "--lake", &lake_url]))
        .collect();
    let append = spawn(&[
        "ingest",
        source,
        "--lake",
        &lake_url,
        "--memory-budget",
        "1MiB",
    ]);
    let appended = append.wait_with_output().unwrap();
    assert!(
        appended.status.success(),
        "an append never conflicts with a compaction: {}",
        String::from_utf8_lossy(&appended.stderr)
    );
    let mut won = 0;
    for compaction in compactions {
        let output = compaction.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        match output.status.code() {
            Some(0) => won += 1,
            // The loser of two compactions of one day says so, and leaves the day to the winner.
            Some(2) => assert!(stderr.contains("at the same time"), "{stderr}"),
            code => panic!("compaction exited {code:?}: {stderr}"),
        }
    }
    assert!(won >= 1, "no compaction committed");

    // Whatever the order, every event is there once; a last compaction leaves one file a day.
    let finished = command(&["compact", "--lake", &lake_url], &endpoint)
        .output()
        .unwrap();
    assert!(
        finished.status.success(),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );
    let mirror = root.join("mirror");
    download_prefix(&bucket, "lake/", &mirror);
    assert_same_lake(&mirror, source, &reference, full.to_str().unwrap());
    assert_one_file_a_day(&mirror);
}

/// Digests are listed and read from S3 with the signature CloudTrail stores in the object's
/// metadata (`x-amz-meta-signature`), hold what the same digests read from disk (with their
/// sidecars) hold, and verify in S3, where their location is checked as `s3://bucket/key`.
#[test]
fn digests_come_from_s3_with_their_signatures() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(&root, &spec(43), "digests");
    let digests: Vec<PathBuf> = files_below(&trail)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .filter(|p| p.to_string_lossy().contains("/CloudTrail-Digest/"))
        .collect();
    assert!(!digests.is_empty());
    let keys = crate::integrity::keys_of(&trail);
    let lake = root.join("lake");
    let (code, summary, stderr) = s3_ingest(
        &format!("s3://{bucket}/"),
        lake.to_str().unwrap(),
        &["--public-keys", &keys],
        &endpoint(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["digests"], digests.len() as u64);
    assert_eq!(summary["integrity"]["problems"], 0, "{stderr}");
    assert_eq!(
        summary["integrity"]["digests_verified"],
        digests.len() as u64
    );
    let local_lake = root.join("local-lake");
    assert_eq!(ingest(&trail, &local_lake, &[]).0, 0);

    let sql = "SELECT sourcefile, sha256, signature, digests3object, logfiles FROM digests \
               ORDER BY digests3object";
    let from_s3 = query(&lake, sql);
    let from_disk = query(&local_lake, sql);
    assert_eq!(from_s3.len(), digests.len());
    for (s3, disk) in from_s3.iter().zip(&from_disk) {
        let key = s3["sourcefile"]
            .as_str()
            .unwrap()
            .strip_prefix(&format!("s3://{bucket}/"))
            .unwrap();
        let sidecar: Value = serde_json::from_slice(
            &std::fs::read(trail.join(format!("{key}.metadata.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(s3["signature"], sidecar["signature"], "{key}");
        for column in ["signature", "sha256", "digests3object", "logfiles"] {
            assert_eq!(s3[column], disk[column], "{column} of {key}");
        }
    }
}

/// From S3, the public keys the digests name come from CloudTrail's `ListPublicKeys` (here a
/// loopback CloudTrail speaking its JSON protocol, since moto has no such API), asked once per
/// region over the digests' span with the same credentials, and kept in the lake: the next run
/// asks nothing.
#[test]
fn digest_keys_come_from_cloudtrail_once_per_region() {
    let (_dir, root) = temp_dir();
    let (_trail, bucket) = uploaded_trail(&root, &spec(44), "keys");
    let keys_file = root.join("public-keys.json");
    trailq::generate::write_public_keys(&keys_file).unwrap();
    let mut listed: Value = serde_json::from_slice(&std::fs::read(&keys_file).unwrap()).unwrap();
    let listed = listed["PublicKeyList"].take();
    let served: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            json!({"Value": key["Value"], "Fingerprint": key["Fingerprint"],
                   "ValidityStartTime": 1577836800.0})
        })
        .collect();
    let cloudtrail = crate::cloudtrail_server::CloudTrailServer::start(json!(served));
    let lake = root.join("lake");
    let run = || {
        let output = command(
            &[
                "ingest",
                &format!("s3://{bucket}/"),
                "--lake",
                lake.to_str().unwrap(),
                "--json",
            ],
            &endpoint(),
        )
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &cloudtrail.endpoint)
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let summary: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("no JSON summary ({err}); stderr:\n{stderr}"));
        (output.status.code(), summary, stderr)
    };
    let (code, summary, stderr) = run();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(summary["integrity"]["problems"], 0, "{stderr}");
    assert_eq!(summary["integrity"]["digests_verified"], summary["digests"]);
    let calls = cloudtrail.calls();
    let mut regions: Vec<&str> = calls.iter().map(|c| c.region.as_str()).collect();
    regions.sort();
    assert_eq!(regions, ["eu-west-1", "us-east-1"], "{calls:?}");
    let first_digest = chrono::DateTime::parse_from_rfc3339("2024-03-09T00:00:00Z")
        .unwrap()
        .timestamp() as f64;
    for call in &calls {
        assert_eq!(call.operation, "ListPublicKeys");
        let start = call.body["StartTime"].as_f64().unwrap();
        let end = call.body["EndTime"].as_f64().unwrap();
        assert!(
            start <= first_digest && end > first_digest + 86_400.0,
            "{call:?}"
        );
    }
    // Kept in the lake: the next run (nothing new) asks CloudTrail nothing.
    let (code, _, stderr) = run();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(cloudtrail.calls().len(), calls.len());
}

/// A mirror copied without metadata (as `aws s3 sync` copies) gets its digests' signatures from
/// `trailq fetch-signatures`, as sidecars equal to what CloudTrail stored, and then verifies
/// offline; a digest with no signature in S3 is reported, not written.
#[test]
fn fetch_signatures_makes_a_mirror_verifiable_offline() {
    let (_dir, root) = temp_dir();
    let (trail, bucket) = uploaded_trail(&root, &spec(45), "sigs");
    let mirror = root.join("mirror");
    download_prefix(&bucket, "AWSLogs/", &mirror.join("AWSLogs"));
    let sidecars = |dir: &Path| -> Vec<PathBuf> {
        files_below(dir)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".metadata.json"))
            .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
            .collect()
    };
    assert!(sidecars(&mirror).is_empty(), "a plain copy has no metadata");
    // One digest whose object lost its metadata in S3.
    let unsigned = sidecars(&trail)[0]
        .to_string_lossy()
        .replace(".metadata.json", "");
    put(
        &bucket,
        &unsigned,
        std::fs::read(trail.join(&unsigned)).unwrap(),
    );

    let output = command(
        &[
            "fetch-signatures",
            &format!("s3://{bucket}/"),
            "--mirror",
            mirror.to_str().unwrap(),
        ],
        &endpoint(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&unsigned) && stderr.contains("no signature"),
        "{stderr}"
    );
    let expected: Vec<PathBuf> = sidecars(&trail)
        .into_iter()
        .filter(|p| !p.to_string_lossy().starts_with(&unsigned))
        .collect();
    assert_eq!(sidecars(&mirror), expected);
    for sidecar in &expected {
        let written: Value =
            serde_json::from_slice(&std::fs::read(mirror.join(sidecar)).unwrap()).unwrap();
        let original: Value =
            serde_json::from_slice(&std::fs::read(trail.join(sidecar)).unwrap()).unwrap();
        assert_eq!(written, original, "{}", sidecar.display());
    }

    let lake = root.join("lake");
    let keys = crate::integrity::keys_of(&trail);
    let (code, summary, stderr) = ingest(&mirror, &lake, &["--public-keys", &keys]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        summary["integrity"]["digests_verified"].as_u64().unwrap() + 1,
        summary["digests"].as_u64().unwrap(),
        "all but the digest S3 had no signature for: {stderr}"
    );
    // What is not verified is that digest, and the files it lists (present, hash matching).
    let output = crate::util::trailq(&[
        "verify",
        "--lake",
        lake.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap();
    for problem in verdict["problems"].as_array().unwrap() {
        match problem["kind"].as_str().unwrap() {
            "unsigned" => assert!(problem["key"].as_str().unwrap().ends_with(&unsigned)),
            "unverified" => assert!(problem["detail"].as_str().unwrap().contains("unsigned")),
            other => panic!("{other}: {problem}"),
        }
    }
}
