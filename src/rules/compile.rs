//! A Sigma detection compiled to one SQL condition over `events`: field names resolved to the
//! lake's columns, modifiers to SQL (payload paths through `json_match`), the condition to
//! `AND`/`OR`/`NOT`. Matching is case-insensitive unless `cased`, as the specification says.

use std::collections::BTreeSet;

use base64::Engine;
use yaml_rust2::Yaml;

use super::condition::{self, Condition};
use super::fields::{Target, resolve};
use crate::sql::functions::{Glob, glob};
use crate::sql::literal;

/// Columns a keyword (field-less) search looks in.
const KEYWORD_COLUMNS: &str = "eventsource, eventname, errorcode, errormessage, useragent, \
    sourceipaddress, principal, requestparameters, responseelements, additionaleventdata";

/// One value of a search item.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Bool(bool),
    Null,
}

impl Value {
    fn of(yaml: &Yaml) -> Result<Value, String> {
        Ok(match yaml {
            Yaml::String(s) => Value::Text(s.clone()),
            Yaml::Integer(n) => Value::Text(n.to_string()),
            Yaml::Real(r) => Value::Text(r.clone()),
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Null => Value::Null,
            other => {
                return Err(format!(
                    "a value must be text, a number, a boolean or null, not {other:?}"
                ));
            }
        })
    }

    fn text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
        }
    }
}

/// What a value is compared with, after the modifiers.
#[derive(Debug, Default)]
struct Modifiers {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    cased: bool,
    re: Option<String>,
    cidr: bool,
    exists: bool,
    compare: Option<(&'static str, &'static str)>,
    base64: bool,
    base64offset: bool,
    fieldref: bool,
}

impl Modifiers {
    fn parse(names: &[&str]) -> Result<Self, String> {
        let mut m = Modifiers::default();
        let mut flags = String::new();
        for name in names {
            match name.to_ascii_lowercase().as_str() {
                "contains" => m.contains = true,
                "startswith" => m.startswith = true,
                "endswith" => m.endswith = true,
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.re = Some(String::new()),
                "i" | "ignorecase" => flags.push('i'),
                "m" | "multiline" => flags.push('m'),
                "s" | "dotall" => flags.push('s'),
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "lt" => m.compare = Some(("<", "lt")),
                "lte" => m.compare = Some(("<=", "lte")),
                "gt" => m.compare = Some((">", "gt")),
                "gte" => m.compare = Some((">=", "gte")),
                "base64" => m.base64 = true,
                "base64offset" => m.base64offset = true,
                "fieldref" => m.fieldref = true,
                other => return Err(format!("the modifier `{other}` is not supported")),
            }
        }
        if !flags.is_empty() {
            match &mut m.re {
                Some(re_flags) => *re_flags = flags,
                None => return Err("the modifiers i, m and s go with `re`".into()),
            }
        }
        Ok(m)
    }
}

/// A Sigma pattern as a SQL `LIKE` pattern (escape `\`).
fn like_pattern(pieces: &[Glob]) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Glob::Text(text) => {
                for c in text.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Glob::One => out.push('_'),
            Glob::Any => out.push('%'),
        }
    }
    out
}

/// A test of the values at a path of a JSON payload column (see `sql::functions`).
fn json_match(column: &str, path: &str, op: &str, value: &str) -> String {
    format!(
        "json_match({column}, {}, '{op}', {})",
        literal(path),
        literal(value)
    )
}

