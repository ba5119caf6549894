//! `trailq query`: SQL over the lake, ad hoc or canned.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use clap::Args;

use super::aws::S3Args;
use super::{EXIT_OK, query_runtime, rows_in};
use crate::error::{Error, Result};
use crate::lake::LakeLocation;
use crate::sql::canned::{self, CannedQuery};
use crate::sql::functions::FUNCTIONS;
use crate::sql::output::{self, Format};
use crate::sql::params::{bind, bind_text, parse_assignment};
use crate::sql::{execute, open_session};

/// Run SQL over the lake: ad hoc, from a file, or a canned investigation by name.
///
/// Tables: events, insights, rejects (partitioned by event_date). Column names are CloudTrail's
/// in lower case (eventname, useridentity.arn); JSON payloads are read with json_get_str(col,
/// 'key', ...) and friends; `--functions` lists trailq's own. Results go to stdout, timing to
/// stderr.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL text, or the name of a canned query (see --list).
    query: Option<String>,
    /// The lake to query: a folder or `s3://bucket/prefix/`.
    #[arg(long, required_unless_present_any = ["list", "functions"])]
    lake: Option<String>,
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
    /// File to write (needed for --format parquet).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Widest cell in table output, in characters.
    #[arg(long, default_value_t = 48)]
    max_width: usize,
    /// List the canned queries.
    #[arg(long)]
    list: bool,
    /// List trailq's SQL functions.
    #[arg(long)]
    functions: bool,
    #[command(flatten)]
    s3: S3Args,
}

/// Runs the query command.
pub fn run(args: QueryArgs) -> Result<u8> {
    let mut stdout = std::io::stdout().lock();
    let out = |err| Error::io(std::path::Path::new("<stdout>"), err);
    if args.list {
        for query in canned::all() {
            let params: Vec<String> = query.params.iter().map(|p| p.describe()).collect();
            let detection = query
                .detection
                .as_ref()
                .map(|s| format!(" [detection: {s}]"))
                .unwrap_or_default();
            writeln!(stdout, "{:<28} {}{detection}", query.name, query.title).map_err(out)?;
            if !params.is_empty() {
                writeln!(stdout, "{:<28}   params: {}", "", params.join(", ")).map_err(out)?;
            }
        }
        return Ok(EXIT_OK);
    }
    if args.functions {
        for function in FUNCTIONS {
            writeln!(
                stdout,
                "{}\n    {}\n    e.g. {}",
                function.signature, function.description, function.example
            )
            .map_err(out)?;
        }
        writeln!(
            stdout,
            "\nJSON payloads (requestparameters, responseelements, additionaleventdata, ...): \
             json_get_str(json, key...), json_get_int, json_get_float, json_get_bool, json_get_json, \
             json_as_text, json_contains(json, key...), json_length, and the -> / ->> operators."
        )
        .map_err(out)?;
        return Ok(EXIT_OK);
    }
    let (sql, canned) = resolve(&args)?;
    let lake = LakeLocation::parse(args.lake.as_deref().expect("clap requires --lake"))?;
    let format = args.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Csv
    });
    let runtime = query_runtime()?;
    let s3 = super::aws::S3Access::new(&args.s3, runtime.handle());
    let s3_config = s3.for_lake(&lake);
    let started = Instant::now();
    let (schema, batches) = runtime.block_on(async {
        let ctx = open_session(&lake, s3_config).await?;
        let params = match &canned {
            Some(query) => bind(&query.params, &args.params, Utc::now())?,
            None => bind_text(&args.params),
        };
        execute(&ctx, &sql, params).await
    })?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    output::write(
        format,
        &schema,
        &batches,
        &mut stdout,
        args.output.as_deref(),
        args.max_width,
    )?;
    stdout.flush().map_err(out)?;
    log::info!("{}", rows_in(rows, started));
    Ok(EXIT_OK)
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
