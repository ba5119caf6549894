//! Parsed records appended straight into Arrow arrays of the events schema.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListArray, RecordBatch, StringBuilder, StructArray,
    TimestampMillisecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, FieldRef, Fields};

use super::parse::{Record, Value};
use super::principal::principals;
use super::schema::{Field, Kind, RECORD, USER_IDENTITY, events_schema, struct_fields};

/// Accumulates records into one [`RecordBatch`] of the events schema.
pub struct EventBatchBuilder {
    columns: Vec<Column>,
    source_file: StringBuilder,
    source_index: Int64Builder,
    unmapped: StringBuilder,
    rows: usize,
    bytes: usize,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        Self {
            columns: RECORD
                .iter()
                .map(|field| Column::new(&field.kind))
                .collect(),
            source_file: StringBuilder::new(),
            source_index: Int64Builder::new(),
            unmapped: StringBuilder::new(),
            rows: 0,
            bytes: 0,
        }
    }
}

impl EventBatchBuilder {
    /// Appends one record, with its lineage and the size of its JSON (for memory accounting).
    pub fn append(&mut self, record: &Record<'_>, source: &str, index: u64, json_bytes: usize) {
        for (column, value) in self.columns.iter_mut().zip(&record.fields) {
            column.append(value.as_ref());
        }
        self.source_file.append_value(source);
        self.source_index.append_value(index as i64);
        self.unmapped.append_option(record.unmapped.as_deref());
        self.rows += 1;
        self.bytes += json_bytes + source.len();
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held, for flushing before arrays grow past the memory budget.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes the rows appended so far as a batch, leaving the builder empty.
    pub fn finish(&mut self) -> RecordBatch {
        let mut arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        arrays.push(Arc::new(self.source_file.finish()));
        arrays.push(Arc::new(self.source_index.finish()));
        arrays.push(Arc::new(self.unmapped.finish()));
        let identity = arrays[USER_IDENTITY]
            .as_any()
            .downcast_ref::<StructArray>()
            .expect("useridentity is a struct");
        arrays.push(Arc::new(principals(identity)));
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(events_schema(), arrays)
            .expect("bug: the builders do not match the events schema")
    }
}

/// The builder of one column (or struct member), shaped like its [`Kind`].
enum Column {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
    Struct(StructColumn),
    List {
        item: FieldRef,
        offsets: Vec<i32>,
        validity: NullBufferBuilder,
        items: StructColumn,
    },
}

struct StructColumn {
    fields: Fields,
    children: Vec<Column>,
    validity: NullBufferBuilder,
}

impl StructColumn {
    fn new(members: &[Field]) -> Self {
        Self {
            fields: struct_fields(members),
            children: members.iter().map(|m| Column::new(&m.kind)).collect(),
            validity: NullBufferBuilder::new(0),
        }
    }

    fn append(&mut self, slots: Option<&[Option<Value<'_>>]>) {
        match slots {
            Some(slots) => {
                for (child, value) in self.children.iter_mut().zip(slots) {
                    child.append(value.as_ref());
                }
                self.validity.append_non_null();
            }
            None => {
                for child in &mut self.children {
                    child.append(None);
                }
                self.validity.append_null();
            }
        }
    }

    fn finish(&mut self) -> StructArray {
        let children = self.children.iter_mut().map(Column::finish).collect();
        StructArray::try_new(self.fields.clone(), children, self.validity.finish())
            .expect("bug: struct members do not match their fields")
    }
}

impl Column {
    fn new(kind: &Kind) -> Self {
        match kind {
            Kind::Str | Kind::Json => Column::Str(StringBuilder::new()),
            Kind::Bool | Kind::BoolText => Column::Bool(BooleanBuilder::new()),
            Kind::Time => Column::Time(TimestampMillisecondBuilder::new()),
            Kind::Struct(members) => Column::Struct(StructColumn::new(members)),
            Kind::List(members) => {
                let DataType::List(item) = super::schema::data_type(kind) else {
                    unreachable!("a list kind has a list type")
                };
                Column::List {
                    item,
                    offsets: vec![0],
                    validity: NullBufferBuilder::new(0),
                    items: StructColumn::new(members),
                }
            }
        }
    }

    fn append(&mut self, value: Option<&Value<'_>>) {
        match (self, value) {
            (Column::Str(b), Some(Value::Str(text))) => b.append_value(text),
            (Column::Str(b), Some(Value::Json(raw))) => b.append_value(raw.get()),
            (Column::Str(b), None) => b.append_null(),
            (Column::Bool(b), value) => b.append_option(match value {
                Some(Value::Bool(v)) => Some(*v),
                None => None,
                Some(other) => unreachable!("bug: {other:?} in a boolean column"),
            }),
            (Column::Time(b), value) => b.append_option(match value {
                Some(Value::Time(ms)) => Some(*ms),
                None => None,
                Some(other) => unreachable!("bug: {other:?} in a time column"),
            }),
            (Column::Struct(s), Some(Value::Struct(slots))) => s.append(Some(slots)),
            (Column::Struct(s), None) => s.append(None),
            (
                Column::List {
                    offsets,
                    validity,
                    items,
                    ..
                },
                value,
            ) => {
                match value {
                    Some(Value::List(elements)) => {
                        for element in elements {
                            items.append(Some(element));
                        }
                        validity.append_non_null();
                    }
                    None => validity.append_null(),
                    Some(other) => unreachable!("bug: {other:?} in a list column"),
                }
                let end = items.validity.len() as i32;
                offsets.push(end);
            }
            (_, Some(other)) => unreachable!("bug: {other:?} does not match its column"),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Str(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Time(b) => Arc::new(b.finish().with_timezone("UTC")),
            Column::Struct(s) => Arc::new(s.finish()),
            Column::List {
                item,
                offsets,
                validity,
                items,
            } => {
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(
                    ListArray::try_new(
                        item.clone(),
                        offsets,
                        Arc::new(items.finish()),
                        validity.finish(),
                    )
                    .expect("bug: list offsets do not match their items"),
                )
            }
        }
    }
}
