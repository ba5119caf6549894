//! `trailq report`: the scheduled report people read in the morning. What changed (headline
//! counts against the previous period), what is unusual (the detectors' findings with their
//! statistics, attributions and a chart of the rate against its baseline; the canned detection
//! queries), whether the data is complete (ingest outcomes, rejected inputs, the newest event
//! per account and region), and the top principals, APIs and error codes. One data model,
//! rendered as HTML, Markdown or JSON.

pub mod gather;
mod html;
mod markdown;
mod webhook;

pub use gather::gather;
pub use html::render as render_html;
pub use markdown::render as render_markdown;
pub use webhook::notify;

use serde::Serialize;
use serde_json::Value;

use crate::detect::{Attribution, Severity};

/// A time span `[since, until)`, as RFC 3339 UTC times.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Period {
    /// Start (inclusive).
    pub since: String,
    /// End (exclusive).
    pub until: String,
}

/// A count now and in the previous period of the same length.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Change {
    /// This period.
    pub current: u64,
    /// The period before.
    pub previous: u64,
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct BySeverity {
    /// High.
    pub high: u64,
    /// Medium.
    pub medium: u64,
    /// Low.
    pub low: u64,
}

impl BySeverity {
    /// Counts one more of `severity`.
    pub fn add(&mut self, severity: Severity) {
        match severity {
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
        }
    }

    /// All severities together.
    pub fn total(&self) -> u64 {
        self.high + self.medium + self.low
    }
}

/// The headline counts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Headline {
    /// Events.
    pub events: Change,
    /// Distinct accounts with events.
    pub accounts: Change,
    /// Distinct regions with events.
    pub regions: Change,
    /// Detector findings that started in the period, by severity.
    pub findings: BySeverity,
    /// The same in the previous period.
    pub previous_findings: BySeverity,
    /// Canned detection queries that returned rows.
    pub detections_with_rows: u64,
}

/// The per-minute series of a finding around its insight window, for the chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chart {
    /// The first minute shown.
    pub from: String,
    /// Events per minute from `from`, one value per minute (empty minutes are 0).
    pub counts: Vec<u64>,
    /// Minute offsets of the insight window `[start, end)` within `counts`.
    pub insight: (usize, usize),
    /// The baseline rate (events per minute).
    pub baseline_average: f64,
    /// The top of the normal band: the baseline rate plus three Poisson standard deviations.
    pub band_upper: f64,
}

/// One detector finding, with its Insights-shaped records.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FindingReport {
    /// The insight's id (`sharedEventID`).
    pub id: String,
    /// The detector.
    pub detector: String,
    /// `insightType`.
    pub insight_type: String,
    /// `low`, `medium` or `high`.
    pub severity: Severity,
    /// `recipientAccountId`.
    pub account: String,
    /// `awsRegion`.
    pub region: String,
    /// Subject API's service.
    pub event_source: String,
    /// Subject API.
    pub event_name: String,
    /// Subject error code (error-rate insights).
    pub error_code: Option<String>,
    /// Subject principal (principal detectors).
    pub principal: Option<String>,
    /// First unusual minute.
    pub start: String,
    /// End, once the insight has ended.
    pub end: Option<String>,
    /// Minutes from start to end (or to the watermark).
    pub duration_minutes: i64,
    /// Baseline events per minute.
    pub baseline_average: f64,
    /// Events per minute over the insight.
    pub insight_average: f64,
    /// Events in the insight.
    pub event_count: f64,
    /// Why it fired.
    pub reason: String,
    /// The Start record's attributions (top values during the insight and in the baseline).
    pub attributions: Vec<Attribution>,
    /// Files holding the insight's events.
    pub source_files: Vec<String>,
    /// The rate around the insight.
    pub chart: Option<Chart>,
    /// Who was behind the finding's sessions (`events_with_origin`), most of its events first,
    /// at most three: "role/ci-deploy, assumed by user/alice via SSO". Empty where its events
    /// were not made with sessions, or their origin is not in the lake.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub origins: Vec<String>,
    /// The Insights-shaped Start (and End) records.
    pub records: Vec<Value>,
    /// What a rule finding adds: the rule, its ATT&CK mapping, and the events it matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleMatch>,
}

