//! Grouping by text through interned ids, an optimizer rule.
//!
//! Most investigations group events by a few text columns (principal, API, region, account).
//! DataFusion hashes and compares every row's strings to do that. Those columns repeat a few
//! thousand values, and the Parquet reader hands them out as views into each column chunk's
//! dictionary, so equal values have equal 16-byte views within a batch. This rule makes an
//! aggregation group by one integer instead: each batch's distinct views are interned once into
//! dense per-query ids, up to four columns' ids are packed into one key, and the grouped rows get
//! their text back from the ids. Results are the same; the key columns' hashing and comparing
//! drops to integer work.
//!
//! The interned strings live as long as the query's plan, as many as its groups have.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, StringViewArray, StringViewBuilder, UInt32Array,
    UInt64Array,
};
use arrow::buffer::{Buffer, ScalarBuffer};
use arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, UInt32Type, UInt64Type};
use datafusion::common::Column;
use datafusion::common::tree_node::Transformed;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    Aggregate, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Projection, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use rustc_hash::FxHashMap;

/// How many columns' ids share one packed key (32 bits each, in 128).
const COLUMNS_PER_KEY: usize = 4;
/// Slots of the per-batch cache of recent views.
const RECENT_SLOTS: usize = 256;
/// The id of null; ids stay below it, so a packed key stays a valid 38-digit decimal.
const NULL_ID: u32 = (1 << 30) - 1;

/// The optimizer rule: rewrites aggregations grouped by the named text columns to group by
/// packed ids. Only columns whose values repeat should be named: a column of unique values
/// (event ids) would be interned in full, for nothing.
#[derive(Debug)]
pub struct InternGroupKeys {
    columns: &'static [&'static str],
}

impl InternGroupKeys {
    /// The rule for text columns with these names.
    pub fn new(columns: &'static [&'static str]) -> Self {
        InternGroupKeys { columns }
    }

    /// The positions of the group expressions that are named text (string view) columns. None
    /// when the aggregation has grouping sets.
    fn text_keys(&self, aggregate: &Aggregate) -> Result<Vec<usize>> {
        let mut keys = Vec::new();
        for (index, expr) in aggregate.group_expr.iter().enumerate() {
            match expr {
                Expr::GroupingSet(_) => return Ok(Vec::new()),
                Expr::Column(column)
                    if self.columns.contains(&column.name.as_str())
                        && expr.get_type(aggregate.input.schema())? == DataType::Utf8View =>
                {
                    keys.push(index);
                }
                _ => {}
            }
        }
        Ok(keys)
    }
}

impl OptimizerRule for InternGroupKeys {
    fn name(&self) -> &str {
        "trailq_intern_group_keys"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = plan else {
            return Ok(Transformed::no(plan));
        };
        let text_keys = self.text_keys(&aggregate)?;
        if text_keys.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
        }
        rewrite(aggregate, &text_keys).map(Transformed::yes)
    }
}

/// The aggregation grouped by packed keys in place of `text_keys`, under a projection that
/// restores its output: the same names and types, the text looked up from the ids.
fn rewrite(aggregate: Aggregate, text_keys: &[usize]) -> Result<LogicalPlan> {
    let original = aggregate.schema.clone();
    let mut group_expr: Vec<Expr> = aggregate
        .group_expr
        .iter()
        .enumerate()
        .filter(|(index, _)| !text_keys.contains(index))
        .map(|(_, expr)| expr.clone())
        .collect();
    // Where each text key's value comes from: (packed key column, interner, position in key).
    let mut sources = FxHashMap::default();
    for (number, chunk) in text_keys.chunks(COLUMNS_PER_KEY).enumerate() {
        let interner = Arc::new(KeyInterner::new(chunk.len()));
        let name = format!("__trailq_group_key_{number}");
        let columns = chunk
            .iter()
            .map(|index| aggregate.group_expr[*index].clone())
            .collect();
        group_expr.push(
            udf(PackKey::new(interner.clone()))
                .call(columns)
                .alias(&name),
        );
        for (part, index) in chunk.iter().enumerate() {
            sources.insert(*index, (name.clone(), interner.clone(), part));
        }
    }
    let grouped = Aggregate::try_new(aggregate.input, group_expr, aggregate.aggr_expr)?;
    let restored = original
        .iter()
        .enumerate()
        .map(|(index, (qualifier, field))| match sources.get(&index) {
            Some((key, interner, part)) => {
                udf(KeyText::new(interner.clone(), *part, field.is_nullable()))
                    .call(vec![Expr::Column(Column::new_unqualified(key))])
                    .alias_qualified(qualifier.cloned(), field.name())
            }
            None => Expr::Column(Column::new(qualifier.cloned(), field.name())),
        })
        .collect();
    let projection = Projection::try_new(restored, Arc::new(LogicalPlan::Aggregate(grouped)))?;
    Ok(LogicalPlan::Projection(projection))
}

