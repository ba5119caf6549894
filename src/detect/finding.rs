//! Findings in the shape of CloudTrail Insights records: a Start and an End record sharing one
//! `sharedEventID`, with AWS's statistics and attributions, plus trailq's own details (detector,
//! severity, the rule's numbers, the source files of the events involved).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use xxhash_rust::xxh3::xxh3_128;

use super::rate::Episode;
pub use crate::record::finding::Severity;
use crate::record::finding::{FindingRow, Subject};
use crate::record::time::format_time;

/// How urgent a rate insight is, from how far its rate is above the baseline rate.
pub fn severity_of_ratio(insight: f64, baseline: f64, minutes: i64) -> Severity {
    let ratio = insight / baseline.max(1.0 / minutes.max(1) as f64).max(0.01);
    if ratio >= 1000.0 {
        Severity::High
    } else if ratio >= 50.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// What a detector found, before attributions.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The detector's name.
    pub detector: &'static str,
    /// `ApiCallRateInsight`, `ApiErrorRateInsight`, or trailq's own types.
    pub insight_type: &'static str,
    /// `recipientAccountId`.
    pub account: String,
    /// `awsRegion`.
    pub region: String,
    /// The subject API's service (`*` for a principal's burst).
    pub event_source: String,
    /// The subject API.
    pub event_name: String,
    /// The error code of an error-rate insight.
    pub error_code: Option<String>,
    /// The principal, for principal-centred detectors.
    pub principal: Option<String>,
    /// What was measured, when a detector measures more than one thing.
    pub metric: Option<&'static str>,
    /// When and how much.
    pub episode: Episode,
    /// How urgent.
    pub severity: Severity,
    /// One sentence a person can check.
    pub reason: String,
    /// `(column expression, value)` pairs selecting the series' events, for attributions.
    pub subject: Vec<(&'static str, String)>,
    /// The detector's event filter, for attributions.
    pub filter: &'static str,
}

impl Candidate {
    /// The events of the candidate's series, as stored in the findings table's `subject`
    /// column: `{"filter": SQL, "keys": [[column expression, value], ...]}`. The report draws
    /// the series' chart from it (values are bound as parameters, never pasted).
    pub fn subject_json(&self) -> String {
        let subject = Subject {
            filter: self.filter.to_string(),
            keys: self
                .subject
                .iter()
                .map(|(expr, value)| (expr.to_string(), value.clone()))
                .collect(),
        };
        serde_json::to_string(&subject).expect("a subject serializes")
    }
}

/// One attribution value and its per-minute average.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// The value (`"null"` for no error code).
    pub value: String,
    /// Events per minute with this value.
    pub average: f64,
}

/// The top values of one attribute during the insight and in its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// `userIdentityArn`, `userAgent` or `errorCode`.
    pub attribute: String,
    /// Top 5 during the insight.
    pub insight: Vec<Share>,
    /// Top 5 in the baseline.
    pub baseline: Vec<Share>,
}

/// A finding: a candidate with its attributions and source files.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What was found.
    pub candidate: Candidate,
    /// Top values by attribute.
    pub attributions: Vec<Attribution>,
    /// Files holding the insight's events (at most 100).
    pub source_files: Vec<String>,
    /// The last judged minute of the run that found it.
    pub watermark: i64,
}

