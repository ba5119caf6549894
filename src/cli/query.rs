//! `trailq query`: SQL over the lake, ad hoc or canned.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use clap::Args;

use super::flags::{AsOfArgs, LakeArgs, S3Access};
use super::{EXIT_OK, peak_memory, print_out, query_runtime, rows_in};
use datafusion::scalar::ScalarValue;
use trailq::error::{Error, Result};
use trailq::record::time::format_time;
use trailq::sql::canned::{self, CannedQuery};
use trailq::sql::functions::FUNCTIONS;
use trailq::sql::output::{self, Format, OutputOptions};
use trailq::sql::params::{bind, bind_text, parse_assignment};
use trailq::sql::{event_range, execute_stream, open_session_as_of};

/// Run SQL over the lake: ad hoc, from a file, or a canned investigation by name.
///
/// Tables: events, insights, findings, rejects (all but rejects partitioned by event_date). Column names are CloudTrail's
/// in lower case (eventname, useridentity.arn); JSON payloads are read with json_get_str(col,
/// 'key', ...) and friends; `--functions` lists trailq's own. Results go to stdout, timing to
/// stderr.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL text, or the name of a canned query (see --list).
    query: Option<String>,
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Read the SQL from a file (a header declares its parameters, as in queries/).
    #[arg(long, conflicts_with = "query")]
    file: Option<PathBuf>,
    /// A parameter for `$name` in the query, as name=value (repeatable). Values are bound as
    /// typed values, never pasted into the SQL.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    params: Vec<(String, String)>,
    /// Output format [default: table on a terminal, csv otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write the result to this file instead of stdout (any format). It appears whole, when
    /// the query has finished.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Widest cell in table output, in characters.
    #[arg(long, default_value_t = 48)]
    max_width: usize,
    /// Rows the table format shows; the other formats write every row as it arrives.
    #[arg(long, default_value_t = 1000)]
    max_rows: usize,
    /// List the canned queries (no lake needed).
    #[arg(long)]
    list: bool,
    /// List trailq's SQL functions (no lake needed).
    #[arg(long)]
    functions: bool,
}

/// Runs the query command.
pub fn run(args: QueryArgs) -> Result<u8> {
    if args.list {
        let mut text = String::new();
        for query in canned::all() {
            let params: Vec<String> = query.params.iter().map(|p| p.describe()).collect();
            let detection = query
                .detection
                .as_ref()
                .map(|s| format!(" [detection: {s}]"))
                .unwrap_or_default();
            text.push_str(&format!("{:<28} {}{detection}\n", query.name, query.title));
            if !params.is_empty() {
                text.push_str(&format!("{:<28}   params: {}\n", "", params.join(", ")));
            }
        }
        print_out(&text)?;
        return Ok(EXIT_OK);
    }
    if args.functions {
        let mut text = String::new();
        for function in FUNCTIONS {
            text.push_str(&format!(
                "{}\n    {}\n    e.g. {}\n",
                function.signature, function.description, function.example
            ));
        }
        text.push_str(
            "\nJSON payloads (requestparameters, responseelements, additionaleventdata, ...): \
             json_get_str(json, key...), json_get_int, json_get_float, json_get_bool, json_get_json, \
             json_as_text, json_contains(json, key...), json_length, and the -> / ->> operators.\n",
        );
        print_out(&text)?;
        return Ok(EXIT_OK);
    }
    let (sql, canned) = resolve(&args)?;
    let lake_args = &args.lake;
    let lake = lake_args.location()?;
    let terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let format = args
        .format
        .unwrap_or(if terminal { Format::Table } else { Format::Csv });
    if format == Format::Parquet && args.output.is_none() {
        return Err(Error::Usage(
            "--format parquet writes a file: add --output FILE.parquet".into(),
        ));
    }
    let options = OutputOptions {
        format,
        max_width: args.max_width,
        max_rows: args.max_rows,
    };
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&lake_args.s3, runtime.handle());
    let s3_config = s3.for_lake(&lake);
    let started = Instant::now();
    let target = Target::new(args.output.as_deref());
    let as_of = args.as_of.as_of()?;
    let written = runtime.block_on(async {
        let ctx = open_session_as_of(&lake, s3_config, as_of).await?;
        let params = match &canned {
            Some(query) => bind(&query.params, &args.params, Utc::now())?,
            None => bind_text(&args.params),
        };
        let time = |name: &str| match params.get(name) {
            Some(ScalarValue::TimestampMillisecond(Some(ms), _)) => Some(*ms),
            _ => None,
        };
        let period = (time("since"), time("until"));
        let stream = execute_stream(&ctx, &sql, params).await?;
        let (out, destination) = target.writer()?;
        let written = output::write_stream(stream, out, &destination, options).await?;
        // A canned query over a period that holds no events at all: say where the data is.
        let range = match period {
            (Some(since), until) if written.rows == 0 => event_range(&ctx)
                .await?
                .filter(|&(first, last)| last < since || until.is_some_and(|u| first >= u)),
            _ => None,
        };
        Ok((written, range))
    });
    let (written, range) = target.finish(written)?;
    log::info!("{}", rows_in(written.rows, started));
    if let Some((first, last)) = range {
        log::info!(
            "the lake's events run from {} to {}; give the period with --param since=... \
             --param until=... (the defaults count back from now)",
            format_time(first),
            format_time(last)
        );
    }
    if let Some(peak) = peak_memory() {
        log::debug!("peak memory {} MB", peak / 1_000_000);
    }
    if written.shown < written.rows {
        log::info!(
            "showing the first {} rows (--max-rows); --format csv or --output FILE writes them all",
            written.shown
        );
    }
    Ok(EXIT_OK)
}

