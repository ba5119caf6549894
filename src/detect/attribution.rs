//! Attributions and source files of findings: the top principals, user agents and error codes
//! during each insight and in its baseline, as AWS's records carry them, and the files that hold
//! the insight's events.
//!
//! Two queries per detector, both reading only the events whose key columns take the findings'
//! values (bound `IN` lists), each attribute counted in its own grouping set so that values are
//! not crossed with each other. The insight part is exact: the insights' own minutes (which the
//! Parquet page index finds in the time-sorted files), joined on the series key and the day. The
//! baseline part counts per whole hour of the baselines, a day at a time, and sums each
//! finding's baseline hours in Rust.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::scalar::ScalarValue;

use super::series::{DAY_MS, per_day};
use super::{Attribution, Candidate, DetectInput, Finding, Share};
use crate::error::Result;
use crate::record::time::{format_day, format_time};
use crate::sql::{execute, time_range};

/// The attributes of AWS's records.
const ATTRIBUTES: [&str; 3] = ["userIdentityArn", "userAgent", "errorCode"];
/// Values per attribution list, as in AWS's records.
const TOP: usize = 5;
/// Most source files listed per finding.
const MAX_SOURCE_FILES: usize = 100;
const HOUR_MS: i64 = 3_600_000;

/// The attribute expressions over `events`, in [`ATTRIBUTES`] order.
const ATTRIBUTE_SQL: &str = "coalesce(useridentity.arn, principal, 'null') AS arn, \
                             coalesce(useragent, 'null') AS ua, coalesce(errorcode, 'null') AS err";

