//! A day-partitioned lake table (`events`, `insights`, `findings`) as queries see it: time
//! conditions become partition filters, and API conditions are evaluated while decoding.
//!
//! - **Days**: a table's `event_date` is the UTC day of `eventtime`. A time range is answered
//!   by the partitions: one that covers whole days is read with no time condition at all, and
//!   one with edges (it does not start or end at midnight) reads just its days and filters
//!   their rows on `eventtime`. `WHERE eventtime >= now() - interval '1 day'` lists and opens
//!   two day folders instead of every file of the lake, and a month of whole days is read
//!   unfiltered. (Filtering only the edge days would take a union of two scans, and DataFusion
//!   then reads whole structs where a query uses one member: 4x slower.) Other conditions on
//!   `eventtime` (an OR of ranges, a cast to a date) still prune partitions.
//! - **Decoding**: each row group is clustered by API (`sink`), so a condition on `eventsource`
//!   or `eventname` leaves a few pages per row group after page-index pruning. Such scans filter
//!   rows inside the Parquet decoder and decode the other columns (payloads included) only for
//!   the rows that pass. Other scans decode their columns and filter the batches: their
//!   conditions must look at every row anyway, and doing it in the decoder costs more.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::project_schema;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, col};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use super::time_conditions::{Window, date, implied_days, time_window};
use crate::record::schema::EVENT_DATE;

/// The columns each row group is clustered by.
const CLUSTERED_BY: [&str; 2] = ["eventsource", "eventname"];

/// A day-partitioned table read in two ways: `plain` filters decoded batches, `late` filters
/// inside the Parquet decoder. Both read the same files.
#[derive(Debug)]
pub struct LakeTable {
    plain: Arc<dyn TableProvider>,
    late: Arc<dyn TableProvider>,
}

impl LakeTable {
    /// A table whose rows sit in the `event_date` partition of their `eventtime`.
    pub fn new(plain: Arc<dyn TableProvider>, late: Arc<dyn TableProvider>) -> Self {
        Self { plain, late }
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.plain.schema()
    }

    fn table_type(&self) -> TableType {
        self.plain.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let mut answers = self.plain.supports_filters_pushdown(filters)?;
        // Exact when the partitions answer the time conditions: the window is whole days.
        if Window::of(filters.iter().copied()).days().1.is_empty() {
            for (answer, filter) in answers.iter_mut().zip(filters) {
                if time_window(filter).is_some() {
                    *answer = TableProviderFilterPushDown::Exact;
                }
            }
        }
        Ok(answers)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let args = ScanArgs::default()
            .with_projection(projection.map(|p| p.as_slice()))
            .with_filters(Some(filters))
            .with_limit(limit);
        Ok(self.scan_with_args(state, args).await?.into_inner())
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> Result<ScanResult> {
        let given = args.filters().unwrap_or_default();
        let (time, other): (Vec<&Expr>, Vec<&Expr>) =
            given.iter().partition(|f| time_window(f).is_some());
        let by_api = other.iter().any(|filter| {
            filter
                .column_refs()
                .iter()
                .any(|column| CLUSTERED_BY.contains(&column.name.as_str()))
        });
        let table = if by_api { &self.late } else { &self.plain };
        let mut base: Vec<Expr> = other.iter().map(|f| (*f).clone()).collect();
        base.extend(other.iter().filter_map(|f| implied_days(f)));
        if time.is_empty() {
            return table
                .scan_with_args(state, args.with_filters(Some(&base)))
                .await;
        }
        let (whole, edges) = Window::of(time.iter().copied()).days();
        let mut filters = base;
        if edges.is_empty() {
            // Whole days: every row of their partitions is in the window.
            let Some((first, last)) = whole else {
                let projection = args.projection().map(<[usize]>::to_vec);
                let schema = project_schema(&self.schema(), projection.as_ref())?;
                return Ok(ScanResult::new(Arc::new(EmptyExec::new(schema))));
            };
            filters.extend(first.map(|d| col(EVENT_DATE).gt_eq(date(d))));
            filters.extend(last.map(|d| col(EVENT_DATE).lt_eq(date(d))));
        } else {
            // The conditions were inexact: the days are pruned with them, and DataFusion
            // filters the rows read.
            filters.extend(time.iter().filter_map(|f| implied_days(f)));
            filters.extend(time.iter().map(|f| (*f).clone()));
        }
        table
            .scan_with_args(state, args.with_filters(Some(&filters)))
            .await
    }
}
