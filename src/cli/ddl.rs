//! `trailq ddl`: the lake's Delta tables, defined for Athena, Spark, Trino or DuckDB.

use clap::Args;

use super::{EXIT_OK, print_out};
use trailq::error::Result;
use trailq::sql::ddl::{Engine, ddl};

/// Print the statements that make the lake's tables queryable by another engine.
///
/// Every table is a Delta Lake table: the engine reads its schema, partitioning and files from
/// its Delta log, so it sees each commit whole, as trailq does (never a compaction's old and
/// new files together), and can time travel too.
#[derive(Debug, Args)]
pub struct DdlArgs {
    /// Where the engine finds the lake: s3://bucket/prefix (or a path its workers can read).
    #[arg(long)]
    lake: String,
    /// The engine.
    #[arg(long, value_enum, default_value = "athena")]
    engine: Engine,
    /// The database (Glue) or schema the tables go in.
    #[arg(long, default_value = "trailq")]
    schema: String,
}

/// Prints the statements.
pub fn run(args: DdlArgs) -> Result<u8> {
    print_out(&ddl(args.engine, &args.lake, &args.schema))?;
    Ok(EXIT_OK)
}
