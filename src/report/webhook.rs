//! `--webhook URL`: a short JSON summary posted for chat or incident tools, with retries.

use std::time::Duration;

use serde_json::{Value, json};

use super::Report;
use crate::error::{Error, Result};

/// Attempts of one post (throttling, 5xx and connection failures are retried).
const ATTEMPTS: u32 = 4;

/// The summary: counts, the top findings, and where the full report is.
pub fn summary(report: &Report, location: Option<&str>) -> Value {
    let h = &report.headline;
    let top: Vec<Value> = report
        .findings
        .iter()
        .take(5)
        .map(|f| {
            json!({
                "severity": f.severity,
                "insightType": f.insight_type,
                "eventSource": f.event_source,
                "eventName": f.event_name,
                "errorCode": f.error_code,
                "principal": f.principal,
                "account": f.account,
                "region": f.region,
                "start": f.start,
                "reason": f.reason,
            })
        })
        .collect();
    let detections: Vec<&str> = report
        .detections
        .iter()
        .filter(|d| d.rows > 0)
        .map(|d| d.name.as_str())
        .collect();
    let text = format!(
        "trailq report {} to {}: {} events; {} findings ({} high, {} medium, {} low); {} detection queries with rows{}",
        report.period.since,
        report.period.until,
        h.events.current,
        h.findings.total(),
        h.findings.high,
        h.findings.medium,
        h.findings.low,
        detections.len(),
        location
            .map(|l| format!("; report: {l}"))
            .unwrap_or_default()
    );
    json!({
        "text": text,
        "period": report.period,
        "events": h.events.current,
        "findings": h.findings,
        "topFindings": top,
        "detectionsWithRows": detections,
        "report": location,
    })
}

/// `url` without its path and query, which often hold the webhook's secret token.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}/...",
            parsed.scheme(),
            parsed.host_str().unwrap_or("?")
        ),
        Err(_) => "the webhook".to_string(),
    }
}

/// Posts the summary to `url`, retrying with backoff.
pub async fn notify(url: &str, report: &Report, location: Option<&str>) -> Result<()> {
    let body = summary(report, location).to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|err| Error::Resources(format!("cannot start the HTTP client: {err}")))?;
    let mut delay = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                last = format!("HTTP {status}");
                if !(status.is_server_error() || status.as_u16() == 429) {
                    break;
                }
            }
            Err(err) => last = err.without_url().to_string(),
        }
        if attempt < ATTEMPTS {
            log::warn!(
                "webhook: {last}; trying again in {:.1} s",
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    Err(Error::Network {
        url: redacted(url),
        message: format!(
            "the webhook did not accept the summary: {last} (the report itself was written)"
        ),
    })
}
