//! What `trailq verify` says: per trail, account and region, the hours covered and the files
//! verified, then every problem with its S3 key and hour.

use std::collections::BTreeMap;

use serde::Serialize;

use super::verify::{FileStatus, Verification};
use crate::record::time::format_time;

/// One trail's account and region.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrailSummary {
    /// The trail.
    pub trail: String,
    /// The organization id of an organization trail.
    pub organization: Option<String>,
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// Hours with a digest.
    pub hours: u64,
    /// First and last hour with a digest.
    pub first_hour: Option<String>,
    /// See `first_hour`.
    pub last_hour: Option<String>,
    /// Digests, and how many of them verified.
    pub digests: u64,
    /// See `digests`.
    pub digests_verified: u64,
    /// Log files verified.
    pub files_verified: u64,
    /// Log files with each other status (`FileStatus::name`).
    pub files: BTreeMap<String, u64>,
    /// Hours in gaps of the chain.
    pub gap_hours: u64,
}

/// One problem.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What: a file status (`missing`, `altered`, `injected`, ...), a digest status
    /// (`bad-signature`, `moved`, ...) or `gap`.
    pub kind: String,
    /// The trail.
    pub trail: String,
    /// The account.
    pub account: String,
    /// The region.
    pub region: String,
    /// The hour (for a gap, its first).
    pub hour: String,
    /// The S3 key (or where trailq read it).
    pub key: Option<String>,
    /// In words.
    pub detail: String,
}

/// The verdict over a period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// The first hour looked at (from the first when `None`).
    pub since: Option<String>,
    /// The end of the hours looked at (to the last when `None`).
    pub until: Option<String>,
    /// Per trail, account and region.
    pub trails: Vec<TrailSummary>,
    /// Every problem, by hour.
    pub problems: Vec<Problem>,
    /// Files no digest covers yet: checked by a later run, not a problem.
    pub pending: u64,
    /// Log files of accounts and regions no digest covers at all (validation off there).
    pub not_validated: BTreeMap<String, u64>,
}

impl Summary {
    /// The summary of `verification` for the hours from `since` to `until` (ms).
    pub fn of(verification: &Verification, since: Option<i64>, until: Option<i64>) -> Self {
        let after = |hour: i64| {
            since.is_none_or(|since| hour >= since) && until.is_none_or(|until| hour < until)
        };
        let mut trails: BTreeMap<(String, String, String), TrailSummary> = BTreeMap::new();
        let mut problems = Vec::new();
        let mut pending = 0;
        let mut hours: BTreeMap<(String, String, String), Vec<i64>> = BTreeMap::new();
        for row in verification.deliveries.iter().filter(|r| after(r.hour)) {
            let key = (
                row.trail.clone(),
                row.awsaccountid.clone(),
                row.region.clone(),
            );
            let summary = trails.entry(key.clone()).or_default();
            summary.trail.clone_from(&row.trail);
            summary.account.clone_from(&row.awsaccountid);
            summary.region.clone_from(&row.region);
            summary.organization.clone_from(&row.organization);
            if row.digests > 0 {
                hours.entry(key).or_default().push(row.hour);
            }
            summary.gap_hours += u64::from(row.gap);
        }
        for digest in verification.digests.iter().filter(|d| after(d.start)) {
            let key = (
                digest.chain.trail.clone(),
                digest.chain.account.clone(),
                digest.chain.region.clone(),
            );
            let summary = trails.entry(key).or_default();
            summary.digests += 1;
            if digest.problems.is_empty() {
                summary.digests_verified += 1;
            }
            for (kind, problem) in &digest.problems {
                problems.push(Problem {
                    kind: kind.name().to_string(),
                    trail: digest.chain.trail.clone(),
                    account: digest.chain.account.clone(),
                    region: digest.chain.region.clone(),
                    hour: format_time(digest.start),
                    key: Some(digest.sourcefile.clone()),
                    detail: problem.clone(),
                });
            }
        }
        for file in verification.files.iter().filter(|f| after(f.hour)) {
            let key = (
                file.trail.clone(),
                file.awsaccountid.clone(),
                file.region.clone(),
            );
            let summary = trails.entry(key).or_default();
            if file.status == FileStatus::Verified.name() {
                summary.files_verified += 1;
                continue;
            }
            *summary.files.entry(file.status.clone()).or_default() += 1;
            if file.status == FileStatus::Pending.name() {
                pending += 1;
                continue;
            }
            problems.push(Problem {
                kind: file.status.clone(),
                trail: file.trail.clone(),
                account: file.awsaccountid.clone(),
                region: file.region.clone(),
                hour: format_time(file.hour),
                key: Some(
                    file.sourcefile
                        .clone()
                        .unwrap_or_else(|| file.s3key.clone()),
                ),
                detail: file.detail.clone().unwrap_or_default(),
            });
        }
        for gap in verification
            .gaps
            .iter()
            .filter(|g| since.is_none_or(|s| g.to > s) && until.is_none_or(|u| g.from < u))
        {
            problems.push(Problem {
                kind: "gap".into(),
                trail: gap.chain.trail.clone(),
                account: gap.chain.account.clone(),
                region: gap.chain.region.clone(),
                hour: format_time(gap.from),
                key: None,
                detail: format!(
                    "{} without a digest, to {}: {}",
                    match (gap.to - gap.from) / 3_600_000 {
                        1 => "1 hour".to_string(),
                        hours => format!("{hours} hours"),
                    },
                    format_time(gap.to),
                    gap.reason
                ),
            });
        }
        for (key, hours) in hours {
            if let Some(summary) = trails.get_mut(&key) {
                summary.hours = hours.len() as u64;
                summary.first_hour = hours.iter().min().map(|h| format_time(*h));
                summary.last_hour = hours.iter().max().map(|h| format_time(*h));
            }
        }
        problems.sort_by(|a, b| (&a.hour, &a.key).cmp(&(&b.hour, &b.key)));
        Summary {
            since: since.map(format_time),
            until: until.map(format_time),
            trails: trails.into_values().collect(),
            problems,
            pending,
            not_validated: verification
                .uncovered
                .iter()
                .map(|((account, region), n)| (format!("{account}/{region}"), *n))
                .collect(),
        }
    }

