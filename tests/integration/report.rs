//! `trailq report`: content, formats, exit codes, the webhook, and the HTML in a real browser.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::detect::{background, calls_and_errors, detect, write_log};
use crate::util::*;

/// A lake with a day of background plus a burst of calls and of errors on 2024-03-09, after
/// `trailq detect` has judged that day.
fn lake_with_findings(root: &Path) -> PathBuf {
    let logs = background(root);
    let records = calls_and_errors();
    write_log(&logs, "20240309T1600Z_burst", &records);
    let lake = root.join("lake");
    let (code, _, stderr) = ingest(&logs, &lake, &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = detect(&lake, &["--since", "2024-03-09"]);
    assert_eq!(code, 0, "{stderr}");
    lake
}

const PERIOD: [&str; 4] = ["--since", "2024-03-09", "--until", "2024-03-10"];

fn report(lake: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["report", "--lake", lake.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = trailq(&all);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Replaces what differs between runs (temporary folders, the generation time).
fn stable(text: &str, root: &Path) -> String {
    let text = text.replace(root.to_str().unwrap(), "[ROOT]");
    let generated = generation_time(&text);
    text.replace(&generated, "[GENERATED]")
}

/// The generation time as printed (the first RFC 3339 time after "generated").
fn generation_time(text: &str) -> String {
    let at = text
        .find("generated_at\": \"")
        .map(|i| i + "generated_at\": \"".len())
        .or_else(|| text.find("generated ").map(|i| i + "generated ".len()))
        .expect("a generation time");
    text[at..at + 20].to_string()
}

#[test]
fn json_and_markdown_reports_match_their_snapshots() {
    let (_dir, root) = temp_dir();
    let lake = lake_with_findings(&root);
    let mut args = PERIOD.to_vec();
    args.extend(["--format", "json"]);
    let (code, json, stderr) = report(&lake, &args);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["report_version"], 1);
    let findings = value["findings"].as_array().unwrap();
    assert!(findings.len() >= 2, "{json}");
    let starts: Vec<&str> = findings
        .iter()
        .map(|f| f["start"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {starts:?}"
    );
    let calls = findings
        .iter()
        .find(|f| f["event_name"] == "CreateUser" && f["detector"] == "api-call-rate")
        .unwrap();
    let chart = &calls["chart"];
    let counts: Vec<u64> = chart["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    let (from, to) = (
        chart["insight"][0].as_u64().unwrap() as usize,
        chart["insight"][1].as_u64().unwrap() as usize,
    );
    assert_eq!(
        &counts[from..to],
        &[12; 6],
        "the chart shows the burst in its window"
    );
    assert_eq!(
        calls["records"].as_array().unwrap().len(),
        2,
        "Start and End"
    );
    assert!(value["headline"]["events"]["current"].as_u64().unwrap() > 2000);
    assert!(
        value["headline"]["findings"]["high"].as_u64().unwrap()
            + value["headline"]["findings"]["medium"].as_u64().unwrap()
            >= 1
    );
    assert!(!value["detections"].as_array().unwrap().is_empty());
    assert!(!value["health"]["freshness"].as_array().unwrap().is_empty());
    insta::assert_snapshot!("report_json", stable(&json, &root));

    let mut args = PERIOD.to_vec();
    args.extend(["--format", "md"]);
    let (code, markdown, stderr) = report(&lake, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(markdown.contains("## Findings from the detectors"));
    assert!(!markdown.contains("<script>"), "HTML in values is escaped");
    insta::assert_snapshot!("report_markdown", stable(&markdown, &root));
}

#[test]
fn exit_codes_follow_fail_on_and_quiet_periods_still_report() {
    let (_dir, root) = temp_dir();
    let lake = lake_with_findings(&root);
    let mut args = PERIOD.to_vec();
    args.extend(["--format", "md", "--fail-on", "low"]);
    assert_eq!(report(&lake, &args).0, 1);
    // A period before the bursts: nothing at or above high, and the report says so.
    let (code, markdown, stderr) = report(
        &lake,
        &[
            "--since",
            "2024-03-05",
            "--until",
            "2024-03-06",
            "--format",
            "md",
            "--fail-on",
            "high",
            "--no-queries",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        markdown.contains("No findings in this period"),
        "{markdown}"
    );
    let (code, _, stderr) = report(&root.join("nowhere"), &PERIOD);
    assert_eq!(code, 2);
    assert!(stderr.contains("trailq ingest"), "{stderr}");
}

/// A report for the last day, on a lake whose newest event is years old, says loudly that the
/// trails are silent, with the newest event of each account and region.
#[test]
fn a_silent_period_is_the_finding() {
    let (_dir, root) = temp_dir();
    let lake = lake_with_findings(&root);
    let (code, json, stderr) = report(&lake, &["--format", "json", "--no-queries"]);
    assert_eq!(code, 0, "{stderr}");
    let data: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(data["headline"]["events"]["current"], 0);
    let silence = data["silence"].as_str().unwrap_or_default();
    assert!(silence.starts_with("No events from"), "{silence}");
    let freshness = data["health"]["freshness"].as_array().unwrap();
    assert!(
        !freshness.is_empty(),
        "the newest event per account and region is listed"
    );
    assert!(
        freshness.iter().all(|f| f["stale"] == true),
        "{freshness:?}"
    );
    let newest = freshness
        .iter()
        .map(|f| f["newest_event"].as_str().unwrap())
        .max()
        .unwrap();
    assert!(silence.contains(newest), "{silence} names {newest}");
    let (_, markdown, _) = report(&lake, &["--format", "md", "--no-queries"]);
    assert!(
        markdown.contains("**Silent trails.** No events from"),
        "{markdown}"
    );
    assert!(
        markdown.contains("the period has no events to judge"),
        "{markdown}"
    );
    assert!(!markdown.contains("nothing unusual"), "{markdown}");
}

/// A loopback HTTP server answering 503 to the first request and 200 after, keeping bodies.
fn flaky_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().flatten().enumerate() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let status = if n == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, bodies)
}

#[test]
fn webhook_gets_a_summary_after_a_retry() {
    let (_dir, root) = temp_dir();
    let lake = lake_with_findings(&root);
    let (url, bodies) = flaky_server();
    let out = root.join("report.html");
    let mut args = PERIOD.to_vec();
    args.extend([
        "--out",
        out.to_str().unwrap(),
        "--webhook",
        &url,
        "--no-queries",
    ]);
    let (code, _, stderr) = report(&lake, &args);
    assert_eq!(code, 0, "{stderr}");
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2, "one 503, then one accepted retry");
    assert_eq!(bodies[0], bodies[1]);
    let summary: Value = serde_json::from_str(&bodies[1]).unwrap();
    assert!(summary["text"].as_str().unwrap().contains("findings"));
    assert_eq!(summary["report"], out.to_str().unwrap());
    assert!(!summary["topFindings"].as_array().unwrap().is_empty());
    assert!(out.is_file());
}

/// Debian's Chromium, which scripts/test.sh installs.
fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("TRAILQ_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "the report test renders HTML in Chromium: run `bash scripts/test.sh` (it installs Debian's \
         chromium) or set TRAILQ_TEST_CHROMIUM"
    );
    path
}

fn headless(profile: &Path) -> Command {
    let mut command = Command::new(chromium());
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        &format!("--user-data-dir={}", profile.display()),
    ]);
    command
}

