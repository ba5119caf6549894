//! Conditions on `eventtime` in terms of the `event_date` partitions (the UTC day of
//! `eventtime`): the window a comparison admits, split into the days it covers whole and those
//! it covers in part, and the partition condition any other time condition implies.

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::logical_expr::{Between, BinaryExpr, Cast, Expr, Operator, TryCast, col, lit};
use datafusion::scalar::ScalarValue;

use crate::record::schema::EVENT_DATE;

const MS_PER_DAY: i64 = 86_400_000;
/// The time column whose UTC day is the partition.
pub const EVENT_TIME: &str = "eventtime";

/// A day as a literal of the partition column.
pub fn date(day: i64) -> Expr {
    lit(ScalarValue::Date32(Some(day as i32)))
}

/// Milliseconds `[from, to)` of `eventtime`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    from: i64,
    to: i64,
}

impl Window {
    /// All of time.
    pub const ALL: Window = Window {
        from: i64::MIN,
        to: i64::MAX,
    };

    /// The window the time conditions among `filters` admit together.
    pub fn of<'a>(filters: impl IntoIterator<Item = &'a Expr>) -> Window {
        filters
            .into_iter()
            .filter_map(time_window)
            .fold(Window::ALL, Window::intersect)
    }

    /// The times both windows admit.
    pub fn intersect(self, other: Window) -> Window {
        Window {
            from: self.from.max(other.from),
            to: self.to.min(other.to),
        }
    }

    /// The days the window covers whole, as an inclusive range with open ends as `None` (or
    /// no range), and the days it covers in part.
    #[allow(clippy::type_complexity)]
    pub fn days(self) -> (Option<(Option<i64>, Option<i64>)>, Vec<i64>) {
        if self.from >= self.to {
            return (None, Vec::new());
        }
        let first = (self.from != i64::MIN).then(|| self.from.div_euclid(MS_PER_DAY));
        let last = (self.to != i64::MAX).then(|| (self.to - 1).div_euclid(MS_PER_DAY));
        let first_whole = first.map(|d| d + i64::from(self.from.rem_euclid(MS_PER_DAY) != 0));
        let last_whole = last.map(|d| d - i64::from(self.to.rem_euclid(MS_PER_DAY) != 0));
        let mut edges = Vec::new();
        if let (Some(day), Some(whole)) = (first, first_whole)
            && day != whole
        {
            edges.push(day);
        }
        if let (Some(day), Some(whole)) = (last, last_whole)
            && day != whole
            && !edges.contains(&day)
        {
            edges.push(day);
        }
        let whole = match (first_whole, last_whole) {
            (Some(f), Some(l)) if f > l => None,
            range => Some(range),
        };
        (whole, edges)
    }
}

/// The window of a condition that compares `eventtime` itself with a time: the partitions alone
/// answer such a condition when its window is whole days.
pub fn time_window(filter: &Expr) -> Option<Window> {
    let (op, nanos) = match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            match (
                time_column(left),
                literal(right),
                time_column(right),
                literal(left),
            ) {
                (Some(Time::Instant), Some(Value::Nanos(n)), ..) => (*op, n),
                (.., Some(Time::Instant), Some(Value::Nanos(n))) => (op.swap()?, n),
                _ => return None,
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if time_column(expr) == Some(Time::Instant) => {
            let (Some(Value::Nanos(low)), Some(Value::Nanos(high))) = (literal(low), literal(high))
            else {
                return None;
            };
            let from = time_window(&col(EVENT_TIME).gt_eq(nanos_literal(low)))?;
            let to = time_window(&col(EVENT_TIME).lt_eq(nanos_literal(high)))?;
            return Some(from.intersect(to));
        }
        _ => return None,
    };
    let floor = nanos.div_euclid(1_000_000) as i64;
    let ceil = floor + i64::from(nanos.rem_euclid(1_000_000) != 0);
    let all = Window::ALL;
    Some(match op {
        Operator::GtEq => Window { from: ceil, ..all },
        Operator::Gt => Window {
            from: floor + 1,
            ..all
        },
        Operator::Lt => Window { to: ceil, ..all },
        Operator::LtEq => Window {
            to: floor + 1,
            ..all
        },
        Operator::Eq if floor == ceil => Window {
            from: floor,
            to: floor + 1,
        },
        Operator::Eq => Window { from: 0, to: 0 },
        _ => return None,
    })
}

