//! Every table of the lake is also a Delta Lake table (`<lake>/<table>/_delta_log/`), so that
//! Athena, Spark, Trino, DuckDB and polars read it transactionally: they see a commit's files
//! all at once or not at all, and never a day's compacted and uncompacted files together.
//!
//! The lake's manifest log is the commit point (see `commit.rs`); each table's Delta log
//! follows it. Every Delta commit carries a `txn` action (`appId` [`APP_ID`], `version` the
//! manifest sequence number it applies), so a table's Delta log says how far it has followed:
//! [`sync`] commits, in order, each manifest transaction that touched the table and that its
//! log does not have yet. It runs after every commit, and at the start of every writing run,
//! so a crash between the two commits is finished by the next run, and a commit that two
//! writers both try to apply is applied once (the second one's `txn` conflicts, and it reloads).
//!
//! Files are added with their partition values and statistics (row count, and min, max and
//! null count of each column outside lists), so other engines skip files as trailq does.
//! A compaction is one commit that removes the old files and adds the new ones with
//! `dataChange: false`; a re-run of detect replaces a day's findings in one commit. Removed
//! files stay on disk for time travel until a vacuum.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Once};

use arrow::datatypes::{DataType, Field, Schema};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, StructType, Transaction as TxnAction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};
use parquet::basic::LogicalType;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value, json};
use url::Url;

use super::{Lake, Manifest, OutputEntry, Table, Transaction};
use crate::error::{Error, Result};
use crate::record::schema::EVENT_DATE;

/// The `appId` of the `txn` action in every commit trailq makes: its version is the manifest
/// sequence number the commit applies.
pub const APP_ID: &str = "trailq";
/// Commits between checkpoints: opening a table reads its last checkpoint and at most this
/// many commits after it.
const CHECKPOINT_INTERVAL: u32 = 50;
/// Longest string whose value goes into a file's min/max statistics; longer ones (payloads)
/// only count nulls.
const STATS_MAX_TEXT: usize = 64;
/// Tries of one table's sync when other writers commit at the same time, or a request fails.
const SYNC_ATTEMPTS: u32 = 8;

/// The schema of a table as Delta declares it: its files' columns, then `event_date` (a
/// partition column, in the folder names only) for a partitioned table.
pub fn table_schema(table: Table) -> Arc<Schema> {
    let files = table.schema();
    if !table.partitioned() {
        return files;
    }
    let mut fields: Vec<Field> = files.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(EVENT_DATE, DataType::Date32, true));
    Arc::new(Schema::new(fields))
}

/// The Delta statistics of a Parquet file (`numRecords`, `minValues`, `maxValues`,
/// `nullCount`), from its footer: what `add` actions carry so that readers can skip files.
pub fn file_stats(metadata: &ParquetMetaData) -> String {
    let columns = metadata.file_metadata().schema_descr().columns();
    let (mut min, mut max, mut nulls) = (Map::new(), Map::new(), Map::new());
    for (index, column) in columns.iter().enumerate() {
        if column.max_rep_level() > 0 {
            continue;
        }
        let path = column.path().parts();
        let chunks: Vec<Option<&Statistics>> = metadata
            .row_groups()
            .iter()
            .map(|group| group.column(index).statistics())
            .collect();
        let null_count = chunks
            .iter()
            .map(|stats| stats.and_then(Statistics::null_count_opt))
            .sum::<Option<u64>>();
        if let Some(count) = null_count {
            insert_at(&mut nulls, path, json!(count));
        }
        let logical = column.logical_type_ref();
        let bounds = chunks
            .iter()
            .map(|stats| stats.and_then(|s| bounds(s, logical)))
            .collect::<Option<Vec<(Value, Value)>>>();
        if let Some(bounds) = bounds.filter(|b| !b.is_empty()) {
            let low = bounds
                .iter()
                .map(|(low, _)| low)
                .min_by(|a, b| compare(a, b));
            let high = bounds
                .iter()
                .map(|(_, high)| high)
                .max_by(|a, b| compare(a, b));
            if let (Some(low), Some(high)) = (low, high) {
                insert_at(&mut min, path, low.clone());
                insert_at(&mut max, path, high.clone());
            }
        }
    }
    json!({
        "numRecords": metadata.file_metadata().num_rows(),
        "minValues": min,
        "maxValues": max,
        "nullCount": nulls,
    })
    .to_string()
}

