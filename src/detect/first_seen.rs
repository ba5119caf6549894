//! `first-seen`: an established principal does something it never did in its baseline.
//!
//! The attack: a compromised identity is used for what its owner never does: creating access
//! keys or login profiles, attaching admin policies, stopping CloudTrail or GuardDuty, opening
//! security groups; or it acts in a region the account's people never use (attackers often pick
//! a far region to run instances or hide resources). Rate detectors miss one such call; but for
//! a principal with history, the first call of a sensitive write API, or the first activity in a
//! region, is exactly the signal. Principals with too little history are left out: everything
//! is new to them.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use async_trait::async_trait;

use super::DetectInput;
use super::finding::{Candidate, Severity};
use super::rate::Episode;
use super::registry::{Detector, ParamSpec, Params};
use super::series::{DAY_MS, per_day};
use crate::error::Result;

/// First uses of sensitive write APIs and of regions by established principals.
pub struct FirstSeen;

/// Write APIs that change who can do what, or blind the defenders.
pub const SENSITIVE_APIS: &[&str] = &[
    "AddUserToGroup",
    "AttachGroupPolicy",
    "AttachRolePolicy",
    "AttachUserPolicy",
    "AuthorizeSecurityGroupIngress",
    "CreateAccessKey",
    "CreateLoginProfile",
    "CreatePolicyVersion",
    "CreateRole",
    "CreateUser",
    "CreateVirtualMFADevice",
    "DeactivateMFADevice",
    "DeleteBucketPolicy",
    "DeletePublicAccessBlock",
    "PutBucketAcl",
    "PutBucketPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "SetDefaultPolicyVersion",
    "UpdateAssumeRolePolicy",
    "UpdateLoginProfile",
    "CreateKeyPair",
    "ImportKeyPair",
    "ModifyInstanceAttribute",
    "ModifySnapshotAttribute",
    "ModifyImageAttribute",
    "PutSecretValue",
    "GetSecretValue",
];

/// Sensitive APIs whose first use is high severity: they blind logging or destroy keys.
pub const CRITICAL_APIS: &[&str] = &[
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "DeleteDetector",
    "DisassociateFromMasterAccount",
    "DisableSecurityHub",
    "StopConfigurationRecorder",
    "DeleteConfigurationRecorder",
    "DeleteFlowLogs",
    "ScheduleKeyDeletion",
    "DisableKey",
];

const FILTER: &str = "principal IS NOT NULL \
                      AND coalesce(useridentity.type, '') <> 'AWSService' \
                      AND coalesce(eventtype, '') <> 'AwsCloudTrailInsight'";

/// One (account, principal, region, sensitive API or all other calls) over one stretch of time
/// (a day, cut at the window's start), with its first call's API.
struct Usage {
    account: String,
    principal: String,
    region: String,
    source: String,
    name: String,
    /// The first call.
    first_ms: i64,
    /// The end of the stretch the calls were counted in.
    end_ms: i64,
    calls: i64,
}

