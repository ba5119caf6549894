//! The CloudTrail object-key layout: which table a log object belongs to.
//!
//! ```text
//! [<prefix>/]AWSLogs/[<org-id>/]<account>/<folder>/<region>/YYYY/MM/DD/<file>
//! ```
//! The folder decides the route. Log buckets are usually shared by many services, so inside an
//! `AWSLogs/` tree only the `CloudTrail*` folders are read; every other service folder
//! (`elasticloadbalancing/`, `vpcflowlogs/`, `Config/`, `GuardDuty/`, ...) is skipped. When a
//! source holds an `AWSLogs/` tree, only that tree is read: files beside it (a README, a
//! manifest, S3 access logs under another prefix) are skipped too. A source with no `AWSLogs/`
//! tree is any folder of log files: every file in it is read as events.

/// Where a log object goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `CloudTrail/`, `CloudTrail-NetworkActivity/`, or any file of a source without `AWSLogs/`.
    Events,
    /// `CloudTrail-Insight/`: AWS's own Insights records.
    Insights,
    /// `CloudTrail-Digest/`: integrity digests, which hold no events.
    Digest,
    /// `CloudTrail-Aggregated/`: data-event summaries, a different record shape not yet mapped.
    Aggregated,
    /// Under `AWSLogs/` but not in a `CloudTrail*` folder: another service's logs.
    OtherService,
    /// Beside the source's `AWSLogs/` tree: not a log file of any trail.
    OutsideLogs,
}

/// The parts of a key in the CloudTrail layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts<'a> {
    /// The organization id of an organization trail (`o-...`).
    pub org: Option<&'a str>,
    /// The account the log belongs to.
    pub account: &'a str,
    /// `CloudTrail`, `CloudTrail-Insight`, `CloudTrail-Digest`, ...
    pub folder: &'a str,
    /// The region the events were recorded in.
    pub region: Option<&'a str>,
    /// The delivery day from `YYYY/MM/DD/` (days since 1970-01-01), when the key has one.
    pub day: Option<i32>,
}

/// Splits a key (`/`-separated) in the CloudTrail layout; `None` for keys outside it.
pub fn key_parts(key: &str) -> Option<KeyParts<'_>> {
    let parts: Vec<&str> = key.split('/').collect();
    let at = parts.iter().rposition(|part| *part == "AWSLogs")?;
    let rest = &parts[at + 1..];
    let (org, rest) = match rest {
        [org, _account, folder, ..] if org.starts_with("o-") && is_trail_folder(folder) => {
            (Some(*org), &rest[1..])
        }
        _ => (None, rest),
    };
    let [account, folder, rest @ ..] = rest else {
        return None;
    };
    if !is_trail_folder(folder) {
        return None;
    }
    // A region segment is followed by at least the file name.
    let region = (rest.len() >= 2).then_some(rest[0]);
    let day = match rest {
        [_, year, month, day, _, ..] => {
            crate::record::time::parse_day(&format!("{year}-{month}-{day}"))
        }
        _ => None,
    };
    Some(KeyParts {
        org,
        account,
        folder,
        region,
        day,
    })
}

/// Whether a key (an S3 key or a file path) lies inside an `AWSLogs/` tree.
pub fn in_log_tree(key: &str) -> bool {
    key.split(['/', '\\']).any(|segment| segment == "AWSLogs")
}

/// Routes an object by the CloudTrail folder in its key (`/`-separated path). A key outside any
/// `AWSLogs/` tree is events here; `confine_to_log_tree` re-routes it when its source holds one.
pub fn route(key: &str) -> Route {
    match key_parts(key).map(|parts| parts.folder) {
        Some("CloudTrail-Insight") => Route::Insights,
        Some("CloudTrail-Digest") => Route::Digest,
        Some("CloudTrail-Aggregated") => Route::Aggregated,
        Some(_) => Route::Events,
        None if in_log_tree(key) => Route::OtherService,
        None => Route::Events,
    }
}

/// Whether a folder directly under `AWSLogs/[<org-id>/]<account>/` holds CloudTrail logs.
pub fn is_trail_folder(name: &str) -> bool {
    name.starts_with("CloudTrail")
}

/// Which log objects a run reads: delivery days, accounts, regions, and a shard of the
/// (account, region) pairs, so N workers can split one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// First delivery day (days since 1970-01-01).
    pub since: Option<i32>,
    /// Last event day: objects delivered up to the day after it are read, since a file
    /// delivered just after midnight holds the day before's last events.
    pub until: Option<i32>,
    /// Only these accounts.
    pub accounts: Vec<String>,
    /// Only these regions.
    pub regions: Vec<String>,
    /// Only (account, region) pairs of shard `.0` out of `.1`.
    pub shard: Option<(u32, u32)>,
}

impl Selection {
    /// Whether every object is selected.
    pub fn is_all(&self) -> bool {
        *self == Selection::default()
    }

    /// The last delivery day to read: the day after `until`.
    pub fn last_delivery_day(&self) -> Option<i32> {
        self.until.map(|day| day + 1)
    }

