//! Per-minute series from the lake: one DataFusion aggregation, partition-pruned to the judged
//! window plus the baseline, grouped by the detector's key and the UTC minute.

use std::collections::HashMap;

use datafusion::scalar::ScalarValue;
use futures::StreamExt;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::DetectInput;
use crate::error::Result;
use crate::sql::{single_partition, spawn_query, time_range};

/// What to aggregate: key columns, a filter, and one or more per-minute measures.
pub struct SeriesQuery<'a> {
    /// `(alias, SQL expression)` of each key column.
    pub keys: &'a [(&'a str, &'a str)],
    /// A predicate over `events` (without the time range).
    pub filter: &'a str,
    /// `(alias, SQL aggregate)` of each measure, e.g. `("calls", "count(*)")`; additive
    /// (counts or sums) when `distinct` is set.
    pub measures: &'a [(&'a str, &'a str)],
    /// An expression whose distinct values per minute are one more measure, after the others.
    /// Counted in two stages (group by it, then count the groups): DataFusion's
    /// `count(DISTINCT)` keeps a set per group and is ten times slower here.
    pub distinct: Option<&'a str>,
}

/// One series: its key values and, per measure, its non-zero (minute, value) points in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Key values, in the query's key order (a null key is an empty string).
    pub key: Vec<String>,
    /// Per measure, (minute, value) with value > 0, by minute.
    pub points: Vec<Vec<(i64, f64)>>,
}

/// Runs the aggregation over `[from_ms, to_ms)` and groups the rows into series. It runs one
/// UTC day (one partition) at a time: a day's groups are all DataFusion holds at once, so memory
/// grows with the series' points, not with the events or the span.
pub async fn load(
    input: &DetectInput<'_>,
    query: &SeriesQuery<'_>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Series>> {
    let keys: Vec<String> = query
        .keys
        .iter()
        .map(|(alias, expr)| format!("{expr} AS {alias}"))
        .collect();
    let measures: Vec<String> = query
        .measures
        .iter()
        .map(|(alias, expr)| format!("{expr} AS {alias}"))
        .collect();
    let group: Vec<String> = (1..=query.keys.len() + 1).map(|i| i.to_string()).collect();
    let inner = |range: &str| {
        let distinct = query
            .distinct
            .map(|d| format!(", {d} AS distinct_value"))
            .unwrap_or_default();
        let extra_group = if query.distinct.is_some() {
            format!(", {}", query.keys.len() + 2)
        } else {
            String::new()
        };
        format!(
            "SELECT {}, CAST(eventtime AS BIGINT) / 60000 AS minute{distinct}, {} FROM events \
             WHERE {range} AND ({}) GROUP BY {}{extra_group}",
            keys.join(", "),
            measures.join(", "),
            query.filter,
            group.join(", ")
        )
    };
    let sql = |range: &str| match query.distinct {
        None => inner(range),
        Some(_) => {
            let aliases: Vec<&str> = query.keys.iter().map(|(alias, _)| *alias).collect();
            let sums: Vec<String> = query
                .measures
                .iter()
                .map(|(alias, _)| format!("sum({alias}) AS {alias}"))
                .collect();
            format!(
                "SELECT {}, minute, {}, count(*) AS distinct_count FROM ({}) GROUP BY {}",
                aliases.join(", "),
                sums.join(", "),
                inner(range),
                group.join(", ")
            )
        }
    };
    let measure_count = query.measures.len() + usize::from(query.distinct.is_some());
    let mut grouper = Grouper::new(query.keys.len(), measure_count);
    let started = std::time::Instant::now();
    let mut grouping = std::time::Duration::ZERO;
    per_day(input, from_ms, to_ms, sql, &HashMap::new(), |batches| {
        let at = std::time::Instant::now();
        grouper.add(batches);
        grouping += at.elapsed();
        Ok(())
    })
    .await?;
    let series = grouper.finish();
    log::debug!(
        "{} series loaded in {:.1} s ({:.1} s grouping rows into series)",
        series.len(),
        started.elapsed().as_secs_f64(),
        grouping.as_secs_f64()
    );
    Ok(series)
}

