//! `principal-burst`: one principal working far faster, or far more widely, than it usually does.
//!
//! The attack: a stolen access key or session is used to work through an account, creating
//! users, keys and roles, or enumerating everything it can read (`List*`, `Describe*`, `Get*`
//! across many services). Per-API detectors miss it when each API sees only a few calls; seen
//! per principal, the same activity is a burst of writes, or of distinct APIs in a minute, that
//! the principal's own history does not explain. AWS service principals are left out (their
//! fan-out is normal).

use async_trait::async_trait;

use super::DetectInput;
use super::finding::{Candidate, Severity};
use super::rate_detector::{self, param_specs, rate_params};
use super::registry::{Detector, ParamSpec, Params};
use super::series::SeriesQuery;
use crate::error::Result;

/// Bursts of one principal's writes or distinct APIs per minute.
pub struct PrincipalBurst;

const FILTER: &str = "principal IS NOT NULL \
                      AND coalesce(useridentity.type, '') <> 'AWSService' \
                      AND coalesce(eventcategory, 'Management') = 'Management' \
                      AND coalesce(eventtype, '') <> 'AwsCloudTrailInsight'";
const KEYS: [(&str, &str); 3] = [
    ("account", "recipientaccountid"),
    ("region", "awsregion"),
    ("principal", "principal"),
];
const METRICS: [&str; 2] = ["writes per minute", "distinct APIs per minute"];

#[async_trait]
impl Detector for PrincipalBurst {
    fn name(&self) -> &'static str {
        "principal-burst"
    }

    fn summary(&self) -> &'static str {
        "one principal's write calls, or distinct APIs called, per minute far above its own \
         baseline (a stolen key working through an account)"
    }

    fn insight_type(&self) -> &'static str {
        "PrincipalBurstInsight"
    }

    fn params(&self) -> Vec<ParamSpec> {
        let mut specs = param_specs(
            10.0,
            "fewest write calls in a minute that can start an insight",
        );
        specs.push(ParamSpec {
            name: "min-apis",
            default: 10.0,
            help: "fewest distinct APIs in a minute that can start an insight",
        });
        specs
    }

    async fn detect(&self, input: &DetectInput<'_>, params: &Params) -> Result<Vec<Candidate>> {
        let query = SeriesQuery {
            keys: &KEYS,
            filter: FILTER,
            measures: &[(
                "writes",
                "sum(CASE WHEN readonly = false THEN 1 ELSE 0 END)",
            )],
            distinct: Some("eventname"),
        };
        let rules = [
            rate_params(params, "min-events"),
            rate_params(params, "min-apis"),
        ];
        rate_detector::candidates(input, &query, &rules, |series, measure, episode| {
            let [account, region, principal] =
                <[String; 3]>::try_from(series.key.clone()).expect("three key columns");
            let reason = format!(
                "{principal}: {} {} in the first minute against its baseline of {:.4}/min (p = {:.1e})",
                episode.start_count, METRICS[measure], episode.baseline_average, episode.p_value
            );
            let base = rate_detector::candidate(self, &KEYS, FILTER, series, episode, reason);
            Candidate {
                severity: base.severity.max(Severity::Medium),
                account,
                region,
                event_source: "*".into(),
                event_name: "*".into(),
                principal: Some(principal),
                metric: Some(METRICS[measure]),
                ..base
            }
        })
        .await
    }
}