    /// Whether the account passes `--accounts`.
    pub fn admits_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == account)
    }

    /// Whether the region passes `--regions` and the pair belongs to this shard.
    pub fn admits_region(&self, account: &str, region: &str) -> bool {
        (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
            && self
                .shard
                .is_none_or(|(index, count)| shard_of(account, region, count) == index)
    }

    /// Whether the delivery day is inside `--since` and the day after `--until`.
    pub fn admits_day(&self, day: i32) -> bool {
        self.since.is_none_or(|since| day >= since)
            && self.last_delivery_day().is_none_or(|last| day <= last)
    }

    /// Whether a listed key is selected. Keys outside the CloudTrail layout are selected only
    /// when nothing narrows the run by day, account or region; a shard takes them by key hash.
    pub fn admits(&self, key: &str) -> bool {
        if self.is_all() {
            return true;
        }
        let Some(parts) = key_parts(key) else {
            let narrowed = self.since.is_some()
                || self.until.is_some()
                || !self.accounts.is_empty()
                || !self.regions.is_empty();
            return !narrowed
                && self
                    .shard
                    .is_none_or(|(index, count)| shard_of(key, "", count) == index);
        };
        self.admits_account(parts.account)
            && parts
                .region
                .is_some_and(|region| self.admits_region(parts.account, region))
            && (self.since.is_none() && self.until.is_none()
                || parts.day.is_some_and(|day| self.admits_day(day)))
    }
}

/// The shard of an (account, region) pair: a stable hash, the same on every machine and release.
pub fn shard_of(account: &str, region: &str, count: u32) -> u32 {
    let mut bytes = Vec::with_capacity(account.len() + region.len() + 1);
    bytes.extend_from_slice(account.as_bytes());
    bytes.push(b'/');
    bytes.extend_from_slice(region.as_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_folder() {
        let cases = [
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/f.json.gz",
                Route::Events,
            ),
            (
                "p/q/AWSLogs/111122223333/CloudTrail-NetworkActivity/us-east-1/2024/03/05/f.json.gz",
                Route::Events,
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/03/05/f.json.gz",
                Route::Insights,
            ),
            (
                "AWSLogs/o-abc123def4/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/f.json.gz",
                Route::Digest,
            ),
            (
                "AWSLogs/o-abc123def4/111122223333/CloudTrail-Insight/eu-west-1/2024/03/05/f",
                Route::Insights,
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Aggregated/us-east-1/2024/03/05/f.json.gz",
                Route::Aggregated,
            ),
            ("exports/cloudtrail/f.json", Route::Events),
            (
                "AWSLogs/111122223333/elasticloadbalancing/us-east-1/2024/03/05/f.log.gz",
                Route::OtherService,
            ),
            (
                "AWSLogs/o-abc123def4/111122223333/vpcflowlogs/us-east-1/2024/03/05/f.log.gz",
                Route::OtherService,
            ),
            (
                "AWSLogs/111122223333/Config/ConfigWritabilityCheckFile",
                Route::OtherService,
            ),
            ("AWSLogs/f.json", Route::OtherService),
        ];
        for (key, expected) in cases {
            assert_eq!(route(key), expected, "{key}");
        }
    }

    #[test]
    fn splits_keys_of_both_trail_kinds() {
        let parts = key_parts(
            "s3://b/p/AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2024/03/05/f.json.gz",
        )
        .unwrap();
        assert_eq!(parts.org, Some("o-abc123def4"));
        assert_eq!(parts.account, "111122223333");
        assert_eq!(parts.region, Some("eu-west-1"));
        assert_eq!(
            parts.day,
            crate::record::time::parse_day("2024-03-05"),
            "delivery day"
        );
        let parts = key_parts("AWSLogs/111122223333/CloudTrail/us-east-1/f.json").unwrap();
        assert_eq!((parts.org, parts.day), (None, None));
        assert_eq!(key_parts("exports/f.json"), None);
    }

    #[test]
    fn selection_reads_the_day_after_until() {
        let day = |d: &str| crate::record::time::parse_day(d);
        let selection = Selection {
            since: day("2024-03-01"),
            until: day("2024-03-08"),
            accounts: vec!["111122223333".into()],
            ..Selection::default()
        };
        let key = |account: &str, date: &str| {
            format!("AWSLogs/{account}/CloudTrail/us-east-1/{date}/f.json.gz")
        };
        assert!(selection.admits(&key("111122223333", "2024/03/01")));
        assert!(selection.admits(&key("111122223333", "2024/03/09")));
        assert!(!selection.admits(&key("111122223333", "2024/03/10")));
        assert!(!selection.admits(&key("111122223333", "2024/02/29")));
        assert!(!selection.admits(&key("444455556666", "2024/03/05")));
        assert!(!selection.admits("exports/f.json"), "outside the layout");
    }

    #[test]
    fn shards_partition_the_pairs() {
        let keys: Vec<String> = (0..40)
            .map(|i| format!("AWSLogs/{:012}/CloudTrail/r-{}/2024/03/05/f.gz", i, i % 7))
            .collect();
        let mut taken = vec![0; keys.len()];
        for index in 0..3 {
            let selection = Selection {
                shard: Some((index, 3)),
                ..Selection::default()
            };
            for (i, key) in keys.iter().enumerate() {
                taken[i] += usize::from(selection.admits(key));
            }
        }
        assert!(
            taken.iter().all(|&n| n == 1),
            "each key in exactly one shard"
        );
        assert_eq!(
            shard_of("111122223333", "us-east-1", 4),
            shard_of("111122223333", "us-east-1", 4)
        );
    }
}
