//! `trailq report`: the scheduled anomaly report (HTML, Markdown or JSON).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, ValueEnum};

use super::flags::{AsOfArgs, LakeArgs, PeriodArgs, S3Access};
use super::{EXIT_FINDINGS, EXIT_OK, parse_severity, query_runtime};
use trailq::detect::Severity;
use trailq::error::{Error, Result};
use trailq::report::{self, gather::ReportRequest};
use trailq::sql::open_session_as_of;

/// Write the report people read in the morning: headline counts against the previous period,
/// the detectors' findings with charts, the canned detection queries, data health, and the top
/// principals, APIs and error codes.
///
/// Run `trailq detect` first: the report reads its findings from the lake. The period is
/// --since (default: 24h ago) to --until (exclusive; default: now). Exit status 1 when a
/// finding (or detection query with rows) is at or above --fail-on, 2 on error.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    period: PeriodArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// html (one self-contained file), md (for tickets and chat) or json (for a SIEM).
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    format: ReportFormat,
    /// File to write [default: stdout].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity exists (low, medium, high).
    #[arg(long, value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// Post a short JSON summary to this URL (chat or incident tool), with retries.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Leave out the canned detection queries.
    #[arg(long)]
    no_queries: bool,
}

/// The report's period when --since is not given.
const DEFAULT_PERIOD_MS: i64 = 24 * 3_600_000;

/// The report's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file.
    Html,
    /// Markdown.
    Md,
    /// JSON (field names documented in the README).
    Json,
}

/// Runs the report command.
pub fn run(args: ReportArgs) -> Result<u8> {
    let now = Utc::now();
    let until_ms = args.period.until_ms(now)?.unwrap_or(now.timestamp_millis());
    let since_ms = args
        .period
        .since_ms(now)?
        .unwrap_or(now.timestamp_millis() - DEFAULT_PERIOD_MS);
    if until_ms <= since_ms {
        return Err(Error::Usage("--until must be after --since".into()));
    }
    if args.out.is_none() && args.format == ReportFormat::Html && std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "the HTML report is a page to open, not to read in a terminal: add --out report.html \
             (or --format md to read it here)"
                .into(),
        ));
    }
    let location = args.lake.location()?;
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&args.lake.s3, runtime.handle());
    let lake = s3.existing_lake(&location)?;
    let s3_config = s3.for_lake(&location);
    let started = std::time::Instant::now();
    let as_of = args.as_of.as_of()?;
    let report = runtime.block_on(async {
        let ctx = open_session_as_of(&location, s3_config, as_of).await?;
        report::gather(&ReportRequest {
            ctx: &ctx,
            lake: &lake,
            since_ms,
            until_ms,
            queries: !args.no_queries,
            now,
        })
        .await
    })?;
    let text = match args.format {
        ReportFormat::Html => report::render_html(&report),
        ReportFormat::Md => report::render_markdown(&report),
        ReportFormat::Json => report.to_json(),
    };
    match &args.out {
        Some(path) => std::fs::write(path, &text).map_err(|err| Error::io(path, err))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|err| Error::io(std::path::Path::new("<stdout>"), err))?;
        }
    }
    let h = &report.headline;
    log::info!(
        "report {} to {}: {} events, {} findings ({} high), {} detection queries with rows; {:.1} s",
        report.period.since,
        report.period.until,
        h.events.current,
        h.findings.total(),
        h.findings.high,
        h.detections_with_rows,
        started.elapsed().as_secs_f64()
    );
    if let Some(url) = &args.webhook {
        let location = args.out.as_ref().map(|p| p.display().to_string());
        runtime.block_on(report::notify(url, &report, location.as_deref()))?;
        log::info!("webhook: summary posted");
    }
    Ok(match (args.fail_on, report.worst()) {
        (Some(bar), Some(worst)) if worst >= bar => EXIT_FINDINGS,
        _ => EXIT_OK,
    })
}