#[derive(Default, Clone)]
struct Tally {
    insight: HashMap<(&'static str, String), i64>,
    baseline: HashMap<(&'static str, String), i64>,
    files: BTreeSet<String>,
}

impl Tally {
    /// Adds a row of the grouping sets: `values` has one non-null attribute value.
    fn add(part: &mut HashMap<(&'static str, String), i64>, values: &[Option<&str>], n: i64) {
        for (attribute, value) in ATTRIBUTES.iter().zip(values) {
            if let Some(value) = value {
                *part.entry((attribute, value.to_string())).or_default() += n;
            }
        }
    }
}

/// Grouping sets that count each attribute (and `extra`) on its own, after the `by` columns:
/// one set per attribute, so their values are not crossed with each other.
fn attribute_sets(by: &[String], extra: &[&str]) -> String {
    let sets: Vec<String> = ["arn", "ua", "err"]
        .iter()
        .chain(extra)
        .map(|column| format!("({}, {column})", by.join(", ")))
        .collect();
    format!("GROUPING SETS ({})", sets.join(", "))
}

/// A text column's value, or `None` for null.
fn maybe(column: &StringArray, row: usize) -> Option<&str> {
    column.is_valid(row).then(|| column.value(row))
}

/// A finding's windows in ms: baseline start, insight start, insight end.
fn bounds(candidate: &Candidate, watermark: i64) -> (i64, i64, i64) {
    let e = &candidate.episode;
    let end = e.end.unwrap_or(watermark + 1);
    (
        (e.start - e.baseline_minutes) * 60_000,
        e.start * 60_000,
        end * 60_000,
    )
}

/// Whole hours of `[from, to)`: (first hour, hours).
fn whole_hours(from: i64, to: i64) -> (i64, i64) {
    let first = from.div_euclid(HOUR_MS) + i64::from(from.rem_euclid(HOUR_MS) != 0);
    let last = to.div_euclid(HOUR_MS);
    (first, (last - first).max(0))
}

/// Adds attributions and source files to candidates.
pub async fn attribute(
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
        let started = std::time::Instant::now();
        insight_part(
            input,
            &candidates,
            &shape,
            &members,
            watermark,
            &mut tallies,
        )
        .await?;
        let insight_done = started.elapsed().as_secs_f64();
        baseline_part(
            input,
            &candidates,
            &shape,
            &members,
            watermark,
            &mut tallies,
        )
        .await?;
        log::debug!(
            "attributions of {} findings: {insight_done:.1} s during, {:.1} s in baselines",
            members.len(),
            started.elapsed().as_secs_f64() - insight_done
        );
    }
    Ok(candidates
        .into_iter()
        .zip(tallies)
        .map(|(candidate, tally)| {
            let (bstart, istart, _) = bounds(&candidate, watermark);
            let insight_minutes = candidate.episode.duration(watermark).max(1) as f64;
            let baseline_minutes = (whole_hours(bstart, istart).1 * 60).max(1) as f64;
            let attributions = ATTRIBUTES
                .iter()
                .map(|attribute| Attribution {
                    attribute: attribute.to_string(),
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

/// Registers a temporary in-memory table and returns its name.
fn register(input: &DetectInput<'_>, columns: Vec<(String, ArrayRef)>) -> Result<String> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(name, array.data_type().clone(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )?;
    let name = format!("trailq_tmp_{:08x}", fastrand::u32(..));
    input.ctx.register_table(
        name.as_str(),
        Arc::new(MemTable::try_new(schema, vec![vec![batch]])?),
    )?;
    Ok(name)
}

fn key_columns(shape: &[&str]) -> (Vec<String>, Vec<String>) {
    let select = shape
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS k{i}"))
        .collect();
    let join = (0..shape.len())
        .map(|i| format!("e.k{i} = w.k{i}"))
        .collect();
    (select, join)
}

/// A filter that keeps only the events whose key columns take the findings' values (one
/// bound `IN` list per column, a superset of the exact join): it is applied while the Parquet
/// files are decoded, so the attribute columns are read for those events only.
fn key_prefilter(
    shape: &[&str],
    candidates: &[Candidate],
    members: &[usize],
) -> (String, HashMap<String, ScalarValue>) {
    let mut params = HashMap::new();
    let lists: Vec<String> = shape
        .iter()
        .enumerate()
        .map(|(k, expr)| {
            let values: BTreeSet<&str> = members
                .iter()
                .map(|&i| candidates[i].subject[k].1.as_str())
                .collect();
            let names: Vec<String> = values
                .into_iter()
                .enumerate()
                .map(|(n, value)| {
                    let name = format!("k{k}_{n}");
                    params.insert(name.clone(), ScalarValue::Utf8(Some(value.to_string())));
                    format!("${name}")
                })
                .collect();
            format!("{expr} IN ({})", names.join(", "))
        })
        .collect();
    (lists.join(" AND "), params)
}

fn text_columns(batch: &RecordBatch, range: std::ops::Range<usize>) -> Result<Vec<StringArray>> {
    range
        .map(|i| {
            Ok(cast(batch.column(i), &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        })
        .collect()
}

fn number_column(batch: &RecordBatch, i: usize) -> Result<Int64Array> {
    Ok(cast(batch.column(i), &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

/// During each insight, exactly: events joined on the series key and the day.
async fn insight_part(
    input: &DetectInput<'_>,
    candidates: &[Candidate],
    shape: &[&str],
    members: &[usize],
    watermark: i64,
    tallies: &mut [Tally],
) -> Result<()> {
    // One row per finding and day its insight touches.
    let mut rows: Vec<(usize, i64, i64, i64)> = Vec::new();
    for &i in members {
        let (_, start, end) = bounds(&candidates[i], watermark);
        for day in start.div_euclid(DAY_MS)..=(end - 1).div_euclid(DAY_MS) {
            rows.push((i, day, start, end));
        }
    }
    let mut columns: Vec<(String, ArrayRef)> = vec![(
        "fid".into(),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.0 as i64),
        )),
    )];
    for k in 0..shape.len() {
        let values = rows.iter().map(|r| candidates[r.0].subject[k].1.as_str());
        columns.push((
            format!("k{k}"),
            Arc::new(StringArray::from_iter_values(values)),
        ));
    }
    for (name, part) in [("day", 1), ("istart", 2), ("iend", 3)] {
        let values = rows.iter().map(|r| [r.1, r.2, r.3][part - 1]);
        columns.push((name.into(), Arc::new(Int64Array::from_iter_values(values))));
    }
    let table = register(input, columns)?;
    let from = rows.iter().map(|r| r.2).min().unwrap_or(0);
    let to = rows.iter().map(|r| r.3).max().unwrap_or(0);
    let (select, join) = key_columns(shape);
    let (prefilter, params) = key_prefilter(shape, candidates, members);
    let days: BTreeSet<i64> = rows.iter().map(|r| r.1).collect();
    let days: Vec<String> = days
        .into_iter()
        .map(|day| format!("DATE '{}'", format_day(day as i32)))
        .collect();
    // The insights' own minutes, merged: with the files sorted by time, the Parquet page index
    // skips everything else of those days.
    let mut spans: Vec<(i64, i64)> = rows.iter().map(|r| (r.2, r.3)).collect();
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let spans: Vec<String> = merged
        .iter()
        .map(|&(start, end)| {
            format!(
                "(eventtime >= '{}' AND eventtime < '{}')",
                format_time(start),
                format_time(end)
            )
        })
        .collect();
    let sql = format!(
        "SELECT fid, arn, ua, err, sourcefile, count(*) AS n \
         FROM (SELECT w.fid, e.arn, e.ua, e.err, e.sourcefile \
               FROM (SELECT {}, CAST(eventtime AS BIGINT) AS t, \
                            CAST(eventtime AS BIGINT) / {DAY_MS} AS day, {ATTRIBUTE_SQL}, sourcefile \
                     FROM events WHERE {} AND event_date IN ({}) AND ({}) AND ({}) AND {prefilter}) e \
               JOIN {table} w ON {} AND e.day = w.day \
               WHERE e.t >= w.istart AND e.t < w.iend) \
         GROUP BY {}",
        select.join(", "),
        time_range(from, to),
        days.join(", "),
        spans.join(" OR "),
        candidates[members[0]].filter,
        join.join(" AND "),
        attribute_sets(&["fid".into()], &["sourcefile"]),
    );
    let result = execute(input.ctx, &sql, params).await;
    input.ctx.deregister_table(table.as_str())?;
    for batch in &result?.1 {
        let fid = number_column(batch, 0)?;
        let text = text_columns(batch, 1..5)?;
        let n = number_column(batch, 5)?;
        for row in 0..batch.num_rows() {
            let tally = &mut tallies[fid.value(row) as usize];
            let values = [0, 1, 2].map(|i| maybe(&text[i], row));
            Tally::add(&mut tally.insight, &values, n.value(row));
            if let Some(file) = maybe(&text[3], row) {
                tally.files.insert(file.to_string());
            }
        }
    }
    Ok(())
}

/// In each baseline, per whole hour: events of the findings' series counted per hour and
/// attribute value, a day at a time, then summed over each finding's baseline hours. Rows of
/// other combinations of the key columns' values are skipped here.
async fn baseline_part(
    input: &DetectInput<'_>,
    candidates: &[Candidate],
    shape: &[&str],
    members: &[usize],
    watermark: i64,
    tallies: &mut [Tally],
) -> Result<()> {
    let key_of = |i: usize| -> Vec<&str> {
        candidates[i]
            .subject
            .iter()
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let mut by_key: HashMap<Vec<&str>, Vec<usize>> = HashMap::new();
    for &i in members {
        by_key.entry(key_of(i)).or_default().push(i);
    }
    let windows: Vec<(i64, i64)> = members
        .iter()
        .map(|&i| {
            let (bstart, istart, _) = bounds(&candidates[i], watermark);
            (bstart, istart)
        })
        .collect();
    let from = windows.iter().map(|w| w.0).min().unwrap_or(0);
    let to = windows.iter().map(|w| w.1).max().unwrap_or(0);
    let (select, _) = key_columns(shape);
    let (prefilter, params) = key_prefilter(shape, candidates, members);
    let mut by: Vec<String> = (0..shape.len()).map(|i| format!("k{i}")).collect();
    by.push("hour".into());
    let sql = |range: &str| {
        format!(
            "SELECT {}, arn, ua, err, count(*) AS n \
             FROM (SELECT {}, CAST(eventtime AS BIGINT) / {HOUR_MS} AS hour, {ATTRIBUTE_SQL} \
                   FROM events WHERE {range} AND ({}) AND {prefilter}) \
             GROUP BY {}",
            by.join(", "),
            select.join(", "),
            candidates[members[0]].filter,
            attribute_sets(&by, &[]),
        )
    };
    let k = shape.len();
    per_day(input, from, to.max(from + 1), sql, &params, |batches| {
        for batch in batches {
            let key_text = text_columns(batch, 0..k)?;
            let hour = number_column(batch, k)?;
            let text = text_columns(batch, k + 1..k + 4)?;
            let n = number_column(batch, k + 4)?;
            for row in 0..batch.num_rows() {
                let key: Vec<&str> = key_text.iter().map(|c| c.value(row)).collect();
                let Some(owners) = by_key.get(&key) else {
                    continue;
                };
                let (start, end) = (hour.value(row) * HOUR_MS, (hour.value(row) + 1) * HOUR_MS);
                let values = [0, 1, 2].map(|i| maybe(&text[i], row));
                for &i in owners {
                    let (bstart, istart, _) = bounds(&candidates[i], watermark);
                    if start >= bstart && end <= istart {
                        Tally::add(&mut tallies[i].baseline, &values, n.value(row));
                    }
                }
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_hours_of_a_window() {
        assert_eq!(whole_hours(0, 3 * HOUR_MS), (0, 3));
        assert_eq!(whole_hours(1, 3 * HOUR_MS), (1, 2));
        assert_eq!(whole_hours(HOUR_MS, HOUR_MS + 5), (1, 0));
    }
}
