//! `api-call-rate`: CloudTrail's ApiCallRateInsight, in the open. Write management calls per
//! account, region and API, per UTC minute, against the preceding week.

use async_trait::async_trait;

use super::DetectInput;
use super::finding::Candidate;
use super::rate_detector::{self, API_KEYS, ApiMeasure, api_measure, param_specs, rate_params};
use super::registry::{Detector, ParamSpec, Params};
use crate::error::Result;

/// Unusual rates of write management API calls.
pub struct ApiCallRate;

/// Write management events, as Insights counts them (Insights records themselves excluded).
const FILTER: &str = "readonly = false AND coalesce(eventcategory, 'Management') = 'Management' \
                      AND coalesce(eventtype, '') <> 'AwsCloudTrailInsight'";
/// The shared per-API key without the error.
const KEYS: [(&str, &str); 4] = [API_KEYS[0], API_KEYS[1], API_KEYS[2], API_KEYS[3]];

#[async_trait]
impl Detector for ApiCallRate {
    fn name(&self) -> &'static str {
        "api-call-rate"
    }

    fn summary(&self) -> &'static str {
        "write management API calls per minute far above the account-region's baseline for that API \
         (CloudTrail's ApiCallRateInsight)"
    }

    fn insight_type(&self) -> &'static str {
        "ApiCallRateInsight"
    }

    fn params(&self) -> Vec<ParamSpec> {
        param_specs(10.0, "fewest calls in a minute that can start an insight")
    }

    async fn detect(&self, input: &DetectInput<'_>, params: &Params) -> Result<Vec<Candidate>> {
        let rule = rate_params(params, "min-events");
        let shared = rate_detector::api_series(input, &[rule]).await?;
        let calls = api_measure(&shared, ApiMeasure::Writes, KEYS.len());
        Ok(rate_detector::judge_all(
            input,
            &calls,
            &[rule],
            |series, _, episode| {
                let [account, region, source, name] =
                    <[String; 4]>::try_from(series.key.clone()).expect("four key columns");
                let reason = format!(
                    "{} {name} calls in the first minute against a baseline of {:.4}/min over {:.1} days (p = {:.1e})",
                    episode.start_count,
                    episode.baseline_average,
                    episode.baseline_minutes as f64 / 1440.0,
                    episode.p_value
                );
                Candidate {
                    account,
                    region,
                    event_source: source,
                    event_name: name,
                    ..rate_detector::candidate(self, &KEYS, FILTER, series, episode, reason)
                }
            },
        ))
    }
}
