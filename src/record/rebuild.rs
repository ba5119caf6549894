//! A row of `events` turned back into the CloudTrail JSON record it came from.
//!
//! This is the other half of the lossless contract: typed columns give the mapped fields, and the
//! `unmapped` overlay is merged over them to restore unknown keys and original forms.

use arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, StructArray, TimestampMillisecondArray,
};
use arrow::datatypes::DataType;
use serde_json::{Map, Value as Json};

use super::schema::{Field, Kind, RECORD, UNMAPPED};
use super::time::format_time;

/// Rebuilds the CloudTrail record of row `row`. Columns are found by name, so the batch may
/// carry extra columns (such as the `event_date` partition).
pub fn rebuild_record(batch: &RecordBatch, row: usize) -> Result<Json, String> {
    let mut object = Map::new();
    for field in RECORD {
        let name = field.column_name();
        let column = batch
            .column_by_name(&name)
            .ok_or_else(|| format!("the batch has no column `{name}`"))?;
        if let Some(value) = cell(field, column.as_ref(), row)? {
            object.insert(field.key.to_string(), value);
        }
    }
    let mut record = Json::Object(object);
    if let Some(unmapped) = batch.column_by_name(UNMAPPED) {
        let unmapped = unmapped.as_string::<i32>();
        if unmapped.is_valid(row) {
            let overlay: Json = serde_json::from_str(unmapped.value(row))
                .map_err(|err| format!("`unmapped` is not JSON: {err}"))?;
            merge(&mut record, overlay);
        }
    }
    Ok(record)
}

fn cell(field: &Field, array: &dyn Array, row: usize) -> Result<Option<Json>, String> {
    if array.is_null(row) {
        return Ok(None);
    }
    let value = match &field.kind {
        Kind::Str => Json::String(text(array, row)?.to_string()),
        Kind::Json => serde_json::from_str(text(array, row)?)
            .map_err(|err| format!("column `{}` is not JSON: {err}", field.column_name()))?,
        Kind::Bool => Json::Bool(downcast::<BooleanArray>(array)?.value(row)),
        Kind::BoolText => Json::String(downcast::<BooleanArray>(array)?.value(row).to_string()),
        Kind::Time => Json::String(format_time(
            downcast::<TimestampMillisecondArray>(array)?.value(row),
        )),
        Kind::Struct(members) => struct_object(members, downcast::<StructArray>(array)?, row)?,
        Kind::List(members) => {
            let list = array
                .as_list_opt::<i32>()
                .ok_or("a list column is not a list")?;
            let items = list.value(row);
            let items = downcast::<StructArray>(items.as_ref())?;
            (0..items.len())
                .map(|i| struct_object(members, items, i))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array)?
        }
    };
    Ok(Some(value))
}

fn struct_object(members: &[Field], array: &StructArray, row: usize) -> Result<Json, String> {
    let mut object = Map::new();
    for (member, child) in members.iter().zip(array.columns()) {
        if let Some(value) = cell(member, child.as_ref(), row)? {
            object.insert(member.key.to_string(), value);
        }
    }
    Ok(Json::Object(object))
}

/// A text cell, stored as a string or a string view (`record::schema::events_file_schema`).
fn text(array: &dyn Array, row: usize) -> Result<&str, String> {
    match array.data_type() {
        DataType::Utf8View => Ok(array.as_string_view().value(row)),
        _ => Ok(downcast::<StringArray>(array)?.value(row)),
    }
}

fn downcast<T: 'static>(array: &dyn Array) -> Result<&T, String> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("unexpected column type {}", array.data_type()))
}

/// Merges the overlay: objects merge key by key, arrays element by element, anything else
/// replaces what the typed columns gave.
fn merge(base: &mut Json, overlay: Json) {
    match (base, overlay) {
        (Json::Object(base), Json::Object(overlay)) => {
            for (key, patch) in overlay {
                match base.get_mut(&key) {
                    Some(slot) => merge(slot, patch),
                    None => {
                        base.insert(key, patch);
                    }
                }
            }
        }
        (Json::Array(base), Json::Array(overlay)) => {
            for (slot, patch) in base.iter_mut().zip(overlay) {
                merge(slot, patch);
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{EventBatchBuilder, parse_record};

    fn round_trip(json: &str) -> Json {
        let record = parse_record(json.as_bytes()).unwrap();
        let mut builder = EventBatchBuilder::default();
        builder.append(&record, "f", 0, json.len());
        rebuild_record(&builder.finish(), 0).unwrap()
    }

    #[test]
    fn quirky_record_round_trips() {
        let json = r#"{"eventVersion":"1.08","eventTime":"2013-11-02T01:06:28.5Z",
            "readOnly":"true","managementEvent":true,"newField":[1,{"a":null}],
            "userIdentity":{"type":"AssumedRole","futureKey":"x","sessionContext":{
               "attributes":{"mfaAuthenticated":"false","creationDate":"20131102T010628Z"},
               "webIdFederationData":{}}},
            "resources":[{"ARN":"a"},{"ARN":"b","extra":1,"type":null}],
            "requestParameters":{"Key":"v","key":"w","n":1.50},"responseElements":null,
            "sessionCredentialFromConsole":"true","userAgent":"caf\u00e9 \ud83d\ude00"}"#;
        assert_eq!(
            round_trip(json),
            serde_json::from_str::<Json>(json).unwrap()
        );
    }

    #[test]
    fn empty_list_and_empty_struct_survive() {
        let json = r#"{"eventTime":"2024-01-01T00:00:00Z","resources":[],"tlsDetails":{}}"#;
        assert_eq!(
            round_trip(json),
            serde_json::from_str::<Json>(json).unwrap()
        );
    }
}
