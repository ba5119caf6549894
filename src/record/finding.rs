//! A finding as the lake stores it: one row of the `findings` table per Insights-shaped record
//! (a Start, and an End once the insight is over). The struct is the table's column list: its
//! fields, in order, build the schema and the batches, and a batch read back (from a file or a
//! query) becomes rows again, so the detectors that write findings and the report that reads
//! them share one type.

use std::sync::LazyLock;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Look today.
    Medium,
    /// Look now.
    High,
}

impl Severity {
    /// `low`, `medium` or `high`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// Parses `low`, `medium` or `high`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// One row of `findings`. Times are UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRow {
    /// The record's id: stable, so a re-run replaces the row instead of adding one.
    pub eventid: String,
    /// The insight's id, shared by its Start and End records.
    pub sharedeventid: String,
    /// The Start or End time.
    pub eventtime: i64,
    /// `Start` or `End`.
    pub state: String,
    /// The detector that found it (`api-call-rate`, ...).
    pub detector: String,
    /// `ApiCallRateInsight`, `ApiErrorRateInsight`, or trailq's own types.
    pub insighttype: String,
    /// How urgent: `low`, `medium` or `high`.
    pub severity: Severity,
    /// The account the subject's events were recorded in.
    pub recipientaccountid: String,
    /// The region.
    pub awsregion: String,
    /// The subject API's service (`*` for a principal's burst).
    pub eventsource: String,
    /// The subject API (`*` for a principal's burst).
    pub eventname: String,
    /// The error code of an error-rate insight.
    pub errorcode: Option<String>,
    /// The principal, for principal-centred detectors.
    pub principal: Option<String>,
    /// What was measured, when a detector measures more than one thing.
    pub metric: Option<String>,
    /// Events per minute in the baseline (AWS's `baseline.average`).
    pub baselineaverage: f64,
    /// Events per minute during the insight (AWS's `insight.average`).
    pub insightaverage: f64,
    /// Minutes the insight lasted (to the watermark while open).
    pub insightduration: i64,
    /// Minutes of baseline.
    pub baselineduration: i64,
    /// The insight's first minute.
    pub starttime: i64,
    /// The minute after its last, or null while it is still open.
    pub endtime: Option<i64>,
    /// Events in the insight.
    pub eventcount: f64,
    /// One sentence with the numbers.
    pub reason: String,
    /// Files holding the insight's events (at most 100).
    pub sourcefiles: Vec<String>,
    /// The whole Insights-shaped record, as JSON.
    pub record: String,
    /// The detector's filter and key values, to draw the series again (see `Subject`).
    pub subject: String,
    /// The Sigma rule's `id`, for `detector = 'rule'`.
    pub ruleid: Option<String>,
    /// The Sigma rule's title.
    pub ruletitle: Option<String>,
    /// ATT&CK technique ids of the rule (`T1562.008`).
    pub techniques: Option<Vec<String>>,
    /// Ids of the matched events (at most 100).
    pub eventids: Option<Vec<String>>,
    /// Events the rule matched, all of them.
    pub matchcount: Option<i64>,
    /// The reason of the suppression that kept the finding out of the report (it is kept in
    /// the table, so what was suppressed can be counted and audited).
    pub suppressedby: Option<String>,
}

/// The events of a finding's series, as the `subject` column holds them: the detector's filter
/// (SQL of trailq's own) and `(column expression, value)` pairs. The report draws the series'
/// chart from it, binding the values as parameters (they come from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// A condition on `events`.
    pub filter: String,
    /// Column expressions and the values they equal.
    pub keys: Vec<(String, String)>,
}

/// The columns that hold times (the rest take their Arrow type from their Rust type).
const TIME_COLUMNS: [&str; 3] = ["eventtime", "starttime", "endtime"];

/// The schema of `findings` (without its `event_date` partition column), from `FindingRow`.
pub fn findings_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| super::rows::traced_schema::<FindingRow>(&TIME_COLUMNS));
    SCHEMA.clone()
}

