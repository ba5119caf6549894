//! Query errors a user can act on: DataFusion's message cut to what matters, and a hint at what
//! to write instead (a close column or struct member, the lake's table names, booleans that are
//! not strings, a parameter to pass).

use arrow::datatypes::{DataType, Field};
use datafusion::error::DataFusionError;

use crate::error::Error;
use crate::lake::Table;

/// A query error, with what the user can do next.
pub fn explain(err: DataFusionError) -> Error {
    let message = first_lines(&err);
    let mut hints = Vec::new();
    if let Some(name) = between(&message, "No field named ", &['.', ' ', '\n']) {
        let name = name.trim_matches(['"', '\'']);
        hints.extend(case_hint(name));
        hints.extend(close_columns(name));
        return Error::Query(with_hints(&format!("no column `{name}`"), &hints));
    }
    if let Some(member) =
        between(&message, "Field ", &[' ']).filter(|_| message.contains("not found in struct"))
    {
        hints.extend(close_members(member));
        return Error::Query(with_hints(&format!("no struct member `{member}`"), &hints));
    }
    if let Some(table) = between(&message, "table '", &['\'']) {
        let table = table.rsplit('.').next().unwrap_or(table);
        let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        let athena = if table.starts_with("cloudtrail") {
            "Athena's CloudTrail table is `events` here: the columns are the same. "
        } else {
            ""
        };
        hints.push(format!(
            "{athena}The lake's tables are {}.",
            names.join(", ")
        ));
        return Error::Query(with_hints(&format!("no table `{table}`"), &hints));
    }
    if message.contains("Boolean = Utf8") || message.contains("Utf8 = Boolean") {
        hints.push(
            "readonly, managementevent, sessioncredentialfromconsole and \
             useridentity.sessioncontext.attributes.mfaauthenticated are booleans (Athena's are \
             strings): write readonly = false, not readonly = 'false'"
                .into(),
        );
    }
    if let Some(name) = between(&message, "Placeholder '$", &['\'']) {
        hints.push(format!(
            "pass it with --param {name}=VALUE (canned queries declare their parameters' types; \
             ad-hoc SQL gets each --param as text)"
        ));
        return Error::Query(with_hints(&format!("no value for ${name}"), &hints));
    }
    Error::Query(with_hints(&message, &hints))
}

/// The error's own text, without DataFusion's wrappers (`SQL error: ParserError("...")`).
fn first_lines(err: &DataFusionError) -> String {
    match err.find_root() {
        DataFusionError::SQL(parser, _) => {
            let text = parser.to_string();
            let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
            format!("SQL syntax error: {text}")
        }
        root => {
            let text = root.to_string();
            // The list of every valid field is a wall of text; the hints name the close ones.
            let text = text.split("\nValid fields are").next().unwrap_or(&text);
            let text = text.split(". Did you mean").next().unwrap_or(text);
            text.trim_end().to_string()
        }
    }
}

/// The text after `start` up to the first of `ends`.
fn between<'a>(text: &'a str, start: &str, ends: &[char]) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    let end = rest.find(ends).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

fn with_hints(message: &str, hints: &[String]) -> String {
    let mut out = message.to_string();
    for hint in hints {
        out.push_str("\nhint: ");
        out.push_str(hint);
    }
    out
}

fn case_hint(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    (lower != name).then(|| {
        format!(
            "column names are CloudTrail's field names in lower case: write {lower}, unquoted \
             (a quoted \"{name}\" keeps its case)"
        )
    })
}

/// Every column and struct member of the events table, as paths (`useridentity.arn`).
fn paths() -> Vec<String> {
    fn walk(field: &Field, prefix: &str, out: &mut Vec<String>) {
        let path = format!("{prefix}{}", field.name());
        if let DataType::Struct(children) = field.data_type() {
            for child in children {
                walk(child, &format!("{path}."), out);
            }
        }
        out.push(path);
    }
    let mut out = Vec::new();
    for field in Table::Events.schema().fields() {
        walk(field, "", &mut out);
    }
    out.push("event_date".into());
    out
}

/// How alike a name is to a path: the best of the whole path and its last member.
fn likeness(name: &str, path: &str) -> f64 {
    let last = path.rsplit('.').next().unwrap_or(path);
    strsim::jaro_winkler(name, path).max(strsim::jaro_winkler(name, last))
}

fn close_to(name: &str, paths: &[String]) -> Vec<String> {
    let name = name.to_ascii_lowercase();
    let mut close: Vec<(f64, &String)> = paths
        .iter()
        .map(|path| (likeness(&name, path), path))
        .filter(|(score, path)| *score > 0.85 && **path != name)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.len().cmp(&b.1.len())));
    close.into_iter().take(3).map(|(_, p)| p.clone()).collect()
}

fn close_columns(name: &str) -> Option<String> {
    let close = close_to(name, &paths());
    (!close.is_empty()).then(|| format!("did you mean {}?", close.join(", ")))
}

/// For a mistyped struct member: the close members, and every member of the struct it most
/// likely belongs to.
fn close_members(member: &str) -> Vec<String> {
    let all = paths();
    let members: Vec<String> = all.iter().filter(|p| p.contains('.')).cloned().collect();
    let close = close_to(member, &members);
    let Some(best) = close.first() else {
        return Vec::new();
    };
    let parent = best.rsplit_once('.').map_or("", |(parent, _)| parent);
    let siblings: Vec<&str> = members
        .iter()
        .filter_map(|p| p.strip_prefix(parent)?.strip_prefix('.'))
        .filter(|rest| !rest.contains('.'))
        .collect();
    vec![
        format!("did you mean {}?", close.join(", ")),
        format!("{parent} has {}", siblings.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(err: DataFusionError) -> String {
        explain(err).to_string()
    }

    #[test]
    fn unknown_columns_name_close_columns_and_struct_members() {
        let err = DataFusionError::Plan(
            "Schema error: No field named username. Did you mean 'events.eventname'?\nValid fields are events.eventversion, events.useridentity.".into(),
        );
        let message = text(err);
        assert!(message.starts_with("no column `username`"), "{message}");
        assert!(
            message.contains("did you mean useridentity.username"),
            "{message}"
        );
        assert!(!message.contains("Valid fields"), "{message}");
        let message = text(DataFusionError::Plan(
            "No field named \"eventName\".".into(),
        ));
        assert!(message.contains("write eventname, unquoted"), "{message}");
        let message = text(DataFusionError::Plan("No field named eventsorce.".into()));
        assert!(message.contains("did you mean eventsource"), "{message}");
    }

    #[test]
    fn a_mistyped_member_lists_its_struct() {
        let message = text(DataFusionError::Plan(
            "Field usernam not found in struct".into(),
        ));
        assert!(
            message.contains("did you mean useridentity.username"),
            "{message}"
        );
        assert!(
            message.contains("useridentity has type, principalid, arn"),
            "{message}"
        );
    }

    #[test]
    fn tables_booleans_and_parameters_get_hints() {
        let message = text(DataFusionError::Plan(
            "table 'datafusion.public.cloudtrail_logs' not found".into(),
        ));
        assert!(
            message.contains("Athena's CloudTrail table is `events`"),
            "{message}"
        );
        let message = text(DataFusionError::Plan(
            "Cannot infer common argument type for comparison operation Boolean = Utf8".into(),
        ));
        assert!(message.contains("write readonly = false"), "{message}");
        let message = text(DataFusionError::Execution(
            "Placeholder '$since' was not provided a value for execution.".into(),
        ));
        assert!(message.contains("--param since=VALUE"), "{message}");
    }
}
