//! Query parameters: declared in a query's header, given as `--param name=value`, and bound as
//! typed values into `$name` placeholders (never pasted into the SQL text).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use datafusion::scalar::ScalarValue;

use crate::error::{Error, Result};
use crate::record::time::parse_time;

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A UTC time: `now`, a duration ago (`30d`, `24h`, `90m`, `2w`), a date, an RFC 3339 time,
    /// or a time relative to an earlier parameter (`since-30d`), so that a baseline follows the
    /// period it is for rather than the clock.
    Time,
    /// Any text.
    Text,
    /// A whole number.
    Integer,
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// The name used as `$name`.
    pub name: String,
    /// Its type.
    pub kind: ParamKind,
    /// Its default, when it may be omitted.
    pub default: Option<String>,
    /// What to pass.
    pub description: Option<String>,
}

impl ParamSpec {
    /// The one-line form used in listings: `since (time, default 30d)`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            ParamKind::Time => "time",
            ParamKind::Text => "text",
            ParamKind::Integer => "integer",
        };
        let mut out = format!("{} ({kind}", self.name);
        if let Some(description) = &self.description {
            out.push_str(&format!(": {description}"));
        }
        if let Some(default) = &self.default {
            out.push_str(&format!(", default {default}"));
        }
        out.push(')');
        out
    }
}

/// Parses a `--param name=value` argument.
pub fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not name=value"))?;
    let name = name.trim().trim_start_matches('$');
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`{name}` is not a parameter name"));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Binds given values (and defaults) to the declared parameters, checking each one's type.
pub fn bind(
    specs: &[ParamSpec],
    given: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<HashMap<String, ScalarValue>> {
    for (name, _) in given {
        if !specs.iter().any(|spec| &spec.name == name) {
            let known: Vec<String> = specs.iter().map(ParamSpec::describe).collect();
            return Err(Error::Usage(format!(
                "unknown parameter `{name}`; this query takes: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let mut values = HashMap::new();
    for spec in specs {
        let value = given
            .iter()
            .rev()
            .find(|(name, _)| name == &spec.name)
            .map(|(_, value)| value.as_str())
            .or(spec.default.as_deref())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "missing parameter: {}; pass it as --param {}=VALUE",
                    spec.describe(),
                    spec.name
                ))
            })?;
        let scalar = typed(spec, value, now, &values)
            .map_err(|why| Error::Usage(format!("parameter `{}`: {why}", spec.name)))?;
        values.insert(spec.name.clone(), scalar);
    }
    Ok(values)
}

/// Binds values to an ad-hoc query, which declares no types: every value is text.
pub fn bind_text(given: &[(String, String)]) -> HashMap<String, ScalarValue> {
    given
        .iter()
        .map(|(name, value)| (name.clone(), ScalarValue::Utf8(Some(value.clone()))))
        .collect()
}

/// `since-30d`: a span before (or, with `+`, after) the time parameter bound before it.
fn relative(value: &str, bound: &HashMap<String, ScalarValue>) -> Option<Result<i64, String>> {
    let at = value.find(['-', '+'])?;
    let (name, span) = (&value[..at], &value[at + 1..]);
    let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !is_name {
        return None;
    }
    let Some(ScalarValue::TimestampMillisecond(Some(base), _)) = bound.get(name) else {
        return Some(Err(format!(
            "`{value}` is relative to `{name}`, which is not a time parameter given before it"
        )));
    };
    let span_ms = match parse_when(span, DateTime::<Utc>::UNIX_EPOCH) {
        Ok(ms) if span.ends_with(|c: char| c.is_ascii_alphabetic()) => -ms,
        _ => {
            return Some(Err(format!(
                "`{span}` in `{value}` is not a span such as 30d or 24h"
            )));
        }
    };
    Some(Ok(if value.as_bytes()[at] == b'-' {
        base - span_ms
    } else {
        base + span_ms
    }))
}

fn typed(
    spec: &ParamSpec,
    value: &str,
    now: DateTime<Utc>,
    bound: &HashMap<String, ScalarValue>,
) -> Result<ScalarValue, String> {
    Ok(match spec.kind {
        ParamKind::Text => ScalarValue::Utf8(Some(value.to_string())),
        ParamKind::Integer => ScalarValue::Int64(Some(
            value
                .trim()
                .parse()
                .map_err(|_| format!("`{value}` is not a whole number"))?,
        )),
        ParamKind::Time => {
            let ms = match relative(value.trim(), bound) {
                Some(ms) => ms?,
                None => parse_when(value, now)?,
            };
            ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into()))
        }
    })
}