    /// Whether everything looked at verified (pending files aside).
    pub fn is_verified(&self) -> bool {
        self.problems.is_empty()
    }

    /// The summary as text, for people.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for trail in &self.trails {
            let others: Vec<String> = trail
                .files
                .iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            let _ = writeln!(
                out,
                "{} {} {}{}: {} hours ({} to {}), {}/{} digests verified, {} log files verified{}{}",
                trail.trail,
                trail.account,
                trail.region,
                trail
                    .organization
                    .as_deref()
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default(),
                trail.hours,
                trail.first_hour.as_deref().unwrap_or("-"),
                trail.last_hour.as_deref().unwrap_or("-"),
                trail.digests_verified,
                trail.digests,
                trail.files_verified,
                if others.is_empty() {
                    String::new()
                } else {
                    format!(", {}", others.join(", "))
                },
                if trail.gap_hours > 0 {
                    format!(", {} hours in gaps", trail.gap_hours)
                } else {
                    String::new()
                },
            );
        }
        for (place, n) in &self.not_validated {
            let _ = writeln!(
                out,
                "not validated: {n} log files of {place} are in no trail's digests (log file \
                 validation is off for them)"
            );
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "\n{} problems:", self.problems.len());
        }
        let mut last_detail = None;
        for problem in &self.problems {
            let _ = writeln!(
                out,
                "{:<18} {} {} {} {}{}",
                problem.kind.to_uppercase(),
                problem.hour,
                problem.trail,
                problem.account,
                problem.region,
                problem
                    .key
                    .as_deref()
                    .map(|k| format!("\n    {k}"))
                    .unwrap_or_default(),
            );
            // A run of problems with the same explanation gives it once.
            if last_detail != Some(&problem.detail) {
                let _ = writeln!(out, "    {}", problem.detail);
                last_detail = Some(&problem.detail);
            }
        }
        let verdict = if self.is_verified() {
            "verified: every digest and every log file it lists checks"
        } else {
            "NOT verified"
        };
        let _ = writeln!(
            out,
            "\n{verdict}{}",
            if self.pending > 0 {
                format!(
                    " ({} log files not covered by a digest yet: the next run checks them)",
                    self.pending
                )
            } else {
                String::new()
            }
        );
        out
    }
}
