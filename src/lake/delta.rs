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
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Once};

use arrow::datatypes::{DataType, Field, Schema};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, StructType, Transaction as TxnAction};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, TableProperty};
use object_store::ObjectStore;
use parquet::basic::LogicalType;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Map, Value, json};
use url::Url;

use super::{Lake, Manifest, OutputEntry, Table, Transaction};
use crate::error::{Error, Result};
use crate::record::schema::EVENT_DATE;
use crate::s3::S3Url;

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

/// Where a lake's Delta tables are: the writer's [`Lake`] and the readers' session both name
/// them this way.
#[derive(Clone)]
pub enum Tables {
    /// Folders under this (canonical) root.
    Local(PathBuf),
    /// Under an S3 prefix, through this store (rooted at the bucket).
    S3 {
        /// The lake's prefix.
        url: S3Url,
        /// The bucket's store.
        store: Arc<dyn ObjectStore>,
    },
}

impl Tables {
    /// The Delta tables of `lake`.
    pub fn of(lake: &Lake) -> Self {
        match lake.remote() {
            Some(remote) => Tables::S3 {
                url: remote.url().clone(),
                store: remote.store(),
            },
            None => Tables::Local(
                std::path::absolute(lake.root()).unwrap_or_else(|_| lake.root().to_path_buf()),
            ),
        }
    }

    /// `<lake>/<table>`, for messages.
    fn display(&self, table: Table) -> String {
        match self {
            Tables::Local(root) => root.join(table.name()).display().to_string(),
            Tables::S3 { url, .. } => format!("{url}{}", table.name()),
        }
    }

    /// The error of a Delta operation on `table`.
    fn error(&self, table: Table, err: DeltaTableError) -> Error {
        Error::Delta {
            table: self.display(table),
            message: err.to_string(),
        }
    }

    /// The error of a Delta commit: [`Error::Conflict`] when another writer committed first.
    fn commit_error(&self, table: Table, err: DeltaTableError) -> Error {
        use deltalake::kernel::transaction::TransactionError;
        match err {
            DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source:
                    TransactionError::VersionAlreadyExists(_)
                    | TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_),
            } => Error::Conflict(format!("{table}: {err}")),
            err => self.error(table, err),
        }
    }

    /// The Delta table builder of `table` (not loaded).
    fn builder(&self, table: Table) -> Result<DeltaTableBuilder> {
        static S3_HANDLERS: Once = Once::new();
        let delta = |err| self.error(table, err);
        match self {
            Tables::S3 { url, store } => {
                S3_HANDLERS.call_once(|| deltalake::aws::register_handlers(None));
                let url = Url::parse(&format!("{url}{}/", table.name()))
                    .map_err(|err| Error::Internal(format!("lake URL: {err}")))?;
                Ok(DeltaTableBuilder::from_url(url.clone())
                    .map_err(delta)?
                    .with_storage_backend(store.clone(), url))
            }
            Tables::Local(root) => {
                let dir = root.join(table.name());
                let url = Url::from_directory_path(&dir)
                    .map_err(|()| Error::Internal(format!("{} is not a URL", dir.display())))?;
                DeltaTableBuilder::from_url(url).map_err(delta)
            }
        }
    }

    /// The Delta table of `table` at its latest version, or `None` when it has no Delta log.
    async fn load(&self, table: Table) -> Result<Option<DeltaTable>> {
        if let Tables::Local(root) = self
            && !root.join(table.name()).join("_delta_log").is_dir()
        {
            return Ok(None);
        }
        let mut delta = self.unloaded(table)?;
        match delta.load().await {
            Ok(()) => Ok(Some(delta)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(err) => Err(self.error(table, err)),
        }
    }

    fn unloaded(&self, table: Table) -> Result<DeltaTable> {
        self.builder(table)?
            .build()
            .map_err(|err| self.error(table, err))
    }
}