fn udf(function: impl ScalarUDFImpl + 'static) -> ScalarUDF {
    ScalarUDF::new_from_impl(function)
}

/// The ids of one group key's columns, shared by the packing and the lookup of one plan.
#[derive(Debug)]
struct KeyInterner {
    columns: Vec<Mutex<Strings>>,
}

/// One column's distinct strings and their ids.
#[derive(Debug, Default)]
struct Strings {
    ids: FxHashMap<Arc<str>, u32>,
    values: Vec<Arc<str>>,
}

impl Strings {
    fn id(&mut self, value: &str) -> Result<u32> {
        if let Some(id) = self.ids.get(value) {
            return Ok(*id);
        }
        let id = u32::try_from(self.values.len())
            .ok()
            .filter(|id| *id < NULL_ID)
            .ok_or_else(|| {
                DataFusionError::Execution(format!(
                    "a GROUP BY column has more than {NULL_ID} distinct values; group by a \
                     narrower key"
                ))
            })?;
        let value: Arc<str> = value.into();
        self.values.push(value.clone());
        self.ids.insert(value, id);
        Ok(id)
    }
}

impl KeyInterner {
    fn new(columns: usize) -> Self {
        KeyInterner {
            columns: (0..columns).map(|_| Mutex::default()).collect(),
        }
    }

    /// The ids of one batch of column `column`. Each distinct view of the batch is looked up
    /// once, under one lock.
    fn ids(&self, column: usize, text: &StringViewArray) -> Result<BatchIds> {
        let mut local_ids: FxHashMap<u128, u32> = FxHashMap::default();
        let mut first_rows: Vec<usize> = Vec::new();
        let mut locals = Vec::with_capacity(text.len());
        let nulls = text.nulls().filter(|nulls| nulls.null_count() > 0);
        // Recent views by a hash of their bits: most rows hit here, not in the map. (No valid
        // view is u128::MAX: its length would be 4 GiB.)
        let mut recent = [(u128::MAX, 0u32); RECENT_SLOTS];
        for (row, view) in text.views().iter().enumerate() {
            if nulls.is_some_and(|nulls| nulls.is_null(row)) {
                locals.push(u32::MAX);
                continue;
            }
            let folded = (*view as u64) ^ ((*view >> 64) as u64);
            let slot = (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % RECENT_SLOTS;
            let local = match recent[slot] {
                (seen, local) if seen == *view => local,
                _ => {
                    let next = first_rows.len() as u32;
                    let local = *local_ids.entry(*view).or_insert_with(|| {
                        first_rows.push(row);
                        next
                    });
                    recent[slot] = (*view, local);
                    local
                }
            };
            locals.push(local);
        }
        let mut strings = self.columns[column].lock().expect("interner lock");
        let globals = first_rows
            .iter()
            .map(|row| strings.id(text.value(*row)))
            .collect::<Result<_>>()?;
        Ok(BatchIds { locals, globals })
    }

    /// The text of column `column`'s ids.
    fn text(&self, column: usize, ids: impl Iterator<Item = u32>) -> ArrayRef {
        let strings = self.columns[column].lock().expect("interner lock");
        let mut builder = StringViewBuilder::new();
        for id in ids {
            match strings.values.get(id as usize) {
                Some(value) => builder.append_value(value),
                None => builder.append_null(),
            }
        }
        Arc::new(builder.finish())
    }

    /// The packed key's type: the narrowest integer that holds every column's id.
    fn key_type(&self) -> DataType {
        match self.columns.len() {
            1 => DataType::UInt32,
            2 => DataType::UInt64,
            _ => DataType::Decimal128(38, 0),
        }
    }
}

/// A batch's ids: each row's index into the batch's distinct values, and their ids.
struct BatchIds {
    locals: Vec<u32>,
    globals: Vec<u32>,
}

impl BatchIds {
    /// Each row's id (`NULL_ID` for nulls).
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.locals.iter().map(|local| {
            self.globals
                .get(*local as usize)
                .copied()
                .unwrap_or(NULL_ID)
        })
    }
}