#[async_trait]
impl Detector for FirstSeen {
    fn name(&self) -> &'static str {
        "first-seen"
    }

    fn summary(&self) -> &'static str {
        "an established principal calls a sensitive write API, or acts in a region, that it never \
         used in its baseline"
    }

    fn insight_type(&self) -> &'static str {
        "FirstSeenInsight"
    }

    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec {
                name: "baseline-days",
                default: 14.0,
                help: "days before the window in which the principal's habits are learned",
            },
            ParamSpec {
                name: "min-history-events",
                default: 20.0,
                help: "events a principal needs in the baseline to be judged at all",
            },
            ParamSpec {
                name: "min-history-days",
                default: 1.0,
                help: "days between a principal's first event in the lake and the window, for it to be judged at all",
            },
            ParamSpec {
                name: "regions",
                default: 1.0,
                help: "1 to report first activity in a region, 0 not to",
            },
        ]
    }

    async fn detect(&self, input: &DetectInput<'_>, params: &Params) -> Result<Vec<Candidate>> {
        let lookback = (params.get("baseline-days") * 1440.0).ceil() as i64;
        let since_ms = input.span.from * 60_000;
        // Only sensitive APIs are judged one by one: other calls collapse into one group per
        // principal and region (its source and name NULL), which keeps the groups few.
        let watched: Vec<String> = SENSITIVE_APIS
            .iter()
            .chain(CRITICAL_APIS)
            .map(|name| format!("'{name}'"))
            .collect();
        let watched = format!("eventname IN ({})", watched.join(", "));
        let sql = |range: &str| {
            format!(
                "SELECT recipientaccountid, principal, awsregion, \
                        CASE WHEN {watched} THEN eventsource END, \
                        CASE WHEN {watched} THEN eventname END, \
                        min(CAST(eventtime AS BIGINT)) AS first_ms, \
                        count(*) AS calls, \
                        first_value(eventsource ORDER BY eventtime) AS first_source, \
                        first_value(eventname ORDER BY eventtime) AS first_name \
                 FROM events WHERE {range} AND {FILTER} GROUP BY 1, 2, 3, 4, 5"
            )
        };
        // Per day (the history before the window and the window read apart, so that no stretch
        // straddles the window's start).
        let mut usages: Vec<Usage> = Vec::new();
        for (from_ms, to_ms) in [
            (since_ms - lookback * 60_000, since_ms),
            (since_ms, (input.span.to + 1) * 60_000),
        ] {
            let add = |batches: &[arrow::array::RecordBatch]| {
                for batch in batches {
                    let text = [0, 1, 2, 3, 4, 7, 8]
                        .into_iter()
                        .map(|i| cast(batch.column(i), &DataType::Utf8))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let text: Vec<_> = text.iter().map(|c| c.as_string::<i32>()).collect();
                    let numbers = (5..7)
                        .map(|i| cast(batch.column(i), &DataType::Int64))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let numbers: Vec<_> = numbers
                        .iter()
                        .map(|c| c.as_primitive::<Int64Type>())
                        .collect();
                    for row in 0..batch.num_rows() {
                        let text = |i: usize| {
                            if text[i].is_valid(row) {
                                text[i].value(row).to_string()
                            } else {
                                String::new()
                            }
                        };
                        let first_ms = numbers[0].value(row);
                        let day_end = (first_ms.div_euclid(DAY_MS) + 1) * DAY_MS;
                        usages.push(Usage {
                            account: text(0),
                            principal: text(1),
                            region: text(2),
                            source: text(5),
                            name: text(6),
                            first_ms,
                            end_ms: day_end.min(to_ms),
                            calls: numbers[1].value(row),
                        });
                        // Sensitive calls keep their own API as the subject.
                        if !text(4).is_empty() {
                            let usage = usages.last_mut().expect("just pushed");
                            usage.source = text(3);
                            usage.name = text(4);
                        }
                    }
                }
                Ok(())
            };
            per_day(input, from_ms, to_ms, sql, &HashMap::new(), add).await?;
        }
        // In a fixed order, so that ties between first uses resolve the same way every run.
        usages.sort_unstable_by(|a, b| {
            (
                &a.account,
                &a.principal,
                &a.region,
                &a.source,
                &a.name,
                a.first_ms,
            )
                .cmp(&(
                    &b.account,
                    &b.principal,
                    &b.region,
                    &b.source,
                    &b.name,
                    b.first_ms,
                ))
        });
        Ok(self.judge(&usages, input, params, lookback))
    }
}

/// Each principal's usages.
type Uses<'a> = HashMap<(&'a str, &'a str), Vec<&'a Usage>>;

/// What makes a use new: its window, the lookback before it, and how much history its principal
/// needs by then.
struct Rule {
    from_ms: i64,
    to_ms: i64,
    lookback_ms: i64,
    min_history: i64,
    min_days_ms: i64,
}

impl Rule {
    /// The first use in the window with no use in the lookback before it, by a principal
    /// established at that time; with the history (ms) it rests on.
    fn first_new<'a>(
        &self,
        uses: &[&'a Usage],
        by_principal: &Uses<'a>,
    ) -> Option<(&'a Usage, i64)> {
        let first = *uses
            .iter()
            .filter(|u| u.first_ms >= self.from_ms && u.first_ms < self.to_ms)
            .min_by_key(|u| u.first_ms)?;
        let at = first.first_ms;
        let used_before = uses
            .iter()
            .any(|u| u.first_ms < at && u.end_ms > at - self.lookback_ms);
        if used_before {
            return None;
        }
        let history = &by_principal[&(first.account.as_str(), first.principal.as_str())];
        let events: i64 = history
            .iter()
            .filter(|u| u.first_ms < at && u.end_ms > at - self.lookback_ms)
            .map(|u| u.calls)
            .sum();
        let since = history.iter().map(|u| u.first_ms).min().unwrap_or(at);
        (events >= self.min_history && at - since >= self.min_days_ms)
            .then_some((first, at - since))
    }
}

