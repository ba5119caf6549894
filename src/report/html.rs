//! The report as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.
//! Every value from the data goes through maud's escaping (user agents, request parameters and
//! user names are attacker-controlled).

use crate::detect::Share;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{
    Change, Chart, DetectionResult, FindingReport, Ranked, RejectGroup, Report, events, rate,
};

const CSS: &str = r#"
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee8; --bg: #f6f7fa; --high: #b42318; --medium: #b54708; --low: #175cd3; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta, .muted { color: var(--muted); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
td.num, th.num, .badge, .card .value, .nowrap { white-space: nowrap; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
.card .value { font-size: 22px; font-weight: 600; }
.up { color: var(--high); } .down { color: #067647; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.finding { border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin: 12px 0; page-break-inside: avoid; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff; text-transform: uppercase; }
.badge.high { background: var(--high); } .badge.medium { background: var(--medium); } .badge.low { background: var(--low); }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
svg.chart { width: 100%; max-width: 720px; height: auto; background: #fff; }
.chart .band { fill: #d1fadf; } .chart .window { fill: #fee4e2; } .chart .line { fill: none; stroke: #1d2330; stroke-width: 1.5; }
.chart .mean { stroke: #067647; stroke-dasharray: 4 3; } .chart text { font-size: 22px; fill: #5b6475; }
.legend { color: var(--muted); font-size: 12px; } .legend span { margin-right: 12px; white-space: nowrap; }
.swatch { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: middle; }
.stale { color: var(--high); font-weight: 600; }
.none { padding: 12px; background: var(--bg); border-radius: 8px; }
pre { white-space: pre-wrap; word-break: break-all; background: var(--bg); padding: 8px; border-radius: 6px; }
.silence { padding: 12px; border: 2px solid var(--high); border-radius: 8px; color: var(--high); }
@media print { main { max-width: none; padding: 0; } h2 { page-break-after: avoid; } .finding { break-inside: avoid; } }
"#;

/// The report as an HTML document.
pub fn render(report: &Report) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "trailq report, " (report.period.since) " to " (report.period.until) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    h1 { "CloudTrail report" }
                    p.meta {
                        (report.period.since) " to " (report.period.until) " · lake " code { (report.lake) }
                        " · generated " (report.generated_at)
                    }
                    @if let Some(silence) = &report.silence {
                        p.silence { strong { "Silent trails. " } (silence) }
                    }
                    (headline(report))
                    (rule_findings(report))
                    (findings(&report.detector_findings(), report.headline.events.current))
                    (detections(&report.detections))
                    (health(report))
                    (integrity(report))
                    (tops(report))
                }
            }
        }
    }
    .into_string()
}

fn delta(change: &Change) -> Markup {
    let (current, previous) = (change.current as f64, change.previous as f64);
    html! {
        @if change.previous == 0 {
            span.muted { "no data in the previous period" }
        } @else {
            @let pct = 100.0 * (current - previous) / previous;
            @if pct.abs() < 0.5 {
                span.muted { "no change vs " (change.previous) }
            } @else {
                span class=(if pct > 0.0 { "up" } else { "down" }) {
                    (if pct > 0.0 { "▲ " } else { "▼ " }) (format!("{:.0}%", pct.abs()))
                }
                span.muted { " vs " (change.previous) }
            }
        }
    }
}

fn headline(report: &Report) -> Markup {
    let h = &report.headline;
    html! {
        section id="headline" {
            h2 { "Headline" }
            div.cards {
                div.card { div.muted { "Events" } div.value { (h.events.current) } (delta(&h.events)) }
                div.card { div.muted { "Accounts" } div.value { (h.accounts.current) } (delta(&h.accounts)) }
                div.card { div.muted { "Regions" } div.value { (h.regions.current) } (delta(&h.regions)) }
                div.card {
                    div.muted { "Findings" }
                    div.value { (h.findings.total()) }
                    span.badge.high { (h.findings.high) " high" } " "
                    span.badge.medium { (h.findings.medium) " medium" } " "
                    span.badge.low { (h.findings.low) " low" }
                    div.muted { (h.previous_findings.total()) " in the previous period" }
                }
                div.card { div.muted { "Detection queries with rows" } div.value { (h.detections_with_rows) } }
            }
        }
    }
}