/// A rule finding's rule and matched events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleMatch {
    /// The rule's id.
    pub rule_id: String,
    /// The rule's title.
    pub title: String,
    /// `match`, or the correlation's type.
    pub kind: String,
    /// ATT&CK technique ids.
    pub techniques: Vec<String>,
    /// ATT&CK tactics (`defense-evasion`), in the rule's order.
    pub tactics: Vec<String>,
    /// Matched events in all.
    pub match_count: i64,
    /// The first matched events' key fields (at most `SHOWN_EVENTS`).
    pub events: Vec<MatchedEvent>,
    /// A `trailq query` command that lists every matched event the finding keeps.
    pub query: String,
}

/// Matched events shown per rule finding.
pub const SHOWN_EVENTS: usize = 5;

/// The key fields of one matched event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MatchedEvent {
    /// `eventTime`.
    pub time: String,
    /// `eventSource`.
    pub event_source: String,
    /// `eventName`.
    pub event_name: String,
    /// Who acted.
    pub principal: String,
    /// `sourceIPAddress`.
    pub source_ip: String,
    /// `userAgent`.
    pub user_agent: String,
    /// `errorCode`, when the call failed.
    pub error_code: Option<String>,
    /// `eventID`.
    pub event_id: String,
}

/// ATT&CK's enterprise tactics in kill-chain order, with the names people read.
pub const TACTICS: &[(&str, &str)] = &[
    ("reconnaissance", "Reconnaissance"),
    ("resource-development", "Resource development"),
    ("initial-access", "Initial access"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege-escalation", "Privilege escalation"),
    ("defense-evasion", "Defense evasion"),
    ("credential-access", "Credential access"),
    ("discovery", "Discovery"),
    ("lateral-movement", "Lateral movement"),
    ("collection", "Collection"),
    ("command-and-control", "Command and control"),
    ("exfiltration", "Exfiltration"),
    ("impact", "Impact"),
];

/// The result of one canned detection query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DetectionResult {
    /// Query name (`queries/<name>.sql`).
    pub name: String,
    /// Its title.
    pub title: String,
    /// The severity it declares.
    pub severity: Severity,
    /// Rows returned.
    pub rows: u64,
    /// Column names.
    pub columns: Vec<String>,
    /// The first rows, as text.
    pub sample: Vec<Vec<String>>,
    /// Why it could not run, if it could not.
    pub error: Option<String>,
}

/// A count of something by name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ranked {
    /// The value (principal ARN, `service:API`, error code).
    pub value: String,
    /// Events.
    pub events: u64,
}

/// One group of rejected inputs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RejectGroup {
    /// The reason.
    pub reason: String,
    /// Rejected inputs or records with it.
    pub count: u64,
    /// One input with it.
    pub example: String,
}

/// The newest event of one account and region.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Freshness {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Its newest event before the period's end.
    pub newest_event: String,
    /// No event in the last `stale_after_hours` of the period: the trail may have stopped.
    pub stale: bool,
}

/// Whether the data is complete.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    /// Source files read completely by ingests that committed in the period.
    pub files_ingested: u64,
    /// Source files with rejected records, by those ingests.
    pub files_partial: u64,
    /// Source files that failed, by those ingests.
    pub files_failed: u64,
    /// Source files whose latest ingest was not complete (they are retried).
    pub outstanding: Vec<RejectGroup>,
    /// Rejected records and inputs in the lake, by reason.
    pub rejects: Vec<RejectGroup>,
    /// The newest event per account and region.
    pub freshness: Vec<Freshness>,
    /// Hours without events that mark an account-region as stale.
    pub stale_after_hours: i64,
}

/// The log integrity of the period: the hours' verdicts from the `deliveries` table (kept by
/// `trailq verify` and after each ingest of a trail with digests).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Integrity {
    /// Trail hours (per account and region) in the period.
    pub hours: u64,
    /// Of those, fully verified.
    pub hours_verified: u64,
    /// Digests found.
    pub digests: u64,
    /// Log files verified.
    pub files_verified: u64,
    /// Log files listed and absent.
    pub files_missing: u64,
    /// Log files present with another hash.
    pub files_altered: u64,
    /// Log files no digest lists (pending, injected, or with their digest lost).
    pub files_unlisted: u64,
    /// Hours in gaps of a digest chain.
    pub gap_hours: u64,
    /// The first problem hours, oldest first (at most `TOP`).
    pub problems: Vec<IntegrityProblem>,
}

