//! `trailq ddl`: table definitions of the lake for Athena, Trino or Spark.

use clap::Args;

use super::{EXIT_OK, print_out};
use trailq::error::Result;
use trailq::sql::ddl::{Engine, ddl};

/// Print CREATE TABLE statements that make the lake queryable by a distributed engine.
///
/// The lake is plain Hive-partitioned Parquet: point Athena (partition projection on
/// event_date, so no partitions to load), Trino or Spark at it when one machine is not enough.
#[derive(Debug, Args)]
pub struct DdlArgs {
    /// Where the engine finds the lake: s3://bucket/prefix (or a path its workers can read).
    #[arg(long)]
    lake: String,
    /// The engine.
    #[arg(long, value_enum, default_value = "athena")]
    engine: Engine,
}

/// Prints the statements.
pub fn run(args: DdlArgs) -> Result<u8> {
    print_out(&ddl(args.engine, &args.lake))?;
    Ok(EXIT_OK)
}
