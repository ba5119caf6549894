//! Collecting a report's data from the lake: SQL over the session, and the manifest.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use super::{
    BySeverity, Change, Chart, DetectionResult, FindingReport, Freshness, Headline, Health,
    Integrity, IntegrityProblem, MatchedEvent, Period, Ranked, RejectGroup, Report, RuleMatch,
    SHOWN_EVENTS, Tops,
};
use crate::detect::{Attribution, Severity};
use crate::error::{Error, Result};
use crate::lake::{Lake, Manifest, SourceStatus};
use crate::record::finding::{FindingRow, Subject, finding_rows};
use crate::record::time::format_time;
use crate::sql::time_range as range;
use crate::sql::{canned, execute, literals, params::bind};

/// Rows of each canned detection shown in the report.
const SAMPLE_ROWS: usize = 10;
/// Entries of each top list.
const TOP: usize = 10;
/// Hours without events after which an account-region counts as stale.
const STALE_AFTER_HOURS: i64 = 6;
/// Minutes of context shown before an insight in its chart, and the longest chart.
const CHART_BEFORE: i64 = 60;
const CHART_MAX: i64 = 8 * 60;

/// What to report on.
pub struct ReportRequest<'a> {
    /// The session over the lake.
    pub ctx: &'a SessionContext,
    /// The lake (for the manifest).
    pub lake: &'a Lake,
    /// Start of the period (ms).
    pub since_ms: i64,
    /// End of the period (ms, exclusive).
    pub until_ms: i64,
    /// Whether to run the canned detection queries.
    pub queries: bool,
    /// The report's time.
    pub now: DateTime<Utc>,
}

async fn rows_of(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(execute(ctx, sql, HashMap::new()).await?.1)
}

/// The first column of the first row as a number.
async fn number(ctx: &SessionContext, sql: &str) -> Result<Vec<u64>> {
    let batches = rows_of(ctx, sql).await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    (0..batch.num_columns())
        .map(|i| {
            let column = cast(batch.column(i), &DataType::Int64)?;
            let column = column.as_primitive::<Int64Type>();
            Ok(if column.is_valid(0) {
                column.value(0).max(0) as u64
            } else {
                0
            })
        })
        .collect()
}

/// Every cell of the batches as text (nulls empty).
fn text_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()?;
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    Ok(out)
}

async fn ranked(
    ctx: &SessionContext,
    expr: &str,
    filter: &str,
    from: i64,
    to: i64,
) -> Result<Vec<Ranked>> {
    let sql = format!(
        "SELECT {expr} AS value, count(*) AS n FROM events WHERE {} AND {filter} \
         GROUP BY 1 ORDER BY n DESC, value LIMIT {TOP}",
        range(from, to)
    );
    ranked_rows(ctx, &sql).await
}

/// The (value, count) rows of `sql` as a ranked list.
async fn ranked_rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Ranked>> {
    Ok(text_rows(&rows_of(ctx, sql).await?)?
        .into_iter()
        .map(|row| Ranked {
            value: row[0].clone(),
            events: row[1].parse().unwrap_or(0),
        })
        .collect())
}

/// The UTC day of a time, as `YYYY-MM-DD`.
fn day_text(ms: i64) -> String {
    crate::record::time::format_day(crate::record::time::day_of(ms))
}