/// `1 hour`, `2 hours`.
fn counted(n: u64, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ => format!("{n} {what}s"),
    }
}

/// One trail hour that did not verify.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntegrityProblem {
    /// The hour.
    pub hour: String,
    /// The trail, account and region.
    pub trail: String,
    /// See `trail`.
    pub account: String,
    /// See `trail`.
    pub region: String,
    /// The hour's status (`gap`, `altered`, `missing`, ...).
    pub status: String,
    /// Its first problem, in words.
    pub detail: String,
}

impl Integrity {
    /// The section's first line.
    pub fn line(&self) -> String {
        if self.hours == 0 {
            "No CloudTrail digest covers this period, though the lake holds digests of other \
             periods: the trail may have stopped delivering, or its digests were not ingested."
                .to_string()
        } else if self.hours == self.hours_verified {
            format!(
                "All {} trail hours verified against CloudTrail's signed digests: {} digests, {} \
                 log files.",
                self.hours, self.digests, self.files_verified
            )
        } else {
            format!(
                "{} of {} trail hours do not verify: {} missing, {} altered, {} in no digest; \
                 {} without a digest ({} verified). `trailq verify` lists each problem.",
                self.hours - self.hours_verified,
                self.hours,
                counted(self.files_missing, "log file"),
                counted(self.files_altered, "log file"),
                counted(self.files_unlisted, "log file"),
                counted(self.gap_hours, "hour"),
                counted(self.files_verified, "log file")
            )
        }
    }
}

/// The top principals, APIs and error codes of the period.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tops {
    /// Principals by events.
    pub principals: Vec<Ranked>,
    /// `service:API` by events.
    pub apis: Vec<Ranked>,
    /// Error codes by events.
    pub error_codes: Vec<Ranked>,
}

/// The whole report. Field names are stable: the JSON output is this structure.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Format version of this structure.
    pub report_version: u32,
    /// The lake reported on.
    pub lake: String,
    /// When the report was made.
    pub generated_at: String,
    /// The period.
    pub period: Period,
    /// The period before, of the same length.
    pub previous_period: Period,
    /// Headline counts.
    pub headline: Headline,
    /// Said first, loudly, when trails are silent: the period holds no events, or some account
    /// and region sent none for `stale_after_hours` before the period's end.
    pub silence: Option<String>,
    /// Detector findings that started in the period, newest first.
    pub findings: Vec<FindingReport>,
    /// Findings kept out by suppressions, counted by the suppression's reason.
    pub suppressed: Vec<Ranked>,
    /// Canned detection queries.
    pub detections: Vec<DetectionResult>,
    /// Data health.
    pub health: Health,
    /// Log integrity, when the lake holds digests.
    pub integrity: Option<Integrity>,
    /// Top principals, APIs, error codes.
    pub top: Tops,
}

impl Report {
    /// The statistical detectors' findings.
    pub fn detector_findings(&self) -> Vec<&FindingReport> {
        self.findings.iter().filter(|f| f.rule.is_none()).collect()
    }

    /// Rule findings grouped by their first ATT&CK tactic, in kill-chain order (the tactic's
    /// name; rules without a tactic last), most severe first within a tactic.
    pub fn rule_findings_by_tactic(&self) -> Vec<(String, Vec<&FindingReport>)> {
        let rank = |f: &FindingReport| {
            let first = f.rule.as_ref().and_then(|r| r.tactics.first());
            first
                .and_then(|t| TACTICS.iter().position(|(id, _)| id == t))
                .unwrap_or(TACTICS.len())
        };
        let mut rule_findings: Vec<&FindingReport> =
            self.findings.iter().filter(|f| f.rule.is_some()).collect();
        rule_findings.sort_by(|a, b| {
            (rank(a), std::cmp::Reverse(a.severity), &a.start).cmp(&(
                rank(b),
                std::cmp::Reverse(b.severity),
                &b.start,
            ))
        });
        let mut out: Vec<(String, Vec<&FindingReport>)> = Vec::new();
        for finding in rule_findings {
            let name = TACTICS
                .get(rank(finding))
                .map_or("No ATT&CK tactic", |(_, name)| name)
                .to_string();
            match out.last_mut() {
                Some((last, list)) if *last == name => list.push(finding),
                _ => out.push((name, vec![finding])),
            }
        }
        out
    }

