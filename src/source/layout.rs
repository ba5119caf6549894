//! The CloudTrail object-key layout: which table a log object belongs to.
//!
//! ```text
//! [<prefix>/]AWSLogs/[<org-id>/]<account>/<folder>/<region>/YYYY/MM/DD/<file>
//! ```
//! The folder decides the route. Objects outside this layout (any folder of log files) are
//! events.

/// Where a log object goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// `CloudTrail/`, `CloudTrail-NetworkActivity/`, or any file outside the layout.
    Events,
    /// `CloudTrail-Insight/`: AWS's own Insights records.
    Insights,
    /// `CloudTrail-Digest/`: integrity digests, which hold no events.
    Digest,
    /// `CloudTrail-Aggregated/`: data-event summaries, a different record shape not yet mapped.
    Aggregated,
}

impl Route {
    /// The lake table of a route that holds records.
    pub fn table(self) -> Option<Table> {
        match self {
            Route::Events => Some(Table::Events),
            Route::Insights => Some(Table::Insights),
            Route::Digest | Route::Aggregated => None,
        }
    }
}

/// A table of the lake that ingest writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Every CloudTrail event.
    Events,
    /// CloudTrail Insights records.
    Insights,
}

impl Table {
    /// The table's directory name in the lake.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Insights => "insights",
        }
    }
}

/// Routes an object by the CloudTrail folder in its key (`/`-separated path).
pub fn route(key: &str) -> Route {
    let parts: Vec<&str> = key.split('/').collect();
    // The folder follows AWSLogs/<account>/ or AWSLogs/<org-id>/<account>/.
    let folder = parts
        .iter()
        .rposition(|part| *part == "AWSLogs")
        .and_then(|at| {
            let rest = &parts[at + 1..];
            match rest {
                [org, _account, folder, ..]
                    if org.starts_with("o-") && folder.starts_with("CloudTrail") =>
                {
                    Some(*folder)
                }
                [_account, folder, ..] => Some(*folder),
                _ => None,
            }
        });
    match folder {
        Some("CloudTrail-Insight") => Route::Insights,
        Some("CloudTrail-Digest") => Route::Digest,
        Some("CloudTrail-Aggregated") => Route::Aggregated,
        _ => Route::Events,
    }
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
            ("AWSLogs/f.json", Route::Events),
        ];
        for (key, expected) in cases {
            assert_eq!(route(key), expected, "{key}");
        }
    }
}