/// "13 days", "1 day", "20 hours": how much history a first-seen claim rests on.
fn history_span(ms: i64) -> String {
    let hours = ms / 3_600_000;
    match hours {
        48.. => format!("{} days", hours / 24),
        24..48 => "1 day".to_string(),
        1 => "1 hour".to_string(),
        _ => format!("{hours} hours"),
    }
}

impl FirstSeen {
    /// Judges each first use in the window against the history before that use (not before
    /// the window): the same use gets the same verdict whatever window it is judged in.
    fn judge<'a>(
        &self,
        usages: &'a [Usage],
        input: &DetectInput<'_>,
        params: &Params,
        lookback: i64,
    ) -> Vec<Candidate> {
        let min_history = params.get("min-history-events") as i64;
        let min_days_ms = (params.get("min-history-days") * DAY_MS as f64) as i64;
        let lookback_ms = lookback * 60_000;
        let (from_ms, to_ms) = (input.span.from * 60_000, (input.span.to + 1) * 60_000);
        let mut by_principal: Uses<'a> = HashMap::new();
        let mut by_region: HashMap<(&str, &str, &str), Vec<&Usage>> = HashMap::new();
        let mut by_api: HashMap<(&str, &str, &str, &str), Vec<&Usage>> = HashMap::new();
        for u in usages {
            by_principal
                .entry((&u.account, &u.principal))
                .or_default()
                .push(u);
            by_region
                .entry((&u.account, &u.principal, &u.region))
                .or_default()
                .push(u);
            if SENSITIVE_APIS.contains(&u.name.as_str()) || CRITICAL_APIS.contains(&u.name.as_str())
            {
                by_api
                    .entry((&u.account, &u.principal, &u.source, &u.name))
                    .or_default()
                    .push(u);
            }
        }
        let rule = Rule {
            from_ms,
            to_ms,
            lookback_ms,
            min_history,
            min_days_ms,
        };
        let first_new = |uses: &[&'a Usage]| rule.first_new(uses, &by_principal);
        let mut found = Vec::new();
        for ((account, principal, source, name), uses) in &by_api {
            let Some((first, history)) = first_new(uses) else {
                continue;
            };
            let severity = if CRITICAL_APIS.contains(name) {
                Severity::High
            } else {
                Severity::Medium
            };
            found.push(self.candidate(
                first,
                lookback,
                severity,
                "sensitive API",
                format!(
                    "{principal} called {source} {name} for the first time in {} of its history",
                    history_span(history)
                ),
                vec![
                    ("recipientaccountid", account.to_string()),
                    ("principal", principal.to_string()),
                    ("eventsource", source.to_string()),
                    ("eventname", name.to_string()),
                ],
            ));
        }
        if params.get("regions") > 0.0 {
            for ((account, principal, region), uses) in &by_region {
                let Some((first, history)) = first_new(uses) else {
                    continue;
                };
                found.push(self.candidate(
                    first,
                    lookback,
                    Severity::Low,
                    "region",
                    format!(
                        "{principal} acted in {region} for the first time in {} of its history (first call {})",
                        history_span(history),
                        first.name
                    ),
                    vec![
                        ("recipientaccountid", account.to_string()),
                        ("principal", principal.to_string()),
                        ("awsregion", region.to_string()),
                    ],
                ));
            }
        }
        found.sort_by(|a, b| (a.episode.start, &a.reason).cmp(&(b.episode.start, &b.reason)));
        found
    }

    fn candidate(
        &self,
        first: &Usage,
        lookback: i64,
        severity: Severity,
        metric: &'static str,
        reason: String,
        subject: Vec<(&'static str, String)>,
    ) -> Candidate {
        let start = first.first_ms.div_euclid(60_000);
        Candidate {
            detector: self.name(),
            insight_type: self.insight_type(),
            account: first.account.clone(),
            region: first.region.clone(),
            event_source: first.source.clone(),
            event_name: first.name.clone(),
            error_code: None,
            principal: Some(first.principal.clone()),
            metric: Some(metric),
            episode: Episode {
                start,
                end: Some(start + 1),
                baseline_average: 0.0,
                baseline_minutes: lookback,
                start_count: 1.0,
                total: 1.0,
                p_value: 0.0,
            },
            severity,
            reason: format!(
                "{reason}; {} in the window",
                match first.calls {
                    1 => "1 call".to_string(),
                    n => format!("{n} calls"),
                }
            ),
            subject,
            filter: FILTER,
        }
    }
}