/// A literal text as a Sigma pattern (its wildcards escaped).
fn escape_pattern(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The three encodings of `text` as it may appear inside a longer base64 text (at each of the
/// three byte offsets, less the characters that depend on the bytes around it).
fn base64_offsets(text: &str) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    (0..3)
        .map(|offset| {
            let mut bytes = vec![b' '; offset];
            bytes.extend_from_slice(text.as_bytes());
            let encoded = engine.encode(&bytes);
            let start = [0, 2, 3][offset];
            let end = match (text.len() + offset) % 3 {
                0 => encoded.len(),
                1 => encoded.len() - 3,
                _ => encoded.len() - 2,
            };
            encoded[start.min(end)..end].to_string()
        })
        .collect()
}

/// One `field|modifiers: values` item as SQL.
fn item(field_spec: &str, values: &Yaml) -> Result<String, String> {
    let mut parts = field_spec.split('|');
    let field = parts.next().unwrap_or_default();
    let names: Vec<&str> = parts.collect();
    let m = Modifiers::parse(&names)?;
    let target = resolve(field)?;
    let values: Vec<Value> = match values {
        Yaml::Array(items) => items.iter().map(Value::of).collect::<Result<_, _>>()?,
        single => vec![Value::of(single)?],
    };
    if values.is_empty() {
        return Err(format!("`{field_spec}` has an empty list of values"));
    }
    if m.exists {
        let [Value::Bool(wanted)] = values.as_slice() else {
            return Err(format!("`{field_spec}`: exists takes true or false"));
        };
        let present = match &target {
            Target::Payload { column, path } => json_match(column, path, "exists", ""),
            Target::Text(c) | Target::Bool(c) | Target::Time(c) => format!("{c} IS NOT NULL"),
        };
        return Ok(if *wanted {
            present
        } else {
            format!("NOT coalesce({present}, false)")
        });
    }
    let mut each = Vec::new();
    for value in &values {
        each.push(one_value(field_spec, &target, &m, value)?);
    }
    let joiner = if m.all { " AND " } else { " OR " };
    Ok(if each.len() == 1 {
        each.remove(0)
    } else {
        format!("({})", each.join(joiner))
    })
}

fn one_value(spec: &str, target: &Target, m: &Modifiers, value: &Value) -> Result<String, String> {
    if *value == Value::Null {
        return Ok(match target {
            Target::Payload { column, path } => json_match(column, path, "null", ""),
            Target::Text(c) | Target::Bool(c) | Target::Time(c) => format!("{c} IS NULL"),
        });
    }
    let text = value.text().expect("not null");
    if m.fieldref {
        let other = resolve(&text)?;
        return match (target, other) {
            (Target::Text(a), Target::Text(b)) if m.cased => Ok(format!("{a} = {b}")),
            (Target::Text(a), Target::Text(b)) => Ok(format!("lower({a}) = lower({b})")),
            _ => Err(format!("`{spec}`: fieldref compares two text fields")),
        };
    }
    if let Some(flags) = &m.re {
        let pattern = if flags.is_empty() {
            text
        } else {
            format!("(?{flags}){text}")
        };
        regex::Regex::new(&pattern)
            .map_err(|err| format!("`{spec}`: bad regular expression: {err}"))?;
        return Ok(match target {
            Target::Text(c) => format!("regexp_like({c}, {})", literal(&pattern)),
            Target::Payload { column, path } => json_match(column, path, "regex", &pattern),
            _ => return Err(format!("`{spec}`: re applies to text fields")),
        });
    }
    if m.cidr {
        if crate::sql::functions::parse_network(&text).is_none() {
            return Err(format!("`{spec}`: `{text}` is not a CIDR network"));
        }
        return Ok(match target {
            Target::Text(c) => format!("coalesce(ip_in_cidr({c}, {}), false)", literal(&text)),
            Target::Payload { column, path } => json_match(column, path, "cidr", &text),
            _ => return Err(format!("`{spec}`: cidr applies to text fields")),
        });
    }
    if let Some((sql_op, name)) = m.compare {
        let number: f64 = text
            .parse()
            .map_err(|_| format!("`{spec}`: `{text}` is not a number"))?;
        return Ok(match target {
            Target::Text(c) => format!("TRY_CAST({c} AS DOUBLE) {sql_op} {number}"),
            Target::Payload { column, path } => json_match(column, path, name, &number.to_string()),
            _ => return Err(format!("`{spec}`: {name} applies to numbers")),
        });
    }
    if let Target::Bool(column) = target {
        let wanted = match value {
            Value::Bool(b) => *b,
            Value::Text(t) if t.eq_ignore_ascii_case("true") => true,
            Value::Text(t) if t.eq_ignore_ascii_case("false") => false,
            _ => {
                return Err(format!(
                    "`{spec}` is a boolean: compare it with true or false"
                ));
            }
        };
        return Ok(format!("{column} = {wanted}"));
    }
    if let Target::Time(_) = target {
        return Err(format!("`{spec}`: times are matched with exists only"));
    }
    // Text: the modifiers' wildcards around the value (or its base64 forms).
    let bodies: Vec<String> = if m.base64offset {
        base64_offsets(&text)
            .iter()
            .map(|t| escape_pattern(t))
            .collect()
    } else if m.base64 {
        vec![escape_pattern(
            &base64::engine::general_purpose::STANDARD.encode(&text),
        )]
    } else {
        vec![text]
    };
    let contains = m.contains || m.base64offset;
    let mut out = Vec::new();
    for body in bodies {
        let pattern = format!(
            "{}{body}{}",
            if contains || m.endswith { "*" } else { "" },
            if contains || m.startswith { "*" } else { "" }
        );
        out.push(match target {
            Target::Payload { column, path } => json_match(
                column,
                path,
                if m.cased { "equals_cased" } else { "equals" },
                &pattern,
            ),
            Target::Text(c) => {
                let pieces = glob(&pattern);
                let wild = pieces.iter().any(|p| !matches!(p, Glob::Text(_)));
                if m.cased && !wild {
                    let text: String = pieces
                        .iter()
                        .map(|p| match p {
                            Glob::Text(t) => t.as_str(),
                            _ => "",
                        })
                        .collect();
                    format!("{c} = {}", literal(&text))
                } else {
                    // ILIKE, not lower(column): Arrow compares without case in place (an ASCII
                    // fast path), where lower() copies every value of the column first.
                    let op = if m.cased { "LIKE" } else { "ILIKE" };
                    format!("{c} {op} {} ESCAPE '\\'", literal(&like_pattern(&pieces)))
                }
            }
            _ => unreachable!("handled above"),
        });
    }
    Ok(if out.len() == 1 {
        out.remove(0)
    } else {
        format!("({})", out.join(" OR "))
    })
}

/// A search identifier's value as SQL: a map (AND of items), a list of maps (OR), or a list of
/// keywords (OR of field-less searches).
fn search(name: &str, value: &Yaml) -> Result<String, String> {
    match value {
        Yaml::Hash(map) => {
            if map.is_empty() {
                return Err(format!("search `{name}` is empty"));
            }
            let items = map
                .iter()
                .map(|(key, values)| {
                    let key = key
                        .as_str()
                        .ok_or_else(|| format!("search `{name}`: a field name must be text"))?;
                    item(key, values)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", items.join(" AND ")))
        }
        Yaml::Array(list) if list.iter().all(|v| matches!(v, Yaml::Hash(_))) => {
            let maps = list
                .iter()
                .map(|map| search(name, map))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", maps.join(" OR ")))
        }
        Yaml::Array(list) => {
            let keywords = list
                .iter()
                .map(|v| keyword(name, v))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", keywords.join(" OR ")))
        }
        single => keyword(name, single),
    }
}

fn keyword(name: &str, value: &Yaml) -> Result<String, String> {
    let Some(text) = Value::of(value)?.text() else {
        return Err(format!("search `{name}`: a keyword cannot be null"));
    };
    let like = like_pattern(&glob(&format!("*{text}*")));
    Ok(format!(
        "concat_ws(' ', {KEYWORD_COLUMNS}) ILIKE {} ESCAPE '\\'",
        literal(&like)
    ))
}

/// A compiled detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// One SQL condition over `events`.
    pub sql: String,
    /// The event names (lower case) a match must have, when the detection requires one of a
    /// known set: a cheap test that keeps the rule's own from running on other events.
    pub event_names: Option<Vec<String>>,
}

type Names = Option<BTreeSet<String>>;

/// The event names a search requires: an `eventName` item of exact values in a map (an AND),
/// in every map of a list (an OR); nothing known otherwise.
fn names_of_search(value: &Yaml) -> Names {
    match value {
        Yaml::Hash(map) => map.iter().find_map(|(key, values)| {
            let key = key.as_str()?;
            if !key.eq_ignore_ascii_case("eventname") {
                return None;
            }
            let list = match values {
                Yaml::Array(items) => items.clone(),
                single => vec![single.clone()],
            };
            list.iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| !s.contains(['*', '?', '\\']))
                        .map(str::to_lowercase)
                })
                .collect()
        }),
        Yaml::Array(maps) if maps.iter().all(|m| matches!(m, Yaml::Hash(_))) => {
            union(maps.iter().map(names_of_search))
        }
        _ => None,
    }
}

