//! SQL over the lake: a DataFusion session with the lake's tables, JSON and CloudTrail
//! functions, and the canned investigations of `queries/`.

pub mod canned;
pub mod functions;
pub mod output;
pub mod params;

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};
use crate::lake::{Lake, REJECTS};
use crate::record::schema::{EVENT_DATE, events_schema, rejects_schema};

/// The tables of a lake, with their file schema and whether they are partitioned by day.
fn tables() -> [(&'static str, SchemaRef, bool); 3] {
    [
        ("events", events_schema(), true),
        ("insights", events_schema(), true),
        (REJECTS, rejects_schema(), false),
    ]
}

/// A session over the lake at `root`: `events`, `insights` and `rejects` (each empty when the
/// lake has none yet), the JSON functions and trailq's own.
pub async fn open_session(root: &Path) -> Result<SessionContext> {
    let lake = Lake::open(root)?;
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_parquet_pruning(true)
        .set_bool("datafusion.execution.parquet.pushdown_filters", true);
    let mut ctx = SessionContext::new_with_config(config);
    for (name, schema, partitioned) in tables() {
        let dir = lake.root().join(name);
        if !dir.is_dir() {
            let schema = if partitioned {
                with_event_date(&schema)
            } else {
                schema
            };
            ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
            continue;
        }
        let url = ListingTableUrl::parse(dir.to_string_lossy())?;
        let mut options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        if partitioned {
            options =
                options.with_table_partition_cols(vec![(EVENT_DATE.to_string(), DataType::Date32)]);
        }
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema);
        ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    }
    datafusion_functions_json::register_all(&mut ctx)?;
    functions::register(&ctx);
    Ok(ctx)
}

fn with_event_date(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(EVENT_DATE, DataType::Date32, false));
    Arc::new(Schema::new(fields))
}

/// Adds what a user can do next to a query error: identifiers are lower case, and the close
/// column names.
pub fn explain(err: datafusion::error::DataFusionError) -> Error {
    let message = err.to_string();
    let hint = if message.contains("No field named")
        && message.chars().any(|c| c.is_ascii_uppercase())
    {
        "\nhint: column names are CloudTrail's field names in lower case (eventname, useridentity.arn); \
         quoted identifiers such as \"eventName\" keep their case, so leave them unquoted"
    } else {
        ""
    };
    Error::Query(format!("{message}{hint}"))
}
