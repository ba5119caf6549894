//! What the three rate detectors share: their parameters, loading their series, and judging
//! the series in parallel.

use std::collections::HashMap;

use rayon::prelude::*;

use super::finding::severity_of_ratio;
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

/// The first minute a run needs for `rules`: the judged span's start less the longest baseline.
fn first_minute(input: &DetectInput<'_>, rules: &[RateParams]) -> i64 {
    let baseline_days = rules.iter().map(|r| r.baseline_days).fold(0.0, f64::max);
    input.span.from - (baseline_days * 1440.0).ceil() as i64
}

/// Loads the series of `query` over the window and its baseline, then judges them (see
/// [`judge_all`]).
pub async fn candidates(
    input: &DetectInput<'_>,
    query: &SeriesQuery<'_>,
    rules: &[RateParams],
    make: impl Fn(&Series, usize, Episode) -> Candidate + Sync,
) -> Result<Vec<Candidate>> {
    let from = first_minute(input, rules);
    let all = series::load(input, query, from * 60_000, (input.span.to + 1) * 60_000).await?;
    Ok(judge_all(input, &all, rules, make))
}

/// Judges measure `i` of each series with `rules[i]`, in parallel (rayon), and turns each
/// insight into a candidate.
pub fn judge_all(
    input: &DetectInput<'_>,
    all: &[Series],
    rules: &[RateParams],
    make: impl Fn(&Series, usize, Episode) -> Candidate + Sync,
) -> Vec<Candidate> {
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
    found
}

/// Management events, as Insights counts them (Insights records themselves excluded).
const MANAGEMENT: &str = "coalesce(eventcategory, 'Management') = 'Management' \
                              AND coalesce(eventtype, '') <> 'AwsCloudTrailInsight'";

/// The key of the shared per-API series: account, region, API and the error (empty for a
/// call that succeeded). Console sign-in failures carry an `errorMessage` and no `errorCode`.
pub const API_KEYS: [(&str, &str); 5] = [
    ("account", "recipientaccountid"),
    ("region", "awsregion"),
    ("source", "eventsource"),
    ("name", "eventname"),
    ("error", "coalesce(errorcode, errormessage)"),
];

/// Which measure of the shared per-API series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiMeasure {
    /// Write calls (`readonly = false`), failed or not.
    Writes = 0,
    /// Failed calls, read or write.
    Errors = 1,
}

/// The per-API series of write calls and of failed calls, per error, over `rules`' window:
/// one scan a day serves both `api-call-rate` and `api-error-rate`, and the second of them
/// reuses what the first loaded.
pub async fn api_series(
    input: &DetectInput<'_>,
    rules: &[RateParams],
) -> Result<std::sync::Arc<Vec<Series>>> {
    let from = first_minute(input, rules);
    let mut shared = input.api_series.lock().await;
    if let Some((loaded_from, series)) = shared.as_ref()
        && *loaded_from <= from
    {
        return Ok(series.clone());
    }
    let filter = format!(
        "{MANAGEMENT} AND (readonly = false OR errorcode IS NOT NULL OR errormessage IS NOT NULL)"
    );
    let query = SeriesQuery {
        keys: &API_KEYS,
        filter: &filter,
        measures: &[
            (
                "writes",
                "sum(CASE WHEN readonly = false THEN 1 ELSE 0 END)",
            ),
            (
                "errors",
                "sum(CASE WHEN errorcode IS NOT NULL OR errormessage IS NOT NULL THEN 1 ELSE 0 END)",
            ),
        ],
        distinct: None,
    };
    let all = series::load(input, &query, from * 60_000, (input.span.to + 1) * 60_000).await?;
    let all = std::sync::Arc::new(all);
    *shared = Some((from, all.clone()));
    Ok(all)
}

/// One measure of the shared per-API series, keyed by the first `keys` key columns (4: per
/// API, the errors summed; 5: per API and error), without series where it is always zero.
pub fn api_measure(all: &[Series], measure: ApiMeasure, keys: usize) -> Vec<Series> {
    let mut rolled: HashMap<&[String], Vec<(i64, f64)>> = HashMap::new();
    for one in all {
        let points = &one.points[measure as usize];
        if !points.is_empty() {
            rolled
                .entry(&one.key[..keys])
                .or_default()
                .extend_from_slice(points);
        }
    }
    let mut out: Vec<Series> = rolled
        .into_iter()
        .map(|(key, mut points)| {
            points.sort_by_key(|&(minute, _)| minute);
            points.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    earlier.1 += later.1;
                }
                same
            });
            Series {
                key: key.to_vec(),
                points: vec![points],
            }
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
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
        severity: severity_of_ratio(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn series(key: &[&str], writes: &[(i64, f64)], errors: &[(i64, f64)]) -> Series {
        Series {
            key: key.iter().map(|k| k.to_string()).collect(),
            points: vec![writes.to_vec(), errors.to_vec()],
        }
    }

    #[test]
    fn api_measures_roll_up_over_errors_and_keep_errors_apart() {
        let api = ["111", "us-east-1", "iam.amazonaws.com", "CreateUser"];
        let with = |error: &'static str| [&api[..], &[error]].concat();
        let all = vec![
            series(&with(""), &[(1, 5.0), (3, 1.0)], &[]),
            series(
                &with("AccessDenied"),
                &[(1, 2.0), (2, 4.0)],
                &[(1, 2.0), (2, 4.0)],
            ),
            series(&with("Throttling"), &[], &[(7, 1.0)]),
        ];
        let calls = api_measure(&all, ApiMeasure::Writes, 4);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].key, api);
        assert_eq!(calls[0].points, vec![vec![(1, 7.0), (2, 4.0), (3, 1.0)]]);
        let errors = api_measure(&all, ApiMeasure::Errors, 5);
        let keys: Vec<&str> = errors.iter().map(|s| s.key[4].as_str()).collect();
        assert_eq!(keys, ["AccessDenied", "Throttling"]);
        assert_eq!(errors[0].points, vec![vec![(1, 2.0), (2, 4.0)]]);
        assert_eq!(errors[1].points, vec![vec![(7, 1.0)]]);
    }
}