/// A time given on the command line: `now`, `30d` (ago), a date, or a full time.
pub fn parse_when(value: &str, now: DateTime<Utc>) -> Result<i64, String> {
    let value = value.trim();
    if value == "now" {
        return Ok(now.timestamp_millis());
    }
    if let Some(unit) = value.chars().last().filter(|c| c.is_ascii_alphabetic())
        && let Ok(count) = value[..value.len() - 1].parse::<i64>()
    {
        let span = match unit {
            'w' => Duration::weeks(count),
            'd' => Duration::days(count),
            'h' => Duration::hours(count),
            'm' => Duration::minutes(count),
            _ => return Err(format!("`{value}`: use w, d, h or m after the number")),
        };
        return Ok((now - span).timestamp_millis());
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis());
    }
    parse_time(value).ok_or_else(|| {
        format!("`{value}` is not a time: use now, 30d, 24h, 2024-03-01 or 2024-03-01T10:00:00Z")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: ParamKind, default: Option<&str>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            default: default.map(String::from),
            description: None,
        }
    }

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2024-03-08T12:00:00Z")
            .unwrap()
            .to_utc();
        let at = |v| {
            DateTime::from_timestamp_millis(parse_when(v, now).unwrap())
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(at("now"), "2024-03-08T12:00:00+00:00");
        assert_eq!(at("2d"), "2024-03-06T12:00:00+00:00");
        assert_eq!(at("90m"), "2024-03-08T10:30:00+00:00");
        assert_eq!(at("2024-03-01"), "2024-03-01T00:00:00+00:00");
        assert_eq!(at("2024-03-01T10:00:00Z"), "2024-03-01T10:00:00+00:00");
        assert!(parse_when("yesterday", now).is_err());
        assert!(parse_when("3y", now).is_err());
    }

    #[test]
    fn a_time_can_follow_an_earlier_parameter() {
        let specs = [
            spec("since", ParamKind::Time, Some("1d")),
            spec("baseline_since", ParamKind::Time, Some("since-30d")),
        ];
        let ms = |values: &HashMap<String, ScalarValue>, name: &str| match values[name] {
            ScalarValue::TimestampMillisecond(Some(ms), _) => ms,
            ref other => panic!("{other:?}"),
        };
        let given = vec![("since".to_string(), "2024-03-05".to_string())];
        let values = bind(&specs, &given, Utc::now()).unwrap();
        let since = parse_time("2024-03-05T00:00:00Z").unwrap();
        assert_eq!(ms(&values, "since"), since);
        assert_eq!(ms(&values, "baseline_since"), since - 30 * 86_400_000);
        let given = vec![
            ("since".to_string(), "2024-03-05T10:00:00Z".to_string()),
            ("baseline_since".to_string(), "since+2h".to_string()),
        ];
        let values = bind(&specs, &given, Utc::now()).unwrap();
        assert_eq!(ms(&values, "baseline_since"), since + 12 * 3_600_000);
        let bad = [spec("since", ParamKind::Time, Some("until-1d"))];
        let err = bind(&bad, &[], Utc::now()).unwrap_err().to_string();
        assert!(err.contains("relative to `until`"), "{err}");
    }

    #[test]
    fn binding_checks_names_and_types() {
        let specs = [
            spec("since", ParamKind::Time, Some("30d")),
            spec("principal", ParamKind::Text, None),
            spec("limit", ParamKind::Integer, Some("20")),
        ];
        let now = Utc::now();
        let given = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let err = bind(&specs, &given(&[]), now).unwrap_err().to_string();
        assert!(err.contains("missing parameter: principal (text)"), "{err}");
        let err = bind(&specs, &given(&[("principal", "x"), ("sinse", "1d")]), now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown parameter `sinse`"), "{err}");
        let err = bind(&specs, &given(&[("principal", "x"), ("limit", "ten")]), now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`ten` is not a whole number"), "{err}");
        let values = bind(&specs, &given(&[("principal", "x' OR 1=1 --")]), now).unwrap();
        assert_eq!(
            values["principal"],
            ScalarValue::Utf8(Some("x' OR 1=1 --".into()))
        );
        assert_eq!(values["limit"], ScalarValue::Int64(Some(20)));
        assert!(matches!(
            values["since"],
            ScalarValue::TimestampMillisecond(Some(_), _)
        ));
    }

    #[test]
    fn assignments() {
        assert_eq!(
            parse_assignment("since=2024-03-01").unwrap(),
            ("since".into(), "2024-03-01".into())
        );
        assert_eq!(
            parse_assignment("$ip=a=b").unwrap(),
            ("ip".into(), "a=b".into())
        );
        assert!(parse_assignment("nothing").is_err());
        assert!(parse_assignment("a b=c").is_err());
    }
}