/// Runs the query `sql(time range)` for each UTC day of `[from_ms, to_ms)` and hands each
/// day's rows to `add`, in day order; the first error of either ends the run. One day per core is in flight, each as one partition:
/// that keeps the cores busier than splitting each day's work and merging it again, and only
/// those days' groups are held at once.
pub async fn per_day(
    input: &DetectInput<'_>,
    from_ms: i64,
    to_ms: i64,
    sql: impl Fn(&str) -> String,
    params: &HashMap<String, ScalarValue>,
    mut add: impl FnMut(&[RecordBatch]) -> Result<()>,
) -> Result<()> {
    let mut days = Vec::new();
    let mut day_start = from_ms;
    while day_start < to_ms {
        let day_end = ((day_start.div_euclid(DAY_MS) + 1) * DAY_MS).min(to_ms);
        days.push(sql(&time_range(day_start, day_end)));
        day_start = day_end;
    }
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ctx = single_partition(input.ctx);
    input.progress.add_work(days.len() as u64);
    let mut results = futures::stream::iter(days)
        .map(|sql| spawn_query(&ctx, sql, params.clone()))
        .buffered(parallel);
    while let Some(result) = results.next().await {
        add(&result?)?;
        input.progress.advance(1);
    }
    Ok(())
}

/// Milliseconds in a day.
pub(super) const DAY_MS: i64 = 86_400_000;

/// Groups (key..., minute, measure...) rows into series, batch by batch.
struct Grouper {
    keys: usize,
    measures: usize,
    index: HashMap<String, usize>,
    series: Vec<Series>,
}

impl Grouper {
    fn new(keys: usize, measures: usize) -> Self {
        Self {
            keys,
            measures,
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    fn add(&mut self, batches: &[RecordBatch]) {
        let (keys, measures) = (self.keys, self.measures);
        let mut joined = String::new();
        for batch in batches {
            let key_columns: Vec<_> = (0..keys)
                .map(|i| cast(batch.column(i), &DataType::Utf8).expect("keys cast to text"))
                .collect();
            let key_columns: Vec<_> = key_columns.iter().map(|c| c.as_string::<i32>()).collect();
            let minutes = cast(batch.column(keys), &DataType::Int64).expect("minute is a number");
            let minutes = minutes.as_primitive::<Int64Type>();
            let values: Vec<_> = (0..measures)
                .map(|i| {
                    cast(batch.column(keys + 1 + i), &DataType::Float64)
                        .expect("measure is a number")
                })
                .collect();
            let values: Vec<_> = values
                .iter()
                .map(|c| c.as_primitive::<Float64Type>())
                .collect();
            for row in 0..batch.num_rows() {
                joined.clear();
                for column in &key_columns {
                    if column.is_valid(row) {
                        joined.push_str(column.value(row));
                    }
                    joined.push('\u{1f}');
                }
                let at = match self.index.get(joined.as_str()) {
                    Some(&at) => at,
                    None => {
                        let key = key_columns
                            .iter()
                            .map(|c| {
                                if c.is_valid(row) {
                                    c.value(row).to_string()
                                } else {
                                    String::new()
                                }
                            })
                            .collect();
                        self.series.push(Series {
                            key,
                            points: vec![Vec::new(); measures],
                        });
                        self.index.insert(joined.clone(), self.series.len() - 1);
                        self.series.len() - 1
                    }
                };
                let minute = minutes.value(row);
                for (m, column) in values.iter().enumerate() {
                    let value = if column.is_valid(row) {
                        column.value(row)
                    } else {
                        0.0
                    };
                    if value > 0.0 {
                        self.series[at].points[m].push((minute, value));
                    }
                }
            }
        }
    }

    fn finish(mut self) -> Vec<Series> {
        for one in &mut self.series {
            for points in &mut one.points {
                points.sort_by_key(|&(minute, _)| minute);
                points.shrink_to_fit();
            }
        }
        self.series
    }
}
