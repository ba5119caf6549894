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
use super::series::per_day;
use crate::error::Result;
use crate::record::time::format_time;

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

/// One (account, principal, region, sensitive API or all other calls) seen in the lookback or
/// the window, with its first call's API.
struct Usage {
    account: String,
    principal: String,
    region: String,
    source: String,
    name: String,
    first_ms: i64,
    before: i64,
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
                default: 3.0,
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
        let before = format_time(since_ms);
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
                        sum(CASE WHEN eventtime < '{before}' THEN 1 ELSE 0 END) AS before, \
                        count(*) AS calls, \
                        first_value(eventsource ORDER BY eventtime) AS first_source, \
                        first_value(eventname ORDER BY eventtime) AS first_name \
                 FROM events WHERE {range} AND {FILTER} GROUP BY 1, 2, 3, 4, 5"
            )
        };
        // Per day, merged here: (account, principal, region, source, name) -> usage.
        let mut merged: HashMap<[String; 5], Usage> = HashMap::new();
        per_day(
            input,
            (input.span.from - lookback) * 60_000,
            (input.span.to + 1) * 60_000,
            sql,
            &HashMap::new(),
            |batches| {
                for batch in batches {
                    let text = [0, 1, 2, 3, 4, 8, 9]
                        .into_iter()
                        .map(|i| cast(batch.column(i), &DataType::Utf8))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let text: Vec<_> = text.iter().map(|c| c.as_string::<i32>()).collect();
                    let numbers = (5..8)
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
                        let (first_ms, before, calls) = (
                            numbers[0].value(row),
                            numbers[1].value(row),
                            numbers[2].value(row),
                        );
                        let (source, name) = (text(5), text(6));
                        merged
                            .entry([0, 1, 2, 3, 4].map(text))
                            .and_modify(|u| {
                                if first_ms < u.first_ms {
                                    u.first_ms = first_ms;
                                    u.source.clone_from(&source);
                                    u.name.clone_from(&name);
                                }
                                u.before += before;
                                u.calls += calls;
                            })
                            .or_insert_with_key(|key| Usage {
                                account: key[0].clone(),
                                principal: key[1].clone(),
                                region: key[2].clone(),
                                source: source.clone(),
                                name: name.clone(),
                                first_ms,
                                before,
                                calls,
                            });
                    }
                }
                Ok(())
            },
        )
        .await?;
        // In key order, so that ties between first uses resolve the same way every run.
        let mut usages: Vec<([String; 5], Usage)> = merged.into_iter().collect();
        usages.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let usages: Vec<Usage> = usages.into_iter().map(|(_, usage)| usage).collect();
        Ok(self.judge(&usages, input, params, lookback))
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
    fn judge(
        &self,
        usages: &[Usage],
        input: &DetectInput<'_>,
        params: &Params,
        lookback: i64,
    ) -> Vec<Candidate> {
        let min_history = params.get("min-history-events") as i64;
        let min_days_ms = (params.get("min-history-days") * 86_400_000.0) as i64;
        let (from_ms, to_ms) = (input.span.from * 60_000, (input.span.to + 1) * 60_000);
        // Per principal: events before the window, and its first event in the baseline read.
        let mut history: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
        for u in usages {
            let entry = history
                .entry((&u.account, &u.principal))
                .or_insert((0, i64::MAX));
            entry.0 += u.before;
            entry.1 = entry.1.min(u.first_ms);
        }
        let history_of = |u: &Usage| {
            history
                .get(&(u.account.as_str(), u.principal.as_str()))
                .copied()
                .unwrap_or((0, i64::MAX))
        };
        let established = |u: &Usage| {
            let (events, first_ms) = history_of(u);
            events >= min_history && from_ms.saturating_sub(first_ms) >= min_days_ms
        };
        // The history a claim rests on: from the principal's first event seen to the window.
        let seen = |u: &Usage| history_span(from_ms - history_of(u).1);
        // First use of a subject = the earliest usage row; it is new if nothing came before.
        let mut regions: HashMap<(&str, &str, &str), (i64, &Usage)> = HashMap::new();
        let mut apis: HashMap<(&str, &str, &str, &str), (i64, &Usage)> = HashMap::new();
        for u in usages.iter().filter(|u| established(u)) {
            let region = regions
                .entry((&u.account, &u.principal, &u.region))
                .or_insert((0, u));
            region.0 += u.before;
            if u.first_ms < region.1.first_ms {
                region.1 = u;
            }
            if SENSITIVE_APIS.contains(&u.name.as_str()) || CRITICAL_APIS.contains(&u.name.as_str())
            {
                let api = apis
                    .entry((&u.account, &u.principal, &u.source, &u.name))
                    .or_insert((0, u));
                api.0 += u.before;
                if u.first_ms < api.1.first_ms {
                    api.1 = u;
                }
            }
        }
        let new = |before: i64, first: &Usage| {
            before == 0 && first.first_ms >= from_ms && first.first_ms < to_ms
        };
        let mut found = Vec::new();
        for ((account, principal, source, name), (before, first)) in &apis {
            if !new(*before, first) {
                continue;
            }
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
                    seen(first)
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
            for ((account, principal, region), (before, first)) in &regions {
                if !new(*before, first) {
                    continue;
                }
                found.push(self.candidate(
                    first,
                    lookback,
                    Severity::Low,
                    "region",
                    format!(
                        "{principal} acted in {region} for the first time in {} of its history (first call {})",
                        seen(first),
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
            reason: format!("{reason}; {} calls in the window", first.calls),
            subject,
            filter: FILTER,
        }
    }
}