/// Creates the Delta table of `table` (its schema, partitioning and properties).
async fn create(tables: &Tables, table: Table) -> Result<DeltaTable> {
    let delta = |err| tables.error(table, err);
    let schema: StructType = table_schema(table)
        .try_into_kernel()
        .map_err(|err| Error::Internal(format!("the {table} schema has no Delta form: {err}")))?;
    if let Tables::Local(root) = tables {
        let dir = root.join(table.name());
        std::fs::create_dir_all(&dir).map_err(|err| Error::io(&dir, err))?;
    }
    let log_store = tables.builder(table)?.build_storage().map_err(delta)?;
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
            tables
                .load(table)
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

/// The partition columns a Delta operation on `table` names.
fn partition_columns(table: Table) -> Option<Vec<String>> {
    table.partitioned().then(|| vec![EVENT_DATE.to_string()])
}

/// A blind append of files to `table`.
fn append(table: Table) -> DeltaOperation {
    DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: partition_columns(table),
        predicate: None,
    }
}

/// What a manifest transaction is to Delta: an append, a compaction (files rewritten, rows
/// unchanged) or a replacement (findings re-run).
fn operation(table: Table, transaction: &Transaction) -> (DeltaOperation, bool) {
    if transaction.removed.is_empty() {
        return (append(table), true);
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
        partition_by: partition_columns(table),
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
async fn sync_table(tables: &Tables, manifest: &Manifest, table: Table) -> Result<usize> {
    let last_seq = manifest.last_seq();
    if last_seq == 0 {
        return Ok(0);
    }
    let touches = |t: &Transaction| {
        t.outputs
            .iter()
            .any(|o| table_path(table, &o.path).is_some())
            || t.removed.iter().any(|r| table_path(table, r).is_some())
    };
    let delta = match tables.load(table).await? {
        Some(delta) => delta,
        None if !manifest.transactions().iter().any(touches)
            && !manifest
                .live_files()
                .keys()
                .any(|path| table_path(table, path).is_some()) =>
        {
            return Ok(0);
        }
        None => create(tables, table).await?,
    };
    let log_store = delta.log_store();
    let snapshot = delta.snapshot().map_err(|e| tables.error(table, e))?;
    let applied = snapshot
        .transaction_version(log_store.as_ref(), APP_ID)
        .await
        .map_err(|e| tables.error(table, e))?;
    let mut state = snapshot.clone();
    let mut commits = 0;
    let Some(applied) = applied else {
        // A table that has followed no transaction yet (new, or a lake written before tables
        // were Delta tables): one commit of the files the manifest has live in it now.
        let live: Vec<Action> = manifest
            .live_files()
            .iter()
            .filter_map(|(path, output)| {
                let relative = table_path(table, path)?;
                Some(add_action(table, output, relative, true))
            })
            .collect();
        let operation = append(table);
        let transaction = manifest.transactions().iter().rev().find(|t| touches(t));
        CommitBuilder::from(properties(last_seq, transaction))
            .with_actions(live)
            .build(Some(&state), log_store.clone(), operation)
            .await
            .map_err(|e| tables.commit_error(table, e))?;
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
            .map_err(|e| tables.commit_error(table, e))?;
        state = finalized.snapshot();
        commits += 1;
    }
    Ok(commits)
}

/// Brings every table's Delta log up to the manifest (see the module's documentation);
/// returns the Delta commits made.
pub fn sync(lake: &Lake, manifest: &Manifest) -> Result<usize> {
    let tables = Tables::of(lake);
    let mut commits = 0;
    for table in Table::ALL {
        let mut attempt = 1;
        let mut delay = std::time::Duration::from_millis(200);
        loop {
            match block_on(lake, sync_table(&tables, manifest, table)) {
                Ok(made) => {
                    commits += made;
                    if made > 0 {
                        crate::failpoint("mid-delta-sync");
                    }
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

/// Which state of the lake a reader sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AsOf {
    /// The latest commit of each table.
    #[default]
    Latest,
    /// Each table's latest commit at or before this time (ms since the epoch).
    Time(i64),
    /// `events` at this version, and the other tables as of the time it was committed.
    EventsVersion(u64),
}

/// A data file as a table's Delta log describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFile {
    /// Its size in bytes.
    pub size: u64,
    /// When it was written (ms since the epoch).
    pub modified_ms: i64,
}

/// One state of the lake: the data files each table holds, and the tables' versions.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every data file, by lake-relative path (`events/event_date=2024-03-05/part-....parquet`).
    pub files: std::collections::BTreeMap<String, DataFile>,
    /// The version of each table that has a Delta log (then: at that time).
    pub versions: std::collections::BTreeMap<Table, u64>,
}

/// The Delta table of `table` as of `time` (ms): its newest version committed at or before
/// then (by the commits' own timestamps), or `None` when it did not exist yet.
async fn load_at_time(tables: &Tables, table: Table, time: i64) -> Result<Option<DeltaTable>> {
    let Some(mut delta) = tables.load(table).await? else {
        return Ok(None);
    };
    let log_store = delta.log_store();
    let committed_at = async |version: u64| -> Result<Option<i64>> {
        let entry = log_store
            .read_commit_entry(version)
            .await
            .map_err(|err| tables.error(table, err))?;
        Ok(entry.map(|bytes| describe(version, &bytes).timestamp))
    };
    // Binary search for the last version at or before `time`; versions whose entries have
    // expired count as before it.
    let (mut low, mut high) = (0_u64, delta.version().unwrap_or_default() + 1);
    while low < high {
        let middle = low + (high - low) / 2;
        match committed_at(middle).await? {
            Some(at) if at > time => high = middle,
            _ => low = middle + 1,
        }
    }
    let Some(version) = low.checked_sub(1) else {
        return Ok(None);
    };
    if committed_at(version).await?.is_none() {
        return Err(Error::Usage(format!(
            "--as-of: {} no longer has its log entries from then (Delta expires them after \
             30 days); use a later time",
            tables.display(table)
        )));
    }
    delta
        .load_version(version)
        .await
        .map_err(|err| tables.error(table, err))?;
    Ok(Some(delta))
}

/// The state of the lake `as_of`, as one snapshot of every table.
pub async fn snapshot(tables: &Tables, as_of: AsOf) -> Result<Snapshot> {
    let mut pinned_events = None;
    let time = match as_of {
        AsOf::Latest => None,
        AsOf::Time(time) => Some(time),
        AsOf::EventsVersion(version) => {
            let events = Table::Events;
            let Some(mut delta) = tables.load(events).await? else {
                return Err(Error::Usage(format!(
                    "--as-of-version: {} has no Delta log yet (ingest something first)",
                    tables.display(events)
                )));
            };
            let latest = delta.version().unwrap_or_default();
            if version > latest {
                return Err(Error::Usage(format!(
                    "--as-of-version {version}: events has versions 0 to {latest} \
                     (`trailq history --lake LAKE events` lists them)"
                )));
            }
            delta
                .load_version(version)
                .await
                .map_err(|err| tables.error(events, err))?;
            let entry = delta
                .log_store()
                .read_commit_entry(version)
                .await
                .map_err(|err| tables.error(events, err))?
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--as-of-version {version}: its log entry has expired (Delta keeps \
                         30 days); use a later version"
                    ))
                })?;
            pinned_events = Some(delta);
            let time = describe(version, &entry).timestamp;
            Some(time)
        }
    };
    let mut snapshot = Snapshot::default();
    for table in Table::ALL {
        let delta = match (time, table) {
            (_, Table::Events) if pinned_events.is_some() => pinned_events.take(),
            (None, _) => tables.load(table).await?,
            (Some(time), _) => load_at_time(tables, table, time).await?,
        };
        let Some(delta) = delta else { continue };
        let state = delta.snapshot().map_err(|err| tables.error(table, err))?;
        snapshot.versions.insert(table, state.version());
        snapshot.files.extend(state.log_data().iter().map(|file| {
            let meta = DataFile {
                size: file.size().max(0) as u64,
                modified_ms: file.modification_time(),
            };
            (format!("{}/{}", table.name(), file.path()), meta)
        }));
    }
    Ok(snapshot)
}