/// Gathers the report.
pub async fn gather(request: &ReportRequest<'_>) -> Result<Report> {
    let ctx = request.ctx;
    let (since, until) = (request.since_ms, request.until_ms);
    let previous = since - (until - since);
    let counts = |from, to| {
        format!(
            "SELECT count(*), count(DISTINCT recipientaccountid), count(DISTINCT awsregion) \
             FROM events WHERE {}",
            range(from, to)
        )
    };
    let now_counts = number(ctx, &counts(since, until)).await?;
    let before_counts = number(ctx, &counts(previous, since)).await?;
    let change = |i: usize| Change {
        current: now_counts.get(i).copied().unwrap_or(0),
        previous: before_counts.get(i).copied().unwrap_or(0),
    };
    let findings = findings(ctx, since, until, &request.lake.display()).await?;
    let previous_findings = severities(ctx, previous, since).await?;
    let mut by_severity = BySeverity::default();
    for finding in &findings {
        by_severity.add(finding.severity);
    }
    let detections = if request.queries {
        detections(ctx, since, until, request.now).await
    } else {
        Vec::new()
    };
    let headline = Headline {
        events: change(0),
        accounts: change(1),
        regions: change(2),
        findings: by_severity,
        previous_findings,
        detections_with_rows: detections.iter().filter(|d| d.rows > 0).count() as u64,
    };
    let health = health(ctx, request.lake, since, until).await?;
    let period = Period {
        since: format_time(since),
        until: format_time(until),
    };
    Ok(Report {
        report_version: 1,
        silence: Report::silence_of(headline.events.current, &health, &period),
        suppressed: suppressed(ctx, since, until).await?,
        lake: request.lake.display(),
        generated_at: format_time(request.now.timestamp_millis() / 1000 * 1000),
        period,
        previous_period: Period {
            since: format_time(previous),
            until: format_time(since),
        },
        headline,
        findings,
        detections,
        health,
        integrity: integrity(ctx, since, until).await?,
        top: Tops {
            principals: ranked(ctx, "principal", "principal IS NOT NULL", since, until).await?,
            apis: ranked(
                ctx,
                "concat(eventsource, ':', eventname)",
                "true",
                since,
                until,
            )
            .await?,
            error_codes: ranked(ctx, "errorcode", "errorcode IS NOT NULL", since, until).await?,
        },
    })
}

/// Findings suppressed in the period, by the suppression's reason.
async fn suppressed(ctx: &SessionContext, from: i64, to: i64) -> Result<Vec<Ranked>> {
    let sql = format!(
        "SELECT suppressedby, count(*) AS n FROM findings WHERE state = 'Start' \
         AND suppressedby IS NOT NULL AND starttime >= '{}' AND starttime < '{}' \
         GROUP BY 1 ORDER BY n DESC, 1",
        format_time(from),
        format_time(to)
    );
    ranked_rows(ctx, &sql).await
}

async fn severities(ctx: &SessionContext, from: i64, to: i64) -> Result<BySeverity> {
    let sql = format!(
        "SELECT severity, count(*) FROM findings WHERE state = 'Start' AND suppressedby IS NULL \
         AND starttime >= '{}' AND starttime < '{}' GROUP BY 1",
        format_time(from),
        format_time(to)
    );
    let mut counts = BySeverity::default();
    for row in text_rows(&rows_of(ctx, &sql).await?)? {
        let n: u64 = row[1].parse().unwrap_or(0);
        match Severity::parse(&row[0]) {
            Some(Severity::High) => counts.high += n,
            Some(Severity::Medium) => counts.medium += n,
            Some(Severity::Low) => counts.low += n,
            None => {}
        }
    }
    Ok(counts)
}

/// The part of an Insights-shaped record the report shows that has no column of its own.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsightRecord {
    /// Absent from rule findings, which have no attributions.
    #[serde(default)]
    insight_details: InsightDetails,
    /// Rule findings only.
    #[serde(default)]
    trailq_details: RuleDetails,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleDetails {
    #[serde(default)]
    tactics: Vec<String>,
    #[serde(default)]
    rule_kind: String,
}