/// A column chunk's min and max as Delta writes them, when they are known and short.
fn bounds(stats: &Statistics, logical: Option<&LogicalType>) -> Option<(Value, Value)> {
    match stats {
        Statistics::Int64(values) => {
            let (low, high) = (*values.min_opt()?, *values.max_opt()?);
            match logical {
                Some(LogicalType::Timestamp { .. }) => {
                    Some((json!(timestamp_text(low)?), json!(timestamp_text(high)?)))
                }
                _ => Some((json!(low), json!(high))),
            }
        }
        Statistics::Int32(values) => match logical {
            None | Some(LogicalType::Integer { .. }) => {
                Some((json!(*values.min_opt()?), json!(*values.max_opt()?)))
            }
            _ => None,
        },
        Statistics::ByteArray(values) if matches!(logical, Some(LogicalType::String)) => {
            let text = |bytes: &[u8]| {
                (bytes.len() <= STATS_MAX_TEXT)
                    .then(|| std::str::from_utf8(bytes).ok().map(str::to_string))
                    .flatten()
            };
            let low = text(values.min_bytes_opt()?)?;
            let high = text(values.max_bytes_opt()?)?;
            (values.min_is_exact() && values.max_is_exact()).then(|| (json!(low), json!(high)))
        }
        _ => None,
    }
}

/// A millisecond timestamp as Delta statistics write it (`2024-03-05T12:00:00.000Z`).
fn timestamp_text(millis: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|time| time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Orders two statistics values of one column (numbers, or texts that sort as they read).
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    }
}

/// Sets `value` at a nested column's path (`useridentity` → `arn`).
fn insert_at(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("a column has a name");
    let mut map = map;
    for name in parents {
        let entry = map
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        map = entry
            .as_object_mut()
            .expect("a struct's statistics are an object");
    }
    map.insert(last.clone(), value);
}

/// The async runtime of a local lake's Delta operations (a remote lake uses its own).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the Delta runtime starts")
});

/// Runs a Delta operation to its end from synchronous code (on a thread of its own when that
/// code is itself run by an async task, which must not block its runtime's thread).
fn block_on<F>(lake: &Lake, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    let handle = match lake.remote() {
        Some(remote) => remote.handle(),
        None => RUNTIME.handle(),
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return handle.block_on(future);
    }
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| handle.block_on(future));
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The error of a Delta operation on `table`.
fn delta_error(lake: &Lake, table: Table, err: DeltaTableError) -> Error {
    Error::Delta {
        table: format!("{}/{}", lake.display().trim_end_matches('/'), table.name()),
        message: err.to_string(),
    }
}

/// The error of a Delta commit: [`Error::Conflict`] when another writer committed first.
fn commit_error(lake: &Lake, table: Table, err: DeltaTableError) -> Error {
    use deltalake::kernel::transaction::TransactionError;
    match err {
        DeltaTableError::VersionAlreadyExists(_)
        | DeltaTableError::Transaction {
            source:
                TransactionError::VersionAlreadyExists(_)
                | TransactionError::CommitConflict(_)
                | TransactionError::MaxCommitAttempts(_),
        } => Error::Conflict(format!("{table}: {err}")),
        err => delta_error(lake, table, err),
    }
}

/// The Delta table builder of `table` (not loaded).
fn builder(lake: &Lake, table: Table) -> Result<DeltaTableBuilder> {
    static S3_HANDLERS: Once = Once::new();
    let delta = |err| delta_error(lake, table, err);
    match lake.remote() {
        Some(remote) => {
            S3_HANDLERS.call_once(|| deltalake::aws::register_handlers(None));
            let url = Url::parse(&format!("{}{}/", remote.url(), table.name()))
                .map_err(|err| Error::Internal(format!("lake URL: {err}")))?;
            Ok(DeltaTableBuilder::from_url(url.clone())
                .map_err(delta)?
                .with_storage_backend(remote.store(), url))
        }
        None => {
            let dir = lake.root().join(table.name());
            std::fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
            let dir = dir.canonicalize().map_err(|err| Error::io(&dir, err))?;
            let url = Url::from_directory_path(&dir)
                .map_err(|()| Error::Internal(format!("{} is not a URL", dir.display())))?;
            DeltaTableBuilder::from_url(url).map_err(delta)
        }
    }
}