/// One version of a table, as `trailq history` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    /// The table's version.
    pub version: u64,
    /// When it was committed (ms since the epoch).
    pub timestamp: i64,
    /// `WRITE`, `OPTIMIZE`, `CREATE TABLE`, `VACUUM START`...
    pub operation: String,
    /// Files it added.
    pub files_added: u64,
    /// Files it removed.
    pub files_removed: u64,
    /// Rows in the files it added (where their statistics say).
    pub rows_added: u64,
    /// The manifest transaction it applies, when trailq made it.
    pub trailq_seq: Option<u64>,
    /// Who wrote it: trailq and its command, or another engine.
    pub writer: Option<String>,
}

/// The newest `limit` versions of `table`, newest first (versions whose log entries have
/// expired are left out).
pub async fn history(tables: &Tables, table: Table, limit: usize) -> Result<Vec<Version>> {
    let Some(delta) = tables.load(table).await? else {
        return Ok(Vec::new());
    };
    let log_store = delta.log_store();
    let latest = delta.version().unwrap_or_default();
    let mut versions = Vec::new();
    for version in (0..=latest).rev().take(limit) {
        let Some(bytes) = log_store
            .read_commit_entry(version)
            .await
            .map_err(|err| tables.error(table, err))?
        else {
            continue;
        };
        versions.push(describe(version, &bytes));
    }
    Ok(versions)
}

