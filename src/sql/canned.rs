//! The canned investigations: one `.sql` file each in `queries/`, embedded in the binary.
//!
//! Each file starts with a header of `-- key: value` comment lines (a value continues on lines
//! starting `--   `): `title`, `purpose`, `params` (`name (type[: what to pass][, default X])`,
//! comma-separated), `columns`, and optionally `detection: <severity>`, which makes the query a
//! detection the report runs.

use include_dir::{Dir, include_dir};

use super::params::{ParamKind, ParamSpec};

static QUERIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/queries");

/// One canned query.
#[derive(Debug, Clone)]
pub struct CannedQuery {
    /// The file name without `.sql`.
    pub name: String,
    /// A short title.
    pub title: String,
    /// What it finds and why it matters.
    pub purpose: String,
    /// Its parameters.
    pub params: Vec<ParamSpec>,
    /// The columns it returns.
    pub columns: Vec<String>,
    /// Severity when the query is a detection.
    pub detection: Option<String>,
    /// The SQL text (with its header).
    pub sql: String,
}

/// Every canned query, by name.
pub fn all() -> Vec<CannedQuery> {
    let mut queries: Vec<CannedQuery> = QUERIES
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .map(|f| {
            let name = f.path().file_stem().unwrap_or_default().to_string_lossy();
            let text = f.contents_utf8().unwrap_or_default();
            parse(&name, text).unwrap_or_else(|err| panic!("bug: queries/{name}.sql: {err}"))
        })
        .collect();
    queries.sort_by(|a, b| a.name.cmp(&b.name));
    queries
}

/// The canned query called `name`.
pub fn find(name: &str) -> Option<CannedQuery> {
    all().into_iter().find(|q| q.name == name)
}

/// Parses a query file's header.
pub fn parse(name: &str, text: &str) -> Result<CannedQuery, String> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        if let Some(more) = comment.strip_prefix("   ") {
            let (_, value) = fields
                .last_mut()
                .ok_or("a continuation line starts the header")?;
            value.push(' ');
            value.push_str(more.trim());
        } else if let Some((key, value)) = comment.trim().split_once(':') {
            fields.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let params = match get("params") {
        Some(text) => parse_params(&text)?,
        None => Vec::new(),
    };
    Ok(CannedQuery {
        name: name.to_string(),
        title: get("title").ok_or("no `-- title:` line")?,
        purpose: get("purpose").ok_or("no `-- purpose:` line")?,
        params,
        columns: get("columns")
            .ok_or("no `-- columns:` line")?
            .split(',')
            .map(|c| c.trim().to_string())
            .collect(),
        detection: get("detection"),
        sql: text.to_string(),
    })
}

/// Parses `since (time, default 30d), principal (text: an ARN)`.
fn parse_params(text: &str) -> Result<Vec<ParamSpec>, String> {
    let mut specs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let open = rest
            .find('(')
            .ok_or_else(|| format!("`{rest}`: expected name (type...)"))?;
        let close = rest
            .find(')')
            .ok_or_else(|| format!("`{rest}`: no closing parenthesis"))?;
        let name = rest[..open].trim().to_string();
        let inside = &rest[open + 1..close];
        let (head, default) = match inside.rsplit_once(", default ") {
            Some((head, default)) => (head, Some(default.trim().to_string())),
            None => (inside, None),
        };
        let (kind, description) = match head.split_once(':') {
            Some((kind, description)) => (kind.trim(), Some(description.trim().to_string())),
            None => (head.trim(), None),
        };
        let kind = match kind {
            "time" => ParamKind::Time,
            "text" => ParamKind::Text,
            "integer" => ParamKind::Integer,
            other => return Err(format!("parameter `{name}`: unknown type `{other}`")),
        };
        specs.push(ParamSpec {
            name,
            kind,
            default,
            description,
        });
        rest = rest[close + 1..].trim_start_matches([',', ' ']);
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_has_a_header_and_uses_its_params() {
        let queries = all();
        assert!(queries.len() >= 15, "{} canned queries", queries.len());
        for query in &queries {
            assert!(!query.columns.is_empty(), "{}", query.name);
            for param in &query.params {
                assert!(
                    query.sql.contains(&format!("${}", param.name)),
                    "{} declares `{}` but does not use it",
                    query.name,
                    param.name
                );
            }
        }
    }

    #[test]
    fn params_parse() {
        let specs =
            parse_params("principal (text: an ARN, or part of one), since (time, default 30d)")
                .unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].description.as_deref(),
            Some("an ARN, or part of one")
        );
        assert_eq!(specs[0].default, None);
        assert_eq!(specs[1].kind, ParamKind::Time);
        assert_eq!(specs[1].default.as_deref(), Some("30d"));
        assert!(parse_params("x (colour)").is_err());
    }
}
