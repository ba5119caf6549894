//! `trailq detect`: run the anomaly detectors over the lake.

use std::io::Write;
use std::time::Instant;

use chrono::Utc;
use clap::{Args, ValueEnum};

use super::flags::{AsOfArgs, LakeArgs, PeriodArgs, S3Access};
use super::{EXIT_FINDINGS, EXIT_OK, parse_severity, query_runtime};
use trailq::detect::{self, Severity, Window, registry, store};
use trailq::error::{Error, Result};
use trailq::lake::delta::AsOf;
use trailq::record::finding::FindingRow;
use trailq::record::time::format_time;
use trailq::rules::{RuleSet, RulesConfig};
use trailq::sql::open_session_as_of;

/// Find unusual activity: CloudTrail-Insights-style rate and error-rate detectors, and two more.
///
/// Findings are Insights-shaped records (Start and End sharing a sharedEventID), written to the
/// lake's `findings` table and summarized on stdout. Re-running a window replaces its findings
/// (ids are stable). Minutes newer than the watermark (the newest event less --watermark-lag) are
/// judged by a later run. With --as-of or --as-of-version, the lake is judged as it was then,
/// and the findings are printed, not written.
///
/// --since (required) is the first minute to judge; --until the end (exclusive), by default the
/// watermark.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    lake: LakeArgs,
    #[command(flatten)]
    period: PeriodArgs,
    #[command(flatten)]
    as_of: AsOfArgs,
    /// Only these detectors (comma-separated; see --list).
    #[arg(long, value_delimiter = ',')]
    detectors: Vec<String>,
    /// A detector parameter, as DETECTOR.PARAM=VALUE (repeatable; see --list).
    #[arg(long = "set", value_name = "DETECTOR.PARAM=VALUE", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Minutes behind the newest event that are not judged yet (late deliveries).
    #[arg(long, default_value_t = 30)]
    watermark_lag: i64,
    /// Output: a table of findings, or the Insights-shaped records as JSON or NDJSON.
    #[arg(long, value_enum, default_value_t = DetectFormat::Table)]
    format: DetectFormat,
    /// Count per day what would have fired; write nothing.
    #[arg(long)]
    backtest: bool,
    /// Exit 1 when a finding at or above this severity exists (low, medium, high).
    #[arg(long, value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// List the detectors, what each looks for, and its parameters (no lake needed).
    #[arg(long)]
    list: bool,
    /// More Sigma rules: a file or a folder of them (repeatable); the built-in library runs too.
    #[arg(long = "rules", value_name = "DIR|FILE")]
    rules: Vec<std::path::PathBuf>,
    /// Leave the built-in rule library out.
    #[arg(long)]
    no_built_in_rules: bool,
    /// The rules' configuration (YAML): more `rules` folders, and `suppressions` of accepted
    /// activity (by rule, principal pattern, account, source address or network, user agent).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectFormat {
    /// One line per finding.
    Table,
    /// A JSON array of the Insights-shaped records.
    Json,
    /// One Insights-shaped record per line.
    Ndjson,
}

fn parse_setting(text: &str) -> std::result::Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: write DETECTOR.PARAM=VALUE"))?;
    Ok((key.trim().to_string(), value.trim().to_string()))
}