/// What a commit entry (JSON lines of actions) did.
fn describe(version: u64, entry: &[u8]) -> Version {
    let mut described = Version {
        version,
        timestamp: 0,
        operation: String::new(),
        files_added: 0,
        files_removed: 0,
        rows_added: 0,
        trailq_seq: None,
        writer: None,
    };
    for line in entry.split(|&b| b == b'\n') {
        let Ok(action) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(info) = action.get("commitInfo") {
            described.timestamp = info["timestamp"].as_i64().unwrap_or_default();
            described.operation = info["operation"].as_str().unwrap_or_default().to_string();
            described.trailq_seq = info["trailqSeq"].as_u64();
            described.writer = info["trailqWriter"]
                .as_str()
                .or(info["engineInfo"].as_str())
                .map(str::to_string);
        } else if let Some(add) = action.get("add") {
            described.files_added += 1;
            let stats = add["stats"]
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok());
            described.rows_added += stats.and_then(|s| s["numRecords"].as_u64()).unwrap_or(0);
        } else if action.get("remove").is_some() {
            described.files_removed += 1;
        }
    }
    described
}

/// What a vacuum deleted (or, on a dry run, would delete).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Vacuumed {
    /// Files per table.
    pub files: std::collections::BTreeMap<String, Vec<String>>,
    /// Whether nothing was deleted (a dry run).
    pub dry_run: bool,
}

/// Deletes the files that no version of its table younger than `retain` references: those a
/// compaction or a re-run of detect replaced longer ago than that.
pub fn vacuum(lake: &Lake, retain: std::time::Duration, dry_run: bool) -> Result<Vacuumed> {
    use deltalake::operations::vacuum::VacuumMode;
    let tables = Tables::of(lake);
    let retain = chrono::Duration::from_std(retain)
        .map_err(|_| Error::Usage("--retain is too long".into()))?;
    let mut vacuumed = Vacuumed {
        dry_run,
        ..Vacuumed::default()
    };
    for table in Table::ALL {
        let run = async {
            let Some(delta) = tables.load(table).await? else {
                return Ok(Vec::new());
            };
            let (_, metrics) = delta
                .vacuum()
                .with_retention_period(retain)
                // `--retain` is the user's choice, even below Delta's default of 7 days.
                .with_enforce_retention_duration(false)
                .with_mode(VacuumMode::Lite)
                .with_dry_run(dry_run)
                .await
                .map_err(|err| tables.error(table, err))?;
            Ok::<_, Error>(metrics.files_deleted)
        };
        let files = block_on(lake, run)?;
        if !files.is_empty() {
            vacuumed.files.insert(table.name().to_string(), files);
        }
    }
    Ok(vacuumed)
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
