//! The lake's tables, declared once: each table's folder name, file schema and partitioning.
//! Ingest, compaction, detect, the SQL session and the DDL all take them from here.

use arrow::datatypes::SchemaRef;

use crate::identity::sessions_schema;
use crate::integrity::{deliveries_schema, digests_schema, logfiles_schema};
use crate::record::finding::findings_schema;
use crate::record::schema::{events_file_schema, rejects_schema};

/// A table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Every CloudTrail event.
    Events,
    /// CloudTrail Insights records, as AWS delivered them.
    Insights,
    /// What `trailq detect` found, as Insights-shaped records.
    Findings,
    /// Inputs and records that could not be placed in `events`.
    Rejects,
    /// The credentials each issuing call (`AssumeRole*`, `GetFederationToken`, ...) created,
    /// derived from `events`.
    Sessions,
    /// CloudTrail's hourly digest files: the log files each trail delivered, with their hashes.
    Digests,
    /// The completeness ledger: per trail, account, region and hour, what its digests list and
    /// what of it the lake holds, verified or not (from `trailq verify`, and after ingest).
    Deliveries,
    /// Every log file a digest lists or the trail's folders hold, with its integrity verdict.
    LogFiles,
}

impl Table {
    /// Every table, in the order they are listed to users.
    pub const ALL: [Table; 8] = [
        Table::Events,
        Table::Insights,
        Table::Findings,
        Table::Rejects,
        Table::Sessions,
        Table::Digests,
        Table::Deliveries,
        Table::LogFiles,
    ];

    /// The table's folder in the lake, and its name in SQL.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Insights => "insights",
            Table::Findings => "findings",
            Table::Rejects => "rejects",
            Table::Sessions => "sessions",
            Table::Digests => "digests",
            Table::Deliveries => "deliveries",
            Table::LogFiles => "logfiles",
        }
    }

    /// What its rows are, in a line (the Delta table's description).
    pub fn description(self) -> &'static str {
        match self {
            Table::Events => "Every CloudTrail event, lossless, one row per eventID (trailq)",
            Table::Insights => "CloudTrail Insights records as AWS delivered them (trailq)",
            Table::Findings => "What trailq detect found, as Insights-shaped records (trailq)",
            Table::Rejects => "Inputs and records trailq could not place in events (trailq)",
            Table::Sessions => {
                "Temporary credentials issued by each successful AssumeRole*, GetFederationToken, \
                 GetSessionToken or AssumeRoot call in events, one row per call (trailq)"
            }
            Table::Digests => {
                "CloudTrail digest files, one row per file, with their listed log files (trailq)"
            }
            Table::Deliveries => {
                "Per trail, account, region and hour: digests found, log files expected, present, \
                 verified, missing, altered, unlisted, and gaps in the digest chain (trailq)"
            }
            Table::LogFiles => {
                "Every log file a CloudTrail digest lists or the trail's folders hold, with its \
                 integrity verdict; join events on sourcefile (trailq)"
            }
        }
    }

    /// The table named `name`.
    pub fn named(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|table| table.name() == name)
    }

    /// The schema of its files (without the `event_date` partition column).
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Events | Table::Insights => events_file_schema(),
            Table::Findings => findings_schema(),
            Table::Rejects => rejects_schema(),
            Table::Sessions => sessions_schema(),
            Table::Digests => digests_schema(),
            Table::Deliveries => deliveries_schema(),
            Table::LogFiles => logfiles_schema(),
        }
    }

    /// Whether its files are partitioned by `event_date` (`<table>/event_date=YYYY-MM-DD/`).
    pub fn partitioned(self) -> bool {
        !matches!(self, Table::Rejects)
    }

    /// Whether its rows are events in the clustered layout, which `trailq compact` maintains.
    pub fn holds_events(self) -> bool {
        matches!(self, Table::Events | Table::Insights)
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_found_by_its_name() {
        for table in Table::ALL {
            assert_eq!(Table::named(table.name()), Some(table));
        }
        assert_eq!(Table::named("cloudtrail_logs"), None);
    }
}
