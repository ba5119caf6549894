//! The command line: one file per subcommand. Data goes to stdout; logs, progress and the
//! summary go to stderr.
//!
//! Exit codes: 0 success; 1 findings at or above the chosen severity (detect and report), or
//! evidence that does not verify (verify);
//! 2 error, including an ingest that left any input incomplete.

mod compact;
mod ddl;
mod demo;
mod detect;
mod fetch_signatures;
mod flags;
mod generate;
mod history;
mod ingest;
mod migrate;
mod progress;
mod query;
mod report;
mod rules;
mod shell;
mod vacuum;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status for an error or incomplete input.
pub const EXIT_ERROR: u8 = 2;

/// trailq: a CloudTrail lake on Parquet, SQL over it, and anomaly detection.
#[derive(Debug, Parser)]
#[command(name = "trailq", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr (-v: trailq's debug output, -vv: also the libraries').
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Ingest(ingest::IngestArgs),
    Compact(compact::CompactArgs),
    Vacuum(vacuum::VacuumArgs),
    History(history::HistoryArgs),
    Migrate(migrate::MigrateArgs),
    Generate(generate::GenerateArgs),
    Demo(demo::DemoArgs),
    Query(query::QueryArgs),
    Shell(shell::ShellArgs),
    Ddl(ddl::DdlArgs),
    Detect(detect::DetectArgs),
    Report(report::ReportArgs),
    Rules(rules::RulesArgs),
    Verify(verify::VerifyArgs),
    FetchSignatures(fetch_signatures::FetchSignaturesArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `-v` is trailq's own debug output; `-vv` adds the libraries' (DataFusion's plans, ...).
    let (level, own) = match (cli.quiet, cli.verbose) {
        (true, _) => (log::LevelFilter::Error, log::LevelFilter::Error),
        (false, 0) => (log::LevelFilter::Info, log::LevelFilter::Info),
        (false, 1) => (log::LevelFilter::Info, log::LevelFilter::Debug),
        (false, _) => (log::LevelFilter::Debug, log::LevelFilter::Trace),
    };
    env_logger::Builder::new()
        .filter_level(level)
        .filter_module("trailq", own)
        .parse_env("TRAILQ_LOG")
        .format_timestamp(None)
        .format_target(false)
        .init();
    let result = match cli.command {
        Command::Ingest(args) => ingest::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Vacuum(args) => vacuum::run(args),
        Command::History(args) => history::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Query(args) => query::run(args),
        Command::Shell(args) => shell::run(args),
        Command::Ddl(args) => ddl::run(args),
        Command::Detect(args) => detect::run(args),
        Command::Report(args) => report::run(args),
        Command::Rules(args) => rules::run(args),
        Command::Verify(args) => verify::run(args),
        Command::FetchSignatures(args) => fetch_signatures::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(EXIT_OK);
            }
            let _ = writeln!(std::io::stderr(), "error: {err}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(err: &trailq::error::Error) -> bool {
    matches!(err, trailq::error::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `--fail-on`: low, medium or high.
fn parse_severity(text: &str) -> std::result::Result<trailq::detect::Severity, String> {
    trailq::detect::Severity::parse(text)
        .ok_or_else(|| format!("`{text}`: use low, medium or high"))
}

/// The async runtime the query engine and S3 requests run on.
fn query_runtime() -> trailq::error::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            trailq::error::Error::Resources(format!("cannot start the query runtime: {err}"))
        })
}

/// Writes `text` to stdout. A reader that closed the pipe (`| head`) makes it fail with a
/// broken pipe, which `main` takes as the end of the command, not as an error.
fn print_out(text: &str) -> trailq::error::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| trailq::error::Error::io(std::path::Path::new("<stdout>"), err))
}

/// "3 rows in 0.041 s", for stderr after a query.
fn rows_in(rows: usize, started: std::time::Instant) -> String {
    let plural = if rows == 1 { "" } else { "s" };
    format!(
        "{rows} row{plural} in {:.3} s",
        started.elapsed().as_secs_f64()
    )
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The process's peak resident memory in bytes (Linux), for summaries and benchmarks.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
