//! SQL over the lake: a DataFusion session with the lake's tables, JSON and CloudTrail
//! functions, and the canned investigations of `queries/`.

pub mod canned;
mod committed;
pub mod ddl;
mod explain;
pub mod functions;
mod group_keys;
mod lake_table;
pub mod origins;
pub mod output;
pub mod params;
mod time_conditions;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use object_store::local::LocalFileSystem;

use self::committed::CommittedFiles;
pub use self::explain::explain;
use self::lake_table::LakeTable;
use self::origins::OriginSlot;
use crate::error::{Error, Result};
use crate::lake::delta::{self, AsOf, Tables};
use crate::lake::{Lake, LakeLocation, Table};
use crate::record::schema::EVENT_DATE;
use crate::s3::S3Config;

/// Text columns whose values repeat (APIs, regions, accounts, principals, error codes): an
/// aggregation grouped by them groups by interned ids (`group_keys`). Columns of mostly unique
/// values (event and request ids, IP addresses, user agents) are not listed.
const REPEATED_TEXT: &[&str] = &[
    "eventversion",
    "eventsource",
    "eventname",
    "awsregion",
    "errorcode",
    "eventtype",
    "apiversion",
    "recipientaccountid",
    "vpcendpointid",
    "vpcendpointaccountid",
    "eventcategory",
    "principal",
];

/// A session over the latest state of the lake at `location`: see [`open_session_as_of`].
pub async fn open_session(
    location: &LakeLocation,
    s3: Option<&S3Config>,
) -> Result<SessionContext> {
    open_session_as_of(location, s3, AsOf::Latest).await
}

/// The lake a session reads, kept in its configuration so that [`refresh`] can take a newer
/// snapshot.
struct LakeView {
    tables: Tables,
    files: CommittedFiles,
    base: String,
    as_of: AsOf,
    present: std::sync::Mutex<Vec<Table>>,
    origins: OriginSlot,
}

/// A session over one snapshot of the lake at `location` (its state `as_of`): `events`,
/// `insights`, `findings` and `rejects` (each empty when the lake has none yet), the JSON
/// functions and trailq's own. A lake in S3 is read through the same object store ingest
/// writes it with.
///
/// `s3` is needed for a lake in S3.
pub async fn open_session_as_of(
    location: &LakeLocation,
    s3: Option<&S3Config>,
    as_of: AsOf,
) -> Result<SessionContext> {
    // DataFusion's own settings can be tuned with `DATAFUSION_*` environment variables.
    let mut config = SessionConfig::from_env()?
        .with_information_schema(true)
        .with_parquet_pruning(true);
    // Long IN lists of API names (the IAM changes investigation has 24) still prune pages.
    if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_MAX_IN_LIST_SIZE").is_none() {
        config = config.set_usize("datafusion.execution.parquet.max_in_list_size", 64);
    }
    // No cached listings: a session shows its snapshot's files (`committed`), which the shell
    // moves to each new commit. Files' metadata and statistics stay cached.
    let runtime = RuntimeEnvBuilder::new()
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()?;
    let (tables, store, store_url, base, folders) = match location {
        LakeLocation::Local(root) => {
            let lake = Lake::open(root)?;
            let root = lake
                .root()
                .canonicalize()
                .map_err(|err| Error::io(root, err))?;
            let folders: Vec<Table> = Table::ALL
                .into_iter()
                .filter(|table| root.join(table.name()).is_dir())
                .collect();
            let base = format!("{}/", root.display());
            let store: Arc<dyn object_store::ObjectStore> = Arc::new(LocalFileSystem::new());
            let root_in_store = root.to_string_lossy().into_owned();
            (
                Tables::Local(root),
                (store, root_in_store),
                base.clone(),
                base,
                folders,
            )
        }
        LakeLocation::S3(url) => {
            let s3 = s3.ok_or_else(|| {
                Error::Usage(format!("{url} is in S3, but no S3 configuration was given"))
            })?;
            let store = s3.object_store(&url.bucket)?;
            let prefix = object_store::path::Path::from(url.prefix.as_str());
            let listing = store.list_with_delimiter(Some(&prefix)).await?;
            let folders: Vec<String> = listing
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect();
            if !folders.iter().any(|f| f == "_trailq") {
                return Err(Error::NoLake(url.to_string().into()));
            }
            let present = Table::ALL
                .into_iter()
                .filter(|table| folders.iter().any(|f| f == table.name()))
                .collect();
            let tables = Tables::S3 {
                url: url.clone(),
                store: store.clone(),
            };
            let bucket_url = format!("s3://{}/", url.bucket);
            (
                tables,
                (store, url.prefix.clone()),
                bucket_url,
                url.to_string(),
                present,
            )
        }
    };
    let snapshot = delta::snapshot(&tables, as_of).await?;
    if snapshot.versions.is_empty()
        && as_of == AsOf::Latest
        && let Some(table) = folders.first()
    {
        return Err(Error::Usage(format!(
            "{location} was written by an earlier trailq: its {table} table has no Delta log; \
             run `trailq migrate --lake {location}` once (it keeps every file and event)"
        )));
    }
    let present: Vec<Table> = snapshot.versions.keys().copied().collect();
    let files = CommittedFiles::new(store.0, &store.1, snapshot.files);
    let view = LakeView {
        tables,
        files: files.clone(),
        base: base.clone(),
        as_of,
        present: std::sync::Mutex::new(present.clone()),
        origins: OriginSlot::default(),
    };
    let origins = view.origins.clone();
    let config = config.with_extension(Arc::new(view));
    let mut ctx = SessionContext::new_with_config_rt(config, runtime);
    ctx.register_object_store(
        ListingTableUrl::parse(&store_url)?.as_ref(),
        Arc::new(files),
    );
    register_tables(&ctx, &base, &present)?;
    datafusion_functions_json::register_all(&mut ctx)?;
    functions::register(&ctx);
    origins::register_function(&ctx, &origins);
    origins::register_view(&ctx).await?;
    ctx.add_optimizer_rule(Arc::new(group_keys::InternGroupKeys::new(REPEATED_TEXT)));
    Ok(ctx)
}

