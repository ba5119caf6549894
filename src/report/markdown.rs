//! The report as Markdown that renders in GitHub and chat tools. Values from the data are
//! escaped so they cannot add formatting, links or HTML.

use std::fmt::Write;

use super::{Change, Chart, FindingReport, Ranked, RejectGroup, Report, events, rate};

/// Escapes Markdown and HTML specials, and keeps a value on one line (and in one table cell).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn change(c: &Change) -> String {
    if c.previous == 0 {
        return "n/a".into();
    }
    let pct = 100.0 * (c.current as f64 - c.previous as f64) / c.previous as f64;
    format!("{}{:.0}%", if pct >= 0.0 { "+" } else { "-" }, pct.abs())
}

/// A one-line sparkline of a chart's counts (at most 60 characters).
fn sparkline(chart: &Chart) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let step = chart.counts.len().div_ceil(60).max(1);
    let buckets: Vec<u64> = chart.counts.chunks(step).map(|c| c.iter().sum()).collect();
    let top = buckets.iter().copied().max().unwrap_or(0).max(1) as f64;
    buckets
        .iter()
        .map(|&b| BARS[((b as f64 / top) * 7.0).round() as usize])
        .collect()
}

fn ranked(out: &mut String, title: &str, list: &[Ranked]) {
    let _ = writeln!(out, "\n**{title}**\n\n| | Events |\n| --- | ---: |");
    for r in list {
        let _ = writeln!(out, "| {} | {} |", esc(&r.value), r.events);
    }
}

fn groups(out: &mut String, title: &str, list: &[RejectGroup]) {
    let _ = writeln!(
        out,
        "\n**{title}**: {}",
        if list.is_empty() { "none." } else { "" }
    );
    if !list.is_empty() {
        let _ = writeln!(out, "\n| Reason | Count | Example |\n| --- | ---: | --- |");
        for g in list {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                esc(&g.reason),
                g.count,
                esc(&g.example)
            );
        }
    }
}

/// One rule finding: the rule, its techniques, the first matched events, the query for all.
/// Who was behind the finding, where the lake knows.
fn origins(out: &mut String, f: &FindingReport) {
    if !f.origins.is_empty() {
        let names: Vec<String> = f.origins.iter().map(|o| esc(o)).collect();
        let _ = writeln!(out, "- behind it: {}", names.join("; "));
    }
}

