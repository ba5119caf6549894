//! Definitions of the lake's Delta tables for other engines (Athena through Glue, Spark, Trino,
//! DuckDB), so the same tables are queryable, transactionally, where one machine no longer
//! suffices. Each engine reads the schema, partitioning and files from the table's Delta log:
//! a definition names only the table and its location.

use crate::lake::Table;

/// A SQL engine to write definitions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Amazon Athena, Delta tables registered in the Glue catalog.
    Athena,
    /// Spark SQL with Delta Lake (also Databricks, EMR and Glue jobs).
    Spark,
    /// Trino (or Starburst) with the Delta Lake connector.
    Trino,
    /// DuckDB with its delta extension (`delta_scan`).
    Duckdb,
}

/// The statements that define every table of the lake at `location` (`s3://bucket/prefix` or
/// a path the engine can read), in `schema` (a Glue database, Spark or Trino schema).
pub fn ddl(engine: Engine, location: &str, schema: &str) -> String {
    let location = location.trim_end_matches('/');
    let mut out = String::new();
    match engine {
        Engine::Athena => out.push_str(&format!("CREATE DATABASE IF NOT EXISTS {schema};\n\n")),
        Engine::Spark => out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {schema};\n\n")),
        Engine::Trino => out.push_str(&format!(
            "-- With a catalog `delta` of the Delta Lake connector \
             (delta.register-table-procedure.enabled=true).\n\
             CREATE SCHEMA IF NOT EXISTS delta.{schema};\n\n"
        )),
        Engine::Duckdb => out.push_str(
            "INSTALL delta;\nLOAD delta;\n-- For S3: CREATE SECRET (TYPE s3, PROVIDER credential_chain);\n\n",
        ),
    }
    for table in Table::ALL {
        let name = table.name();
        let path = format!("{location}/{name}");
        out.push_str(&format!("-- {}\n", table.description()));
        out.push_str(&match engine {
            Engine::Athena => format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS {schema}.{name}\n\
                 LOCATION '{path}/'\n\
                 TBLPROPERTIES ('table_type' = 'DELTA');\n"
            ),
            Engine::Spark => format!(
                "CREATE TABLE IF NOT EXISTS {schema}.{name} USING DELTA LOCATION '{path}/';\n"
            ),
            Engine::Trino => format!(
                "CALL delta.system.register_table(schema_name => '{schema}', \
                 table_name => '{name}', table_location => '{path}/');\n"
            ),
            Engine::Duckdb => {
                format!("CREATE OR REPLACE VIEW {name} AS SELECT * FROM delta_scan('{path}');\n")
            }
        });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_names_every_table_at_its_location() {
        for engine in [Engine::Athena, Engine::Spark, Engine::Trino, Engine::Duckdb] {
            let text = ddl(engine, "s3://sec-lake/trailq/", "trailq");
            for table in Table::ALL {
                let location = format!("s3://sec-lake/trailq/{}", table.name());
                assert!(text.contains(&location), "{engine:?}: {table}\n{text}");
            }
            assert!(!text.contains("trailq//"), "{text}");
        }
        let athena = ddl(Engine::Athena, "s3://b/l", "sec");
        assert!(athena.contains("CREATE EXTERNAL TABLE IF NOT EXISTS sec.events\nLOCATION 's3://b/l/events/'\nTBLPROPERTIES ('table_type' = 'DELTA');"));
    }
}
