//! Noise control: the rules' configuration file, with the folders of rules to load and the
//! suppressions that keep known, accepted activity from becoming findings.
//!
//! ```yaml
//! rules:
//!   - ./sigma/rules/cloud/aws/
//! suppressions:
//!   - rule: cis-unauthorized-api-calls        # an id, name or title; omitted: every rule
//!     principal: "arn:aws:iam::*:role/ci-*"    # wildcards * and ?
//!     account: "111122223333"
//!     sourceip: 10.0.0.0/8                     # an address or a CIDR network
//!     useragent: "*Terraform*"
//!     reason: the CI role probes its own permissions
//! ```
//! A suppression applies to a matched event when every condition it gives holds.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use super::Rule;
use crate::error::{Error, Result};
use crate::sql::functions::{Glob, glob, glob_matches, in_cidr, parse_network};

/// One suppression.
#[derive(Debug, Clone)]
pub struct Suppression {
    rule: Option<String>,
    principal: Option<Vec<Glob>>,
    account: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<Vec<Glob>>,
    /// Why the activity is accepted (shown where it is counted).
    pub reason: String,
}

/// What a suppression looks at in a matched event.
pub struct Matched<'a> {
    /// The event's principal.
    pub principal: &'a str,
    /// `recipientAccountId`.
    pub account: &'a str,
    /// `sourceIPAddress`.
    pub source_ip: &'a str,
    /// `userAgent`.
    pub user_agent: &'a str,
}

impl Suppression {
    /// Whether it keeps this match of `rule` from being a finding.
    pub fn applies(&self, rule: &Rule, event: &Matched<'_>) -> bool {
        let pattern = |glob: &Option<Vec<Glob>>, value: &str| {
            glob.as_ref()
                .is_none_or(|g| glob_matches(g, &value.to_lowercase()))
        };
        self.rule.as_deref().is_none_or(|key| rule.is_named(key))
            && pattern(&self.principal, event.principal)
            && self.account.as_deref().is_none_or(|a| a == event.account)
            && self.source_ip.as_deref().is_none_or(|net| {
                in_cidr(event.source_ip, net).unwrap_or(false) || net == event.source_ip
            })
            && pattern(&self.user_agent, event.user_agent)
    }
}

/// The rules' configuration.
#[derive(Debug, Clone, Default)]
pub struct RulesConfig {
    /// Rule files and folders to load beside the built-in library.
    pub rules: Vec<PathBuf>,
    /// Suppressions, in file order.
    pub suppressions: Vec<Suppression>,
}

impl RulesConfig {
    /// Reads a configuration file; relative rule paths are relative to the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| Error::io(path, err))?;
        let bad = |what: String| Error::Usage(format!("{}: {what}", path.display()));
        let docs =
            YamlLoader::load_from_str(&text).map_err(|err| bad(format!("not YAML: {err}")))?;
        let Some(doc) = docs.first() else {
            return Ok(Self::default());
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Self::default();
        if let Yaml::Array(paths) = &doc["rules"] {
            for p in paths {
                let p = p
                    .as_str()
                    .ok_or_else(|| bad("a `rules` entry must be a path".into()))?;
                config.rules.push(base.join(p));
            }
        }
        if let Yaml::Array(list) = &doc["suppressions"] {
            for (i, entry) in list.iter().enumerate() {
                let field = |key: &str| -> std::result::Result<Option<String>, Error> {
                    match &entry[key] {
                        Yaml::BadValue | Yaml::Null => Ok(None),
                        Yaml::String(s) => Ok(Some(s.clone())),
                        Yaml::Integer(n) => Ok(Some(n.to_string())),
                        _ => Err(bad(format!("suppression {}: `{key}` must be text", i + 1))),
                    }
                };
                let source_ip = field("sourceip")?;
                if let Some(net) = &source_ip
                    && parse_network(net).is_none()
                    && net.parse::<std::net::IpAddr>().is_err()
                {
                    return Err(bad(format!(
                        "suppression {}: `{net}` is neither an address nor a CIDR network",
                        i + 1
                    )));
                }
                let suppression = Suppression {
                    rule: field("rule")?,
                    principal: field("principal")?.map(|p| glob(&p.to_lowercase())),
                    account: field("account")?,
                    source_ip,
                    user_agent: field("useragent")?.map(|p| glob(&p.to_lowercase())),
                    reason: field("reason")?.ok_or_else(|| {
                        bad(format!(
                            "suppression {} has no `reason`: say why the activity is accepted",
                            i + 1
                        ))
                    })?,
                };
                if suppression.rule.is_none()
                    && suppression.principal.is_none()
                    && suppression.account.is_none()
                    && suppression.source_ip.is_none()
                    && suppression.user_agent.is_none()
                {
                    return Err(bad(format!(
                        "suppression {} has no condition: it would suppress everything",
                        i + 1
                    )));
                }
                config.suppressions.push(suppression);
            }
        }
        Ok(config)
    }
}