    /// "12 findings suppressed by 3 suppressions", when any were.
    pub fn suppressed_line(&self) -> Option<String> {
        let total: u64 = self.suppressed.iter().map(|s| s.events).sum();
        (total > 0).then(|| {
            let reasons: Vec<String> = self
                .suppressed
                .iter()
                .map(|s| format!("{} ({})", s.value, s.events))
                .collect();
            format!(
                "{total} findings suppressed by {} suppressions: {}",
                self.suppressed.len(),
                reasons.join("; ")
            )
        })
    }
}

impl Health {
    /// What the period's ingests read, or that none ran.
    pub fn ingests_line(&self) -> String {
        if self.files_ingested + self.files_partial + self.files_failed == 0 {
            "No ingest ran in this period.".to_string()
        } else {
            format!(
                "Ingests in the period read {} files completely, {} with rejected records, {} failed.",
                self.files_ingested, self.files_partial, self.files_failed
            )
        }
    }
}

impl FindingReport {
    /// What the finding is about: the API (and error code), or the principal.
    pub fn subject(&self) -> String {
        let mut parts = Vec::new();
        if self.event_source != "*" {
            parts.push(format!("{} {}", self.event_source, self.event_name));
        }
        parts.extend(self.error_code.clone());
        parts.extend(self.principal.clone());
        parts.join(" · ")
    }
}

/// A per-minute rate for people: four decimals, or three significant digits below 0.01.
/// `1 event`, `60 events`.
pub fn events(count: f64) -> String {
    if count == 1.0 {
        "1 event".to_string()
    } else {
        format!("{count} events")
    }
}

/// A rate in events per minute, with as many digits as it needs.
pub fn rate(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        "0/min".to_string()
    } else if magnitude < 0.01 {
        format!("{value:.1e}/min")
    } else if magnitude < 1.0 {
        format!("{value:.2}/min")
    } else if magnitude < 100.0 {
        format!("{value:.1}/min")
    } else {
        format!("{value:.0}/min")
    }
}

impl Report {
    /// The most severe finding or detection with rows, if any.
    /// The warning about silent trails, when there is one.
    pub(crate) fn silence_of(events: u64, health: &Health, period: &Period) -> Option<String> {
        let newest = health
            .freshness
            .iter()
            .map(|f| f.newest_event.as_str())
            .max();
        let stale: Vec<String> = health
            .freshness
            .iter()
            .filter(|f| f.stale)
            .map(|f| {
                format!(
                    "{} {} (newest event {})",
                    f.account, f.region, f.newest_event
                )
            })
            .collect();
        if events == 0 {
            return Some(match newest {
                Some(newest) => format!(
                    "No events from {} to {}: the lake's newest event before then is {newest}. \
                     A trail that stopped delivering (or an ingest that stopped running) looks \
                     like this; nothing below could be judged.",
                    period.since, period.until
                ),
                None => format!(
                    "No events from {} to {}, and none before: the lake is empty. Run `trailq \
                     ingest` first.",
                    period.since, period.until
                ),
            });
        }
        (!stale.is_empty()).then(|| {
            format!(
                "{} of {} account-regions sent no events in the last {} hours of the period: {}.",
                stale.len(),
                health.freshness.len(),
                health.stale_after_hours,
                stale.join(", ")
            )
        })
    }

    pub fn worst(&self) -> Option<Severity> {
        let findings = self.findings.iter().map(|f| f.severity);
        let detections = self
            .detections
            .iter()
            .filter(|d| d.rows > 0)
            .map(|d| d.severity);
        findings.chain(detections).max()
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }
}
