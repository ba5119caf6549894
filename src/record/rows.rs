//! Tables whose rows are one Rust struct (findings, sessions, digests, deliveries, ...): their
//! Arrow schema is traced from the struct once, with the conventions every table of the lake
//! follows.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use serde::Deserialize;
use serde_arrow::schema::{SchemaLike, TracingOptions};

use super::schema::timestamp_type;

/// The schema of a table of `T` rows: text is `Utf8`, lists are `List` of items named `item`
/// (as Arrow and the Parquet readers expect), named values (enums without data) are plain
/// text, and the `time_columns` (`i64` milliseconds in `T`) are UTC timestamps.
pub fn traced_schema<'de, T: Deserialize<'de>>(time_columns: &[&str]) -> SchemaRef {
    let options = TracingOptions::default()
        .strings_as_large_utf8(false)
        .sequence_as_large_list(false)
        .enums_without_data_as_strings(true);
    let traced = Vec::<FieldRef>::from_type::<T>(options).unwrap_or_else(|err| {
        panic!(
            "{}'s fields all have Arrow types: {err}",
            std::any::type_name::<T>()
        )
    });
    let fields: Vec<FieldRef> = traced
        .into_iter()
        .map(|field| conventional(field, time_columns))
        .collect();
    Arc::new(Schema::new(fields))
}

fn conventional(field: FieldRef, time_columns: &[&str]) -> FieldRef {
    let data_type = match field.data_type() {
        _ if time_columns.contains(&field.name().as_str()) => timestamp_type(),
        DataType::Dictionary(_, text) => text.as_ref().clone(),
        DataType::List(item) => {
            let item = conventional(item.clone(), &[]);
            DataType::List(Arc::new(Field::new("item", item.data_type().clone(), true)))
        }
        DataType::Struct(members) => DataType::Struct(
            members
                .iter()
                .map(|member| conventional(member.clone(), &[]))
                .collect(),
        ),
        other => other.clone(),
    };
    Arc::new(Field::new(field.name(), data_type, field.is_nullable()))
}
