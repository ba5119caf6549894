//! A day-partitioned lake table (`events`, `insights`, `findings`) as queries see it: time
//! conditions prune partitions, and API conditions are evaluated while decoding.
//!
//! - **Days**: a table's `event_date` is the UTC day of `eventtime`, so every time condition of
//!   a query also filters the partition column. `WHERE eventtime >= now() - interval '1 day'`
//!   then lists and opens one or two day folders instead of every file of the lake, as if the
//!   user had also written the `event_date` filter.
//! - **Decoding**: each row group is clustered by API (`sink`), so a condition on `eventsource`
//!   or `eventname` leaves a few pages per row group after page-index pruning. Such scans filter
//!   rows inside the Parquet decoder and decode the other columns (payloads included) only for
//!   the rows that pass. Other scans decode their columns and filter the batches: their
//!   conditions must look at every row anyway, and doing it in the decoder costs more.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    Between, BinaryExpr, Cast, Expr, Operator, TableProviderFilterPushDown, TryCast, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;

use crate::record::schema::EVENT_DATE;

const MS_PER_DAY: i64 = 86_400_000;
/// The time column whose UTC day is the partition.
const EVENT_TIME: &str = "eventtime";
/// The columns each row group is clustered by.
const CLUSTERED_BY: [&str; 2] = ["eventsource", "eventname"];

/// A day-partitioned table read in two ways: `plain` filters decoded batches, `late` filters
/// inside the Parquet decoder. Both read the same files.
#[derive(Debug)]
pub struct LakeTable {
    plain: Arc<dyn TableProvider>,
    late: Arc<dyn TableProvider>,
}

impl LakeTable {
    /// A table whose rows sit in the `event_date` partition of their `eventtime`.
    pub fn new(plain: Arc<dyn TableProvider>, late: Arc<dyn TableProvider>) -> Self {
        Self { plain, late }
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.plain.schema()
    }

    fn table_type(&self) -> TableType {
        self.plain.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.plain.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let args = ScanArgs::default()
            .with_projection(projection.map(|p| p.as_slice()))
            .with_filters(Some(filters))
            .with_limit(limit);
        Ok(self.scan_with_args(state, args).await?.into_inner())
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> Result<ScanResult> {
        let given = args.filters().unwrap_or_default();
        let by_api = given.iter().any(|filter| {
            filter
                .column_refs()
                .iter()
                .any(|column| CLUSTERED_BY.contains(&column.name.as_str()))
        });
        let mut filters = given.to_vec();
        filters.extend(given.iter().filter_map(implied_days));
        let args = args.with_filters(Some(&filters));
        let table = if by_api { &self.late } else { &self.plain };
        table.scan_with_args(state, args).await
    }
}

/// The `event_date` condition that `filter` implies, if it constrains `eventtime`.
pub fn implied_days(filter: &Expr) -> Option<Expr> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => match (implied_days(left), implied_days(right)) {
                (Some(l), Some(r)) => Some(l.and(r)),
                (one, other) => one.or(other),
            },
            Operator::Or => Some(implied_days(left)?.or(implied_days(right)?)),
            _ => {
                if let (Some(time), Some(value)) = (time_column(left), literal(right)) {
                    compare(time, *op, value)
                } else {
                    let (time, value) = (time_column(right)?, literal(left)?);
                    compare(time, op.swap()?, value)
                }
            }
        },
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) => {
            let time = time_column(expr)?;
            let low = compare(time, Operator::GtEq, literal(low)?)?;
            let high = compare(time, Operator::LtEq, literal(high)?)?;
            Some(low.and(high))
        }
        _ => None,
    }
}

/// How a compared expression relates to `eventtime`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Time {
    /// `eventtime` itself, or cast to a finer or equal unit: compares exactly.
    Instant,
    /// `CAST(eventtime AS DATE)`: the partition value itself.
    Day,
}