/// The chart: per-minute counts as a line over the normal band, the insight window shaded.
fn chart(chart: &Chart) -> Markup {
    // Labels are sized for the chart drawn at about half its width, beside the numbers.
    let (width, height, left, bottom) = (720.0, 200.0, 56.0, 30.0);
    let top = chart
        .counts
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(chart.band_upper.ceil() as u64)
        .max(1) as f64;
    let n = chart.counts.len().max(2) as f64;
    let x = |i: f64| left + (width - left - 8.0) * i / (n - 1.0);
    let y = |v: f64| (height - bottom) - (height - bottom - 8.0) * v / top;
    let points: Vec<String> = chart
        .counts
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{:.1},{:.1}", x(i as f64), y(*c as f64)))
        .collect();
    let (w0, w1) = (x(chart.insight.0 as f64), x(chart.insight.1 as f64));
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {height}")) role="img" {
            title { "Events per minute from " (chart.from) " against the baseline band" }
            rect.window x=(format!("{w0:.1}")) y="8" width=(format!("{:.1}", (w1 - w0).max(1.0))) height=(format!("{:.1}", height - bottom - 8.0)) {}
            rect.band x=(left) y=(format!("{:.1}", y(chart.band_upper))) width=(width - left - 8.0) height=(format!("{:.1}", y(0.0) - y(chart.band_upper))) {}
            line.mean x1=(left) x2=(width - 8.0) y1=(format!("{:.1}", y(chart.baseline_average))) y2=(format!("{:.1}", y(chart.baseline_average))) {}
            polyline.line points=(points.join(" ")) {}
            line x1=(left) x2=(left) y1="8" y2=(height - bottom) stroke="#d9dee8" {}
            text x="2" y="26" { (top) }
            text x="2" y=(height - bottom) { "0" }
            text x=(left) y=(height - 4.0) { (chart.from) }
            text x=(width - 8.0) y=(height - 4.0) text-anchor="end" { "+" (chart.counts.len()) " min" }
        }
        div.legend {
            span { span.swatch style="background:#1d2330;height:2px" {} "events per minute" }
            span { span.swatch style="background:#d1fadf" {} "normal (baseline + 3 σ)" }
            span { span.swatch style="border-top:2px dashed #067647;height:0" {} "baseline average" }
            span { span.swatch style="background:#fee4e2" {} "insight" }
        }
    }
}

fn shares(list: &[Share]) -> Markup {
    html! {
        @if list.is_empty() { span.muted { "none" } }
        @for item in list {
            div { code { (item.value) } " " span.muted { (rate(item.average)) } }
        }
    }
}

/// Who was behind the finding, where the lake knows.
fn origins(f: &FindingReport) -> Markup {
    html! {
        @if !f.origins.is_empty() {
            p { "Behind it: " (f.origins.join("; ")) }
        }
    }
}

fn finding(f: &FindingReport) -> Markup {
    let severity = f.severity.name();
    html! {
        article.finding {
            h3 {
                span class=(format!("badge {severity}")) { (severity) } " "
                (f.insight_type) ": " code { (f.subject()) }
            }
            p.muted { (f.account) " · " (f.region) " · " (f.detector) " · id " code { (f.id) } }
            p { (f.reason) }
            (origins(f))
            div.grid2 {
                table {
                    tr { th { "Start" } td { (f.start) } }
                    tr { th { "End" } td { @if let Some(end) = &f.end { (end) } @else { "ongoing" } } }
                    tr { th { "Duration" } td { (f.duration_minutes) " min" } }
                    tr { th { "Baseline" } td { (rate(f.baseline_average)) } }
                    tr { th { "Insight" } td { (rate(f.insight_average)) ", " (events(f.event_count)) } }
                }
                @if let Some(c) = &f.chart { div { (chart(c)) } }
            }
            @if !f.attributions.is_empty() {
                table {
                    tr { th { "Attribute" } th { "During the insight" } th { "Baseline" } }
                    @for a in &f.attributions {
                        tr {
                            td { (a.attribute) }
                            td { (shares(&a.insight)) }
                            td { (shares(&a.baseline)) }
                        }
                    }
                }
            }
            @if !f.source_files.is_empty() {
                details {
                    summary { (f.source_files.len()) " source files" }
                    @for file in &f.source_files { div { code { (file) } } }
                }
            }
        }
    }
}

fn rule_findings(report: &Report) -> Markup {
    let tactics = report.rule_findings_by_tactic();
    html! {
        section id="rules" {
            h2 { "Rule findings by ATT&CK tactic" }
            @if let Some(line) = report.suppressed_line() { p.muted { (line) } }
            @if tactics.is_empty() { p.none { "No rule matched in this period." } }
            @for (tactic, list) in &tactics {
                h3 { (tactic) }
                @for f in list { (rule_finding(f)) }
            }
        }
    }
}