fn rule_finding(out: &mut String, f: &FindingReport) {
    let Some(rule) = &f.rule else {
        return;
    };
    let _ = writeln!(
        out,
        "#### {} · {}\n\n- {} · {} · {} · {} · id {}\n- ATT&CK {} ({})\n- {} to {} · {}\n- {}",
        f.severity.name().to_uppercase(),
        esc(&rule.title),
        esc(f.principal.as_deref().unwrap_or("unknown principal")),
        esc(&f.account),
        esc(&f.region),
        esc(&rule.kind),
        esc(&f.id),
        esc(&rule.techniques.join(", ")),
        esc(&rule.tactics.join(", ")),
        f.start,
        f.end.as_deref().unwrap_or("ongoing"),
        events(rule.match_count as f64),
        esc(&f.reason)
    );
    origins(out, f);
    let _ = writeln!(out);
    if !rule.events.is_empty() {
        let _ = writeln!(
            out,
            "| Time | API | Principal | Source | User agent | Error |\n| --- | --- | --- | --- | --- | --- |"
        );
        for e in &rule.events {
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} | {} |",
                e.time,
                esc(&e.event_source),
                esc(&e.event_name),
                esc(&e.principal),
                esc(&e.source_ip),
                esc(&e.user_agent),
                esc(e.error_code.as_deref().unwrap_or("")),
            );
        }
        if rule.match_count > rule.events.len() as i64 {
            let _ = writeln!(
                out,
                "\n{} more matched events.",
                rule.match_count - rule.events.len() as i64
            );
        }
        let _ = writeln!(out);
    }
    // A fenced block: the command is copied as it is, never rendered.
    let _ = writeln!(out, "```sh\n{}\n```\n", rule.query.replace("```", "` ` `"));
}

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let h = &report.headline;
    let _ = writeln!(
        out,
        "# CloudTrail report\n\n{} to {} · lake {} · generated {}\n",
        report.period.since,
        report.period.until,
        esc(&report.lake),
        report.generated_at
    );
    if let Some(silence) = &report.silence {
        let _ = writeln!(out, "> **Silent trails.** {}\n", esc(silence));
    }
    let _ = writeln!(
        out,
        "## Headline\n\n| | This period | Previous period | Change |\n| --- | ---: | ---: | ---: |"
    );
    for (name, c) in [
        ("Events", &h.events),
        ("Accounts", &h.accounts),
        ("Regions", &h.regions),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} |",
            c.current,
            c.previous,
            change(c)
        );
    }
    let _ = writeln!(
        out,
        "| Findings (high / medium / low) | {} / {} / {} | {} / {} / {} | |\n| Detection queries with rows | {} | | |",
        h.findings.high,
        h.findings.medium,
        h.findings.low,
        h.previous_findings.high,
        h.previous_findings.medium,
        h.previous_findings.low,
        h.detections_with_rows
    );

    let _ = writeln!(out, "\n## Rule findings by ATT&CK tactic\n");
    if let Some(line) = report.suppressed_line() {
        let _ = writeln!(out, "{}\n", esc(&line));
    }
    let tactics = report.rule_findings_by_tactic();
    if tactics.is_empty() {
        let _ = writeln!(out, "No rule matched in this period.\n");
    }
    for (tactic, list) in tactics {
        let _ = writeln!(out, "### {}\n", esc(&tactic));
        for f in list {
            rule_finding(&mut out, f);
        }
    }

    let _ = writeln!(out, "## Findings from the detectors\n");
    let detector_findings = report.detector_findings();
    if detector_findings.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            if h.events.current == 0 {
                "No findings: the period has no events to judge."
            } else {
                "No findings in this period: nothing unusual against the baselines."
            }
        );
    }
    for f in detector_findings {
        let subject = esc(&f.subject());
        let _ = writeln!(
            out,
            "### {} · {}: {}\n\n- {} · {} · {} · id {}\n- {} to {} ({} min)\n- baseline {}, insight {}, {}\n- {}",
            f.severity.name().to_uppercase(),
            esc(&f.insight_type),
            subject,
            esc(&f.account),
            esc(&f.region),
            esc(&f.detector),
            esc(&f.id),
            f.start,
            f.end.as_deref().unwrap_or("ongoing"),
            f.duration_minutes,
            rate(f.baseline_average),
            rate(f.insight_average),
            events(f.event_count),
            esc(&f.reason)
        );
        origins(&mut out, f);
        if let Some(chart) = &f.chart {
            let _ = writeln!(
                out,
                "- per minute from {}: {}",
                chart.from,
                sparkline(chart)
            );
        }
        for attribution in &f.attributions {
            let top: Vec<String> = attribution
                .insight
                .iter()
                .map(|s| format!("{} ({})", esc(&s.value), rate(s.average)))
                .collect();
            let _ = writeln!(
                out,
                "- top {}: {}",
                esc(&attribution.attribute),
                top.join(", ")
            );
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "## Detection queries\n");
    if report.detections.is_empty() {
        let _ = writeln!(out, "Detection queries were not run.");
    } else {
        let _ = writeln!(out, "| Query | Severity | Rows |\n| --- | --- | ---: |");
        for d in &report.detections {
            let rows = match &d.error {
                Some(error) => format!("not run: {}", esc(error)),
                None => d.rows.to_string(),
            };
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} |",
                esc(&d.title),
                esc(&d.name),
                d.severity.name(),
                rows
            );
        }
    }

    let health = &report.health;
    let _ = writeln!(out, "\n## Data health\n\n{}", health.ingests_line());
    groups(
        &mut out,
        "Inputs still incomplete (retried by the next ingest)",
        &health.outstanding,
    );
    groups(&mut out, "Rejected records and inputs", &health.rejects);
    let _ = writeln!(
        out,
        "\n**Newest event per account and region**\n\n| Account | Region | Newest event | |\n| --- | --- | --- | --- |"
    );
    for f in &health.freshness {
        let flag = if f.stale {
            format!("no events for {}+ hours", health.stale_after_hours)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {flag} |",
            esc(&f.account),
            esc(&f.region),
            f.newest_event
        );
    }

    if let Some(integrity) = &report.integrity {
        let _ = writeln!(out, "\n## Log integrity\n\n{}", integrity.line());
        if !integrity.problems.is_empty() {
            let _ = writeln!(
                out,
                "\n| Hour | Trail | Account | Region | Status | Problem |\n| --- | --- | --- | --- | --- | --- |"
            );
        }
        for p in &integrity.problems {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                p.hour,
                esc(&p.trail),
                esc(&p.account),
                esc(&p.region),
                esc(&p.status),
                esc(&p.detail)
            );
        }
    }

    let _ = writeln!(out, "\n## Top principals, APIs and error codes");
    ranked(&mut out, "Principals", &report.top.principals);
    ranked(&mut out, "APIs", &report.top.apis);
    ranked(&mut out, "Error codes", &report.top.error_codes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_format_or_inject() {
        assert_eq!(esc("a|b"), "a\\|b");
        assert_eq!(esc("<script>x</script>"), "&lt;script&gt;x&lt;/script&gt;");
        assert_eq!(esc("[click](http://x)"), "\\[click\\](http://x)");
        assert_eq!(esc("line\nbreak"), "line break");
    }
}
