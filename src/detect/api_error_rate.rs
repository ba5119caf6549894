//! `api-error-rate`: CloudTrail's ApiErrorRateInsight, in the open. Management calls that
//! failed, per account, region, API and error code, per UTC minute, against the preceding week.
//! Console sign-in failures carry an `errorMessage` and no `errorCode`: they count, keyed by the
//! message.

use async_trait::async_trait;

use super::DetectInput;
use super::finding::{Candidate, Severity};
use super::rate_detector::{self, ApiMeasure, api_measure, param_specs, rate_params};
use super::registry::{Detector, ParamSpec, Params};
use crate::error::Result;

/// Unusual rates of failing API calls.
pub struct ApiErrorRate;

const FILTER: &str = "(errorcode IS NOT NULL OR errormessage IS NOT NULL) \
                      AND coalesce(eventcategory, 'Management') = 'Management' \
                      AND coalesce(eventtype, '') <> 'AwsCloudTrailInsight'";
const KEYS: [(&str, &str); 5] = rate_detector::API_KEYS;

#[async_trait]
impl Detector for ApiErrorRate {
    fn name(&self) -> &'static str {
        "api-error-rate"
    }

    fn summary(&self) -> &'static str {
        "failed API calls per minute, per error code, far above the baseline (CloudTrail's \
         ApiErrorRateInsight; console sign-in failures included)"
    }

    fn insight_type(&self) -> &'static str {
        "ApiErrorRateInsight"
    }

    fn params(&self) -> Vec<ParamSpec> {
        param_specs(10.0, "fewest errors in a minute that can start an insight")
    }

    async fn detect(&self, input: &DetectInput<'_>, params: &Params) -> Result<Vec<Candidate>> {
        let rule = rate_params(params, "min-events");
        let shared = rate_detector::api_series(input, &[rule]).await?;
        let errors = api_measure(&shared, ApiMeasure::Errors, KEYS.len());
        Ok(rate_detector::judge_all(
            input,
            &errors,
            &[rule],
            |series, _, episode| {
                let [account, region, source, name, error] =
                    <[String; 5]>::try_from(series.key.clone()).expect("five key columns");
                let reason = format!(
                    "{} {name} calls failed with {error} in the first minute against a baseline of {:.4}/min (p = {:.1e})",
                    episode.start_count, episode.baseline_average, episode.p_value
                );
                let base = rate_detector::candidate(self, &KEYS, FILTER, series, episode, reason);
                // Failed console sign-ins in a burst are password guessing: never below medium.
                let floor = if name == "ConsoleLogin" {
                    Severity::Medium
                } else {
                    Severity::Low
                };
                Candidate {
                    severity: base.severity.max(floor),
                    account,
                    region,
                    event_source: source,
                    event_name: name,
                    error_code: Some(error),
                    ..base
                }
            },
        ))
    }
}
