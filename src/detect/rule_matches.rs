//! The Sigma rules in a detect run: one scan a day evaluates every rule (`rules::evaluate`), and
//! the hits become findings: one per match rule, day, account, region and principal (a
//! principal doing the same thing 500 times is one finding with a count), and one per episode
//! of a correlation.

use std::collections::HashMap;

use arrow::array::AsArray;
use serde_json::json;

use super::DetectInput;
use super::finding::uuid_of;
use super::series::{DAY_MS, per_day};
use crate::error::Result;
use crate::record::finding::{FindingRow, Subject};
use crate::record::time::{day_of, format_time};
use crate::rules::evaluate::{Collector, Hit, Plan};
use crate::rules::{Rule, Suppression};
use crate::sql::{execute, literals, time_range};

/// The `detector` of rule findings.
pub const DETECTOR: &str = "rule";

/// Runs the rules over the judged span: one scan a day evaluates every match rule and feeds
/// the correlations. A match a suppression applies to is counted in a finding of its own,
/// marked with the suppression's reason.
pub async fn run(
    input: &DetectInput<'_>,
    rules: &[Rule],
    suppressions: &[Suppression],
) -> Result<Vec<FindingRow>> {
    if rules.is_empty() || input.span.to < input.span.from {
        return Ok(Vec::new());
    }
    let (from_ms, to_ms) = (input.span.from * 60_000, (input.span.to + 1) * 60_000);
    // The event names in the span, so each rule's names become an exact test the page index
    // prunes with (rules match names without case; the lake keeps them as CloudTrail wrote).
    let (_, batches) = execute(
        input.ctx,
        &format!(
            "SELECT DISTINCT eventname FROM events WHERE {} AND eventname IS NOT NULL",
            time_range(from_ms, to_ms)
        ),
        HashMap::new(),
    )
    .await?;
    let mut present: Vec<String> = Vec::new();
    for batch in &batches {
        let names = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)?;
        present.extend(names.as_string::<i32>().iter().flatten().map(String::from));
    }
    let plan = Plan::new(rules, Some(&present));
    if plan.is_empty() {
        return Ok(Vec::new());
    }
    let mut collector = Collector::new(&plan, suppressions);
    let mut day_end = from_ms;
    per_day(
        input,
        from_ms,
        to_ms,
        |range| plan.sql(range),
        &HashMap::new(),
        |batches| {
            for batch in batches {
                collector.add(batch)?;
            }
            day_end = ((day_end.div_euclid(DAY_MS) + 1) * DAY_MS).min(to_ms);
            collector.end_day(day_end);
            Ok(())
        },
    )
    .await?;
    Ok(collector
        .finish()
        .into_iter()
        .map(|hit| finding(&rules[hit.rule], hit, suppressions))
        .collect())
}

/// The finding of one hit. Its id is stable: the same rule, day (or episode start), account,
/// region, principal and group give the same id, so re-running a window replaces it.
fn finding(rule: &Rule, hit: Hit, suppressions: &[Suppression]) -> FindingRow {
    let Hit {
        found,
        group,
        suppressed,
        ..
    } = hit;
    let (account, region, principal) = (
        found.account.clone(),
        found.region.clone(),
        found.principal.clone(),
    );
    let identity = match rule.correlation() {
        None => format!(
            "{DETECTOR}|{}|{}|{account}|{region}|{principal}",
            rule.id,
            day_of(found.first_ms)
        ),
        Some(_) => {
            let values: Vec<String> = group.iter().map(|(f, v)| format!("{f}={v}")).collect();
            format!(
                "{DETECTOR}|{}|{}|{}",
                rule.id,
                values.join("|"),
                found.first_ms
            )
        }
    };
    let mut shared = uuid_of(&identity);
    if let Some(s) = suppressed {
        // Its own id: the same matches unsuppressed are another finding.
        shared = uuid_of(&format!("{shared}|suppressed|{s}"));
    }
    let minutes = (found.last_ms - found.first_ms) / 60_000 + 1;
    let who = if principal.is_empty() {
        "an unknown principal"
    } else {
        principal.as_str()
    };
    let times = if found.count == 1 {
        "once".to_string()
    } else {
        format!("{} times", found.count)
    };
    let reason = match rule.correlation() {
        None => format!(
            "{who} matched rule \"{}\" {times} in {account} {region}",
            rule.title
        ),
        Some(c) => {
            let by: Vec<String> = group.iter().map(|(f, v)| format!("{f} {v}")).collect();
            let by = if by.is_empty() {
                String::new()
            } else {
                format!(" for {}", by.join(", "))
            };
            format!(
                "correlation \"{}\" fired{by}: {} matching events within {} ({})",
                rule.title,
                found.count,
                c.timespan,
                c.describe()
            )
        }
    };
    let mut record = json!({
        "eventType": "TrailqRuleFinding",
        "eventTime": format_time(found.first_ms),
        "recipientAccountId": account,
        "awsRegion": region,
        "sharedEventID": shared,
        "trailqDetails": {
            "detector": DETECTOR,
            "ruleId": rule.id,
            "ruleTitle": rule.title,
            "ruleKind": rule.kind(),
            "level": rule.level,
            "severity": rule.severity,
            "techniques": rule.techniques,
            "tactics": rule.tactics,
            "principal": principal,
            "matchCount": found.count,
            "eventIDs": found.event_ids,
            "firstMatch": format_time(found.first_ms),
            "lastMatch": format_time(found.last_ms),
            "reason": reason,
        },
    });
    if !group.is_empty() {
        record["trailqDetails"]["groupBy"] = group
            .iter()
            .map(|(field, value)| (field.clone(), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let mut keys = vec![
        ("recipientaccountid".to_string(), account.clone()),
        ("awsregion".to_string(), region.clone()),
    ];
    if !principal.is_empty() {
        keys.push(("principal".to_string(), principal.clone()));
    }
    // What the attribution and the report's query select: the matched events themselves.
    let filter = match rule.condition() {
        Some(condition) => format!("coalesce({}, false)", condition.sql),
        None => format!("eventid IN ({})", literals(&found.event_ids)),
    };
    let subject = Subject { filter, keys };
    FindingRow {
        eventid: uuid_of(&format!("{shared}|Start")),
        sharedeventid: shared,
        eventtime: found.first_ms,
        state: "Start".into(),
        detector: DETECTOR.into(),
        insighttype: if rule.correlation().is_some() {
            "RuleCorrelation".into()
        } else {
            "RuleMatch".into()
        },
        severity: rule.severity,
        recipientaccountid: account,
        awsregion: region,
        eventsource: found.api.0,
        eventname: found.api.1,
        errorcode: None,
        principal: (!principal.is_empty()).then_some(principal),
        metric: None,
        baselineaverage: 0.0,
        insightaverage: found.count as f64 / minutes as f64,
        insightduration: minutes,
        baselineduration: 0,
        starttime: found.first_ms,
        endtime: Some(found.last_ms),
        eventcount: found.count as f64,
        reason,
        sourcefiles: found.files,
        record: record.to_string(),
        subject: serde_json::to_string(&subject).expect("a subject serializes"),
        ruleid: Some(rule.id.clone()),
        ruletitle: Some(rule.title.clone()),
        techniques: Some(rule.techniques.clone()),
        eventids: Some(found.event_ids),
        matchcount: Some(found.count),
        suppressedby: suppressed.map(|s| suppressions[s].reason.clone()),
    }
}