/// `__trailq_pack_key(text, ...)`: the packed ids of up to four text columns.
#[derive(Debug)]
struct PackKey {
    interner: Arc<KeyInterner>,
    signature: Signature,
}

impl PackKey {
    fn new(interner: Arc<KeyInterner>) -> Self {
        let signature = Signature::exact(
            vec![DataType::Utf8View; interner.columns.len()],
            Volatility::Volatile,
        );
        PackKey {
            interner,
            signature,
        }
    }
}

impl ScalarUDFImpl for PackKey {
    fn name(&self) -> &str {
        "__trailq_pack_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.interner.key_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut packed = vec![0u128; rows];
        for (column, arg) in args.args.iter().enumerate() {
            let text = arg.to_array(rows)?;
            let ids = self.interner.ids(column, text.as_string_view())?;
            for (key, id) in packed.iter_mut().zip(ids.iter()) {
                *key |= u128::from(id) << (32 * column);
            }
        }
        let keys: ArrayRef = match self.interner.key_type() {
            DataType::UInt32 => Arc::new(UInt32Array::from_iter_values(
                packed.into_iter().map(|key| key as u32),
            )),
            DataType::UInt64 => Arc::new(UInt64Array::from_iter_values(
                packed.into_iter().map(|key| key as u64),
            )),
            // The same bits: the buffer is taken over, not copied.
            _ => Arc::new(
                Decimal128Array::new(ScalarBuffer::from(Buffer::from_vec(packed)), None)
                    .with_precision_and_scale(38, 0)?,
            ),
        };
        Ok(ColumnarValue::Array(keys))
    }
}

/// `__trailq_key_text(key)`: the text of one column of a packed key.
#[derive(Debug)]
struct KeyText {
    interner: Arc<KeyInterner>,
    column: usize,
    /// Whether the grouped column is nullable: the restored one must say the same.
    nullable: bool,
    signature: Signature,
}

impl KeyText {
    fn new(interner: Arc<KeyInterner>, column: usize, nullable: bool) -> Self {
        let signature = Signature::exact(vec![interner.key_type()], Volatility::Volatile);
        KeyText {
            interner,
            column,
            nullable,
            signature,
        }
    }
}

impl ScalarUDFImpl for KeyText {
    fn name(&self) -> &str {
        "__trailq_key_text"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8View)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = Field::new(self.name(), DataType::Utf8View, self.nullable);
        Ok(Arc::new(field))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let keys = args.args[0].to_array(args.number_rows)?;
        let shift = 32 * self.column;
        let id = move |key: u128| (key >> shift) as u32;
        let text = match keys.data_type() {
            DataType::UInt32 => {
                let keys = keys.as_primitive::<UInt32Type>().values().iter();
                self.interner
                    .text(self.column, keys.map(|key| id(u128::from(*key))))
            }
            DataType::UInt64 => {
                let keys = keys.as_primitive::<UInt64Type>().values().iter();
                self.interner
                    .text(self.column, keys.map(|key| id(u128::from(*key))))
            }
            _ => {
                let keys = keys.as_primitive::<Decimal128Type>().values().iter();
                self.interner
                    .text(self.column, keys.map(|key| id(*key as u128)))
            }
        };
        Ok(ColumnarValue::Array(text))
    }
}

// A plan's functions are equal only when they share an interner (and read the same column).
impl PartialEq for PackKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.interner, &other.interner)
    }
}
impl Eq for PackKey {}
impl Hash for PackKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.interner).hash(state);
    }
}