/// The Delta table of `table`, loaded, or `None` when it has no Delta log yet.
async fn load(lake: &Lake, table: Table) -> Result<Option<DeltaTable>> {
    let mut delta = builder(lake, table)?
        .build()
        .map_err(|e| delta_error(lake, table, e))?;
    match delta.load().await {
        Ok(()) => Ok(Some(delta)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(err) => Err(delta_error(lake, table, err)),
    }
}

/// Creates the Delta table of `table` (its schema, partitioning and properties).
async fn create(lake: &Lake, table: Table) -> Result<DeltaTable> {
    let delta = |err| delta_error(lake, table, err);
    let schema: StructType = table_schema(table)
        .try_into_kernel()
        .map_err(|err| Error::Internal(format!("the {table} schema has no Delta form: {err}")))?;
    let log_store = builder(lake, table)?.build_storage().map_err(delta)?;
    let mut create = CreateBuilder::new()
        .with_log_store(log_store)
        .with_table_name(table.name())
        .with_comment(table.description())
        .with_columns(schema.fields().cloned())
        .with_configuration_property(
            TableProperty::CheckpointInterval,
            Some(CHECKPOINT_INTERVAL.to_string()),
        );
    if table.partitioned() {
        create = create.with_partition_columns([EVENT_DATE]);
    }
    match create.await {
        Ok(created) => Ok(created),
        // Another writer created it first.
        Err(DeltaTableError::Transaction { .. } | DeltaTableError::VersionAlreadyExists(_)) => {
            load(lake, table)
                .await?
                .ok_or_else(|| Error::Internal(format!("the {table} Delta table vanished")))
        }
        Err(err) => Err(delta(err)),
    }
}

/// The `event_date` of a lake-relative file path (`events/event_date=2024-03-05/part.parquet`).
fn partition_of(path: &str) -> Option<&str> {
    path.split('/')
        .find_map(|part| part.strip_prefix("event_date="))
}

/// A lake-relative path as a path in `table`'s Delta table, when it is one of its files.
fn table_path(table: Table, path: &str) -> Option<String> {
    path.strip_prefix(table.name())?
        .strip_prefix('/')
        .map(str::to_string)
}

fn partition_values(table: Table, path: &str) -> HashMap<String, Option<String>> {
    if !table.partitioned() {
        return HashMap::new();
    }
    HashMap::from([(
        EVENT_DATE.to_string(),
        partition_of(path).map(str::to_string),
    )])
}

/// What a manifest transaction is to Delta: an append, a compaction (files rewritten, rows
/// unchanged) or a replacement (findings re-run).
fn operation(table: Table, transaction: &Transaction) -> (DeltaOperation, bool) {
    let partition_by = table.partitioned().then(|| vec![EVENT_DATE.to_string()]);
    if transaction.removed.is_empty() {
        let write = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by,
            predicate: None,
        };
        return (write, true);
    }
    if transaction.writer.ends_with(" compact") {
        let optimize = DeltaOperation::Optimize {
            predicate: None,
            target_size: 0,
        };
        return (optimize, false);
    }
    let mut days: Vec<&str> = transaction
        .removed
        .iter()
        .chain(transaction.outputs.iter().map(|o| &o.path))
        .filter_map(|path| partition_of(path))
        .collect();
    days.sort_unstable();
    days.dedup();
    let predicate = (!days.is_empty()).then(|| {
        let days: Vec<String> = days.iter().map(|d| format!("'{d}'")).collect();
        format!("{EVENT_DATE} IN ({})", days.join(", "))
    });
    let overwrite = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by,
        predicate,
    };
    (overwrite, true)
}

fn add_action(table: Table, output: &OutputEntry, path: String, data_change: bool) -> Action {
    Action::Add(Add {
        partition_values: partition_values(table, &output.path),
        path,
        size: output.bytes as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change,
        stats: output.stats.clone(),
        ..Add::default()
    })
}

/// The Delta actions of a manifest transaction's files in `table` (none if it touched none).
fn actions(table: Table, transaction: &Transaction, data_change: bool) -> Vec<Action> {
    let now = chrono::Utc::now().timestamp_millis();
    let adds = transaction.outputs.iter().filter_map(|output| {
        let path = table_path(table, &output.path)?;
        Some(add_action(table, output, path, data_change))
    });
    let removes = transaction.removed.iter().filter_map(|removed| {
        let path = table_path(table, removed)?;
        Some(Action::Remove(Remove {
            partition_values: Some(partition_values(table, removed)),
            path,
            data_change,
            deletion_timestamp: Some(now),
            extended_file_metadata: Some(false),
            ..Remove::default()
        }))
    });
    adds.chain(removes).collect()
}