/// The rows as a batch of `findings_schema()`.
pub fn findings_batch(rows: &[FindingRow]) -> Result<RecordBatch, serde_arrow::Error> {
    serde_arrow::to_record_batch(findings_schema().fields(), &rows)
}

/// The rows of a batch of `findings` (any column order, extra columns such as `event_date`
/// ignored; text may be plain or views, as a query returns it).
pub fn finding_rows(batch: &RecordBatch) -> Result<Vec<FindingRow>, serde_arrow::Error> {
    serde_arrow::from_record_batch(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::schema::timestamp_type;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn row(state: &str, end: Option<i64>) -> FindingRow {
        FindingRow {
            eventid: format!("id-{state}"),
            sharedeventid: "shared".into(),
            eventtime: 1_709_942_400_000,
            state: state.into(),
            detector: "api-call-rate".into(),
            insighttype: "ApiCallRateInsight".into(),
            severity: Severity::High,
            recipientaccountid: "111122223333".into(),
            awsregion: "us-east-1".into(),
            eventsource: "iam.amazonaws.com".into(),
            eventname: "CreateAccessKey".into(),
            errorcode: None,
            principal: Some("arn:aws:iam::111122223333:user/alice".into()),
            metric: None,
            baselineaverage: 0.5,
            insightaverage: 12.0,
            insightduration: 12,
            baselineduration: 10_080,
            starttime: 1_709_942_400_000,
            endtime: end,
            eventcount: 42.0,
            reason: "because".into(),
            sourcefiles: vec!["s3://b/k.json.gz".into()],
            record: "{}".into(),
            subject: "{}".into(),
            ruleid: None,
            ruletitle: None,
            techniques: None,
            eventids: Some(vec!["e1".into()]),
            matchcount: Some(3),
            suppressedby: None,
        }
    }

    #[test]
    fn the_schema_is_the_row_type_with_times_and_nullability() {
        let schema = findings_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names[..4],
            ["eventid", "sharedeventid", "eventtime", "state"]
        );
        assert_eq!(names.last(), Some(&"suppressedby"));
        let field = |name: &str| schema.field_with_name(name).unwrap().clone();
        assert_eq!(field("eventtime").data_type(), &timestamp_type());
        assert!(!field("eventtime").is_nullable());
        assert!(field("endtime").is_nullable() && field("errorcode").is_nullable());
        assert_eq!(field("severity").data_type(), &DataType::Utf8);
        assert_eq!(field("baselineaverage").data_type(), &DataType::Float64);
        assert!(
            matches!(field("sourcefiles").data_type(), DataType::List(item) if item.name() == "item")
        );
    }

    #[test]
    fn rows_round_trip_through_a_batch_and_its_views() {
        let rows = vec![row("Start", Some(1_709_943_120_000)), row("End", None)];
        let batch = findings_batch(&rows).unwrap();
        assert_eq!(batch.schema(), findings_schema());
        assert_eq!(finding_rows(&batch).unwrap(), rows);
        // A query hands text back as views, with the partition column beside it.
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Utf8 => arrow::compute::cast(c, &DataType::Utf8View).unwrap(),
                _ => c.clone(),
            })
            .collect();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), f.is_nullable()))
            .collect();
        fields.push(Field::new("event_date", DataType::Date32, false));
        let mut columns = columns;
        columns.push(Arc::new(arrow::array::Date32Array::from(vec![
            19791, 19791,
        ])));
        let viewed = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert_eq!(finding_rows(&viewed).unwrap(), rows);
    }

    #[test]
    fn an_unknown_severity_is_an_error_not_a_default() {
        let batch = findings_batch(&[row("Start", None)]).unwrap();
        let (index, _) = batch.schema().column_with_name("severity").unwrap();
        let mut columns = batch.columns().to_vec();
        columns[index] = Arc::new(arrow::array::StringArray::from(vec!["urgent"]));
        let bad = RecordBatch::try_new(batch.schema(), columns).unwrap();
        let err = finding_rows(&bad).unwrap_err().to_string();
        assert!(err.contains("urgent"), "{err}");
    }
}
