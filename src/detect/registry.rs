//! The detectors: one trait, one registry. `--list`, `--detectors` and `--set` all come from here.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{Candidate, DetectInput};
use crate::error::{Error, Result};

/// One parameter of a detector.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    /// Name, as in `--set detector.name=value`.
    pub name: &'static str,
    /// Default value.
    pub default: f64,
    /// What it does.
    pub help: &'static str,
}

/// A detector's parameter values.
#[derive(Debug, Clone, Default)]
pub struct Params(BTreeMap<&'static str, f64>);

impl Params {
    /// The value of a declared parameter.
    pub fn get(&self, name: &str) -> f64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} is not declared"))
    }
}

/// Something that finds unusual activity in the lake.
#[async_trait]
pub trait Detector: Send + Sync {
    /// Its name on the command line and in findings.
    fn name(&self) -> &'static str;
    /// What it looks for, one line.
    fn summary(&self) -> &'static str;
    /// The `insightType` of its findings.
    fn insight_type(&self) -> &'static str;
    /// Its parameters with their defaults.
    fn params(&self) -> Vec<ParamSpec>;
    /// Finds candidates in the window.
    async fn detect(&self, input: &DetectInput<'_>, params: &Params) -> Result<Vec<Candidate>>;
}

/// Every detector, in `--list` order.
pub fn all() -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(super::api_call_rate::ApiCallRate),
        Box::new(super::api_error_rate::ApiErrorRate),
        Box::new(super::principal_burst::PrincipalBurst),
        Box::new(super::first_seen::FirstSeen),
    ]
}

/// The detectors a run uses (all when `names` is empty) with their parameters, after applying
/// `--set detector.param=value` settings.
pub fn select(
    names: &[String],
    settings: &[(String, String)],
) -> Result<Vec<(Box<dyn Detector>, Params)>> {
    let known: Vec<&str> = all().iter().map(|d| d.name()).collect();
    for name in names {
        if !known.contains(&name.as_str()) {
            return Err(Error::Usage(format!(
                "no detector named `{name}`; `trailq detect --list` shows them ({})",
                known.join(", ")
            )));
        }
    }
    let mut selected = Vec::new();
    for detector in all() {
        if !names.is_empty() && !names.iter().any(|n| n == detector.name()) {
            continue;
        }
        let specs = detector.params();
        let mut params = Params(specs.iter().map(|p| (p.name, p.default)).collect());
        for (key, value) in settings {
            let Some((owner, name)) = key.split_once('.') else {
                return Err(Error::Usage(format!(
                    "`--set {key}={value}`: write --set DETECTOR.PARAM=VALUE, e.g. api-call-rate.min-events=10"
                )));
            };
            if owner != detector.name() {
                continue;
            }
            let Some(spec) = specs.iter().find(|p| p.name == name) else {
                let names: Vec<&str> = specs.iter().map(|p| p.name).collect();
                return Err(Error::Usage(format!(
                    "{owner} has no parameter `{name}` (it has: {})",
                    names.join(", ")
                )));
            };
            let number: f64 = value.trim().parse().map_err(|_| {
                Error::Usage(format!("`--set {key}={value}`: the value must be a number"))
            })?;
            params.0.insert(spec.name, number);
        }
        selected.push((detector, params));
    }
    for (key, _) in settings {
        let owner = key.split_once('.').map_or(key.as_str(), |(o, _)| o);
        if !known.contains(&owner) {
            return Err(Error::Usage(format!(
                "`--set {key}`: no detector named `{owner}` ({})",
                known.join(", ")
            )));
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_override_defaults_and_typos_are_errors() {
        let selected = select(
            &["api-call-rate".into()],
            &[("api-call-rate.min-events".into(), "25".into())],
        )
        .unwrap();
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].1.get("min-events"), 25.0);
        assert!(select(&["api-call-rat".into()], &[]).is_err());
        assert!(select(&[], &[("api-call-rate.min-event".into(), "3".into())]).is_err());
        assert!(select(&[], &[("nobody.min-events".into(), "3".into())]).is_err());
        assert!(select(&[], &[("api-call-rate.min-events".into(), "x".into())]).is_err());
        let names: Vec<&str> = all().iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            [
                "api-call-rate",
                "api-error-rate",
                "principal-burst",
                "first-seen"
            ]
        );
    }
}
