//! `trailq detect`: CloudTrail-Insights-style anomaly detection over the lake, with the arithmetic
//! in the open.
//!
//! A run judges the minutes from `--since` to the watermark (`--until`, or the newest event less
//! the watermark lag, whichever is earlier). Each detector aggregates per-minute series with
//! DataFusion, partition-pruned to the window plus its baseline, and judges the series in
//! parallel with rayon; memory grows with the number of active series, not with events. Each
//! finding then gets its attributions (top principals, user agents, error codes during the
//! insight and in its baseline) and the source files of its events.

mod api_call_rate;
mod api_error_rate;
mod attribution;
pub mod eval;
mod finding;
mod first_seen;
mod principal_burst;
pub mod rate;
mod rate_detector;
pub mod registry;
pub mod rule_matches;
mod series;
mod stats;
pub mod store;

pub use finding::{Attribution, Candidate, Finding, Severity, Share};
pub use registry::{Detector, ParamSpec, Params};

use datafusion::prelude::SessionContext;

use self::rate::JudgeSpan;
use crate::error::{Error, Result};
use crate::progress::{Progress, Unit};
use crate::record::finding::FindingRow;
use crate::rules::{Rule, Suppression};

/// What a detector reads: the session over the lake and the judged span.
pub struct DetectInput<'a> {
    /// The session (tables `events`, ...).
    pub ctx: &'a SessionContext,
    /// The judged minutes and where the data starts.
    pub span: JudgeSpan,
    /// Where each day's scan is reported.
    pub progress: &'a dyn Progress,
    /// The per-API series `api-call-rate` and `api-error-rate` share, once loaded: the first
    /// minute they cover, and the series.
    api_series: tokio::sync::Mutex<Option<(i64, std::sync::Arc<Vec<series::Series>>)>>,
}

/// The window of a run, in UTC milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First judged time.
    pub since_ms: i64,
    /// Last time to judge (exclusive); `None`: up to the watermark.
    pub until_ms: Option<i64>,
    /// Minutes newer than the newest event less this lag are not judged yet.
    pub lag_minutes: i64,
}

/// What a run found.
pub struct Outcome {
    /// The judged span.
    pub span: JudgeSpan,
    /// Findings of the statistical detectors, newest first.
    pub findings: Vec<Finding>,
    /// Findings of the rules, one per rule, day, account, region and principal.
    pub rule_findings: Vec<FindingRow>,
    /// The detectors that ran.
    pub detectors: Vec<&'static str>,
}

impl Outcome {
    /// Every finding as rows of the findings table: the detectors' Start (and End) records,
    /// then the rules', one type for the store, the printout and the report.
    pub fn rows(&self) -> Vec<FindingRow> {
        self.findings
            .iter()
            .flat_map(Finding::rows)
            .chain(self.rule_findings.iter().cloned())
            .collect()
    }
}

/// Runs the detectors over the window.
pub async fn run(
    ctx: &SessionContext,
    window: Window,
    detectors: &[(Box<dyn Detector>, Params)],
    rules: &[Rule],
    suppressions: &[Suppression],
    progress: &dyn Progress,
) -> Result<Outcome> {
    let Some((oldest, newest)) = crate::sql::event_range(ctx).await? else {
        return Err(Error::Usage(
            "the lake has no events yet: run `trailq ingest` first".into(),
        ));
    };
    let watermark_ms = newest - window.lag_minutes * 60_000;
    let to_ms = window.until_ms.map_or(watermark_ms, |until| {
        until.min(watermark_ms + 60_000) - 60_000
    });
    let span = JudgeSpan {
        data_start: oldest.div_euclid(60_000),
        from: window.since_ms.div_euclid(60_000),
        to: to_ms.div_euclid(60_000),
    };
    if span.to < span.from {
        log::warn!(
            "nothing to judge: the watermark ({}) is before --since",
            crate::record::time::format_time(span.to * 60_000)
        );
    }
    let input = DetectInput {
        ctx,
        span,
        progress,
        api_series: Default::default(),
    };
    progress.begin(
        0,
        Unit::Items("day scans"),
        &detectors
            .iter()
            .map(|(d, _)| d.name())
            .collect::<Vec<_>>()
            .join(", "),
    );
    // The detectors run side by side: one's grouping and judging in Rust overlaps another's
    // scans. `api-call-rate` and `api-error-rate` share one load of their series.
    let input = &input;
    let runs = detectors.iter().map(|(detector, params)| async move {
        let started = std::time::Instant::now();
        let candidates = if span.to < span.from {
            Vec::new()
        } else {
            detector.detect(input, params).await?
        };
        log::info!(
            "{}: {} findings in {:.1} s",
            detector.name(),
            candidates.len(),
            started.elapsed().as_secs_f64()
        );
        attribution::attribute(input, candidates, span.to).await
    });
    let rule_run = async {
        let started = std::time::Instant::now();
        let rows = rule_matches::run(input, rules, suppressions).await?;
        if !rules.is_empty() {
            log::info!(
                "{} rules: {} findings in {:.1} s",
                rules.len(),
                rows.len(),
                started.elapsed().as_secs_f64()
            );
        }
        Ok::<_, Error>(rows)
    };
    let (found, rule_rows) =
        futures::future::try_join(futures::future::try_join_all(runs), rule_run).await?;
    let mut findings: Vec<Finding> = found.into_iter().flatten().collect();
    findings.sort_by(|a, b| {
        b.candidate
            .episode
            .start
            .cmp(&a.candidate.episode.start)
            .then_with(|| a.shared_id().cmp(&b.shared_id()))
    });
    progress.finish();
    let mut names: Vec<&'static str> = detectors.iter().map(|(d, _)| d.name()).collect();
    if !rules.is_empty() {
        names.push(rule_matches::DETECTOR);
    }
    Ok(Outcome {
        span,
        findings,
        rule_findings: rule_rows,
        detectors: names,
    })
}
