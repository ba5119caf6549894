//! Per-minute series from the lake: one DataFusion aggregation, partition-pruned to the judged
//! window plus the baseline, grouped by the detector's key and the UTC minute.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::DetectInput;
use crate::error::Result;
use crate::sql::{execute, time_range};

/// What to aggregate: key columns, a filter, and one or more per-minute measures.
pub struct SeriesQuery<'a> {
    /// `(alias, SQL expression)` of each key column.
    pub keys: &'a [(&'a str, &'a str)],
    /// A predicate over `events` (without the time range).
    pub filter: &'a str,
    /// `(alias, SQL aggregate)` of each measure, e.g. `("calls", "count(*)")`.
    pub measures: &'a [(&'a str, &'a str)],
}

/// One series: its key values and, per measure, its non-zero (minute, value) points in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Key values, in the query's key order (a null key is an empty string).
    pub key: Vec<String>,
    /// Per measure, (minute, value) with value > 0, by minute.
    pub points: Vec<Vec<(i64, f64)>>,
}

/// Runs the aggregation over `[from_ms, to_ms)` and groups the rows into series.
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
    let sql = format!(
        "SELECT {}, CAST(eventtime AS BIGINT) / 60000 AS minute, {} FROM events \
         WHERE {} AND ({}) GROUP BY {}",
        keys.join(", "),
        measures.join(", "),
        time_range(from_ms, to_ms),
        query.filter,
        group.join(", ")
    );
    log::debug!("series query: {sql}");
    let (_, batches) = execute(input.ctx, &sql, HashMap::new()).await?;
    Ok(group_rows(&batches, query.keys.len(), query.measures.len()))
}

/// Groups (key..., minute, measure...) rows into series.
fn group_rows(batches: &[RecordBatch], keys: usize, measures: usize) -> Vec<Series> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut series: Vec<Series> = Vec::new();
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
                cast(batch.column(keys + 1 + i), &DataType::Float64).expect("measure is a number")
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
            let at = match index.get(joined.as_str()) {
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
                    series.push(Series {
                        key,
                        points: vec![Vec::new(); measures],
                    });
                    index.insert(joined.clone(), series.len() - 1);
                    series.len() - 1
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
                    series[at].points[m].push((minute, value));
                }
            }
        }
    }
    for one in &mut series {
        for points in &mut one.points {
            points.sort_by_key(|&(minute, _)| minute);
        }
    }
    series
}