fn rule_finding(f: &FindingReport) -> Markup {
    let severity = f.severity.name();
    html! {
        @if let Some(rule) = &f.rule {
            article.finding {
                h3 {
                    span class=(format!("badge {severity}")) { (severity) } " "
                    (rule.title)
                }
                p.muted {
                    (f.principal.as_deref().unwrap_or("unknown principal")) " · " (f.account) " · "
                    (f.region) " · " (rule.kind) " · id " code { (f.id) }
                }
                p { "ATT&CK " (rule.techniques.join(", ")) " (" (rule.tactics.join(", ")) ") · "
                    (f.start) " to " (f.end.as_deref().unwrap_or("ongoing")) " · " (events(rule.match_count as f64)) }
                p { (f.reason) }
                (origins(f))
                @if !rule.events.is_empty() {
                    table {
                        tr { th { "Time" } th { "API" } th { "Principal" } th { "Source" } th { "User agent" } th { "Error" } }
                        @for e in &rule.events {
                            tr {
                                td { (e.time) }
                                td { (e.event_source) " " (e.event_name) }
                                td { (e.principal) }
                                td { (e.source_ip) }
                                td { (e.user_agent) }
                                td { (e.error_code.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
                details {
                    summary { "The query that lists every matched event" }
                    pre { code { (rule.query) } }
                }
            }
        }
    }
}

fn findings(list: &[&FindingReport], events: u64) -> Markup {
    html! {
        section id="findings" {
            h2 { "Findings from the detectors" }
            @if list.is_empty() && events == 0 {
                p.none { "No findings: the period has no events to judge." }
            } @else if list.is_empty() {
                p.none { "No findings in this period: nothing unusual against the baselines." }
            }
            @for f in list { (finding(f)) }
        }
    }
}

fn detections(list: &[DetectionResult]) -> Markup {
    html! {
        section id="detections" {
            h2 { "Detection queries" }
            @if list.is_empty() { p.none { "Detection queries were not run." } }
            @for d in list {
                div.finding {
                    h3 {
                        span class=(format!("badge {}", d.severity.name())) { (d.severity.name()) } " "
                        (d.title) " " span.muted { "(" code { (d.name) } ")" }
                    }
                    @if let Some(error) = &d.error {
                        p.muted { "Not run: " (error) }
                    } @else if d.rows == 0 {
                        p.muted { "No rows." }
                    } @else {
                        p { (d.rows) " rows" @if d.rows as usize > d.sample.len() { ", the first " (d.sample.len()) " shown" } }
                        table {
                            tr { @for c in &d.columns { th { (c) } } }
                            @for row in &d.sample { tr { @for cell in row { td { (cell) } } } }
                        }
                    }
                }
            }
        }
    }
}

fn groups(title: &str, list: &[RejectGroup]) -> Markup {
    html! {
        h3 { (title) }
        @if list.is_empty() { p.muted { "None." } } @else {
            table {
                tr { th { "Reason" } th.num { "Count" } th { "Example" } }
                @for g in list { tr { td { (g.reason) } td.num { (g.count) } td { code { (g.example) } } } }
            }
        }
    }
}

fn health(report: &Report) -> Markup {
    let h = &report.health;
    html! {
        section id="health" {
            h2 { "Data health" }
            p { (h.ingests_line()) }
            (groups("Inputs still incomplete (retried by the next ingest)", &h.outstanding))
            (groups("Rejected records and inputs", &h.rejects))
            h3 { "Newest event per account and region" }
            table {
                tr { th { "Account" } th { "Region" } th { "Newest event" } th { "" } }
                @for f in &h.freshness {
                    tr {
                        td { (f.account) } td { (f.region) } td { (f.newest_event) }
                        td { @if f.stale { span.stale { "no events for " (h.stale_after_hours) "+ hours" } } }
                    }
                }
            }
        }
    }
}

fn integrity(report: &Report) -> Markup {
    let Some(integrity) = &report.integrity else {
        return html! {};
    };
    html! {
        section id="integrity" {
            h2 { "Log integrity" }
            p { (integrity.line()) }
            @if !integrity.problems.is_empty() {
                table {
                    tr { th { "Hour" } th { "Trail" } th { "Account" } th { "Region" } th { "Status" } th { "Problem" } }
                    @for p in &integrity.problems {
                        tr {
                            td { (p.hour) } td { (p.trail) } td { (p.account) } td { (p.region) }
                            td { span.stale { (p.status) } } td { (p.detail) }
                        }
                    }
                }
            }
        }
    }
}

fn ranked(title: &str, list: &[Ranked]) -> Markup {
    html! {
        div {
            h3 { (title) }
            table {
                @for r in list { tr { td { code { (r.value) } } td.num { (r.events) } } }
            }
        }
    }
}

fn tops(report: &Report) -> Markup {
    html! {
        section id="top" {
            h2 { "Top principals, APIs and error codes" }
            div.grid2 {
                (ranked("Principals", &report.top.principals))
                (ranked("APIs", &report.top.apis))
                (ranked("Error codes", &report.top.error_codes))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_count_is_not_coloured_as_a_change() {
        let same = delta(&Change {
            current: 19_999,
            previous: 19_997,
        })
        .into_string();
        assert!(
            same.contains("no change vs 19997") && !same.contains('▲'),
            "{same}"
        );
        let up = delta(&Change {
            current: 150,
            previous: 100,
        })
        .into_string();
        assert!(up.contains("class=\"up\"") && up.contains("▲ 50%"), "{up}");
    }

    #[test]
    fn rates_and_counts_read_as_a_person_writes_them() {
        assert_eq!(rate(0.0), "0/min");
        assert_eq!(rate(1.0), "1.0/min");
        assert_eq!(rate(0.25), "0.25/min");
        assert_eq!(rate(1234.5), "1234/min");
        assert_eq!(rate(1.0 / 10080.0), "9.9e-5/min");
        assert_eq!(events(1.0), "1 event");
        assert_eq!(events(60.0), "60 events");
    }
}
