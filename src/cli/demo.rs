//! `trailq demo`: the whole job on a generated trail, with no AWS account.

use std::path::PathBuf;

use arrow::util::pretty::pretty_format_batches;
use clap::Args;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::EXIT_OK;
use trailq::compact::{CompactOptions, compact};
use trailq::error::{Error, Result};
use trailq::generate::{TrailSpec, generate_with_progress, write_public_keys};
use trailq::ingest::{IngestOptions, ingest};
use trailq::integrity::{CheckOptions, PublicKeys, Summary, check};
use trailq::lake::Lake;
use trailq::source::LocalSource;

/// Generate a sample trail, ingest it into a lake, compact it, query it, run the detectors over
/// its last day and write the report (DIR/report.html).
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working folder: the trail goes to DIR/trail, the lake to DIR/lake, the report to
    /// DIR/report.html.
    #[arg(default_value = "trailq-demo")]
    dir: PathBuf,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<u8> {
    let trail = args.dir.join("trail");
    if !trail.exists() {
        log::info!("generating a sample trail in {}", trail.display());
        generate_with_progress(
            &TrailSpec::default(),
            &trail,
            &super::progress::Bar::new(false),
        )
        .map_err(|err| Error::io(&trail, err))?;
    }
    let lake = args.dir.join("lake");
    let options = IngestOptions::default();
    let bar = super::progress::Bar::new(false);
    let opened = Lake::create(&lake)?;
    let summary = ingest(
        &LocalSource::new(&trail).map_err(|err| Error::io(&trail, err))?,
        &opened,
        &options,
        &bar,
    )?;
    log::info!(
        "ingested {} records, events and Insights ({} duplicates removed), into {}",
        summary.events,
        summary.duplicates,
        lake.display()
    );
    let keys_file = args.dir.join("public-keys.json");
    write_public_keys(&keys_file).map_err(|err| Error::io(&keys_file, err))?;
    let keys = PublicKeys::read(&keys_file)?;
    let options = CheckOptions {
        keys: &keys,
        cloudtrail: None,
        changed: true,
    };
    if let Some(verification) = check(&opened, &options)? {
        let summary = Summary::of(&verification, None, None);
        log::info!(
            "checked {} digests and {} log files against them: {} (`trailq verify --lake {}`)",
            verification.digests.len(),
            verification.files.len(),
            if summary.is_verified() {
                "all verified".to_string()
            } else {
                format!("{} problems", summary.problems.len())
            },
            lake.display()
        );
    }
    let compacted = compact(
        &opened,
        &CompactOptions {
            memory_budget: 1 << 30,
            since: None,
            until: None,
        },
    )?;
    super::compact::report(&compacted);
    let runtime = super::query_runtime()?;
    runtime.block_on(show(&lake))?;
    let report = args.dir.join("report.html");
    runtime.block_on(detect_and_report(&lake, &report))?;
    log::info!("wrote the report of the last day to {}", report.display());
    let spec = TrailSpec::default();
    let first = spec.start;
    let last = spec.start + chrono::Days::new(u64::from(spec.days.saturating_sub(1)));
    let after = last + chrono::Days::new(1);
    let cmd = invocation();
    let lake = lake.display();
    log::info!(
        "next, on this lake (its events are from {first} to {last}, so give the period; the \
         defaults count back from now):\n  \
         {cmd} query --lake {lake} --list\n  \
         {cmd} query --lake {lake} console_login_without_mfa --param since={first} --param until={after}\n  \
         {cmd} query --lake {lake} \"SELECT eventname, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10\"\n  \
         {cmd} detect --lake {lake} --since {last} --until {after}\n  \
         {cmd} report --lake {lake} --since {last} --until {after} --format md\n  \
         {cmd} shell --lake {lake}\n  \
         {cmd} verify --lake {lake}   (every log file against the trail's signed digests)\n  \
         {cmd} ingest {} --lake {lake}   (again: finds nothing new)",
        trail.display()
    );
    Ok(EXIT_OK)
}

/// How the user ran trailq: `cargo run --` from a build folder, else `trailq`.
fn invocation() -> &'static str {
    let in_build = std::env::current_exe().is_ok_and(|exe| {
        exe.components()
            .any(|c| c.as_os_str() == "target" || c.as_os_str() == "trailq-target")
    });
    if in_build { "cargo run --" } else { "trailq" }
}

/// `trailq detect` over the trail's last day, then `trailq report` of that day as HTML.
async fn detect_and_report(lake: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let spec = TrailSpec::default();
    let last_day = spec.start + chrono::Days::new(u64::from(spec.days.saturating_sub(1)));
    let since_ms = last_day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    let until_ms = since_ms + 86_400_000;
    let location = trailq::lake::LakeLocation::Local(lake.to_path_buf());
    let ctx = trailq::sql::open_session(&location, None).await?;
    let window = trailq::detect::Window {
        since_ms,
        until_ms: Some(until_ms),
        lag_minutes: 0,
    };
    let detectors = trailq::detect::registry::select(&[], &[])?;
    let outcome = trailq::detect::run(
        &ctx,
        window,
        &detectors,
        &trailq::rules::RuleSet::load(&[], true)?.rules,
        &[],
        &super::progress::Bar::new(false),
    )
    .await?;
    let lake_handle = Lake::open(lake)?;
    trailq::detect::store::write(
        &lake_handle,
        &outcome.rows(),
        &outcome.detectors,
        outcome.span,
    )?;
    log::info!(
        "detect: {} findings of the detectors and {} of the rules on the last day",
        outcome.findings.len(),
        outcome.rule_findings.len()
    );
    // A new session sees the findings just written.
    let ctx = trailq::sql::open_session(&location, None).await?;
    let report = trailq::report::gather(&trailq::report::gather::ReportRequest {
        ctx: &ctx,
        lake: &lake_handle,
        since_ms,
        until_ms,
        queries: true,
        now: chrono::Utc::now(),
    })
    .await?;
    std::fs::write(out, trailq::report::render_html(&report)).map_err(|err| Error::io(out, err))
}

async fn show(lake: &std::path::Path) -> Result<()> {
    let ctx = SessionContext::new();
    let events = lake.join("events");
    let options = ParquetReadOptions::default()
        .table_partition_cols(vec![("event_date".to_string(), DataType::Utf8)]);
    ctx.register_parquet("events", events.to_string_lossy().as_ref(), options)
        .await?;
    for sql in [
        "SELECT event_date, count(*) AS events, count(DISTINCT recipientaccountid) AS accounts, \
         sum(CASE WHEN errorcode IS NOT NULL THEN 1 ELSE 0 END) AS errors \
         FROM events GROUP BY event_date ORDER BY event_date",
        "SELECT eventsource, eventname, count(*) AS calls FROM events \
         WHERE readonly = false GROUP BY 1, 2 ORDER BY calls DESC LIMIT 8",
        "SELECT useridentity.type AS identity, count(*) AS events FROM events GROUP BY 1 ORDER BY 2 DESC",
    ] {
        let batches = ctx.sql(sql).await?.collect().await?;
        super::print_out(&format!("{sql}\n{}\n\n", pretty_format_batches(&batches)?))?;
    }
    Ok(())
}
