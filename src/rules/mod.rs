//! Detection rules in Sigma format: loaded from the built-in library (the top-level `rules/`
//! folder, embedded in the binary) and from the user's files, compiled to SQL conditions over
//! `events`, and checked against the example events kept beside each rule.
//!
//! A rule file may hold several YAML documents. A document whose log source is not AWS
//! CloudTrail is skipped with a note; one that uses what is not supported, or a field no
//! CloudTrail event can have, fails to load with the file, the rule and the reason. Examples
//! live beside a rule file as `<name>.examples.json`: `{"match": [records], "nomatch": [...]}`.

mod compile;
mod condition;
pub mod correlation;
pub mod evaluate;
mod fields;
mod sigma;
mod suppress;

pub use compile::Compiled;
pub use correlation::Correlation;
pub use sigma::{Logic, Rule, severity_of};
pub use suppress::{Matched, RulesConfig, Suppression};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use include_dir::{Dir, include_dir};
use serde::Deserialize;
use yaml_rust2::YamlLoader;

use self::sigma::Parsed;
use crate::error::{Error, Result};
use crate::record::{EventBatchBuilder, parse_record};

/// The built-in library, as written in the repository's `rules/` folder.
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// Example events of a rule: ones it must match and ones it must not.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Examples {
    /// Records the rule must match.
    #[serde(rename = "match", default)]
    pub positive: Vec<serde_json::Value>,
    /// Records the rule must not match.
    #[serde(rename = "nomatch", default)]
    pub negative: Vec<serde_json::Value>,
}

/// The loaded rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Every match rule, in id order.
    pub rules: Vec<Rule>,
    /// Documents passed over, as (where, why).
    pub skipped: Vec<(String, String)>,
    /// Each rule's examples, by rule id.
    pub examples: BTreeMap<String, Examples>,
}

impl RuleSet {
    /// The built-in library and the rules under `paths` (files or folders, searched for
    /// `.yml`/`.yaml`), or only the latter.
    pub fn load(paths: &[PathBuf], built_in: bool) -> Result<Self> {
        let mut set = RuleSet::default();
        if built_in {
            let mut files: Vec<&include_dir::File> = Vec::new();
            collect_built_in(&BUILT_IN, &mut files);
            for file in files {
                let path = file.path();
                let text = file.contents_utf8().unwrap_or_default();
                let examples = BUILT_IN
                    .get_file(path.with_extension("examples.json"))
                    .map(|f| f.contents_utf8().unwrap_or_default().to_string());
                set.add(
                    text,
                    &format!("built-in:{}", path.display()),
                    examples.as_deref(),
                )?;
            }
        }
        for path in paths {
            for file in rule_files(path)? {
                let text = std::fs::read_to_string(&file).map_err(|err| Error::io(&file, err))?;
                let examples_path = file.with_extension("examples.json");
                let examples = match std::fs::read_to_string(&examples_path) {
                    Ok(text) => Some(text),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                    Err(err) => return Err(Error::io(&examples_path, err)),
                };
                set.add(&text, &file.display().to_string(), examples.as_deref())?;
            }
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for rule in &set.rules {
            if let Some(first) = seen.insert(&rule.id, &rule.source) {
                return Err(Error::Usage(format!(
                    "rule id {} is defined twice: in {first} and in {}; ids must be unique",
                    rule.id, rule.source
                )));
            }
        }
        set.link()?;
        set.rules.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(set)
    }

    /// Resolves each correlation's rules, by id or name, to the loaded match rules.
    fn link(&mut self) -> Result<()> {
        let found: Vec<(String, Option<String>, bool)> = self
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.name.clone(), r.condition().is_some()))
            .collect();
        for rule in &mut self.rules {
            let (id, title, source) = (rule.id.clone(), rule.title.clone(), rule.source.clone());
            let Logic::Correlation(correlation) = &mut rule.logic else {
                continue;
            };
            correlation
                .link(|reference| {
                    let named = found
                        .iter()
                        .find(|(id, name, _)| id == reference || name.as_deref() == Some(reference));
                    match named {
                        Some((id, name, true)) => Ok((id.clone(), name.clone())),
                        Some(_) => Err(format!(
                            "it names `{reference}`, a correlation: correlations of correlations are not supported"
                        )),
                        None => Err(format!(
                            "it names the rule `{reference}`, which is not loaded (give its id or name, and load its file)"
                        )),
                    }
                })
                .map_err(|why| {
                    Error::Usage(format!("{source}: correlation {id} (`{title}`): {why}"))
                })?;
        }
        Ok(())
    }

    /// The rules a correlation names, by id.
    pub fn members_of(&self, rule: &Rule) -> Vec<&Rule> {
        rule.correlation()
            .map(|c| {
                c.members
                    .iter()
                    .filter_map(|m| self.rules.iter().find(|r| r.id == m.rule))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn add(&mut self, text: &str, source: &str, examples: Option<&str>) -> Result<()> {
        let bad = |what: String| Error::Usage(format!("{source}: {what}"));
        let docs =
            YamlLoader::load_from_str(text).map_err(|err| bad(format!("not YAML: {err}")))?;
        let mut ids = Vec::new();
        for (index, doc) in docs.iter().enumerate() {
            let name = doc["title"].as_str().unwrap_or("untitled").to_string();
            match sigma::parse(doc, source) {
                Ok(Parsed::Rule(rule)) => {
                    ids.push((rule.id.clone(), rule.correlation().is_some()));
                    self.rules.push(*rule);
                }
                Ok(Parsed::Skipped(why)) => self.skipped.push((format!("{source}: {name}"), why)),
                Err(why) => {
                    return Err(bad(format!("rule {} (`{name}`): {why}", index + 1)));
                }
            }
        }
        if let Some(examples) = examples {
            let examples: Examples = serde_json::from_str(examples)
                .map_err(|err| bad(format!("its examples file is not valid: {err}")))?;
            // In a file with a correlation, the examples are the correlation's: the rules it
            // names are tested through it.
            let has_correlation = ids.iter().any(|(_, correlation)| *correlation);
            for (id, correlation) in ids {
                if correlation || !has_correlation {
                    self.examples.insert(id, examples.clone());
                }
            }
        }
        Ok(())
    }

    /// The rule with this id, name or title.
    pub fn find(&self, key: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.is_named(key))
    }
}

fn collect_built_in<'a>(dir: &'a Dir<'a>, out: &mut Vec<&'a include_dir::File<'a>>) {
    for file in dir.files() {
        if is_rule_file(file.path()) {
            out.push(file);
        }
    }
    for sub in dir.dirs() {
        collect_built_in(sub, out);
    }
    out.sort_by_key(|f| f.path());
}

