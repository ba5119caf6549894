//! What the three rate detectors share: their parameters, loading their series, and judging
//! the series in parallel.

use rayon::prelude::*;

use super::finding::Severity;
use super::rate::{Episode, RateParams, judge};
use super::registry::{Detector, ParamSpec, Params};
use super::series::{self, Series, SeriesQuery};
use super::{Candidate, DetectInput};
use crate::error::Result;

/// The rule's parameters, with a detector's own default for the minimum count.
pub fn param_specs(min_events: f64, min_help: &'static str) -> Vec<ParamSpec> {
    let defaults = RateParams::default();
    vec![
        ParamSpec {
            name: "baseline-days",
            default: defaults.baseline_days,
            help: "days of history each minute is compared with",
        },
        ParamSpec {
            name: "min-events",
            default: min_events,
            help: min_help,
        },
        ParamSpec {
            name: "p-value",
            default: defaults.p_value,
            help: "largest Poisson tail probability of a significant minute",
        },
        ParamSpec {
            name: "p-continue",
            default: defaults.p_continue,
            help: "largest tail probability of a minute that keeps an insight open",
        },
        ParamSpec {
            name: "peak-margin",
            default: defaults.peak_margin,
            help: "a spike exceeds the baseline's busiest minute by this many square roots of it",
        },
        ParamSpec {
            name: "run-minutes",
            default: defaults.run_minutes as f64,
            help: "consecutive significant minutes that make a sustained run",
        },
        ParamSpec {
            name: "end-after",
            default: defaults.end_after as f64,
            help: "normal minutes that end an insight",
        },
        ParamSpec {
            name: "min-baseline-minutes",
            default: defaults.min_baseline_minutes as f64,
            help: "minutes of history needed before a minute is judged",
        },
    ]
}

/// The rule's parameters from a detector's values, with `min_events` from the named parameter.
pub fn rate_params(params: &Params, min_events: &str) -> RateParams {
    RateParams {
        baseline_days: params.get("baseline-days"),
        min_events: params.get(min_events),
        p_value: params.get("p-value"),
        p_continue: params.get("p-continue"),
        peak_margin: params.get("peak-margin"),
        run_minutes: params.get("run-minutes").round() as i64,
        end_after: params.get("end-after").round() as i64,
        min_baseline_minutes: params.get("min-baseline-minutes").round() as i64,
    }
}

/// Loads the series of `query` over the window and its baseline, judges each measure of each
/// series in parallel (rayon) with its parameters, and turns each insight into a candidate.
pub async fn candidates(
    input: &DetectInput<'_>,
    query: &SeriesQuery<'_>,
    rules: &[RateParams],
    make: impl Fn(&Series, usize, Episode) -> Candidate + Sync,
) -> Result<Vec<Candidate>> {
    let baseline_days = rules.iter().map(|r| r.baseline_days).fold(0.0, f64::max);
    let from = input.span.from - (baseline_days * 1440.0).ceil() as i64;
    let all = series::load(input, query, from * 60_000, (input.span.to + 1) * 60_000).await?;
    let span = input.span;
    let make = &make;
    let started = std::time::Instant::now();
    let found: Vec<Candidate> = all
        .par_iter()
        .flat_map_iter(|one| {
            rules.iter().enumerate().flat_map(move |(measure, rule)| {
                judge(&one.points[measure], span, rule)
                    .into_iter()
                    .map(move |episode| make(one, measure, episode))
            })
        })
        .collect();
    log::debug!(
        "{} series judged in {:.1} s, {} insights",
        all.len(),
        started.elapsed().as_secs_f64(),
        found.len()
    );
    Ok(found)
}

/// A rate detector's candidate for an insight of `series`, its subject being the series key;
/// the detector fills in the account, region and API fields.
pub fn candidate(
    detector: &dyn Detector,
    keys: &[(&'static str, &'static str)],
    filter: &'static str,
    series: &Series,
    episode: Episode,
    reason: String,
) -> Candidate {
    Candidate {
        detector: detector.name(),
        insight_type: detector.insight_type(),
        severity: Severity::from_ratio(
            episode.start_count,
            episode.baseline_average,
            episode.baseline_minutes,
        ),
        reason,
        subject: keys
            .iter()
            .map(|(_, expr)| *expr)
            .zip(series.key.iter().cloned())
            .collect(),
        filter,
        account: String::new(),
        region: String::new(),
        event_source: String::new(),
        event_name: String::new(),
        error_code: None,
        principal: None,
        metric: None,
        episode,
    }
}
