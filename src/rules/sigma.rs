//! One Sigma rule document (the published specification, v2): its metadata, its log source, and
//! its detection compiled to SQL.

use yaml_rust2::Yaml;

use super::compile::{self, Compiled};
use super::correlation::{self, Correlation};
use crate::record::finding::Severity;

/// What a rule tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Logic {
    /// A match rule: one condition on each event.
    Match(Compiled),
    /// A correlation of match rules' events over time.
    Correlation(Correlation),
}

/// A loaded rule: a match rule or a correlation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule's `id` (a UUID): a finding's `ruleid`.
    pub id: String,
    /// The rule's `name`: a short unique handle (`cloudtrail-stop-logging`), when it has one.
    pub name: Option<String>,
    /// The rule's `title`.
    pub title: String,
    /// What it finds.
    pub description: String,
    /// `status` (stable, test, experimental, ...).
    pub status: Option<String>,
    /// The Sigma `level` as written (informational, low, medium, high, critical).
    pub level: String,
    /// The finding's severity, from the level.
    pub severity: Severity,
    /// ATT&CK technique ids (`T1562.008`), from `attack.t...` tags.
    pub techniques: Vec<String>,
    /// ATT&CK tactics (`defense-evasion`), from the other `attack.` tags.
    pub tactics: Vec<String>,
    /// Every tag as written.
    pub tags: Vec<String>,
    /// Known false positives.
    pub falsepositives: Vec<String>,
    /// Where the rule came from: `built-in` or its file.
    pub source: String,
    /// What it tests.
    pub logic: Logic,
}

impl Rule {
    /// A match rule's condition.
    pub fn condition(&self) -> Option<&Compiled> {
        match &self.logic {
            Logic::Match(compiled) => Some(compiled),
            Logic::Correlation(_) => None,
        }
    }

    /// A correlation rule's logic.
    pub fn correlation(&self) -> Option<&Correlation> {
        match &self.logic {
            Logic::Match(_) => None,
            Logic::Correlation(correlation) => Some(correlation),
        }
    }

    /// `match`, or the correlation's type.
    pub fn kind(&self) -> &'static str {
        match &self.logic {
            Logic::Match(_) => "match",
            Logic::Correlation(c) => c.kind.name(),
        }
    }

    /// Whether a reference (in a correlation or a suppression) names this rule: its id, name or
    /// title.
    pub fn is_named(&self, key: &str) -> bool {
        self.id == key || self.name.as_deref() == Some(key) || self.title.eq_ignore_ascii_case(key)
    }
}

/// What one YAML document is.
pub enum Parsed {
    /// A match rule over CloudTrail, or a correlation.
    Rule(Box<Rule>),
    /// A document that is not for CloudTrail (another log source), with why.
    Skipped(String),
}

fn text(doc: &Yaml, key: &str) -> Option<String> {
    doc[key].as_str().map(str::to_string)
}

fn texts(doc: &Yaml, key: &str) -> Vec<String> {
    match &doc[key] {
        Yaml::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect(),
        Yaml::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The severity of a Sigma level.
pub fn severity_of(level: &str) -> Option<Severity> {
    match level.to_ascii_lowercase().as_str() {
        "informational" | "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" | "critical" => Some(Severity::High),
        _ => None,
    }
}

/// Parses one document of a rule file; the error says what is wrong with it.
pub fn parse(doc: &Yaml, source: &str) -> Result<Parsed, String> {
    let is_correlation = !doc["correlation"].is_badvalue();
    if !is_correlation {
        let logsource = &doc["logsource"];
        let product = logsource["product"].as_str().unwrap_or_default();
        let service = logsource["service"].as_str().unwrap_or_default();
        if !(product.eq_ignore_ascii_case("aws") && service.eq_ignore_ascii_case("cloudtrail")) {
            return Ok(Parsed::Skipped(format!(
                "its logsource is not AWS CloudTrail (product `{product}`, service `{service}`)"
            )));
        }
    }
    let id = text(doc, "id").ok_or("it has no `id`")?;
    let title = text(doc, "title").ok_or("it has no `title`")?;
    let level = text(doc, "level").unwrap_or_else(|| "medium".into());
    let severity =
        severity_of(&level).ok_or_else(|| format!("level `{level}` is not a Sigma level"))?;
    let tags = texts(doc, "tags");
    let mut techniques = Vec::new();
    let mut tactics = Vec::new();
    for tag in &tags {
        let Some(attack) = tag
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(String::from)
        else {
            continue;
        };
        if attack.starts_with('t') && attack[1..].starts_with(|c: char| c.is_ascii_digit()) {
            techniques.push(attack.to_ascii_uppercase());
        } else if !attack.starts_with('g') && !attack.starts_with('s') {
            tactics.push(attack.replace('_', "-"));
        }
    }
    let logic = if is_correlation {
        Logic::Correlation(
            correlation::parse(&doc["correlation"]).map_err(|err| format!("correlation: {err}"))?,
        )
    } else {
        Logic::Match(
            compile::detection(&doc["detection"]).map_err(|err| format!("detection: {err}"))?,
        )
    };
    Ok(Parsed::Rule(Box::new(Rule {
        id,
        name: text(doc, "name"),
        title,
        description: text(doc, "description").unwrap_or_default(),
        status: text(doc, "status"),
        level,
        severity,
        techniques,
        tactics,
        tags,
        falsepositives: texts(doc, "falsepositives"),
        source: source.to_string(),
        logic,
    })))
}
