//! `trailq detect`: CloudTrail-Insights-style anomaly detection over the lake, with the arithmetic
//! in the open.
//!
//! A run judges the minutes from `--since` to the watermark (`--until`, or the newest event less
//! the watermark lag, whichever is earlier). Each detector aggregates per-minute series with
//! DataFusion, partition-pruned to the window plus its baseline, and judges the series in
//! parallel with rayon; memory grows with the number of active series, not with events. Each
//! finding then gets its attributions (top principals, user agents, error codes during the
//! insight and in its baseline) and the source files of its events.

mod api_call_rate;
mod api_error_rate;
pub mod eval;
mod finding;
mod first_seen;
mod principal_burst;
pub mod rate;
mod rate_detector;
pub mod registry;
mod series;
mod stats;
pub mod store;

pub use finding::{Attribution, Candidate, Finding, Severity, Share};
pub use registry::{Detector, ParamSpec, Params};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use self::rate::JudgeSpan;
use crate::error::{Error, Result};
use crate::sql::execute;
use crate::sql::time_range;

/// What a detector reads: the session over the lake and the judged span.
pub struct DetectInput<'a> {
    /// The session (tables `events`, ...).
    pub ctx: &'a SessionContext,
    /// The judged minutes and where the data starts.
    pub span: JudgeSpan,
}

/// The window of a run, in UTC milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First judged time.
    pub since_ms: i64,
    /// Last time to judge (exclusive); `None`: up to the watermark.
    pub until_ms: Option<i64>,
    /// Minutes newer than the newest event less this lag are not judged yet.
    pub lag_minutes: i64,
}

/// What a run found.
pub struct Outcome {
    /// The judged span.
    pub span: JudgeSpan,
    /// Findings, newest first.
    pub findings: Vec<Finding>,
    /// The detectors that ran.
    pub detectors: Vec<&'static str>,
}

/// The newest and oldest event times of the lake (ms), if it has events.
async fn event_range(ctx: &SessionContext) -> Result<Option<(i64, i64)>> {
    let (_, batches) = execute(
        ctx,
        "SELECT CAST(min(eventtime) AS BIGINT), CAST(max(eventtime) AS BIGINT) FROM events",
        HashMap::new(),
    )
    .await?;
    let batch = batches.first().filter(|b| b.num_rows() > 0);
    Ok(batch.and_then(|b| {
        let min = b.column(0).as_primitive::<Int64Type>();
        let max = b.column(1).as_primitive::<Int64Type>();
        (min.is_valid(0) && max.is_valid(0)).then(|| (min.value(0), max.value(0)))
    }))
}

/// Runs the detectors over the window.
pub async fn run(
    ctx: &SessionContext,
    window: Window,
    detectors: &[(Box<dyn Detector>, Params)],
) -> Result<Outcome> {
    let Some((oldest, newest)) = event_range(ctx).await? else {
        return Err(Error::Usage(
            "the lake has no events yet: run `trailq ingest` first".into(),
        ));
    };
    let watermark_ms = newest - window.lag_minutes * 60_000;
    let to_ms = window.until_ms.map_or(watermark_ms, |until| {
        until.min(watermark_ms + 60_000) - 60_000
    });
    let span = JudgeSpan {
        data_start: oldest.div_euclid(60_000),
        from: window.since_ms.div_euclid(60_000),
        to: to_ms.div_euclid(60_000),
    };
    if span.to < span.from {
        log::warn!(
            "nothing to judge: the watermark ({}) is before --since",
            crate::record::time::format_time(span.to * 60_000)
        );
    }
    let input = DetectInput { ctx, span };
    let mut findings = Vec::new();
    for (detector, params) in detectors {
        let started = std::time::Instant::now();
        let candidates = if span.to < span.from {
            Vec::new()
        } else {
            detector.detect(&input, params).await?
        };
        log::info!(
            "{}: {} findings in {:.1} s",
            detector.name(),
            candidates.len(),
            started.elapsed().as_secs_f64()
        );
        findings.extend(attribute(&input, candidates, span.to).await?);
    }
    findings.sort_by(|a, b| {
        b.candidate
            .episode
            .start
            .cmp(&a.candidate.episode.start)
            .then_with(|| a.shared_id().cmp(&b.shared_id()))
    });
    Ok(Outcome {
        span,
        findings,
        detectors: detectors.iter().map(|(d, _)| d.name()).collect(),
    })
}

/// Most source files listed per finding.
const MAX_SOURCE_FILES: usize = 100;
/// Values per attribution list, as in AWS's records.
const TOP: usize = 5;

/// Adds attributions and source files to candidates: one query per detector, joining its
/// events with a small table of the candidates' keys and windows.
async fn attribute(
    input: &DetectInput<'_>,
    candidates: Vec<Candidate>,
    watermark: i64,
) -> Result<Vec<Finding>> {
    // Candidates of one detector can have different subjects (first-seen): group by shape.
    let mut groups: BTreeMap<Vec<&str>, Vec<usize>> = BTreeMap::new();
    for (i, candidate) in candidates.iter().enumerate() {
        let shape: Vec<&str> = candidate.subject.iter().map(|(e, _)| *e).collect();
        groups.entry(shape).or_default().push(i);
    }
    let mut tallies: Vec<Tally> = vec![Tally::default(); candidates.len()];
    for (shape, members) in groups {
        let rows = attribution_rows(input, &candidates, &shape, &members).await?;
        for (fid, inside, values, file, n) in rows {
            let tally = &mut tallies[fid];
            let part = if inside {
                &mut tally.insight
            } else {
                &mut tally.baseline
            };
            for (attribute, value) in ATTRIBUTES.iter().zip(values) {
                *part.entry((attribute, value)).or_default() += n;
            }
            if let Some(file) = file {
                tally.files.insert(file);
            }
        }
    }
    Ok(candidates
        .into_iter()
        .zip(tallies)
        .map(|(candidate, tally)| {
            let episode = &candidate.episode;
            let insight_minutes = episode.duration(watermark).max(1) as f64;
            let baseline_minutes = episode.baseline_minutes.max(1) as f64;
            let attributions = ATTRIBUTES
                .iter()
                .map(|attribute| Attribution {
                    attribute,
                    insight: top(&tally.insight, attribute, insight_minutes),
                    baseline: top(&tally.baseline, attribute, baseline_minutes),
                })
                .collect();
            Finding {
                candidate,
                attributions,
                source_files: tally.files.into_iter().take(MAX_SOURCE_FILES).collect(),
                watermark,
            }
        })
        .collect())
}