fn time_column(expr: &Expr) -> Option<Time> {
    match expr {
        Expr::Column(column) if column.name == EVENT_TIME => Some(Time::Instant),
        Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
            match (time_column(expr)?, field.data_type()) {
                (
                    Time::Instant,
                    DataType::Timestamp(
                        TimeUnit::Millisecond | TimeUnit::Microsecond | TimeUnit::Nanosecond,
                        _,
                    ),
                ) => Some(Time::Instant),
                (Time::Instant, DataType::Date32) => Some(Time::Day),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A literal compared with the time column: an instant in nanoseconds, or a day.
#[derive(Debug, Clone, Copy)]
enum Value {
    Nanos(i128),
    Day(i32),
}

fn literal(expr: &Expr) -> Option<Value> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    Some(match value {
        ScalarValue::TimestampSecond(Some(v), _) => Value::Nanos(i128::from(*v) * 1_000_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => Value::Nanos(i128::from(*v) * 1_000_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Value::Nanos(i128::from(*v) * 1_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => Value::Nanos(i128::from(*v)),
        ScalarValue::Date32(Some(day)) => Value::Day(*day),
        _ => return None,
    })
}

/// The partition condition implied by `time op value`.
fn compare(time: Time, op: Operator, value: Value) -> Option<Expr> {
    let day = |d: i64| lit(ScalarValue::Date32(Some(d as i32)));
    let partition = || col(EVENT_DATE);
    match (time, value) {
        (Time::Day, Value::Day(d)) => {
            let d = i64::from(d);
            Some(match op {
                Operator::Eq => partition().eq(day(d)),
                Operator::Lt => partition().lt(day(d)),
                Operator::LtEq => partition().lt_eq(day(d)),
                Operator::Gt => partition().gt(day(d)),
                Operator::GtEq => partition().gt_eq(day(d)),
                _ => return None,
            })
        }
        (Time::Instant, Value::Nanos(nanos)) => {
            // eventtime holds milliseconds: the first and last millisecond the comparison admits.
            let floor = nanos.div_euclid(1_000_000) as i64;
            let ceil = floor + i64::from(nanos.rem_euclid(1_000_000) != 0);
            let day_of = |ms: i64| ms.div_euclid(MS_PER_DAY);
            Some(match op {
                Operator::Eq => partition().eq(day(day_of(ceil))),
                Operator::Lt => partition().lt_eq(day(day_of(ceil - 1))),
                Operator::LtEq => partition().lt_eq(day(day_of(floor))),
                Operator::Gt => partition().gt_eq(day(day_of(floor + 1))),
                Operator::GtEq => partition().gt_eq(day(day_of(ceil))),
                _ => return None,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(ms: i64) -> Expr {
        lit(ScalarValue::TimestampMillisecond(
            Some(ms),
            Some("UTC".into()),
        ))
    }

    const DAY_100: i64 = 100 * MS_PER_DAY;

    #[test]
    fn time_ranges_imply_day_ranges() {
        let time = || col(EVENT_TIME);
        let date = |d: i64| lit(ScalarValue::Date32(Some(d as i32)));
        let partition = || col(EVENT_DATE);
        // [day 100, day 102): the exclusive end at midnight leaves day 102 out.
        let range = time()
            .gt_eq(millis(DAY_100))
            .and(time().lt(millis(DAY_100 + 2 * MS_PER_DAY)));
        assert_eq!(
            implied_days(&range),
            Some(
                partition()
                    .gt_eq(date(100))
                    .and(partition().lt_eq(date(101)))
            )
        );
        // A bound one millisecond before midnight stays on its own day.
        assert_eq!(
            implied_days(&time().gt(millis(DAY_100 - 1))),
            Some(partition().gt_eq(date(100)))
        );
        assert_eq!(
            implied_days(&time().lt_eq(millis(DAY_100 - 1))),
            Some(partition().lt_eq(date(99)))
        );
        // A literal on the left, and a nanosecond bound just past midnight.
        let nanos = lit(ScalarValue::TimestampNanosecond(
            Some(DAY_100 * 1_000_000 + 1),
            None,
        ));
        assert_eq!(
            implied_days(&nanos.clone().lt(time())),
            Some(partition().gt_eq(date(100)))
        );
        assert_eq!(
            implied_days(&time().lt(nanos)),
            Some(partition().lt_eq(date(100)))
        );
    }

    #[test]
    fn or_needs_both_sides_and_other_columns_imply_nothing() {
        let time = || col(EVENT_TIME);
        let either = time()
            .lt(millis(DAY_100))
            .or(time().gt_eq(millis(DAY_100 + 5 * MS_PER_DAY)));
        let implied = implied_days(&either).expect("both sides bound the time");
        assert!(matches!(
            implied,
            Expr::BinaryExpr(BinaryExpr {
                op: Operator::Or,
                ..
            })
        ));
        let half = time().lt(millis(DAY_100)).or(col("eventname").eq(lit("X")));
        assert_eq!(implied_days(&half), None);
        assert_eq!(implied_days(&col("eventname").eq(lit("X"))), None);
        // AND keeps the side that bounds the time.
        let and = time()
            .lt(millis(DAY_100))
            .and(col("eventname").eq(lit("X")));
        assert_eq!(
            implied_days(&and),
            Some(col(EVENT_DATE).lt_eq(lit(ScalarValue::Date32(Some(99)))))
        );
    }

    #[test]
    fn casts_to_dates_and_finer_units_are_understood() {
        let as_date = Expr::Cast(Cast::new(Box::new(col(EVENT_TIME)), DataType::Date32));
        assert_eq!(
            implied_days(&as_date.eq(lit(ScalarValue::Date32(Some(7))))),
            Some(col(EVENT_DATE).eq(lit(ScalarValue::Date32(Some(7)))))
        );
        let as_seconds = Expr::Cast(Cast::new(
            Box::new(col(EVENT_TIME)),
            DataType::Timestamp(TimeUnit::Second, None),
        ));
        assert_eq!(
            implied_days(&as_seconds.gt_eq(lit(ScalarValue::TimestampSecond(Some(1), None)))),
            None,
            "a cast that truncates is not trusted"
        );
    }
}
