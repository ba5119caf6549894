//! The Sigma rules in a detect run: one scan a day evaluates every rule (each a column of the
//! same query), and the matches become findings, one per rule, day, account, region and
//! principal, so a principal doing the same thing 500 times is one finding with a count.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use serde_json::json;

use super::DetectInput;
use super::finding::uuid_of;
use super::series::per_day;
use crate::error::Result;
use crate::record::finding::{FindingRow, Subject};
use crate::record::time::{day_of, format_time};
use crate::rules::{Matched, Rule, Suppression};

/// The `detector` of rule findings.
pub const DETECTOR: &str = "rule";
/// Matched event ids and source files kept per finding.
const KEPT: usize = 100;

/// The matches of one rule by one principal in one account, region and day.
#[derive(Default)]
struct Group {
    first_ms: i64,
    last_ms: i64,
    count: i64,
    event_ids: Vec<String>,
    files: Vec<String>,
    api: (String, String),
}

/// Runs the rules over the judged span. A match a suppression applies to is counted in a
/// finding of its own, marked with the suppression's reason.
pub async fn run(
    input: &DetectInput<'_>,
    rules: &[Rule],
    suppressions: &[Suppression],
) -> Result<Vec<FindingRow>> {
    if rules.is_empty() || input.span.to < input.span.from {
        return Ok(Vec::new());
    }
    // A rule that requires one of a few event names is tested only on those events (its
    // payload tests are the costly part); the scan keeps the rows some rule may match.
    let quoted = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("'{}'", n.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tests: Vec<String> = rules
        .iter()
        .map(|rule| match &rule.event_names {
            Some(names) => format!(
                "CASE WHEN lower(eventname) IN ({}) THEN coalesce({}, false) ELSE false END",
                quoted(names),
                rule.sql
            ),
            None => format!("coalesce({}, false)", rule.sql),
        })
        .collect();
    let columns: Vec<String> = tests
        .iter()
        .enumerate()
        .map(|(i, test)| format!("{test} AS r{i}"))
        .collect();
    let named: Vec<String> = rules
        .iter()
        .filter_map(|r| r.event_names.clone())
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut candidates: Vec<String> = rules
        .iter()
        .zip(&tests)
        .filter(|(rule, _)| rule.event_names.is_none())
        .map(|(_, test)| test.clone())
        .collect();
    if !named.is_empty() {
        candidates.push(format!("lower(eventname) IN ({})", quoted(&named)));
    }
    let any = candidates.join(" OR ");
    let sql = |range: &str| {
        format!(
            "SELECT coalesce(eventid, concat(sourcefile, '#', CAST(sourceindex AS VARCHAR))), \
                    CAST(eventtime AS BIGINT), recipientaccountid, awsregion, \
                    coalesce(principal, ''), sourcefile, eventsource, eventname, \
                    coalesce(sourceipaddress, ''), coalesce(useragent, ''), {} \
             FROM events WHERE {range} AND ({any})",
            columns.join(", ")
        )
    };
    type Key = (usize, i32, String, String, String, Option<usize>);
    let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
    per_day(
        input,
        input.span.from * 60_000,
        (input.span.to + 1) * 60_000,
        sql,
        &HashMap::new(),
        |batches| {
            for batch in batches {
                let text = |i: usize| cast(batch.column(i), &DataType::Utf8);
                let ids = text(0)?;
                let ids = ids.as_string::<i32>();
                let times = cast(batch.column(1), &DataType::Int64)?;
                let times = times.as_primitive::<Int64Type>();
                let key_columns: Vec<_> = [2, 3, 4, 5, 6, 7, 8, 9]
                    .into_iter()
                    .map(text)
                    .collect::<std::result::Result<_, _>>()?;
                let value = |c: usize, row: usize| {
                    let column = key_columns[c].as_string::<i32>();
                    if column.is_valid(row) {
                        column.value(row).to_string()
                    } else {
                        String::new()
                    }
                };
                for (r, rule) in rules.iter().enumerate() {
                    let hits = batch.column(10 + r).as_boolean();
                    for row in 0..batch.num_rows() {
                        if !hits.value(row) {
                            continue;
                        }
                        let ms = times.value(row);
                        let (account, principal) = (value(0, row), value(2, row));
                        let (source_ip, user_agent) = (value(6, row), value(7, row));
                        let matched = Matched {
                            principal: &principal,
                            account: &account,
                            source_ip: &source_ip,
                            user_agent: &user_agent,
                        };
                        let suppressed =
                            suppressions.iter().position(|s| s.applies(rule, &matched));
                        let key = (r, day_of(ms), account, value(1, row), principal, suppressed);
                        let group = groups.entry(key).or_insert_with(|| Group {
                            first_ms: ms,
                            last_ms: ms,
                            ..Group::default()
                        });
                        if ms <= group.first_ms {
                            group.first_ms = ms;
                            group.api = (value(4, row), value(5, row));
                        }
                        group.last_ms = group.last_ms.max(ms);
                        group.count += 1;
                        if group.event_ids.len() < KEPT {
                            group.event_ids.push(ids.value(row).to_string());
                        }
                        let file = value(3, row);
                        if group.files.len() < KEPT && !group.files.contains(&file) {
                            group.files.push(file);
                        }
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    Ok(groups
        .into_iter()
        .map(
            |((r, day, account, region, principal, suppressed), group)| {
                let mut row = finding(&rules[r], day, account, region, principal, group);
                if let Some(s) = suppressed {
                    // Its own id: the same matches unsuppressed are another finding.
                    row.sharedeventid = uuid_of(&format!("{}|suppressed|{s}", row.sharedeventid));
                    row.eventid = uuid_of(&format!("{}|Start", row.sharedeventid));
                    row.suppressedby = Some(suppressions[s].reason.clone());
                }
                row
            },
        )
        .collect())
}

fn finding(
    rule: &Rule,
    day: i32,
    account: String,
    region: String,
    principal: String,
    mut group: Group,
) -> FindingRow {
    group.event_ids.sort();
    let shared = uuid_of(&format!(
        "{DETECTOR}|{}|{day}|{account}|{region}|{principal}",
        rule.id
    ));
    let minutes = (group.last_ms - group.first_ms) / 60_000 + 1;
    let who = if principal.is_empty() {
        "an unknown principal"
    } else {
        principal.as_str()
    };
    let times = if group.count == 1 {
        "once".to_string()
    } else {
        format!("{} times", group.count)
    };
    let reason = format!(
        "{who} matched rule \"{}\" {times} in {account} {region}",
        rule.title
    );
    let record = json!({
        "eventType": "TrailqRuleFinding",
        "eventTime": format_time(group.first_ms),
        "recipientAccountId": account,
        "awsRegion": region,
        "sharedEventID": shared,
        "trailqDetails": {
            "detector": DETECTOR,
            "ruleId": rule.id,
            "ruleTitle": rule.title,
            "level": rule.level,
            "severity": rule.severity,
            "techniques": rule.techniques,
            "tactics": rule.tactics,
            "principal": principal,
            "matchCount": group.count,
            "eventIDs": group.event_ids,
            "firstMatch": format_time(group.first_ms),
            "lastMatch": format_time(group.last_ms),
            "reason": reason,
        },
    });
    let mut keys = vec![
        ("recipientaccountid".to_string(), account.clone()),
        ("awsregion".to_string(), region.clone()),
    ];
    if !principal.is_empty() {
        keys.push(("principal".to_string(), principal.clone()));
    }
    let subject = Subject {
        filter: format!("coalesce({}, false)", rule.sql),
        keys,
    };
    FindingRow {
        eventid: uuid_of(&format!("{shared}|Start")),
        sharedeventid: shared,
        eventtime: group.first_ms,
        state: "Start".into(),
        detector: DETECTOR.into(),
        insighttype: "RuleMatch".into(),
        severity: rule.severity,
        recipientaccountid: account,
        awsregion: region,
        eventsource: group.api.0,
        eventname: group.api.1,
        errorcode: None,
        principal: (!principal.is_empty()).then_some(principal),
        metric: None,
        baselineaverage: 0.0,
        insightaverage: group.count as f64 / minutes as f64,
        insightduration: minutes,
        baselineduration: 0,
        starttime: group.first_ms,
        endtime: Some(group.last_ms),
        eventcount: group.count as f64,
        reason,
        sourcefiles: group.files,
        record: record.to_string(),
        subject: serde_json::to_string(&subject).expect("a subject serializes"),
        ruleid: Some(rule.id.clone()),
        ruletitle: Some(rule.title.clone()),
        techniques: Some(rule.techniques.clone()),
        eventids: Some(group.event_ids),
        matchcount: Some(group.count),
        suppressedby: None,
    }
}