/// The `trailq query` command that lists a rule finding's kept matched events.
fn matched_query(lake: &str, ids: &[String], (start_ms, end_ms): (i64, i64)) -> String {
    let sql = format!(
        "SELECT eventtime, eventsource, eventname, principal, sourceipaddress, useragent, errorcode, eventid \
         FROM events WHERE eventtime >= '{}' AND eventtime <= '{}' AND eventid IN ({}) ORDER BY eventtime",
        format_time(start_ms),
        format_time(end_ms),
        literals(ids)
    );
    // Double-quoted for a POSIX shell: ids come from the logs, so nothing in them may expand.
    let quote = |text: &str| {
        let mut out = String::from("\"");
        for c in text.chars() {
            if matches!(c, '"' | '\\' | '$' | '`') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    };
    format!("trailq query --lake {} {}", quote(lake), quote(&sql))
}

/// The key fields of the first matched events.
async fn matched_events(
    ctx: &SessionContext,
    ids: &[String],
    (start_ms, end_ms): (i64, i64),
) -> Result<Vec<MatchedEvent>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT CAST(eventtime AS BIGINT), eventsource, eventname, coalesce(principal, ''), \
                coalesce(sourceipaddress, ''), coalesce(useragent, ''), errorcode, eventid \
         FROM events WHERE {} AND eventid IN ({}) ORDER BY 1, 8 LIMIT {SHOWN_EVENTS}",
        range(start_ms, end_ms + 1000),
        literals(ids)
    );
    let mut out = Vec::new();
    for batch in rows_of(ctx, &sql).await? {
        let times = cast(batch.column(0), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let texts: Vec<_> = (1..8)
            .map(|i| cast(batch.column(i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let text = |c: usize, row: usize| {
            let column = texts[c].as_string::<i32>();
            column.is_valid(row).then(|| column.value(row).to_string())
        };
        for row in 0..batch.num_rows() {
            out.push(MatchedEvent {
                time: format_time(times.value(row)),
                event_source: text(0, row).unwrap_or_default(),
                event_name: text(1, row).unwrap_or_default(),
                principal: text(2, row).unwrap_or_default(),
                source_ip: text(3, row).unwrap_or_default(),
                user_agent: text(4, row).unwrap_or_default(),
                error_code: text(5, row),
                event_id: text(6, row).unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// Who was behind a finding's events: those it matched (rule findings), else its principal's
/// in its window. Only chains of at least one session: a user acting with its own key is its
/// own origin, already named.
async fn origins(
    ctx: &SessionContext,
    principal: Option<&str>,
    ids: &[String],
    (start_ms, end_ms): (i64, i64),
) -> Result<Vec<String>> {
    let mut params = HashMap::new();
    let condition = match principal {
        _ if !ids.is_empty() => format!("eventid IN ({})", literals(ids)),
        Some(principal) if principal != "*" => {
            params.insert("principal".to_string(), ScalarValue::from(principal));
            "principal = $principal".to_string()
        }
        _ => return Ok(Vec::new()),
    };
    let sql = format!(
        "SELECT origin.summary, count(*) FROM events_with_origin \
         WHERE {} AND {condition} AND origin.hops > 0 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3",
        range(start_ms, end_ms + 1000),
    );
    let mut out = Vec::new();
    for batch in execute(ctx, &sql, params).await?.1 {
        let summaries = cast(batch.column(0), &DataType::Utf8)?;
        let summaries = summaries.as_string::<i32>();
        out.extend(summaries.iter().flatten().map(str::to_string));
    }
    Ok(out)
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsightDetails {
    insight_context: InsightContext,
}

#[derive(Default, Deserialize)]
struct InsightContext {
    #[serde(default)]
    attributions: Vec<Attribution>,
}

/// Detector findings that started in the period, newest first, with their charts.
async fn findings(
    ctx: &SessionContext,
    from: i64,
    to: i64,
    lake: &str,
) -> Result<Vec<FindingReport>> {
    let sql = format!(
        "SELECT * FROM findings WHERE starttime >= '{}' AND starttime < '{}' \
         AND suppressedby IS NULL ORDER BY starttime DESC, sharedeventid, state DESC",
        format_time(from),
        format_time(to)
    );
    let unreadable = |what: String| Error::LakeData(format!("the findings table: {what}"));
    let mut rows: Vec<FindingRow> = Vec::new();
    for batch in rows_of(ctx, &sql).await? {
        rows.extend(finding_rows(&batch).map_err(|err| unreadable(err.to_string()))?);
    }
    let mut out = Vec::new();
    for records in rows.chunk_by(|a, b| a.sharedeventid == b.sharedeventid) {
        let start = &records[0];
        let last = records.last().expect("a chunk is never empty");
        let parse = |row: &FindingRow| {
            serde_json::from_str::<Value>(&row.record)
                .map_err(|err| unreadable(format!("record {}: {err}", row.eventid)))
        };
        let details: InsightRecord = serde_json::from_str(&start.record)
            .map_err(|err| unreadable(format!("record {}: {err}", start.eventid)))?;
        let subject: Subject = serde_json::from_str(&start.subject)
            .map_err(|err| unreadable(format!("subject of {}: {err}", start.eventid)))?;
        let window = (
            start.starttime,
            last.endtime
                .unwrap_or(start.starttime + 60_000 * last.insightduration.max(1)),
        );
        let ids = start.eventids.clone().unwrap_or_default();
        let rule = start.ruleid.as_ref().map(|rule_id| RuleMatch {
            rule_id: rule_id.clone(),
            title: start.ruletitle.clone().unwrap_or_default(),
            kind: details.trailq_details.rule_kind,
            techniques: start.techniques.clone().unwrap_or_default(),
            tactics: details.trailq_details.tactics,
            match_count: start.matchcount.unwrap_or_default(),
            events: Vec::new(),
            query: matched_query(lake, &ids, window),
        });
        let finding = FindingReport {
            id: start.sharedeventid.clone(),
            detector: start.detector.clone(),
            insight_type: start.insighttype.clone(),
            severity: start.severity,
            account: start.recipientaccountid.clone(),
            region: start.awsregion.clone(),
            event_source: start.eventsource.clone(),
            event_name: start.eventname.clone(),
            error_code: start.errorcode.clone(),
            principal: start.principal.clone(),
            start: format_time(start.starttime),
            end: last.endtime.map(format_time),
            duration_minutes: last.insightduration,
            baseline_average: last.baselineaverage,
            insight_average: last.insightaverage,
            event_count: last.eventcount,
            reason: start.reason.clone(),
            attributions: details.insight_details.insight_context.attributions,
            source_files: start.sourcefiles.clone(),
            chart: None,
            origins: Vec::new(),
            records: records.iter().map(parse).collect::<Result<_>>()?,
            rule,
        };
        out.push((finding, subject, window, ids));
    }
    // Charts two at a time.
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    futures::stream::iter(out)
        .map(
            |(mut finding, subject, (start_ms, end_ms), ids)| async move {
                finding.chart =
                    chart(ctx, &subject, start_ms, end_ms, finding.baseline_average).await?;
                finding.origins =
                    origins(ctx, finding.principal.as_deref(), &ids, (start_ms, end_ms)).await?;
                if let Some(rule) = &mut finding.rule {
                    rule.events = matched_events(ctx, &ids, (start_ms, end_ms)).await?;
                }
                Ok(finding)
            },
        )
        .buffered(parallel)
        .collect::<Vec<Result<FindingReport>>>()
        .await
        .into_iter()
        .collect()
}

/// The per-minute counts of a finding's series around its window. The subject's values are
/// bound as parameters: they come from the data (principal names are attacker-controlled).
async fn chart(
    ctx: &SessionContext,
    subject: &Subject,
    start_ms: i64,
    end_ms: i64,
    baseline: f64,
) -> Result<Option<Chart>> {
    let filter = &subject.filter;
    let start = start_ms.div_euclid(60_000);
    let end = end_ms.div_euclid(60_000).max(start + 1);
    let first = start - CHART_BEFORE;
    let last = (end + CHART_BEFORE / 2).min(first + CHART_MAX);
    let mut predicates = Vec::new();
    let mut params = HashMap::new();
    for (i, (expr, value)) in subject.keys.iter().enumerate() {
        // The expression is one of trailq's own (stored by detect), never user text.
        if !expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.(), ".contains(c))
        {
            return Ok(None);
        }
        predicates.push(format!("{expr} = $k{i}"));
        params.insert(format!("k{i}"), ScalarValue::Utf8(Some(value.to_string())));
    }
    let sql = format!(
        "SELECT CAST(eventtime AS BIGINT) / 60000 AS minute, count(*) AS n FROM events \
         WHERE {} AND ({filter}) AND {} GROUP BY 1",
        range(first * 60_000, last * 60_000),
        predicates.join(" AND ")
    );
    let (_, batches) = execute(ctx, &sql, params).await?;
    let mut counts = vec![0u64; (last - first) as usize];
    for batch in &batches {
        let minutes = cast(batch.column(0), &DataType::Int64)?;
        let minutes = minutes.as_primitive::<Int64Type>();
        let n = cast(batch.column(1), &DataType::Int64)?;
        let n = n.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let at = minutes.value(row) - first;
            if (0..counts.len() as i64).contains(&at) {
                counts[at as usize] = n.value(row).max(0) as u64;
            }
        }
    }
    Ok(Some(Chart {
        from: format_time(first * 60_000),
        counts,
        insight: ((start - first) as usize, (end.min(last) - first) as usize),
        baseline_average: baseline,
        band_upper: baseline + 3.0 * baseline.sqrt(),
    }))
}

/// Runs the canned queries that declare themselves detections over the period.
async fn detections(
    ctx: &SessionContext,
    since: i64,
    until: i64,
    now: DateTime<Utc>,
) -> Vec<DetectionResult> {
    let queries: Vec<(canned::CannedQuery, Severity)> = canned::all()
        .into_iter()
        .filter_map(|q| {
            let severity = q.detection.as_deref().and_then(Severity::parse)?;
            Some((q, severity))
        })
        .collect();
    // Two at a time: each query leaves a core idle while it plans and collects.
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results: Vec<DetectionResult> = futures::stream::iter(queries)
        .map(|(query, severity)| detection(ctx, query, severity, since, until, now))
        .buffered(parallel)
        .collect()
        .await;
    // The most severe first; within a severity, those with rows first.
    results
        .sort_by(|a, b| (b.severity, b.rows > 0, &a.name).cmp(&(a.severity, a.rows > 0, &b.name)));
    results
}

/// Runs one canned detection query over the period.
async fn detection(
    ctx: &SessionContext,
    query: canned::CannedQuery,
    severity: Severity,
    since: i64,
    until: i64,
    now: DateTime<Utc>,
) -> DetectionResult {
    let mut result = DetectionResult {
        name: query.name.clone(),
        title: query.title.clone(),
        severity,
        rows: 0,
        columns: Vec::new(),
        sample: Vec::new(),
        error: None,
    };
    let given: Vec<(String, String)> = [("since", since), ("until", until)]
        .into_iter()
        .filter(|(name, _)| query.params.iter().any(|p| p.name == *name))
        .map(|(name, ms)| (name.to_string(), format_time(ms)))
        .collect();
    let outcome = match bind(&query.params, &given, now) {
        Ok(params) => execute(ctx, &query.sql, params).await,
        Err(err) => Err(err),
    };
    match outcome.and_then(|(schema, batches)| Ok((schema, text_rows(&batches)?))) {
        Ok((schema, table)) => {
            result.rows = table.len() as u64;
            result.columns = schema.fields().iter().map(|f| f.name().clone()).collect();
            result.sample = table.into_iter().take(SAMPLE_ROWS).collect();
        }
        Err(err) => result.error = Some(err.to_string()),
    }
    result
}

/// The period's hours in `deliveries`; `None` when the lake has no such table (no digests).
async fn integrity(ctx: &SessionContext, since: i64, until: i64) -> Result<Option<Integrity>> {
    if !ctx.table_exist("deliveries").unwrap_or(false) {
        return Ok(None);
    }
    let period = format!(
        "hour >= '{}' AND hour < '{}'",
        format_time(since),
        format_time(until)
    );
    let totals = text_rows(
        &rows_of(
            ctx,
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE status = 'verified'), sum(digests), \
                 sum(verified), sum(missing), sum(altered), sum(unlisted), \
                 count(*) FILTER (WHERE gap) FROM deliveries WHERE {period}"
            ),
        )
        .await?,
    )?;
    let n = |i: usize| -> u64 { totals[0][i].parse().unwrap_or(0) };
    if n(0) == 0 {
        // Digests elsewhere in the lake and none in the period is worth saying; none at all
        // (a trail without log file validation, or a lake of other inputs) is not.
        let any = number(ctx, "SELECT count(*) FROM deliveries").await?;
        if any.first().copied().unwrap_or(0) == 0 {
            return Ok(None);
        }
    }
    let problems = text_rows(
        &rows_of(
            ctx,
            &format!(
                "SELECT hour, trail, awsaccountid, region, status, problems[1] FROM deliveries \
                 WHERE {period} AND status NOT IN ('verified', 'pending') \
                 ORDER BY hour, trail, awsaccountid, region LIMIT {TOP}"
            ),
        )
        .await?,
    )?
    .into_iter()
    .map(|row| IntegrityProblem {
        hour: row[0].clone(),
        trail: row[1].clone(),
        account: row[2].clone(),
        region: row[3].clone(),
        status: row[4].clone(),
        detail: row[5].clone(),
    })
    .collect();
    Ok(Some(Integrity {
        hours: n(0),
        hours_verified: n(1),
        digests: n(2),
        files_verified: n(3),
        files_missing: n(4),
        files_altered: n(5),
        files_unlisted: n(6),
        gap_hours: n(7),
        problems,
    }))
}

async fn health(ctx: &SessionContext, lake: &Lake, since: i64, until: i64) -> Result<Health> {
    let (manifest, history) = Manifest::load_with_history(lake)?;
    let (mut ingested, mut partial, mut failed) = (0, 0, 0);
    for transaction in history.iter().chain(manifest.transactions()) {
        let committed = DateTime::parse_from_rfc3339(&transaction.committed_at)
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        if committed < since || committed >= until {
            continue;
        }
        for source in &transaction.sources {
            match source.status {
                SourceStatus::Ingested => ingested += 1,
                SourceStatus::Partial => partial += 1,
                SourceStatus::Failed => failed += 1,
            }
        }
    }
    let latest = manifest
        .sources()
        .iter()
        .map(|(key, state)| (key, (state.status, state.error.as_deref())));
    let mut outstanding: HashMap<String, RejectGroup> = HashMap::new();
    for (key, (status, error)) in latest {
        if status == SourceStatus::Ingested {
            continue;
        }
        let reason = error
            .unwrap_or("incomplete")
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let group = outstanding
            .entry(reason.clone())
            .or_insert_with(|| RejectGroup {
                reason,
                count: 0,
                example: key.to_string(),
            });
        group.count += 1;
        if *key < group.example {
            group.example = key.to_string();
        }
    }
    let mut outstanding: Vec<RejectGroup> = outstanding.into_values().collect();
    outstanding.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    let rejects = text_rows(
        &rows_of(
            ctx,
            &format!(
                "SELECT reason, count(*) AS n, min(sourcefile) FROM rejects \
                 GROUP BY 1 ORDER BY n DESC, reason LIMIT {TOP}"
            ),
        )
        .await?,
    )?
    .into_iter()
    .map(|row| RejectGroup {
        reason: row[0].clone(),
        count: row[1].parse().unwrap_or(0),
        example: row[2].clone(),
    })
    .collect();
    let stale_before = until - STALE_AFTER_HOURS * 3_600_000;
    let freshness = text_rows(
        &rows_of(
            ctx,
            &format!(
                "SELECT recipientaccountid, awsregion, CAST(max(eventtime) AS BIGINT) AS newest FROM events \
                 WHERE event_date <= DATE '{}' AND eventtime < '{}' GROUP BY 1, 2 ORDER BY newest, 1, 2",
                day_text(until),
                format_time(until)
            ),
        )
        .await?,
    )?
    .into_iter()
    .map(|row| {
        let newest: i64 = row[2].parse().unwrap_or(0);
        Freshness {
            account: row[0].clone(),
            region: row[1].clone(),
            newest_event: format_time(newest),
            stale: newest < stale_before,
        }
    })
    .collect();
    Ok(Health {
        files_ingested: ingested,
        files_partial: partial,
        files_failed: failed,
        outstanding,
        rejects,
        freshness,
        stale_after_hours: STALE_AFTER_HOURS,
    })
}