fn nanos_literal(nanos: i128) -> Expr {
    lit(ScalarValue::TimestampNanosecond(Some(nanos as i64), None))
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
    let partition = || col(EVENT_DATE);
    match (time, value) {
        (Time::Day, Value::Day(d)) => {
            let d = i64::from(d);
            Some(match op {
                Operator::Eq => partition().eq(date(d)),
                Operator::Lt => partition().lt(date(d)),
                Operator::LtEq => partition().lt_eq(date(d)),
                Operator::Gt => partition().gt(date(d)),
                Operator::GtEq => partition().gt_eq(date(d)),
                _ => return None,
            })
        }
        (Time::Instant, Value::Nanos(nanos)) => {
            // eventtime holds milliseconds: the first and last millisecond the comparison admits.
            let floor = nanos.div_euclid(1_000_000) as i64;
            let ceil = floor + i64::from(nanos.rem_euclid(1_000_000) != 0);
            let day_of = |ms: i64| ms.div_euclid(MS_PER_DAY);
            Some(match op {
                Operator::Eq => partition().eq(date(day_of(ceil))),
                Operator::Lt => partition().lt_eq(date(day_of(ceil - 1))),
                Operator::LtEq => partition().lt_eq(date(day_of(floor))),
                Operator::Gt => partition().gt_eq(date(day_of(floor + 1))),
                Operator::GtEq => partition().gt_eq(date(day_of(ceil))),
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
    fn comparisons_with_eventtime_are_windows() {
        let time = || col(EVENT_TIME);
        let at = |ms: i64| Window {
            from: ms,
            to: ms + 1,
        };
        assert_eq!(
            time_window(&time().gt_eq(millis(DAY_100))),
            Some(Window {
                from: DAY_100,
                ..Window::ALL
            })
        );
        assert_eq!(
            time_window(&millis(DAY_100).gt(time())),
            Some(Window {
                to: DAY_100,
                ..Window::ALL
            })
        );
        assert_eq!(
            time_window(&time().lt_eq(millis(DAY_100))),
            Some(Window {
                to: DAY_100 + 1,
                ..Window::ALL
            })
        );
        assert_eq!(time_window(&time().eq(millis(DAY_100))), Some(at(DAY_100)));
        let between = time().between(millis(DAY_100), millis(DAY_100 + 10));
        assert_eq!(
            time_window(&between),
            Some(Window {
                from: DAY_100,
                to: DAY_100 + 11
            })
        );
        // Conditions the partitions cannot answer alone.
        assert_eq!(time_window(&time().not_eq(millis(DAY_100))), None);
        assert_eq!(
            time_window(&time().lt(millis(1)).or(time().gt(millis(5)))),
            None
        );
        assert_eq!(time_window(&col("eventname").eq(lit("X"))), None);
    }

    #[test]
    fn windows_split_into_whole_days_and_edge_days() {
        let d = MS_PER_DAY;
        let window = |from: i64, to: i64| Window { from, to };
        // Midnight to midnight: whole days only.
        assert_eq!(
            window(100 * d, 103 * d).days(),
            (Some((Some(100), Some(102))), vec![])
        );
        // Noon to noon: the two edge days are filtered, the ones between are not.
        assert_eq!(
            window(100 * d + d / 2, 103 * d + d / 2).days(),
            (Some((Some(101), Some(102))), vec![100, 103])
        );
        // Within one day, and across one midnight.
        assert_eq!(window(100 * d + 5, 100 * d + 9).days(), (None, vec![100]));
        assert_eq!(
            window(100 * d + 5, 101 * d + 9).days(),
            (None, vec![100, 101])
        );
        // Open on one side.
        assert_eq!(
            Window {
                from: 100 * d + 1,
                ..Window::ALL
            }
            .days(),
            (Some((Some(101), None)), vec![100])
        );
        assert_eq!(
            Window {
                to: 100 * d,
                ..Window::ALL
            }
            .days(),
            (Some((None, Some(99))), vec![])
        );
        // Empty.
        assert_eq!(window(5, 5).days(), (None, vec![]));
        assert_eq!(window(100 * d, 99 * d).days(), (None, vec![]));
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