/// Moves a session that reads the latest state of the lake to its state now (the shell, before
/// each statement). A session pinned by `--as-of` or `--as-of-version` stays where it is.
pub async fn refresh(ctx: &SessionContext) -> Result<()> {
    let Some(view) = ctx.state().config().get_extension::<LakeView>() else {
        return Ok(());
    };
    if view.as_of != AsOf::Latest {
        return Ok(());
    }
    let snapshot = delta::snapshot(&view.tables, AsOf::Latest).await?;
    let present: Vec<Table> = snapshot.versions.keys().copied().collect();
    view.files.show(snapshot.files);
    view.origins.clear();
    let changed = {
        let mut was = view.present.lock().expect("no holder panics");
        let changed = *was != present;
        if changed {
            register_tables(ctx, &view.base, &present)?;
            *was = present;
        }
        changed
    };
    if changed {
        origins::register_view(ctx).await?;
    }
    Ok(())
}

/// Registers every table: a listing of the lake's files for those `present`, an empty table for
/// the others.
fn register_tables(ctx: &SessionContext, base: &str, present: &[Table]) -> Result<()> {
    let parquet = ctx.state().default_table_options().parquet;
    // Each file's statistics are read once per session, not once per query.
    let statistics = ctx.runtime_env().cache_manager.get_file_statistic_cache();
    for table in Table::ALL {
        let (name, schema, partitioned) = (table.name(), table.schema(), table.partitioned());
        ctx.deregister_table(name)?;
        if !present.contains(&table) {
            let schema = if partitioned {
                with_event_date(&schema)
            } else {
                schema
            };
            let schema = string_views(&schema);
            ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
            continue;
        }
        let url = ListingTableUrl::parse(format!("{base}{name}/"))?;
        let listing = |late: bool| -> Result<Arc<dyn TableProvider>> {
            let mut parquet = parquet.clone();
            parquet.global.pushdown_filters |= late;
            let format = ParquetFormat::default().with_options(parquet);
            let mut options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
            if partitioned {
                options = options
                    .with_table_partition_cols(vec![(EVENT_DATE.to_string(), DataType::Date32)]);
            }
            let config = ListingTableConfig::new(url.clone())
                .with_listing_options(options)
                .with_schema(string_views(&schema));
            Ok(Arc::new(
                ListingTable::try_new(config)?.with_cache(statistics.clone()),
            ))
        };
        let table = if partitioned {
            Arc::new(LakeTable::new(listing(false)?, listing(true)?))
        } else {
            listing(false)?
        };
        ctx.register_table(name, table)?;
    }
    Ok(())
}