/// Any of the parts: known only when every part is.
fn union(parts: impl Iterator<Item = Names>) -> Names {
    let mut all = BTreeSet::new();
    for part in parts {
        all.extend(part?);
    }
    Some(all)
}

/// All of the parts: any known part bounds it.
fn intersection(parts: impl Iterator<Item = Names>) -> Names {
    parts
        .flatten()
        .reduce(|a, b| a.intersection(&b).cloned().collect())
}

fn names_of_condition(condition: &Condition, searches: &[(String, Names)]) -> Names {
    let matching = |pattern: &str| -> Vec<Names> {
        searches
            .iter()
            .filter(|(n, _)| condition::matches(pattern, n))
            .map(|(_, names)| names.clone())
            .collect()
    };
    match condition {
        Condition::Search(name) => searches.iter().find(|(n, _)| n == name)?.1.clone(),
        Condition::Not(_) => None,
        Condition::And(parts) => {
            intersection(parts.iter().map(|p| names_of_condition(p, searches)))
        }
        Condition::Or(parts) => union(parts.iter().map(|p| names_of_condition(p, searches))),
        Condition::AnyOf(pattern) => union(matching(pattern).into_iter()),
        Condition::AllOf(pattern) => intersection(matching(pattern).into_iter()),
    }
}

