//! Query results written in the format the user asked for. Data only: timing and row counts
//! are the caller's, on stderr.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::writer::{EncoderOptions, make_encoder};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::sink::parquet_writer;

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

/// How results are shown.
#[derive(Debug, Clone, Copy)]
pub struct OutputOptions {
    /// The format.
    pub format: Format,
    /// Widest cell of the table format, in characters.
    pub max_width: usize,
    /// Rows the table format shows (it aligns its columns, so it holds what it shows); the
    /// other formats write every row as it arrives.
    pub max_rows: usize,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows in the result.
    pub rows: usize,
    /// Rows written out (fewer than `rows` only for the table format, past `max_rows`).
    pub shown: usize,
}

/// Writes a result as it arrives, batch by batch: memory holds one batch, not the result.
/// `out` is named `destination` in errors; an I/O failure of `out` (a reader that closed the
/// pipe, a full disk) is reported as that, not as an error of the writer on top of it.
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    out: Box<dyn Write + Send>,
    destination: &Path,
    options: OutputOptions,
) -> Result<Written> {
    let watched = Watched::new(out);
    let failure = watched.failure.clone();
    let io_error = |err: Error| match failure.lock().expect("never poisoned").take() {
        Some((kind, message)) => Error::io(destination, std::io::Error::new(kind, message)),
        None => err,
    };
    let mut sink = Sink::new(stream.schema(), Box::new(watched), options).map_err(io_error)?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(super::explain)?;
        rows += batch.num_rows();
        sink.write(&batch).map_err(io_error)?;
    }
    let shown = sink.finish().map_err(io_error)?;
    Ok(Written {
        rows,
        shown: shown.unwrap_or(rows),
    })
}

/// A writer that remembers its last I/O failure, which the CSV and JSON writers above it turn
/// into text.
struct Watched {
    inner: Box<dyn Write + Send>,
    failure: Arc<Mutex<Option<(std::io::ErrorKind, String)>>>,
}

impl Watched {
    fn new(inner: Box<dyn Write + Send>) -> Self {
        Self {
            inner,
            failure: Arc::default(),
        }
    }

    fn watch<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(err) = &result {
            *self.failure.lock().expect("never poisoned") = Some((err.kind(), err.to_string()));
        }
        result
    }
}

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.watch(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.watch(result)
    }
}

type Out = Box<dyn Write + Send>;

/// The writer of one format.
enum Sink {
    Table(TablePreview),
    Csv(arrow::csv::Writer<Out>),
    Json(arrow::json::ArrayWriter<Out>),
    Ndjson(arrow::json::LineDelimitedWriter<Out>),
    Parquet(parquet::arrow::ArrowWriter<Out>),
}

impl Sink {
    fn new(schema: SchemaRef, out: Out, options: OutputOptions) -> Result<Self> {
        Ok(match options.format {
            Format::Table => Sink::Table(TablePreview::new(&schema, out, options)),
            Format::Csv | Format::Tsv => {
                let delimiter = if options.format == Format::Csv {
                    b','
                } else {
                    b'\t'
                };
                Sink::Csv(
                    arrow::csv::WriterBuilder::new()
                        .with_header(true)
                        .with_delimiter(delimiter)
                        .build(out),
                )
            }
            Format::Json => Sink::Json(arrow::json::ArrayWriter::new(out)),
            Format::Ndjson => Sink::Ndjson(arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => Sink::Parquet(
                parquet_writer(out, &schema)
                    .map_err(|err| Error::parquet(Path::new("the result"), err))?,
            ),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Table(table) => table.add(batch),
            Sink::Csv(writer) => Ok(writer.write(&nested_as_json(batch)?)?),
            Sink::Json(writer) => Ok(writer.write(batch)?),
            Sink::Ndjson(writer) => Ok(writer.write(batch)?),
            Sink::Parquet(writer) => writer
                .write(batch)
                .map_err(|err| Error::parquet(Path::new("the result"), err)),
        }
    }

    /// Ends the output; the table format says how many rows it showed.
    fn finish(self) -> Result<Option<usize>> {
        let io = |err| Error::io(Path::new("the result"), err);
        match self {
            Sink::Table(table) => table.finish().map(Some).map_err(io),
            Sink::Csv(writer) => writer.into_inner().flush().map(|()| None).map_err(io),
            Sink::Json(mut writer) => {
                writer.finish()?;
                let mut out = writer.into_inner();
                out.write_all(b"\n")
                    .and_then(|()| out.flush())
                    .map_err(io)?;
                Ok(None)
            }
            Sink::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner().flush().map_err(io)?;
                Ok(None)
            }
            Sink::Parquet(writer) => {
                let mut out = writer
                    .into_inner()
                    .map_err(|err| Error::parquet(Path::new("the result"), err))?;
                out.flush().map_err(io)?;
                Ok(None)
            }
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

/// The table format: rows aligned in columns, so the rows shown are held until the end; past
/// `max_rows` the rest are only counted.
struct TablePreview {
    out: Out,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    max_width: usize,
    max_rows: usize,
}

impl TablePreview {
    fn new(schema: &SchemaRef, out: Out, options: OutputOptions) -> Self {
        Self {
            out,
            header: schema
                .fields()
                .iter()
                .map(|f| cut(f.name(), options.max_width))
                .collect(),
            rows: Vec::new(),
            max_width: options.max_width,
            max_rows: options.max_rows,
        }
    }

    fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let wanted = self.max_rows.saturating_sub(self.rows.len());
        if wanted == 0 {
            return Ok(());
        }
        let options = FormatOptions::default().with_null("NULL");
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()?;
        for row in 0..batch.num_rows().min(wanted) {
            self.rows.push(
                formatters
                    .iter()
                    .map(|f| cut(&f.value(row).to_string(), self.max_width))
                    .collect(),
            );
        }
        Ok(())
    }

    /// Writes the table; returns the rows shown.
    fn finish(mut self) -> std::io::Result<usize> {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let out = &mut self.out;
        let line = |cells: &[String], out: &mut Out| -> std::io::Result<()> {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
                .collect();
            writeln!(out, "| {} |", padded.join(" | "))
        };
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&self.header, out)?;
        writeln!(out, "|-{}-|", rule.join("-|-"))?;
        for row in &self.rows {
            line(row, out)?;
        }
        out.flush()?;
        Ok(self.rows.len())
    }
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