/// The commit properties of applying manifest transaction `seq`: its `txn` action, and the
/// transaction's id and writer in `commitInfo`.
fn properties(seq: u64, transaction: Option<&Transaction>) -> CommitProperties {
    let mut metadata = vec![("trailqSeq".to_string(), json!(seq))];
    if let Some(transaction) = transaction {
        metadata.push(("trailqTxid".to_string(), json!(transaction.txid)));
        metadata.push(("trailqWriter".to_string(), json!(transaction.writer)));
    }
    CommitProperties::default()
        .with_application_transaction(TxnAction::new(APP_ID, seq as i64))
        .with_metadata(metadata)
        // A table whose commit races with another writer's reloads and decides again here.
        .with_max_retries(0)
}

/// Brings `table`'s Delta log up to the manifest; returns the commits made.
async fn sync_table(lake: &Lake, manifest: &Manifest, table: Table) -> Result<usize> {
    let Some(last) = manifest.transactions().last() else {
        return Ok(0);
    };
    let touches = |t: &Transaction| {
        t.outputs
            .iter()
            .any(|o| table_path(table, &o.path).is_some())
            || t.removed.iter().any(|r| table_path(table, r).is_some())
    };
    let delta = match load(lake, table).await? {
        Some(delta) => delta,
        None if !manifest.transactions().iter().any(touches) => return Ok(0),
        None => create(lake, table).await?,
    };
    let log_store = delta.log_store();
    let snapshot = delta.snapshot().map_err(|e| delta_error(lake, table, e))?;
    let applied = snapshot
        .transaction_version(log_store.as_ref(), APP_ID)
        .await
        .map_err(|e| delta_error(lake, table, e))?;
    let mut state = snapshot.clone();
    let mut commits = 0;
    let Some(applied) = applied else {
        // A table that has followed no transaction yet (new, or a lake written before tables
        // were Delta tables): one commit of the files the manifest has live in it now.
        let live: Vec<Action> = manifest
            .live_files()
            .into_iter()
            .filter_map(|(path, output)| {
                let relative = table_path(table, path)?;
                Some(add_action(table, output, relative, true))
            })
            .collect();
        let partition_by = table.partitioned().then(|| vec![EVENT_DATE.to_string()]);
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by,
            predicate: None,
        };
        let transaction = manifest.transactions().iter().rev().find(|t| touches(t));
        CommitBuilder::from(properties(last.seq, transaction))
            .with_actions(live)
            .build(Some(&state), log_store.clone(), operation)
            .await
            .map_err(|e| commit_error(lake, table, e))?;
        return Ok(1);
    };
    for transaction in manifest.transactions() {
        if transaction.seq as i64 <= applied || !touches(transaction) {
            continue;
        }
        let (operation, data_change) = operation(table, transaction);
        let finalized = CommitBuilder::from(properties(transaction.seq, Some(transaction)))
            .with_actions(actions(table, transaction, data_change))
            .build(Some(&state), log_store.clone(), operation)
            .await
            .map_err(|e| commit_error(lake, table, e))?;
        state = finalized.snapshot();
        commits += 1;
    }
    Ok(commits)
}

/// Brings every table's Delta log up to the manifest (see the module's documentation);
/// returns the Delta commits made.
pub fn sync(lake: &Lake, manifest: &Manifest) -> Result<usize> {
    let mut commits = 0;
    for table in Table::ALL {
        let mut attempt = 1;
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            match block_on(lake, sync_table(lake, manifest, table)) {
                Ok(made) => {
                    commits += made;
                    break;
                }
                Err(Error::Conflict(message)) if attempt < SYNC_ATTEMPTS => {
                    log::debug!("{message}; reloading the Delta log (another writer)");
                }
                // A request that failed for good (a reset, a body cut short): the sync starts
                // again from the log, which says what was committed.
                Err(Error::Delta { table, message }) if attempt < SYNC_ATTEMPTS => {
                    log::debug!("{table}: {message}; trying again in {delay:?}");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
                Err(err) => return Err(err),
            }
            attempt += 1;
        }
    }
    Ok(commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_a_table_are_relative_to_its_folder() {
        assert_eq!(
            table_path(Table::Events, "events/event_date=2024-03-05/part-1.parquet").as_deref(),
            Some("event_date=2024-03-05/part-1.parquet")
        );
        assert_eq!(table_path(Table::Events, "eventsx/part-1.parquet"), None);
        assert_eq!(
            partition_of("findings/event_date=2024-03-05/part-1.parquet"),
            Some("2024-03-05")
        );
    }

    #[test]
    fn every_table_has_a_delta_schema() {
        for table in Table::ALL {
            let schema: std::result::Result<StructType, _> = table_schema(table).try_into_kernel();
            assert!(schema.is_ok(), "{table}: {schema:?}");
        }
    }
}