/// The detection section as one SQL condition, and the event names it requires.
pub fn detection(detection: &Yaml) -> Result<Compiled, String> {
    let Yaml::Hash(map) = detection else {
        return Err("`detection` must be a map of searches and a condition".into());
    };
    let mut searches: Vec<(String, String)> = Vec::new();
    let mut names: Vec<(String, Names)> = Vec::new();
    let mut conditions = Vec::new();
    for (key, value) in map {
        let key = key.as_str().ok_or("a search identifier must be text")?;
        match key {
            "condition" => match value {
                Yaml::String(text) => conditions.push(text.clone()),
                Yaml::Array(list) => {
                    for c in list {
                        conditions.push(c.as_str().ok_or("a condition must be text")?.to_string());
                    }
                }
                _ => return Err("`condition` must be text".into()),
            },
            "timeframe" => {
                return Err("`timeframe` is not supported: use a correlation rule".into());
            }
            name => {
                searches.push((name.to_string(), search(name, value)?));
                names.push((name.to_string(), names_of_search(value)));
            }
        }
    }
    if conditions.is_empty() {
        return Err("the detection has no `condition`".into());
    }
    let parsed = conditions
        .iter()
        .map(|text| condition::parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let compiled = parsed
        .iter()
        .map(|c| express(c, &searches))
        .collect::<Result<Vec<_>, _>>()?;
    let event_names = union(parsed.iter().map(|c| names_of_condition(c, &names)))
        .map(|set| set.into_iter().collect());
    Ok(Compiled {
        sql: if compiled.len() == 1 {
            compiled.into_iter().next().expect("one")
        } else {
            format!("({})", compiled.join(" OR "))
        },
        event_names,
    })
}

fn express(condition: &Condition, searches: &[(String, String)]) -> Result<String, String> {
    let find = |name: &str| {
        searches
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, sql)| sql.clone())
            .ok_or_else(|| {
                format!("the condition names `{name}`, which the detection does not define")
            })
    };
    let quantified = |pattern: &str, joiner: &str| -> Result<String, String> {
        let matched: Vec<&String> = searches
            .iter()
            .filter(|(n, _)| condition::matches(pattern, n))
            .map(|(_, sql)| sql)
            .collect();
        if matched.is_empty() {
            return Err(format!("no search matches `{pattern}`"));
        }
        Ok(format!(
            "({})",
            matched
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(joiner)
        ))
    };
    Ok(match condition {
        Condition::Search(name) => find(name)?,
        Condition::Not(inner) => format!("NOT coalesce({}, false)", express(inner, searches)?),
        Condition::And(parts) => format!(
            "({})",
            parts
                .iter()
                .map(|p| express(p, searches))
                .collect::<Result<Vec<_>, _>>()?
                .join(" AND ")
        ),
        Condition::Or(parts) => format!(
            "({})",
            parts
                .iter()
                .map(|p| express(p, searches))
                .collect::<Result<Vec<_>, _>>()?
                .join(" OR ")
        ),
        Condition::AnyOf(pattern) => quantified(pattern, " OR ")?,
        Condition::AllOf(pattern) => quantified(pattern, " AND ")?,
    })
}
