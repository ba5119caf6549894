//! `trailq shell`: interactive SQL over the lake.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use datafusion::prelude::SessionContext;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::flags::{AsOfArgs, LakeArgs, S3Access};
use super::{EXIT_OK, print_out, query_runtime, rows_in};
use trailq::error::{Error, Result};
use trailq::sql::output::{self, Format, OutputOptions};
use trailq::sql::{execute_stream, open_session_as_of, refresh};

/// Rows a result shows in the shell.
const SHOWN_ROWS: usize = 1000;

const HELP: &str = "\
Statements end with `;` and may span lines.
  \\d          list tables
  \\d TABLE    describe a table's columns
  \\f          list trailq's SQL functions (same as `trailq query --functions`)
  \\q          quit (or Ctrl-D)";

/// Interactive SQL over the lake, with line editing and history.
#[derive(Debug, Args)]
pub struct ShellArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Widest cell in table output, in characters.
    #[arg(long, default_value_t = 48)]
    max_width: usize,
}

/// Runs the shell until `\q` or end of input.
pub fn run(args: ShellArgs) -> Result<u8> {
    let runtime = query_runtime()?;
    let location = args.lake.location()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let as_of = args.as_of.as_of()?;
    let ctx = runtime.block_on(open_session_as_of(&location, s3.for_lake(&location), as_of))?;
    let mut editor = DefaultEditor::new()
        .map_err(|err| Error::Resources(format!("cannot start the line editor: {err}")))?;
    let history = history_file();
    if let Some(history) = &history {
        let _ = editor.load_history(history);
    }
    eprintln!("trailq shell on {location}: \\? for help, \\q to quit");
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() {
            "trailq> "
        } else {
            "   ...> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                statement.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(Error::Resources(format!("cannot read input: {err}"))),
        };
        let trimmed = line.trim();
        if statement.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match command(&runtime, &ctx, trimmed, args.max_width) {
                Ok(true) => continue,
                Ok(false) => break,
                Err(err) => {
                    eprintln!("error: {err}");
                    continue;
                }
            }
        }
        if trimmed.is_empty() {
            continue;
        }
        if !statement.is_empty() {
            statement.push('\n');
        }
        statement.push_str(&line);
        if !trimmed.ends_with(';') {
            continue;
        }
        let _ = editor.add_history_entry(statement.as_str());
        let sql = std::mem::take(&mut statement);
        if let Err(err) = run_sql(
            &runtime,
            &ctx,
            sql.trim_end().trim_end_matches(';'),
            args.max_width,
        ) {
            eprintln!("error: {err}");
        }
    }
    if let Some(history) = &history {
        let _ = editor.save_history(history);
    }
    Ok(EXIT_OK)
}

/// Where history is kept: `$XDG_STATE_HOME/trailq/history` or `~/.local/state/trailq/history`.
fn history_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    let dir = base.join("trailq");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

fn run_sql(
    runtime: &tokio::runtime::Runtime,
    ctx: &SessionContext,
    sql: &str,
    max_width: usize,
) -> Result<()> {
    let started = Instant::now();
    let options = OutputOptions {
        format: Format::Table,
        max_width,
        max_rows: SHOWN_ROWS,
    };
    let written = runtime.block_on(async {
        // Each statement reads the lake as of its latest commit (unless --as-of pins it).
        refresh(ctx).await?;
        let stream = execute_stream(ctx, sql, Default::default()).await?;
        output::write_stream(
            stream,
            Box::new(std::io::stdout()),
            Path::new("<stdout>"),
            options,
        )
        .await
    })?;
    eprintln!("{}", rows_in(written.rows, started));
    if written.shown < written.rows {
        eprintln!(
            "(the first {} shown; `trailq query --output FILE` writes them all)",
            written.shown
        );
    }
    Ok(())
}

/// Runs a backslash command; `false` to quit.
fn command(
    runtime: &tokio::runtime::Runtime,
    ctx: &SessionContext,
    line: &str,
    max_width: usize,
) -> Result<bool> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("\\q"), _) => return Ok(false),
        (Some("\\d"), None) => run_sql(
            runtime,
            ctx,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            max_width,
        )?,
        (Some("\\d"), Some(table)) => {
            if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Usage(format!("`{table}` is not a table name")));
            }
            run_sql(runtime, ctx, &format!("DESCRIBE {table}"), max_width)?
        }
        (Some("\\f"), _) => {
            for function in trailq::sql::functions::FUNCTIONS {
                print_out(&format!(
                    "{}\n    {}\n",
                    function.signature, function.description
                ))?;
            }
        }
        (Some("\\?") | Some("\\h"), _) => print_out(&format!("{HELP}\n"))?,
        (Some(other), _) => {
            return Err(Error::Usage(format!(
                "unknown command {other}; \\? lists them"
            )));
        }
        (None, _) => {}
    }
    Ok(true)
}