#[test]
fn html_report_renders_in_a_real_browser_without_running_injected_script() {
    let chromium = chromium();
    let (_dir, root) = temp_dir();
    let lake = lake_with_findings(&root);
    let page = root.join("report.html");
    let mut args = PERIOD.to_vec();
    args.extend(["--format", "html", "--out", page.to_str().unwrap()]);
    let (code, _, stderr) = report(&lake, &args);
    assert_eq!(code, 0, "{stderr}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "no script element in the file");
    assert!(
        !html.contains("url(") && !html.contains("@import"),
        "no styles fetched"
    );

    let url = format!("file://{}", page.display());
    let output = headless(&root.join("profile"))
        .args(["--dump-dom", &url])
        .output()
        .unwrap_or_else(|err| panic!("{} does not run: {err}", chromium.display()));
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && dom.contains("<body"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dom.matches("<svg").count() >= 2, "a chart per finding");
    assert!(dom.contains("<polyline"));
    assert!(dom.matches("<table").count() >= 5);
    assert!(dom.contains("id=\"findings\"") && dom.contains("id=\"health\""));
    for tag in ["<script", "<img", "<link", "<iframe", "<object"] {
        assert!(
            !dom.contains(tag),
            "no {tag} element: nothing runs or is fetched"
        );
    }
    assert!(
        !dom.contains("data-pwned=\"yes\""),
        "the injected script did not run"
    );
    assert!(
        !dom.contains("<title>pwned"),
        "the injected handler did not run"
    );
    assert!(
        dom.contains("&lt;script&gt;document.body.setAttribute"),
        "it shows as text"
    );

    let shot = root.join("report.png");
    let output = headless(&root.join("profile"))
        .args([
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a rendered page, {} bytes",
        png.len()
    );
}