/// A UUID-shaped id from a 128-bit hash: stable for the same input.
pub(crate) fn uuid_of(text: &str) -> String {
    let hex = format!("{:032x}", xxh3_128(text.as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl Finding {
    /// The insight's id (`sharedEventID`): the same series and start always give the same id,
    /// so re-running a window replaces findings instead of adding them.
    pub fn shared_id(&self) -> String {
        let c = &self.candidate;
        let subject: Vec<&str> = c.subject.iter().map(|(_, v)| v.as_str()).collect();
        uuid_of(&format!(
            "{}|{}|{}|{}",
            c.detector,
            subject.join("|"),
            c.metric.unwrap_or(""),
            c.episode.start
        ))
    }

    /// The `eventID` of the Start or End record.
    pub fn event_id(&self, state: &str) -> String {
        uuid_of(&format!("{}|{state}", self.shared_id()))
    }

    /// Minutes from start to end (or to the watermark while open).
    pub fn duration(&self) -> i64 {
        self.candidate.episode.duration(self.watermark)
    }

    /// Whether the insight had ended by the watermark.
    pub fn is_closed(&self) -> bool {
        self.candidate.episode.end.is_some()
    }

    /// The findings table's rows: the Start record, and the End record once the insight is over.
    pub fn rows(&self) -> Vec<FindingRow> {
        let c = &self.candidate;
        self.records()
            .into_iter()
            .map(|record| {
                let statistics = &record["insightDetails"]["insightContext"]["statistics"];
                let number = |v: &Value| v.as_f64().expect("records hold numeric statistics");
                FindingRow {
                    eventid: record["eventID"].as_str().expect("an id").to_string(),
                    sharedeventid: self.shared_id(),
                    eventtime: record["eventTime"]
                        .as_str()
                        .and_then(crate::record::time::parse_time)
                        .expect("records hold their time"),
                    state: record["insightDetails"]["state"]
                        .as_str()
                        .expect("a state")
                        .to_string(),
                    detector: c.detector.to_string(),
                    insighttype: c.insight_type.to_string(),
                    severity: c.severity,
                    recipientaccountid: c.account.clone(),
                    awsregion: c.region.clone(),
                    eventsource: c.event_source.clone(),
                    eventname: c.event_name.clone(),
                    errorcode: c.error_code.clone(),
                    principal: c.principal.clone(),
                    metric: c.metric.map(String::from),
                    baselineaverage: number(&statistics["baseline"]["average"]),
                    insightaverage: number(&statistics["insight"]["average"]),
                    insightduration: self.duration(),
                    baselineduration: c.episode.baseline_minutes,
                    starttime: c.episode.start * 60_000,
                    endtime: c.episode.end.map(|end| end * 60_000),
                    eventcount: c.episode.total,
                    reason: c.reason.clone(),
                    sourcefiles: self.source_files.clone(),
                    record: record.to_string(),
                    subject: c.subject_json(),
                    ruleid: None,
                    ruletitle: None,
                    techniques: None,
                    eventids: None,
                    matchcount: None,
                    suppressedby: None,
                }
            })
            .collect()
    }

    /// The Start record, and the End record once the insight has ended.
    pub fn records(&self) -> Vec<Value> {
        let mut records = vec![self.record("Start")];
        if self.is_closed() {
            records.push(self.record("End"));
        }
        records
    }

    /// One Insights-shaped record.
    pub fn record(&self, state: &str) -> Value {
        let c = &self.candidate;
        let episode = &c.episode;
        let (minute, average) = if state == "Start" {
            (episode.start, episode.start_count)
        } else {
            (
                episode.end.unwrap_or(self.watermark + 1),
                episode.average(self.watermark),
            )
        };
        let attributions: Vec<&Attribution> = self
            .attributions
            .iter()
            .filter(|a| !(c.error_code.is_some() && a.attribute == "errorCode"))
            .collect();
        let mut details = json!({
            "state": state,
            "eventSource": c.event_source,
            "eventName": c.event_name,
            "insightType": c.insight_type,
            "insightContext": {
                "statistics": {
                    "baseline": { "average": episode.baseline_average },
                    "insight": { "average": average },
                    "insightDuration": self.duration(),
                    "baselineDuration": episode.baseline_minutes,
                },
                "attributions": attributions,
            },
        });
        if let Some(code) = &c.error_code {
            details["errorCode"] = json!(code);
        }
        json!({
            "eventVersion": "1.07",
            "eventTime": format_time(minute * 60_000),
            "awsRegion": c.region,
            "eventID": self.event_id(state),
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": c.account,
            "sharedEventID": self.shared_id(),
            "insightDetails": details,
            "eventCategory": "Insight",
            "trailqDetails": {
                "detector": c.detector,
                "severity": c.severity,
                "principal": c.principal,
                "metric": c.metric,
                "reason": c.reason,
                "pValue": episode.p_value,
                "eventCount": episode.total,
                "startTime": format_time(episode.start * 60_000),
                "endTime": episode.end.map(|end| format_time(end * 60_000)),
                "sourceFiles": self.source_files,
            },
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A finding for tests: 9 calls in its first minute, 42 over 12 minutes when closed.
    pub(crate) fn sample(end: Option<i64>) -> Finding {
        Finding {
            candidate: Candidate {
                detector: "api-call-rate",
                insight_type: "ApiCallRateInsight",
                account: "111122223333".into(),
                region: "us-east-1".into(),
                event_source: "iam.amazonaws.com".into(),
                event_name: "CreateAccessKey".into(),
                error_code: None,
                principal: None,
                metric: None,
                episode: Episode {
                    start: 28_600_000,
                    end,
                    baseline_average: 1.0 / 10080.0,
                    baseline_minutes: 10080,
                    start_count: 9.0,
                    total: 42.0,
                    p_value: 1e-20,
                },
                severity: Severity::High,
                reason: "test".into(),
                subject: vec![("recipientaccountid", "111122223333".into())],
                filter: "true",
            },
            attributions: vec![],
            source_files: vec!["s3://b/k.json.gz".into()],
            watermark: 28_600_100,
        }
    }

    #[test]
    fn start_and_end_share_a_stable_id() {
        let finding = sample(Some(28_600_012));
        let records = finding.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["sharedEventID"], records[1]["sharedEventID"]);
        assert_ne!(records[0]["eventID"], records[1]["eventID"]);
        assert_eq!(
            records[1]["insightDetails"]["insightContext"]["statistics"]["insight"]["average"],
            3.5
        );
        assert_eq!(
            records[0]["insightDetails"]["insightContext"]["statistics"]["insightDuration"],
            12
        );
        assert_eq!(
            sample(None).shared_id(),
            finding.shared_id(),
            "the end does not change the id"
        );
        assert_eq!(
            sample(None).records().len(),
            1,
            "an open insight has no End yet"
        );
    }
}