fn is_rule_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// The rule files of a path: the file itself, or every `.yml`/`.yaml` below a folder.
fn rule_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such rule file or folder",
            path.display()
        )));
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_file() && is_rule_file(entry.path()))
        .map(|entry| entry.into_path())
        .collect();
    files.sort();
    Ok(files)
}

/// How a rule did on its examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    /// The rule's id.
    pub id: String,
    /// The rule's title.
    pub title: String,
    /// Positive examples it failed to match, by index.
    pub missed: Vec<usize>,
    /// Negative examples it matched, by index.
    pub wrongly_matched: Vec<usize>,
    /// Whether it has examples of both kinds at all.
    pub has_examples: bool,
}

impl TestResult {
    /// Whether the rule passes its examples.
    pub fn passed(&self) -> bool {
        self.has_examples && self.missed.is_empty() && self.wrongly_matched.is_empty()
    }
}

/// A session whose `events` table holds the records, as ingest makes rows of them.
async fn events_of(records: &[serde_json::Value]) -> Result<SessionContext> {
    let mut builder = EventBatchBuilder::default();
    for (index, record) in records.iter().enumerate() {
        let text = record.to_string();
        let parsed = parse_record(text.as_bytes())
            .map_err(|why| Error::Usage(format!("example record {index}: {why}")))?;
        builder.append(&parsed, "example", index as u64, text.len());
    }
    let batch = builder.finish();
    let mut ctx = SessionContext::new();
    ctx.register_table(
        "events",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    datafusion_functions_json::register_all(&mut ctx)?;
    crate::sql::functions::register(&ctx);
    Ok(ctx)
}

/// The ids of the `events` rows (by `sourceindex`) that each match rule matches, over the
/// given records; the records become rows exactly as ingest makes them.
pub async fn matches(
    rules: &[&Rule],
    records: &[serde_json::Value],
) -> Result<Vec<BTreeSet<usize>>> {
    let ctx = events_of(records).await?;
    let mut out = Vec::new();
    for rule in rules {
        let Some(condition) = rule.condition() else {
            return Err(Error::Usage(format!(
                "rule {} is a correlation: it matches groups of events, not events",
                rule.id
            )));
        };
        let sql = format!("SELECT sourceindex FROM events WHERE {}", condition.sql);
        let (_, batches) = crate::sql::execute(&ctx, &sql, Default::default())
            .await
            .map_err(|err| {
                Error::Internal(format!("rule {} compiled to bad SQL: {err}", rule.id))
            })?;
        let mut hit = BTreeSet::new();
        for batch in batches {
            let indexes = batch.column(0).as_primitive::<Int64Type>();
            for i in 0..indexes.len() {
                hit.insert(indexes.value(i) as usize);
            }
        }
        out.push(hit);
    }
    Ok(out)
}

/// The hits of the rules over the given records, as `detect` finds them in a lake.
pub async fn hits(
    rules: &[Rule],
    suppressions: &[Suppression],
    records: &[serde_json::Value],
) -> Result<Vec<evaluate::Hit>> {
    let ctx = events_of(records).await?;
    let plan = evaluate::Plan::new(rules, None);
    let (_, batches) = crate::sql::execute(&ctx, &plan.sql("true"), Default::default())
        .await
        .map_err(|err| Error::Internal(format!("the rules compiled to bad SQL: {err}")))?;
    let mut collector = evaluate::Collector::new(&plan, suppressions);
    for batch in &batches {
        collector.add(batch)?;
    }
    Ok(collector.finish())
}

/// Runs every rule of the set on its own examples. A correlation's examples are lists of
/// records, each of which must (or must not) make it fire.
pub async fn test(set: &RuleSet) -> Result<Vec<TestResult>> {
    let named: BTreeSet<&str> = set
        .rules
        .iter()
        .filter_map(|r| r.correlation())
        .flat_map(|c| c.members.iter().map(|m| m.rule.as_str()))
        .collect();
    let mut results = Vec::new();
    for rule in &set.rules {
        let examples = match set.examples.get(&rule.id) {
            Some(examples) => examples.clone(),
            // A building block of a correlation, tested through the correlation's examples.
            None if named.contains(rule.id.as_str()) => continue,
            None => Examples::default(),
        };
        let positives = examples.positive.len();
        let hit: BTreeSet<usize> = if rule.correlation().is_some() {
            let mut rules = vec![rule.clone()];
            rules.extend(set.members_of(rule).into_iter().cloned());
            let mut fired = BTreeSet::new();
            for (i, example) in examples
                .positive
                .iter()
                .chain(&examples.negative)
                .enumerate()
            {
                let Some(records) = example.as_array() else {
                    return Err(Error::Usage(format!(
                        "{}: example {i} of correlation {} must be a list of records",
                        rule.source, rule.id
                    )));
                };
                let found = hits(&rules, &[], records).await?;
                if found.iter().any(|h| h.rule == 0) {
                    fired.insert(i);
                }
            }
            fired
        } else {
            let records: Vec<serde_json::Value> = examples
                .positive
                .iter()
                .chain(&examples.negative)
                .cloned()
                .collect();
            if records.is_empty() {
                BTreeSet::new()
            } else {
                matches(&[rule], &records).await?.remove(0)
            }
        };
        results.push(TestResult {
            id: rule.id.clone(),
            title: rule.title.clone(),
            missed: (0..positives).filter(|i| !hit.contains(i)).collect(),
            wrongly_matched: (0..examples.negative.len())
                .filter(|i| hit.contains(&(positives + i)))
                .collect(),
            has_examples: positives > 0 && !examples.negative.is_empty(),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A rule of one detection over CloudTrail, as a user would write it.
    fn rule(detection: &str) -> std::result::Result<Rule, String> {
        let text = format!(
            "title: t\nid: 00000000-0000-4000-8000-000000000000\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\nlevel: high\n"
        );
        let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
        match sigma::parse(&doc, "test")? {
            Parsed::Rule(rule) => Ok(*rule),
            Parsed::Skipped(why) => Err(why),
        }
    }

    fn event(extra: serde_json::Value) -> serde_json::Value {
        let mut record = json!({
            "eventVersion": "1.09", "eventTime": "2024-03-05T10:00:00Z",
            "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
            "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
            "sourceIPAddress": "203.0.113.10", "userAgent": "aws-cli/2.15.0",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice"},
        });
        for (key, value) in extra.as_object().unwrap() {
            record[key] = value.clone();
        }
        record
    }

    /// Which of the events each detection matches.
    fn hits(detection: &str, events: &[serde_json::Value]) -> Vec<usize> {
        let rule = rule(detection).unwrap_or_else(|err| panic!("{detection}: {err}"));
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let found = runtime.block_on(matches(&[&rule], events)).unwrap();
        found[0].iter().copied().collect()
    }

    #[test]
    fn values_match_without_case_with_wildcards_and_escapes() {
        let events = [
            event(json!({"eventName": "CreateAccessKey"})),
            event(json!({"eventName": "createaccesskey"})),
            event(json!({"eventName": "DeleteAccessKey"})),
            event(json!({"eventName": "Create*Key"})),
        ];
        assert_eq!(
            hits(
                "  s:\n    eventName: CREATEACCESSKEY\n  condition: s",
                &events
            ),
            [0, 1]
        );
        assert_eq!(
            hits("  s:\n    eventName: '*AccessKey'\n  condition: s", &events),
            [0, 1, 2]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName: 'Create?ccessKey'\n  condition: s",
                &events
            ),
            [0, 1]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName: 'Create\\*Key'\n  condition: s",
                &events
            ),
            [3]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName|cased: CreateAccessKey\n  condition: s",
                &events
            ),
            [0]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName|contains: access\n  condition: s",
                &events
            ),
            [0, 1, 2]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName|startswith: delete\n  condition: s",
                &events
            ),
            [2]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName|endswith: '\\*KEY'\n  condition: s",
                &events
            ),
            [3]
        );
        assert_eq!(
            hits(
                "  s:\n    eventName|contains|all:\n      - create\n      - key\n  condition: s",
                &events
            ),
            [0, 1, 3]
        );
    }

    #[test]
    fn regexes_networks_numbers_and_field_references() {
        let events = [
            event(json!({"sourceIPAddress": "10.1.2.3", "userAgent": "Boto3/1.34"})),
            event(json!({"sourceIPAddress": "203.0.113.9", "userAgent": "boto3/1.34"})),
            event(json!({"sourceIPAddress": "AWS Internal", "userAgent": "AWS Internal"})),
        ];
        assert_eq!(
            hits("  s:\n    userAgent|re: '^Boto3'\n  condition: s", &events),
            [0]
        );
        assert_eq!(
            hits(
                "  s:\n    userAgent|re|i: '^boto3'\n  condition: s",
                &events
            ),
            [0, 1]
        );
        assert_eq!(
            hits(
                "  s:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: s",
                &events
            ),
            [0]
        );
        assert_eq!(
            hits(
                "  s:\n    sourceIPAddress|fieldref: userAgent\n  condition: s",
                &events
            ),
            [2]
        );
        let sized = [
            event(json!({"requestParameters": {"durationSeconds": 900}})),
            event(json!({"requestParameters": {"durationSeconds": 43200}})),
        ];
        assert_eq!(
            hits(
                "  s:\n    requestParameters.durationSeconds|gt: 3600\n  condition: s",
                &sized
            ),
            [1]
        );
        assert_eq!(
            hits(
                "  s:\n    requestParameters.durationSeconds|lte: 900\n  condition: s",
                &sized
            ),
            [0]
        );
    }

    #[test]
    fn payload_paths_lists_nulls_and_missing_fields() {
        let events = [
            event(
                json!({"requestParameters": {"ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]}}]}}}),
            ),
            event(
                json!({"requestParameters": {"ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}}),
            ),
            event(json!({"requestParameters": null})),
            event(json!({"errorCode": "AccessDenied"})),
        ];
        let path = "requestParameters.ipPermissions.items.ipRanges.items.cidrIp";
        assert_eq!(
            hits(
                &format!("  s:\n    {path}: 0.0.0.0/0\n  condition: s"),
                &events
            ),
            [0]
        );
        let addressed = [
            event(json!({"requestParameters": {"addresses": ["10.1.1.1", "192.0.2.7"]}})),
            event(json!({"requestParameters": {"addresses": ["10.1.1.1"]}})),
        ];
        assert_eq!(
            hits(
                "  s:\n    requestParameters.addresses|cidr: 192.0.2.0/24\n  condition: s",
                &addressed
            ),
            [0]
        );
        assert_eq!(
            hits(
                &format!("  s:\n    {path}|exists: false\n  condition: s"),
                &events
            ),
            [2, 3]
        );
        assert_eq!(
            hits("  s:\n    errorCode: null\n  condition: s", &events),
            [0, 1, 2]
        );
        assert_eq!(
            hits("  s:\n    errorCode|exists: true\n  condition: s", &events),
            [3]
        );
        // Keys of payloads match without case, as field names do.
        assert_eq!(
            hits(
                &format!(
                    "  s:\n    {}: 0.0.0.0/0\n  condition: s",
                    path.to_uppercase()
                ),
                &events
            ),
            [0]
        );
    }

    #[test]
    fn conditions_keywords_booleans_and_base64() {
        let events = [
            event(
                json!({"readOnly": true, "errorMessage": "User is not authorized to perform: iam:CreateUser"}),
            ),
            event(
                json!({"readOnly": false, "requestParameters": {"userData": "IyEvYmluL2Jhc2gKY3VybCBodHRwOi8vZXZpbA=="}}),
            ),
        ];
        assert_eq!(
            hits(
                "  keywords:\n    - 'not authorized'\n  condition: keywords",
                &events
            ),
            [0]
        );
        assert_eq!(
            hits("  s:\n    readOnly: false\n  condition: s", &events),
            [1]
        );
        assert_eq!(
            hits("  s:\n    readOnly: 'true'\n  condition: s", &events),
            [0]
        );
        assert_eq!(
            hits(
                "  s:\n    requestParameters.userData|base64offset|contains: 'curl '\n  condition: s",
                &events
            ),
            [1]
        );
        assert_eq!(
            hits(
                "  a:\n    readOnly: true\n  b:\n    eventName: CreateAccessKey\n  condition: b and not a",
                &events
            ),
            [1]
        );
        assert_eq!(
            hits(
                "  sel_a:\n    readOnly: true\n  sel_b:\n    readOnly: false\n  condition: 1 of sel_*",
                &events
            ),
            [0, 1]
        );
        assert_eq!(
            hits(
                "  sel_a:\n    readOnly: true\n  sel_b:\n    eventName: CreateAccessKey\n  condition: all of them",
                &events
            ),
            [0]
        );
        assert_eq!(
            hits(
                "  s:\n    - eventName: Nope\n    - readOnly: true\n  condition: s",
                &events
            ),
            [0]
        );
    }

    #[test]
    fn the_event_names_a_rule_requires_are_known_when_the_condition_says() {
        let names = |detection: &str| {
            rule(detection)
                .unwrap()
                .condition()
                .unwrap()
                .event_names
                .clone()
        };
        assert_eq!(
            names(
                "  s:\n    eventName:\n      - StopLogging\n      - DeleteTrail\n  f:\n    errorCode|exists: true\n  condition: s and not f"
            ),
            Some(vec!["deletetrail".to_string(), "stoplogging".to_string()])
        );
        assert_eq!(
            names("  a:\n    eventName: A\n  b:\n    eventName: B\n  condition: 1 of them"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            names("  a:\n    eventName: A\n  b:\n    readOnly: true\n  condition: a or b"),
            None
        );
        assert_eq!(
            names("  a:\n    eventName|startswith: Get\n  condition: a"),
            None
        );
        assert_eq!(names("  k:\n    - StopLogging\n  condition: k"), None);
        assert_eq!(
            names("  a:\n    eventName: A\n  b:\n    readOnly: true\n  condition: a and b"),
            Some(vec!["a".to_string()])
        );
    }

    #[test]
    fn unsupported_or_impossible_rules_fail_to_load_with_the_field() {
        let err = rule("  s:\n    eventNmae: x\n  condition: s").unwrap_err();
        assert!(
            err.contains("no field `eventNmae`") && err.contains("eventName"),
            "{err}"
        );
        let err = rule("  s:\n    eventName|wide: x\n  condition: s").unwrap_err();
        assert!(err.contains("modifier `wide` is not supported"), "{err}");
        let err = rule("  s:\n    eventName: x\n  condition: s and t").unwrap_err();
        assert!(err.contains("`t`"), "{err}");
        let err = rule("  s:\n    readOnly: maybe\n  condition: s").unwrap_err();
        assert!(err.contains("boolean"), "{err}");
        let doc = YamlLoader::load_from_str(
            "title: w\nid: x\nlogsource:\n  product: windows\ndetection:\n  s:\n    a: b\n  condition: s\n",
        )
        .unwrap()
        .remove(0);
        assert!(matches!(sigma::parse(&doc, "t"), Ok(Parsed::Skipped(_))));
    }

    /// A user created, then signing in within the hour: two rules whose events name the user in
    /// different fields (an alias), in order, through the same SQL `detect` runs.
    #[test]
    fn ordered_correlations_group_through_aliases_and_suppressions_apply_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("new_user_signs_in.yml");
        std::fs::write(
            &file,
            r"title: user created
id: a
name: created
logsource: {product: aws, service: cloudtrail}
detection:
  s: {eventName: CreateUser}
  condition: s
---
title: console sign-in
id: b
name: signed-in
logsource: {product: aws, service: cloudtrail}
detection:
  s: {eventName: ConsoleLogin}
  condition: s
---
title: new user signs in
id: c
correlation:
  type: temporal_ordered
  rules: [created, signed-in]
  group-by: [who]
  timespan: 1h
  aliases:
    who:
      created: requestParameters.userName
      signed-in: userIdentity.userName
level: high
",
        )
        .unwrap();
        let set = RuleSet::load(&[file], false).unwrap();
        let at = |minute: u32, name: &str, user: &str, created: Option<&str>| {
            event(json!({
                "eventTime": format!("2024-03-05T10:{minute:02}:00Z"), "eventName": name,
                "eventID": format!("{name}-{minute}"),
                "userIdentity": {"type": "IAMUser", "userName": user, "arn": format!("arn:aws:iam::111122223333:user/{user}")},
                "requestParameters": created.map(|u| json!({"userName": u})),
            }))
        };
        let events = [
            at(0, "CreateUser", "alice", Some("mallory")),
            at(20, "ConsoleLogin", "mallory", None),
            at(30, "ConsoleLogin", "bob", None),
            at(40, "ConsoleLogin", "eve", None),
            at(50, "CreateUser", "alice", Some("eve")),
        ];
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let found = runtime
            .block_on(super::hits(&set.rules, &[], &events))
            .unwrap();
        let correlation = set.rules.iter().position(|r| r.id == "c").unwrap();
        let fired: Vec<_> = found.iter().filter(|h| h.rule == correlation).collect();
        assert_eq!(fired.len(), 1, "{found:?}");
        assert_eq!(fired[0].group, [("who".to_string(), "mallory".to_string())]);
        assert_eq!(
            fired[0].found.event_ids,
            ["ConsoleLogin-20", "CreateUser-0"]
        );
        assert!(
            found.iter().all(|h| h.rule == correlation),
            "the rules it names make no findings of their own: {found:?}"
        );
        // A suppression of the account keeps the episode, marked, and nothing unsuppressed.
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            "suppressions:\n  - rule: new user signs in\n    account: '111122223333'\n    reason: a lab account\n",
        )
        .unwrap();
        let config = RulesConfig::load(&config).unwrap();
        let found = runtime
            .block_on(super::hits(&set.rules, &config.suppressions, &events))
            .unwrap();
        let suppressed: Vec<_> = found.iter().map(|h| h.suppressed).collect();
        assert_eq!(suppressed, [Some(0)], "{found:?}");
    }

    #[test]
    fn the_built_in_library_loads_and_passes_its_examples() {
        let set = RuleSet::load(&[], true).unwrap();
        assert!(set.rules.len() >= 5, "{}", set.rules.len());
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        for result in runtime.block_on(test(&set)).unwrap() {
            assert!(result.passed(), "{result:?}");
        }
        for rule in &set.rules {
            assert!(
                !rule.techniques.is_empty() && !rule.falsepositives.is_empty(),
                "{}",
                rule.id
            );
        }
        assert!(set.find("cloudtrail-stop-logging").is_some());
    }
}