/// A SQL string literal of `text` (quotes doubled).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQL string literals, comma-separated: the inside of an `IN (...)` list.
pub fn literals<S: AsRef<str>>(texts: impl IntoIterator<Item = S>) -> String {
    texts
        .into_iter()
        .map(|t| literal(t.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `eventtime` in `[from_ms, to_ms)`, with the `event_date` filter that prunes partitions.
pub fn time_range(from_ms: i64, to_ms: i64) -> String {
    use crate::record::time::{day_of, format_day, format_time};
    format!(
        "event_date >= DATE '{}' AND event_date <= DATE '{}' \
         AND eventtime >= '{}' AND eventtime < '{}'",
        format_day(day_of(from_ms)),
        format_day(day_of(to_ms)),
        format_time(from_ms),
        format_time(to_ms)
    )
}

/// The schema with its top-level text columns read as string views: the Parquet reader then
/// points into each page's dictionary instead of copying every value, and grouping compares
/// short values inline. (Text inside structs is declared as views by the files themselves.)
fn string_views(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Utf8 => field.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn with_event_date(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(EVENT_DATE, DataType::Date32, false));
    Arc::new(Schema::new(fields))
}

/// A session with `ctx`'s tables and functions for many scans run side by side (one per day),
/// each over most of its rows: its plans run as one partition, which keeps the cores busier than
/// splitting each query's work across them and merging it again.
pub fn single_partition(ctx: &SessionContext) -> SessionContext {
    let mut state = ctx.state();
    state.config_mut().options_mut().execution.target_partitions = 1;
    SessionContext::new_with_state(state)
}

/// Runs one statement as a task of its own, so that several run on several cores.
pub async fn spawn_query(
    ctx: &SessionContext,
    sql: String,
    params: HashMap<String, ScalarValue>,
) -> Result<Vec<RecordBatch>> {
    let ctx = ctx.clone();
    let task = tokio::spawn(async move { execute(&ctx, &sql, params).await });
    match task.await {
        Ok(result) => Ok(result?.1),
        Err(err) if err.is_panic() => Err(Error::Internal(format!("a query task panicked: {err}"))),
        Err(err) => Err(Error::Internal(format!(
            "a query task was cancelled: {err}"
        ))),
    }
}

/// The oldest and newest event times of the lake (UTC ms), if it has events: where its data
/// is, for messages about a period that holds none.
pub async fn event_range(ctx: &SessionContext) -> Result<Option<(i64, i64)>> {
    let (_, batches) = execute(
        ctx,
        "SELECT CAST(min(eventtime) AS BIGINT), CAST(max(eventtime) AS BIGINT) FROM events",
        HashMap::new(),
    )
    .await?;
    let batch = batches.first().filter(|b| b.num_rows() > 0);
    Ok(batch.and_then(|b| {
        let min = b.column(0).as_primitive::<Int64Type>();
        let max = b.column(1).as_primitive::<Int64Type>();
        (min.is_valid(0) && max.is_valid(0)).then(|| (min.value(0), max.value(0)))
    }))
}

/// Plans and runs one statement, binding `$name` parameters, and collects its result.
pub async fn execute(
    ctx: &SessionContext,
    sql: &str,
    params: HashMap<String, ScalarValue>,
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let frame = plan(ctx, sql, params).await?;
    let schema = frame.schema().inner().clone();
    let batches = frame.collect().await.map_err(explain)?;
    Ok((schema, batches))
}

/// Plans and starts one statement, binding `$name` parameters: its result arrives batch by
/// batch, so a caller that writes each batch out holds one at a time, not the whole result.
pub async fn execute_stream(
    ctx: &SessionContext,
    sql: &str,
    params: HashMap<String, ScalarValue>,
) -> Result<SendableRecordBatchStream> {
    plan(ctx, sql, params)
        .await?
        .execute_stream()
        .await
        .map_err(explain)
}

async fn plan(
    ctx: &SessionContext,
    sql: &str,
    params: HashMap<String, ScalarValue>,
) -> Result<DataFrame> {
    if let Some(view) = ctx.state().config().get_extension::<LakeView>() {
        origins::prepare(ctx, &view.origins, sql).await?;
    }
    let frame = ctx.sql(sql).await.map_err(explain)?;
    if params.is_empty() {
        Ok(frame)
    } else {
        frame.with_param_values(params).map_err(explain)
    }
}
