//! `trailq rules`: the detection rules (Sigma): list them, show one and the SQL it runs, and
//! test them against the example events kept beside them.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::{EXIT_ERROR, EXIT_OK, print_out, query_runtime};
use trailq::error::{Error, Result};
use trailq::rules::{Rule, RuleSet};

/// Detection rules in Sigma format: the built-in library, and your own.
#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// List the rules: id, level, kind (match or a correlation's type), ATT&CK techniques,
    /// title, where each comes from.
    List {
        #[command(flatten)]
        sources: Sources,
        /// Only rules tagged with this ATT&CK technique (T1562, or T1562.008).
        #[arg(long, value_name = "ID")]
        technique: Option<String>,
        /// table or json.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Show one rule (by id, name or title), and with --sql the condition it runs.
    Show {
        /// The rule's id, name or title.
        rule: String,
        #[command(flatten)]
        sources: Sources,
        /// Print the SQL condition the rule compiles to.
        #[arg(long)]
        sql: bool,
    },
    /// The ATT&CK techniques the rules cover: a table, JSON, or an ATT&CK Navigator layer.
    Coverage {
        #[command(flatten)]
        sources: Sources,
        /// table, json, or navigator (a layer to open in the ATT&CK Navigator).
        #[arg(long, value_enum, default_value_t = CoverageFormat::Table)]
        format: CoverageFormat,
    },
    /// Run rules on their examples (`<name>.examples.json` beside each rule file): every
    /// positive example must match and no negative one. A correlation's examples are lists of
    /// records that must (or must not) make it fire; the rules it names are tested through it.
    /// Exit 2 when any rule fails or has none.
    Test {
        /// Rule files or folders [default: the built-in library].
        paths: Vec<PathBuf>,
    },
}

/// Where rules come from.
#[derive(Debug, Args)]
struct Sources {
    /// More rules: a Sigma file or a folder of them (repeatable).
    #[arg(long = "rules", value_name = "DIR|FILE")]
    rules: Vec<PathBuf>,
    /// Only the --rules given, not the built-in library.
    #[arg(long)]
    no_built_in: bool,
}

impl Sources {
    fn load(&self) -> Result<RuleSet> {
        RuleSet::load(&self.rules, !self.no_built_in)
    }
}

/// How `rules coverage` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CoverageFormat {
    /// One line per technique.
    Table,
    /// A JSON array.
    Json,
    /// An ATT&CK Navigator layer (enterprise domain).
    Navigator,
}

/// How `rules list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    /// One line per rule.
    Table,
    /// A JSON array.
    Json,
}

