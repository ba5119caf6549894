//! Query results written in the format the user asked for. Data only: timing and row counts
//! are the caller's, on stderr.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::writer::{EncoderOptions, make_encoder};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::sink::write_batches;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, long cells cut (the default on a terminal).
    Table,
    /// Comma-separated values with a header (the default when piped).
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (needs --output).
    Parquet,
}

/// Writes `batches` to `out` (or, for Parquet, to the file `output`).
pub fn write(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
    output: Option<&Path>,
    max_width: usize,
) -> Result<()> {
    let stdout = |err: std::io::Error| Error::io(Path::new("<stdout>"), err);
    match format {
        Format::Table => write_table(schema, batches, out, max_width).map_err(stdout),
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
                .build(out);
            for batch in batches {
                writer.write(&nested_as_json(batch)?)?;
            }
            Ok(())
        }
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            let out = writer.into_inner();
            out.write_all(b"\n").map_err(stdout)
        }
        Format::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            Ok(())
        }
        Format::Parquet => {
            let path = output.ok_or_else(|| {
                Error::Usage("--format parquet writes a file: add --output FILE.parquet".into())
            })?;
            write_batches(path, schema, batches.to_vec()).map(|_| ())
        }
    }
}

/// `batch` with its struct and list columns (`useridentity`, `resources`) as JSON text, which
/// CSV has no other way to hold.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    let options = EncoderOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let mut encoder = make_encoder(field, column.as_ref(), &options)?;
        let mut buffer = Vec::new();
        let text: StringArray = (0..column.len())
            .map(|row| {
                if column.is_null(row) {
                    return None;
                }
                buffer.clear();
                encoder.encode(row, &mut buffer);
                Some(String::from_utf8_lossy(&buffer).into_owned())
            })
            .collect();
        fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
        columns.push(Arc::new(text) as ArrayRef);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Cuts `text` to `max` characters, marking the cut.
fn cut(text: &str, max: usize) -> String {
    let single_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match single_line.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if single_line.chars().count() > max => format!("{}…", &single_line[..at]),
        _ => single_line,
    }
}

fn write_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
    max_width: usize,
) -> std::io::Result<()> {
    let options = FormatOptions::default().with_null("NULL");
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| cut(f.name(), max_width))
        .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .map_err(std::io::Error::other)?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| cut(&f.value(row).to_string(), max_width))
                    .collect(),
            );
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String], out: &mut dyn Write| -> std::io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        writeln!(out, "| {} |", padded.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&header, out)?;
    writeln!(out, "|-{}-|", rule.join("-|-"))?;
    for row in &rows {
        line(row, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_on_one_line() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("exactly10!", 10), "exactly10!");
        assert_eq!(cut("a much longer value", 10), "a much lo…");
        assert_eq!(cut("two\nlines", 20), "two lines");
        assert_eq!(cut("日本語のテキスト", 4), "日本語…");
    }
}