impl PartialEq for KeyText {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.interner, &other.interner) && self.column == other.column
    }
}
impl Eq for KeyText {}
impl Hash for KeyText {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.interner).hash(state);
        self.column.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::Schema;
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    /// Three partitions of batches: short (inline) and long text, nulls (every `null_every`th
    /// value, 0 for none), and a number.
    fn table() -> MemTable {
        let schema = Arc::new(Schema::new(vec![
            Field::new("principal", DataType::Utf8View, true),
            Field::new("eventname", DataType::Utf8View, false),
            Field::new("awsregion", DataType::Utf8View, true),
            Field::new("errorcode", DataType::Utf8View, true),
            Field::new("eventsource", DataType::Utf8View, false),
            Field::new("bytes", DataType::Int64, false),
        ]));
        let batch = |seed: usize| {
            let rows = 1000;
            let text = |modulo: usize, prefix: &str, null_every: usize| {
                let values: Vec<Option<String>> = (0..rows)
                    .map(|row| {
                        let n = (row * 7 + seed * 13) % modulo;
                        (null_every == 0 || n % null_every != 3).then(|| format!("{prefix}{n}"))
                    })
                    .collect();
                Arc::new(StringViewArray::from_iter(values)) as ArrayRef
            };
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    text(37, "arn:aws:iam::111122223333:role/a-long-role-name-", 11),
                    text(5, "Get", 0),
                    text(3, "us-", 5),
                    text(4, "", 4),
                    text(2, "s3.amazonaws.com/", 0),
                    Arc::new(Int64Array::from_iter_values(
                        (0..rows as i64).map(|r| r % 9),
                    )),
                ],
            )
            .unwrap()
        };
        let partitions = (0..3)
            .map(|p| (0..4).map(|b| batch(p * 4 + b)).collect())
            .collect();
        MemTable::try_new(schema, partitions).unwrap()
    }

    const COLUMNS: &[&str] = &[
        "principal",
        "eventname",
        "awsregion",
        "errorcode",
        "eventsource",
    ];

    async fn run(rule: bool, sql: &str) -> (String, String) {
        let ctx = SessionContext::new();
        if rule {
            ctx.add_optimizer_rule(Arc::new(InternGroupKeys::new(COLUMNS)));
        }
        ctx.register_table("events", Arc::new(table())).unwrap();
        let frame = ctx.sql(sql).await.unwrap();
        let optimized = frame.clone().into_optimized_plan().unwrap();
        let batches = frame.collect().await.unwrap();
        let mut text = pretty_format_batches(&batches).unwrap().to_string();
        for field in batches[0].schema().fields() {
            text.push_str(&format!("\n{}: {}", field.name(), field.is_nullable()));
        }
        (text, format!("{}", optimized.display_indent()))
    }

    /// Each query gives the same rows with the rule as without, and the rule did rewrite it.
    #[tokio::test]
    async fn grouping_by_interned_ids_gives_the_same_rows() {
        let queries = [
            // One key, with nulls.
            "SELECT principal, count(*) AS n FROM events GROUP BY principal ORDER BY 1",
            // Five keys: two packed keys.
            "SELECT principal, eventname, awsregion, errorcode, eventsource, count(*) AS n, \
             sum(bytes) AS b FROM events GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
            // Text and a number, HAVING on a key, keys renamed and in another order.
            "SELECT bytes, awsregion AS region, errorcode, count(*) AS n FROM events \
             GROUP BY errorcode, bytes, awsregion HAVING awsregion <> 'us-1' ORDER BY 1, 2, 3",
            // DISTINCT and a distinct count.
            "SELECT DISTINCT eventname, awsregion FROM events ORDER BY 1, 2",
            "SELECT eventname, count(DISTINCT principal) AS p FROM events GROUP BY 1 ORDER BY 1",
            // Keys used after grouping: in expressions, joins and sorting.
            "WITH g AS (SELECT principal, eventname, count(*) AS n FROM events GROUP BY 1, 2) \
             SELECT upper(g.eventname) AS e, length(g.principal) AS l, sum(n) AS n, \
             max(h.m) AS m FROM g JOIN (SELECT principal, max(bytes) AS m FROM events \
             GROUP BY principal) h ON g.principal = h.principal GROUP BY 1, 2 ORDER BY 1, 2",
        ];
        for sql in queries {
            let (expected, plain) = run(false, sql).await;
            let (rows, plan) = run(true, sql).await;
            assert!(!plain.contains("__trailq_pack_key"), "{plain}");
            assert!(
                plan.contains("__trailq_pack_key"),
                "not rewritten: {sql}\n{plan}"
            );
            assert_eq!(rows, expected, "{sql}");
            assert!(
                rows.lines().count() > 5,
                "too few rows to compare: {sql}\n{rows}"
            );
        }
    }

    /// Columns not named, expressions and grouping sets keep DataFusion's own grouping.
    #[tokio::test]
    async fn other_groupings_are_left_alone() {
        for sql in [
            "SELECT lower(principal), count(*) FROM events GROUP BY 1",
            "SELECT bytes, count(*) FROM events GROUP BY 1",
            "SELECT awsregion, errorcode, count(*) FROM events GROUP BY ROLLUP (awsregion, errorcode)",
        ] {
            let (_, plan) = run(true, sql).await;
            assert!(!plan.contains("__trailq_pack_key"), "{sql}\n{plan}");
        }
    }
}
