//! `origin_of(access_key_id [, useridentity [, eventtime]])` and the `events_with_origin` view:
//! who was behind each call, from the `sessions` table (see `identity::origin`).
//!
//! The origin index is built from `sessions` the first time a statement names either (a
//! statement's text is checked before it is planned), and kept for the session's snapshot.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{Array, ArrayData, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimestampMillisecondType};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::identity::origin::origin_type;
use crate::identity::{OriginIndex, session_rows};
use crate::record::schema::timestamp_type;

/// The view of every `events` column plus `origin`.
pub const VIEW: &str = "events_with_origin";

/// The origin index of a session, once built, and the function's latest results.
#[derive(Debug, Default, Clone)]
pub struct OriginSlot {
    index: Arc<RwLock<Option<Arc<OriginIndex>>>>,
    recent: Arc<Mutex<VecDeque<Memo>>>,
}

/// One result of `origin_of` and the arguments it was computed from. Holding the arguments
/// keeps their buffers alive, so arguments at the same addresses are the same values.
#[derive(Debug)]
struct Memo {
    args: Vec<ArrayData>,
    origins: ArrayRef,
}

/// Results kept: a few batches per core in flight.
const RECENT: usize = 8;

impl OriginSlot {
    fn get(&self) -> Option<Arc<OriginIndex>> {
        self.index.read().expect("no holder panics").clone()
    }

    /// Forgets the index: the next statement that needs it builds it again (a newer snapshot).
    pub fn clear(&self) {
        *self.index.write().expect("no holder panics") = None;
        self.recent.lock().expect("no holder panics").clear();
    }

    /// The result computed from these arguments, if one of the latest. DataFusion evaluates
    /// `origin_of` once per member a query reads (`origin['type']`, `origin['hops']`), over
    /// the same batch, one right after the other.
    fn recall(&self, args: &[ArrayData]) -> Option<ArrayRef> {
        let recent = self.recent.lock().expect("no holder panics");
        recent
            .iter()
            .find(|memo| {
                memo.args.len() == args.len()
                    && memo.args.iter().zip(args).all(|(a, b)| a.ptr_eq(b))
            })
            .map(|memo| Arc::clone(&memo.origins))
    }

    fn remember(&self, args: Vec<ArrayData>, origins: ArrayRef) {
        let mut recent = self.recent.lock().expect("no holder panics");
        recent.push_front(Memo { args, origins });
        recent.truncate(RECENT);
    }
}

/// The `origin_of` function.
#[derive(Debug)]
struct OriginOf {
    slot: OriginSlot,
    signature: Signature,
}

impl PartialEq for OriginOf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.slot.index, &other.slot.index)
    }
}
impl Eq for OriginOf {}
impl std::hash::Hash for OriginOf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.slot.index).hash(state);
    }
}

impl ScalarUDFImpl for OriginOf {
    fn name(&self) -> &str {
        "origin_of"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(origin_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let Some(index) = self.slot.get() else {
            return exec_err!(
                "origin_of: the origin index is not loaded (a bug: it is built before any statement that names origin_of or {VIEW} runs)"
            );
        };
        let rows = args.number_rows;
        let memo_args: Option<Vec<ArrayData>> = args
            .args
            .iter()
            .map(|arg| match arg {
                ColumnarValue::Array(array) => Some(array.to_data()),
                ColumnarValue::Scalar(_) => None,
            })
            .collect();
        if let Some(origins) = memo_args.as_deref().and_then(|a| self.slot.recall(a)) {
            return Ok(ColumnarValue::Array(origins));
        }
        let keys = args.args[0].to_array(rows)?;
        if !matches!(
            keys.data_type(),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null
        ) {
            return exec_err!(
                "origin_of takes an access key id (text), such as useridentity.accesskeyid, not {}",
                keys.data_type()
            );
        }
        let identities = match args.args.get(1) {
            Some(arg) => Some(arg.to_array(rows)?),
            None => None,
        };
        let identities = match identities.as_deref() {
            Some(array) => match array.as_struct_opt() {
                Some(identity) => Some(identity.clone()),
                None => {
                    return exec_err!(
                        "origin_of's second argument is the call's useridentity struct, not {}",
                        array.data_type()
                    );
                }
            },
            None => None,
        };
        let times = match args.args.get(2) {
            Some(arg) => {
                let array = cast(&arg.to_array(rows)?, &timestamp_type())?;
                let times = array.as_primitive::<TimestampMillisecondType>();
                Some(times.values().to_vec())
            }
            None => None,
        };
        let origins: ArrayRef =
            Arc::new(index.origins_of(&keys, identities.as_ref(), times.as_deref())?);
        if let Some(memo_args) = memo_args {
            self.slot.remember(memo_args, Arc::clone(&origins));
        }
        Ok(ColumnarValue::Array(origins))
    }
}

/// Registers `origin_of`, reading the index from `slot`.
pub fn register_function(ctx: &SessionContext, slot: &OriginSlot) {
    let signature = Signature::one_of(
        vec![
            TypeSignature::Any(1),
            TypeSignature::Any(2),
            TypeSignature::Any(3),
        ],
        Volatility::Stable,
    );
    ctx.register_udf(ScalarUDF::new_from_impl(OriginOf {
        slot: slot.clone(),
        signature,
    }));
}

/// (Re-)registers `events_with_origin` over the session's `events`.
pub async fn register_view(ctx: &SessionContext) -> Result<()> {
    ctx.deregister_table(VIEW)?;
    let frame = ctx
        .sql(
            "SELECT *, origin_of(useridentity.accesskeyid, useridentity, eventtime) AS origin \
             FROM events",
        )
        .await?;
    ctx.register_table(VIEW, frame.into_view())?;
    Ok(())
}

/// Builds the origin index if `sql` needs it and the session has none yet.
pub async fn prepare(ctx: &SessionContext, slot: &OriginSlot, sql: &str) -> Result<()> {
    if slot.get().is_some() || !sql.to_ascii_lowercase().contains("origin") {
        return Ok(());
    }
    let index = Arc::new(load(ctx).await?);
    *slot.index.write().expect("no holder panics") = Some(index);
    Ok(())
}

/// The origin index of the session's lake: its `sessions`, the accounts whose trails recorded
/// them, and its first event time.
pub async fn load(ctx: &SessionContext) -> Result<OriginIndex> {
    let batches = ctx.sql("SELECT * FROM sessions").await?.collect().await?;
    let mut sessions = Vec::new();
    for batch in &batches {
        sessions.extend(session_rows(batch).map_err(|err| {
            Error::LakeData(format!(
                "the sessions table: {err}; run `trailq compact` to derive it again"
            ))
        })?);
    }
    let accounts: BTreeSet<String> = sessions
        .iter()
        .filter_map(|s| s.recipientaccountid.clone())
        .collect();
    // Not `sql::event_range`: statements run through `sql::execute` come back here.
    let batches = ctx
        .sql("SELECT CAST(min(eventtime) AS BIGINT) FROM events")
        .await?
        .collect()
        .await?;
    let start = batches
        .first()
        .filter(|b| b.num_rows() > 0 && b.column(0).is_valid(0))
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0));
    Ok(OriginIndex::new(sessions, accounts, start)?)
}