/// Runs the rules command.
pub fn run(args: RulesArgs) -> Result<u8> {
    match args.command {
        RulesCommand::List {
            sources,
            technique,
            format,
        } => {
            let set = sources.load()?;
            for (place, why) in &set.skipped {
                log::info!("skipped {place}: {why}");
            }
            let chosen: Vec<&Rule> = set
                .rules
                .iter()
                .filter(|rule| {
                    technique.as_deref().is_none_or(|t| {
                        let t = t.to_ascii_uppercase();
                        rule.techniques
                            .iter()
                            .any(|r| *r == t || r.starts_with(&format!("{t}.")))
                    })
                })
                .collect();
            let text = match format {
                ListFormat::Json => {
                    let rows: Vec<_> = chosen
                        .iter()
                        .map(|r| {
                            json!({
                                "id": r.id, "name": r.name, "title": r.title, "kind": r.kind(),
                                "level": r.level,
                                "severity": r.severity, "techniques": r.techniques,
                                "tactics": r.tactics, "status": r.status, "source": r.source,
                                "falsepositives": r.falsepositives,
                            })
                        })
                        .collect();
                    format!(
                        "{}\n",
                        serde_json::to_string_pretty(&rows).expect("serializes")
                    )
                }
                ListFormat::Table => chosen
                    .iter()
                    .map(|r| {
                        format!(
                            "{}  {:<13} {:<11} {:<22} {}  ({})\n",
                            r.id,
                            r.level,
                            r.kind(),
                            r.techniques.join(","),
                            r.title,
                            r.source
                        )
                    })
                    .collect(),
            };
            print_out(&text)?;
            log::info!("{} rules", chosen.len());
            Ok(EXIT_OK)
        }
        RulesCommand::Show { rule, sources, sql } => {
            let set = sources.load()?;
            let found = set.find(&rule).ok_or_else(|| {
                Error::Usage(format!(
                    "no rule `{rule}`: `trailq rules list` shows their ids and titles"
                ))
            })?;
            let mut text = format!(
                "{}\n  id: {}\n  name: {}\n  level: {} (severity {})\n  techniques: {}\n  tactics: {}\n  source: {}\n  {}\n  false positives: {}\n",
                found.title,
                found.id,
                found.name.as_deref().unwrap_or("-"),
                found.level,
                found.severity.name(),
                found.techniques.join(", "),
                found.tactics.join(", "),
                found.source,
                found.description,
                found.falsepositives.join("; ")
            );
            if let Some(correlation) = found.correlation() {
                text.push_str(&format!("  correlation: {}\n", correlation.describe()));
                if !correlation.generate {
                    text.push_str(
                        "  the rules it names make no findings of their own (generate: false)\n",
                    );
                }
            }
            if sql {
                // A correlation runs the conditions of the rules it names.
                let shown = match found.condition() {
                    Some(_) => vec![found],
                    None => set.members_of(found),
                };
                for rule in shown {
                    let condition = rule.condition().expect("a match rule");
                    if rule.id != found.id {
                        text.push_str(&format!("\n-- {} ({})", rule.title, rule.id));
                    }
                    text.push_str(&format!("\nSELECT * FROM events WHERE {}\n", condition.sql));
                }
            }
            print_out(&text)?;
            Ok(EXIT_OK)
        }
        RulesCommand::Coverage { sources, format } => {
            let set = sources.load()?;
            let mut by_technique: std::collections::BTreeMap<&str, (Vec<&str>, Vec<&str>)> =
                std::collections::BTreeMap::new();
            for rule in &set.rules {
                for technique in &rule.techniques {
                    let entry = by_technique.entry(technique).or_default();
                    entry.0.push(&rule.title);
                    for tactic in &rule.tactics {
                        if !entry.1.contains(&tactic.as_str()) {
                            entry.1.push(tactic);
                        }
                    }
                }
            }
            let text = match format {
                CoverageFormat::Table => by_technique
                    .iter()
                    .map(|(technique, (rules, tactics))| {
                        format!(
                            "{technique:<11} {:<22} {} rule(s): {}\n",
                            tactics.join(","),
                            rules.len(),
                            rules.join("; ")
                        )
                    })
                    .collect(),
                CoverageFormat::Json => {
                    let rows: Vec<_> = by_technique
                        .iter()
                        .map(|(technique, (rules, tactics))| {
                            json!({"technique": technique, "tactics": tactics, "rules": rules})
                        })
                        .collect();
                    format!(
                        "{}\n",
                        serde_json::to_string_pretty(&rows).expect("serializes")
                    )
                }
                CoverageFormat::Navigator => {
                    let techniques: Vec<_> = by_technique
                        .iter()
                        .map(|(technique, (rules, _))| {
                            json!({
                                "techniqueID": technique,
                                "score": rules.len(),
                                "comment": rules.join("; "),
                                "enabled": true,
                            })
                        })
                        .collect();
                    let layer = json!({
                        "name": "trailq rules",
                        "description": format!("ATT&CK techniques covered by {} trailq rules over AWS CloudTrail", set.rules.len()),
                        "domain": "enterprise-attack",
                        "versions": {"layer": "4.5", "navigator": "5.1.0"},
                        "filters": {"platforms": ["IaaS"]},
                        "gradient": {"colors": ["#c6dbef", "#08519c"], "minValue": 0, "maxValue": 5},
                        "techniques": techniques,
                    });
                    format!(
                        "{}\n",
                        serde_json::to_string_pretty(&layer).expect("serializes")
                    )
                }
            };
            print_out(&text)?;
            log::info!(
                "{} techniques covered by {} rules",
                by_technique.len(),
                set.rules.len()
            );
            Ok(EXIT_OK)
        }
        RulesCommand::Test { paths } => {
            let set = RuleSet::load(&paths, paths.is_empty())?;
            let runtime = query_runtime()?;
            let results = runtime.block_on(trailq::rules::test(&set))?;
            let mut text = String::new();
            let mut failed = 0;
            for result in &results {
                let verdict = if result.passed() {
                    "ok".to_string()
                } else if !result.has_examples {
                    "FAILED: it needs at least one matching and one non-matching example".into()
                } else {
                    format!(
                        "FAILED: missed positive examples {:?}, matched negative examples {:?}",
                        result.missed, result.wrongly_matched
                    )
                };
                failed += usize::from(!result.passed());
                text.push_str(&format!("{}  {}: {verdict}\n", result.id, result.title));
            }
            print_out(&text)?;
            log::info!(
                "{} rules tested: {} passed, {failed} failed",
                results.len(),
                results.len() - failed
            );
            Ok(if failed == 0 { EXIT_OK } else { EXIT_ERROR })
        }
    }
}