/// Runs the detect command.
pub fn run(args: DetectArgs) -> Result<u8> {
    let mut stdout = std::io::stdout().lock();
    let out = |err| Error::io(std::path::Path::new("<stdout>"), err);
    if args.list {
        for detector in registry::all() {
            writeln!(stdout, "{}\n    {}", detector.name(), detector.summary()).map_err(out)?;
            for param in detector.params() {
                writeln!(
                    stdout,
                    "    --set {}.{}={}  {}",
                    detector.name(),
                    param.name,
                    param.default,
                    param.help
                )
                .map_err(out)?;
            }
        }
        return Ok(EXIT_OK);
    }
    let now = Utc::now();
    let window = Window {
        since_ms: args.period.since_ms(now)?.ok_or_else(|| {
            Error::Usage("detect judges a period: add --since (e.g. --since 7d)".into())
        })?,
        until_ms: args.period.until_ms(now)?,
        lag_minutes: args.watermark_lag.max(0),
    };
    // `rule` in --detectors names the rules; the rest are the statistical detectors.
    let with_rules = args.detectors.is_empty()
        || args
            .detectors
            .iter()
            .any(|d| d == detect::rule_matches::DETECTOR);
    let statistical: Vec<String> = args
        .detectors
        .iter()
        .filter(|d| *d != detect::rule_matches::DETECTOR)
        .cloned()
        .collect();
    let selected = if statistical.is_empty() && !args.detectors.is_empty() {
        Vec::new()
    } else {
        registry::select(&statistical, &args.settings)?
    };
    let config = match &args.config {
        Some(path) => RulesConfig::load(path)?,
        None => RulesConfig::default(),
    };
    let rules = if with_rules {
        let paths: Vec<std::path::PathBuf> =
            config.rules.iter().chain(&args.rules).cloned().collect();
        RuleSet::load(&paths, !args.no_built_in_rules)?.rules
    } else {
        Vec::new()
    };
    let lake_args = &args.lake;
    let location = lake_args.location()?;
    let runtime = query_runtime()?;
    let s3 = S3Access::new(&lake_args.s3, runtime.handle());
    let s3_config = s3.for_lake(&location);
    let started = Instant::now();
    let as_of = args.as_of.as_of()?;
    let bar = super::progress::Bar::new(log::max_level() < log::LevelFilter::Info);
    let outcome = runtime.block_on(async {
        let ctx = open_session_as_of(&location, s3_config, as_of).await?;
        detect::run(&ctx, window, &selected, &rules, &config.suppressions, &bar).await
    })?;
    let span = outcome.span;
    let rows = outcome.rows();
    let (starts, suppressed): (Vec<&FindingRow>, Vec<&FindingRow>) = rows
        .iter()
        .filter(|r| r.state == "Start")
        .partition(|r| r.suppressedby.is_none());
    if !suppressed.is_empty() {
        let reasons: std::collections::BTreeSet<&str> = suppressed
            .iter()
            .filter_map(|r| r.suppressedby.as_deref())
            .collect();
        log::info!(
            "{} findings suppressed by {} suppressions (kept in the findings table, not reported)",
            suppressed.len(),
            reasons.len()
        );
    }
    log::info!(
        "judged {} to {} (watermark) with {}: {} findings in {:.1} s",
        format_time(span.from * 60_000),
        format_time(span.to * 60_000),
        outcome.detectors.join(", "),
        starts.len(),
        started.elapsed().as_secs_f64()
    );
    if args.backtest {
        writeln!(stdout, "{:<12} {:<16} {:>8}", "day", "detector", "findings").map_err(out)?;
        for ((day, detector), count) in store::starts_per_day(&rows) {
            writeln!(stdout, "{day:<12} {detector:<16} {count:>8}").map_err(out)?;
        }
        log::info!("backtest: nothing written");
    } else {
        if as_of == AsOf::Latest {
            let lake = s3.writable_lake(&location)?;
            let written = store::write(&lake, &rows, &outcome.detectors, span)?;
            log::info!(
                "findings table: {} rows of this run written; {} rows the same detectors wrote \
                 before for insights starting in the judged span replaced (re-judged); {} other \
                 rows kept",
                written.rows,
                written.replaced,
                written.kept
            );
        } else {
            log::info!("an earlier state of the lake was judged: nothing written");
        }
        let reported: Vec<FindingRow> = rows
            .iter()
            .filter(|r| r.suppressedby.is_none())
            .cloned()
            .collect();
        print(&mut stdout, args.format, &reported).map_err(out)?;
    }
    stdout.flush().map_err(out)?;
    let worst = starts.iter().map(|r| r.severity).max();
    Ok(match (args.fail_on, worst) {
        (Some(bar), Some(worst)) if worst >= bar => EXIT_FINDINGS,
        _ => EXIT_OK,
    })
}

fn print(out: &mut impl Write, format: DetectFormat, rows: &[FindingRow]) -> std::io::Result<()> {
    let records = || {
        rows.iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.record).unwrap_or_default())
    };
    match format {
        DetectFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &records().collect::<Vec<_>>())?;
            writeln!(out)
        }
        DetectFormat::Ndjson => {
            for record in records() {
                writeln!(out, "{record}")?;
            }
            Ok(())
        }
        DetectFormat::Table => {
            let mut starts: Vec<&FindingRow> = rows.iter().filter(|r| r.state == "Start").collect();
            if starts.is_empty() {
                return writeln!(out, "no findings");
            }
            starts.sort_by(|a, b| {
                b.starttime
                    .cmp(&a.starttime)
                    .then_with(|| a.eventid.cmp(&b.eventid))
            });
            for row in starts {
                let duration = match row.endtime {
                    Some(_) => format!("{} min", row.insightduration),
                    None => "ongoing".into(),
                };
                writeln!(
                    out,
                    "{}  {:<6} {:<15} {} {:<14} {:<8} {}",
                    format_time(row.starttime),
                    row.severity.name(),
                    row.detector,
                    row.recipientaccountid,
                    row.awsregion,
                    duration,
                    row.reason
                )?;
            }
            Ok(())
        }
    }
}
