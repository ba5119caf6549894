//! Table definitions of the lake for distributed engines (Athena/Glue, Trino, Spark SQL), so the
//! same Parquet files are queryable where one machine no longer suffices.

use arrow::datatypes::{DataType, Field};

use crate::lake::Table;
use crate::record::schema::EVENT_DATE;

/// A SQL engine to write definitions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Amazon Athena (Glue catalog), with partition projection on `event_date`.
    Athena,
    /// Trino or Presto with the Hive connector.
    Trino,
    /// Spark SQL (also Databricks and EMR).
    Spark,
}

/// The `CREATE TABLE` statements of the lake at `location` (`s3://bucket/prefix` or a path).
pub fn ddl(engine: Engine, location: &str) -> String {
    let location = location.trim_end_matches('/');
    let mut out = String::new();
    for table in Table::ALL {
        let (name, schema, partitioned) = (table.name(), table.schema(), table.partitioned());
        let path = format!("{location}/{name}/");
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .map(|field| {
                format!(
                    "  {} {}",
                    quote(engine, field.name()),
                    type_name(engine, field.data_type())
                )
            })
            .collect();
        out.push_str(&match engine {
            Engine::Athena => athena(name, &columns, &path, partitioned),
            Engine::Trino => trino(name, &columns, &path, partitioned),
            Engine::Spark => spark(name, &columns, &path, partitioned),
        });
        out.push('\n');
    }
    out
}

fn quote(engine: Engine, name: &str) -> String {
    match engine {
        Engine::Athena | Engine::Spark => format!("`{name}`"),
        Engine::Trino => format!("\"{name}\""),
    }
}

fn athena(name: &str, columns: &[String], path: &str, partitioned: bool) -> String {
    let mut sql = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (\n{}\n)\n",
        columns.join(",\n")
    );
    if partitioned {
        sql.push_str(&format!("PARTITIONED BY (`{EVENT_DATE}` string)\n"));
    }
    sql.push_str(&format!("STORED AS PARQUET\nLOCATION '{path}'\n"));
    if partitioned {
        sql.push_str(&format!(
            "TBLPROPERTIES (\n  'projection.enabled' = 'true',\n  'projection.{EVENT_DATE}.type' = 'date',\n  \
             'projection.{EVENT_DATE}.format' = 'yyyy-MM-dd',\n  'projection.{EVENT_DATE}.range' = '2013-01-01,NOW',\n  \
             'projection.{EVENT_DATE}.interval' = '1',\n  'projection.{EVENT_DATE}.interval.unit' = 'DAYS',\n  \
             'storage.location.template' = '{path}{EVENT_DATE}=${{{EVENT_DATE}}}'\n)"
        ));
    }
    sql.push_str(";\n");
    sql
}

fn trino(name: &str, columns: &[String], path: &str, partitioned: bool) -> String {
    let mut columns = columns.to_vec();
    let mut with = vec![
        format!("external_location = '{path}'"),
        "format = 'PARQUET'".to_string(),
    ];
    if partitioned {
        columns.push(format!("  \"{EVENT_DATE}\" varchar"));
        with.push(format!("partitioned_by = ARRAY['{EVENT_DATE}']"));
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {name} (\n{}\n)\nWITH (\n  {}\n);\n",
        columns.join(",\n"),
        with.join(",\n  ")
    );
    if partitioned {
        sql.push_str(&format!(
            "CALL system.sync_partition_metadata(current_schema, '{name}', 'ADD');\n"
        ));
    }
    sql
}

fn spark(name: &str, columns: &[String], path: &str, partitioned: bool) -> String {
    let mut columns = columns.to_vec();
    if partitioned {
        columns.push(format!("  `{EVENT_DATE}` DATE"));
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {name} (\n{}\n)\nUSING parquet\n",
        columns.join(",\n")
    );
    if partitioned {
        sql.push_str(&format!("PARTITIONED BY (`{EVENT_DATE}`)\n"));
    }
    sql.push_str(&format!("LOCATION '{path}';\n"));
    if partitioned {
        sql.push_str(&format!("MSCK REPAIR TABLE {name};\n"));
    }
    sql
}

fn type_name(engine: Engine, data_type: &DataType) -> String {
    let member = |field: &Field| match engine {
        Engine::Trino => format!(
            "\"{}\" {}",
            field.name(),
            type_name(engine, field.data_type())
        ),
        Engine::Athena => format!("{}:{}", field.name(), type_name(engine, field.data_type())),
        Engine::Spark => format!(
            "`{}`: {}",
            field.name(),
            type_name(engine, field.data_type())
        ),
    };
    match (engine, data_type) {
        (Engine::Trino, DataType::Utf8 | DataType::Utf8View) => "varchar".into(),
        (_, DataType::Utf8 | DataType::Utf8View) => "string".into(),
        (_, DataType::Boolean) => "boolean".into(),
        (_, DataType::Int64) => "bigint".into(),
        (_, DataType::Float64) => "double".into(),
        (Engine::Trino, DataType::Timestamp(..)) => "timestamp(3)".into(),
        (_, DataType::Timestamp(..)) => "timestamp".into(),
        (Engine::Trino, DataType::Struct(fields)) => {
            format!(
                "row({})",
                fields
                    .iter()
                    .map(|f| member(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        (_, DataType::Struct(fields)) => {
            format!(
                "struct<{}>",
                fields
                    .iter()
                    .map(|f| member(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        (Engine::Trino, DataType::List(item)) => {
            format!("array({})", type_name(engine, item.data_type()))
        }
        (_, DataType::List(item)) => format!("array<{}>", type_name(engine, item.data_type())),
        (_, other) => unreachable!("bug: no DDL type for {other}"),
    }
}