const ATTRIBUTES: [&str; 3] = ["userIdentityArn", "userAgent", "errorCode"];

#[derive(Default, Clone)]
struct Tally {
    insight: HashMap<(&'static str, String), i64>,
    baseline: HashMap<(&'static str, String), i64>,
    files: std::collections::BTreeSet<String>,
}

fn top(part: &HashMap<(&'static str, String), i64>, attribute: &str, minutes: f64) -> Vec<Share> {
    let mut shares: Vec<(&String, i64)> = part
        .iter()
        .filter(|((a, _), _)| *a == attribute)
        .map(|((_, value), n)| (value, *n))
        .collect();
    shares.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    shares
        .into_iter()
        .take(TOP)
        .map(|(value, n)| Share {
            value: value.clone(),
            average: n as f64 / minutes,
        })
        .collect()
}

/// (candidate index, inside the insight, [arn, user agent, error code], source file, count).
type AttributionRow = (usize, bool, [String; 3], Option<String>, i64);

async fn attribution_rows(
    input: &DetectInput<'_>,
    candidates: &[Candidate],
    shape: &[&str],
    members: &[usize],
) -> Result<Vec<AttributionRow>> {
    let watermark = input.span.to;
    let mut fields = vec![Field::new("fid", DataType::Int64, false)];
    fields.extend((0..shape.len()).map(|i| Field::new(format!("k{i}"), DataType::Utf8, false)));
    for name in ["bstart", "istart", "iend"] {
        fields.push(Field::new(name, DataType::Int64, false));
    }
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<Arc<dyn Array>> = vec![Arc::new(Int64Array::from(
        members.iter().map(|&i| i as i64).collect::<Vec<_>>(),
    ))];
    for k in 0..shape.len() {
        columns.push(Arc::new(StringArray::from(
            members
                .iter()
                .map(|&i| candidates[i].subject[k].1.clone())
                .collect::<Vec<_>>(),
        )));
    }
    let bounds: Vec<(i64, i64, i64)> = members
        .iter()
        .map(|&i| {
            let e = &candidates[i].episode;
            let end = e.end.unwrap_or(watermark + 1);
            (
                (e.start - e.baseline_minutes) * 60_000,
                e.start * 60_000,
                end * 60_000,
            )
        })
        .collect();
    for part in 0..3 {
        columns.push(Arc::new(Int64Array::from(
            bounds
                .iter()
                .map(|b| [b.0, b.1, b.2][part])
                .collect::<Vec<_>>(),
        )));
    }
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let table = format!("trailq_windows_{}", fastrand::u32(..));
    input.ctx.register_table(
        table.as_str(),
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    let from = bounds.iter().map(|b| b.0).min().unwrap_or(0);
    let to = bounds.iter().map(|b| b.2).max().unwrap_or(0);
    let keys: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(i, expr)| format!("{expr} AS k{i}"))
        .collect();
    let join: Vec<String> = (0..shape.len())
        .map(|i| format!("e.k{i} = w.k{i}"))
        .collect();
    let filter = candidates[members[0]].filter;
    let sql = format!(
        "SELECT w.fid, e.t >= w.istart AS inside, e.arn, e.ua, e.err, \
                CASE WHEN e.t >= w.istart THEN e.sourcefile END AS file, count(*) AS n \
         FROM (SELECT {}, CAST(eventtime AS BIGINT) AS t, \
                      coalesce(useridentity.arn, principal, 'null') AS arn, \
                      coalesce(useragent, 'null') AS ua, coalesce(errorcode, 'null') AS err, sourcefile \
               FROM events WHERE {} AND ({filter})) e \
         JOIN {table} w ON {} \
         WHERE e.t >= w.bstart AND e.t < w.iend \
         GROUP BY 1, 2, 3, 4, 5, 6",
        keys.join(", "),
        time_range(from, to),
        join.join(" AND "),
    );
    let result = execute(input.ctx, &sql, HashMap::new()).await;
    input.ctx.deregister_table(table.as_str())?;
    let (_, batches) = result?;
    let mut rows = Vec::new();
    for batch in &batches {
        let fid = cast(batch.column(0), &DataType::Int64)?;
        let fid = fid.as_primitive::<Int64Type>();
        let inside = batch.column(1).as_boolean();
        let text: Vec<_> = (2..6)
            .map(|i| cast(batch.column(i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let text: Vec<&StringArray> = text.iter().map(|c| c.as_string::<i32>()).collect();
        let n = cast(batch.column(6), &DataType::Int64)?;
        let n = n.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let value = |i: usize| text[i].value(row).to_string();
            rows.push((
                fid.value(row) as usize,
                inside.value(row),
                [value(0), value(1), value(2)],
                text[3].is_valid(row).then(|| value(3)),
                n.value(row),
            ));
        }
    }
    Ok(rows)
}