/// Where a result goes: stdout, or a file that appears whole once the result is complete (it is
/// written beside itself first, and removed if the query fails).
struct Target {
    file: Option<(PathBuf, PathBuf)>,
}

impl Target {
    fn new(output: Option<&std::path::Path>) -> Self {
        let file = output.map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let partial = path.with_file_name(format!(".{name}.trailq-partial"));
            (path.to_path_buf(), partial)
        });
        Self { file }
    }

    fn writer(&self) -> Result<(Box<dyn Write + Send>, PathBuf)> {
        match &self.file {
            None => Ok((
                Box::new(std::io::BufWriter::new(std::io::stdout())),
                PathBuf::from("<stdout>"),
            )),
            Some((path, partial)) => {
                let file = std::fs::File::create(partial).map_err(|err| Error::io(path, err))?;
                Ok((Box::new(std::io::BufWriter::new(file)), path.clone()))
            }
        }
    }

    fn finish<T>(&self, result: Result<T>) -> Result<T> {
        let Some((path, partial)) = &self.file else {
            return result;
        };
        match result {
            Ok(value) => {
                std::fs::rename(partial, path).map_err(|err| Error::io(path, err))?;
                Ok(value)
            }
            Err(err) => {
                let _ = std::fs::remove_file(partial);
                Err(err)
            }
        }
    }
}

/// The SQL to run, and its canned header when it has one.
fn resolve(args: &QueryArgs) -> Result<(String, Option<CannedQuery>)> {
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path).map_err(|err| Error::io(path, err))?;
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        // A file with a header gets typed parameters; a bare one is ad hoc.
        return Ok(match canned::parse(&name, &text) {
            Ok(query) => (text, Some(query)),
            Err(_) => (text, None),
        });
    }
    let query = args
        .query
        .as_deref()
        .ok_or_else(|| Error::Usage("give SQL, a canned query name (--list), or --file".into()))?;
    let is_name = query.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_name {
        return match canned::find(query) {
            Some(canned) => Ok((canned.sql.clone(), Some(canned))),
            None => Err(Error::Usage(format!(
                "no canned query named `{query}`; `trailq query --list` shows them"
            ))),
        };
    }
    Ok((query.to_string(), None))
}
