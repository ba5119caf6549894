//! The evaluation harness: synthetic per-minute series with realistic background (diurnal and
//! weekly cycles, nightly batch jobs, rare and busy APIs) and injected anomalies of known start,
//! length and size, judged by the detectors' rule. It reports precision, recall and detection
//! delay per detector and per kind of anomaly. Used by the tests and by `cargo bench --bench
//! detect`.

use super::rate::{Episode, JudgeSpan, RateParams, judge};

const DAY: i64 = 1440;

/// The kinds of injected anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// 10–30 events a minute for 5–30 minutes on an API whose baseline is at most 1 a minute:
    /// the case the recall target is about.
    QuietBurst,
    /// The same during a weekend.
    WeekendBurst,
    /// A burst in the first days of the data, with a short baseline.
    EarlyBurst,
    /// An excess of three times the API's peak-hour rate on a busy API.
    BusyBurst,
    /// A rate climbing from nothing to 40 a minute over an hour.
    SlowRamp,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::QuietBurst,
        Kind::WeekendBurst,
        Kind::EarlyBurst,
        Kind::BusyBurst,
        Kind::SlowRamp,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::QuietBurst => "burst on a quiet API",
            Kind::WeekendBurst => "burst on a weekend",
            Kind::EarlyBurst => "burst in the first days",
            Kind::BusyBurst => "burst on a busy API",
            Kind::SlowRamp => "slow ramp",
        }
    }
}

/// What a background series looks like.
#[derive(Debug, Clone, Copy)]
struct Background {
    /// Mean events per minute over a week.
    rate: f64,
    /// A nightly batch: (minute of the day, events in that minute).
    batch: Option<(i64, f64)>,
}

/// An injected anomaly.
#[derive(Debug, Clone, Copy)]
struct Injection {
    kind: Kind,
    start: i64,
    minutes: i64,
    per_minute: f64,
}

/// The diurnal and weekly shape: weekday business hours (UTC 07–19) peak at 2.2x the night.
fn shape(minute: i64) -> f64 {
    let day = minute.div_euclid(DAY);
    let hour = (minute.rem_euclid(DAY)) as f64 / 60.0;
    let business = if (7.0..19.0).contains(&hour) {
        (std::f64::consts::PI * (hour - 7.0) / 12.0).sin()
    } else {
        0.0
    };
    // 1970-01-01 was a Thursday: days 2 and 3 of each week are the weekend.
    let weekend = matches!(day.rem_euclid(7), 2 | 3);
    let weekly = if weekend { 0.35 } else { 1.0 };
    (0.45 + 1.2 * business) * weekly
}

/// A Poisson draw (Knuth's method for small means, a rounded normal above 30).
fn poisson(rng: &mut fastrand::Rng, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean > 30.0 {
        let (u, v) = (rng.f64().max(1e-12), rng.f64());
        let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        return (mean + mean.sqrt() * z).round().max(0.0);
    }
    let limit = (-mean).exp();
    let mut product = rng.f64();
    let mut count = 0.0;
    while product > limit {
        product *= rng.f64();
        count += 1.0;
    }
    count
}

/// The series of one API: background plus injections, as (minute, count) points.
fn series(
    rng: &mut fastrand::Rng,
    days: i64,
    background: Background,
    injections: &[Injection],
) -> Vec<(i64, f64)> {
    let mut points = Vec::new();
    for minute in 0..days * DAY {
        let mut count = poisson(rng, background.rate * shape(minute));
        if let Some((at, size)) = background.batch
            && minute.rem_euclid(DAY) == at
        {
            count += poisson(rng, size);
        }
        for injection in injections {
            let offset = minute - injection.start;
            if (0..injection.minutes).contains(&offset) {
                let level = match injection.kind {
                    Kind::SlowRamp => {
                        injection.per_minute * (offset + 1) as f64 / injection.minutes as f64
                    }
                    _ => injection.per_minute,
                };
                count += level.round();
            }
        }
        if count > 0.0 {
            points.push((minute, count));
        }
    }
    points
}

/// One detector's results on the harness.
#[derive(Debug, Clone, Default)]
pub struct Score {
    /// The detector (and measure) evaluated.
    pub detector: String,
    /// Account-region weeks of normal activity judged.
    pub weeks: f64,
    /// Insights on normal activity (no injection).
    pub false_positives: usize,
    /// Per kind: (injected, detected, detection delays in minutes).
    pub kinds: Vec<(Kind, usize, usize, Vec<i64>)>,
    /// Insights that matched an injection.
    pub true_positives: usize,
}

impl Score {
    /// False positives per account-region per week.
    pub fn false_positive_rate(&self) -> f64 {
        self.false_positives as f64 / self.weeks.max(1e-9)
    }

    /// Detected / injected for one kind.
    pub fn recall(&self, kind: Kind) -> f64 {
        self.kinds
            .iter()
            .find(|k| k.0 == kind)
            .map_or(0.0, |(_, injected, detected, _)| {
                *detected as f64 / (*injected).max(1) as f64
            })
    }

    /// The largest detection delay of one kind, in minutes.
    pub fn max_delay(&self, kind: Kind) -> Option<i64> {
        self.kinds
            .iter()
            .find(|k| k.0 == kind)
            .and_then(|(_, _, _, delays)| delays.iter().copied().max())
    }

    /// Share of insights that matched an injection.
    pub fn precision(&self) -> f64 {
        self.true_positives as f64 / (self.true_positives + self.false_positives).max(1) as f64
    }

    /// A report of a few lines.
    pub fn report(&self) -> String {
        let mut out = format!(
            "{}: precision {:.3}, {} false positives in {:.0} account-region weeks ({:.2} per week)\n",
            self.detector,
            self.precision(),
            self.false_positives,
            self.weeks,
            self.false_positive_rate()
        );
        for (kind, injected, detected, delays) in &self.kinds {
            let mean = delays.iter().sum::<i64>() as f64 / delays.len().max(1) as f64;
            out.push_str(&format!(
                "  {:<24} recall {:>5.1}% ({detected}/{injected}), delay mean {mean:.1} min, max {} min\n",
                kind.name(),
                100.0 * *detected as f64 / (*injected).max(1) as f64,
                delays.iter().max().copied().unwrap_or(0)
            ));
        }
        out
    }
}

/// The population of one account-region: per API, its background.
fn population(rng: &mut fastrand::Rng) -> Vec<Background> {
    let mut apis = Vec::new();
    let log_uniform = |rng: &mut fastrand::Rng, low: f64, high: f64| {
        (low.ln() + rng.f64() * (high.ln() - low.ln())).exp()
    };
    for i in 0..45 {
        let rate = match i {
            0..30 => log_uniform(rng, 0.0005, 0.05),
            30..40 => log_uniform(rng, 0.05, 1.0),
            _ => log_uniform(rng, 1.0, 20.0),
        };
        let batch = (rng.f64() < 0.2).then(|| (rng.i64(0..DAY), rng.f64() * 55.0 + 5.0));
        apis.push(Background { rate, batch });
    }
    apis
}

/// Runs the rule with `params` over `regions` account-regions of `days` days of generated
/// activity, with and without injected anomalies, and scores it. `scale` multiplies all
/// rates (error series are rarer than calls); the seed makes it repeatable.
pub fn evaluate(
    name: &str,
    params: &RateParams,
    regions: usize,
    days: i64,
    scale: f64,
    seed: u64,
) -> Score {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut score = Score {
        detector: name.to_string(),
        ..Score::default()
    };
    let mut kinds: Vec<(Kind, usize, usize, Vec<i64>)> =
        Kind::ALL.iter().map(|&k| (k, 0, 0, Vec::new())).collect();
    let span = JudgeSpan {
        data_start: 0,
        from: 0,
        to: days * DAY - 1,
    };
    let judged_weeks = (days * DAY - params.min_baseline_minutes) as f64 / (7 * DAY) as f64;
    for _ in 0..regions {
        let apis = population(&mut rng);
        score.weeks += judged_weeks;
        for (index, background) in apis.iter().enumerate() {
            let background = Background {
                rate: background.rate * scale,
                ..*background
            };
            let injections = plan_injections(&mut rng, index, &background, days);
            let points = series(&mut rng, days, background, &injections);
            let episodes = judge(&points, span, params);
            tally(&episodes, &injections, params, &mut score, &mut kinds);
        }
    }
    score.kinds = kinds.into_iter().filter(|k| k.1 > 0).collect();
    score
}

/// Scores each rate detector with its default parameters: `api-call-rate` on call series,
/// `api-error-rate` on rarer error series, `principal-burst` on a principal's writes.
pub fn evaluate_detectors(regions: usize, days: i64, seed: u64) -> Vec<Score> {
    let mut scores = Vec::new();
    for (detector, scale) in [
        ("api-call-rate", 1.0),
        ("api-error-rate", 0.3),
        ("principal-burst", 3.0),
    ] {
        let (_, params) = super::registry::select(&[detector.to_string()], &[])
            .expect("a registered detector")
            .into_iter()
            .next()
            .expect("one detector");
        let rule = super::rate_detector::rate_params(&params, "min-events");
        scores.push(evaluate(detector, &rule, regions, days, scale, seed));
    }
    scores
}

/// The injections of one API: none for most, so most series show normal activity.
fn plan_injections(
    rng: &mut fastrand::Rng,
    index: usize,
    background: &Background,
    days: i64,
) -> Vec<Injection> {
    let quiet = background.rate <= 1.0 / 2.2;
    let weekday_start = |rng: &mut fastrand::Rng, from_day: i64| loop {
        let minute = rng.i64(from_day * DAY..(days - 1) * DAY);
        if !matches!(minute.div_euclid(DAY).rem_euclid(7), 2 | 3) {
            return minute;
        }
    };
    match index % 9 {
        0 if quiet => vec![Injection {
            kind: Kind::QuietBurst,
            start: weekday_start(rng, 7),
            minutes: rng.i64(5..=30),
            per_minute: rng.i64(10..=30) as f64,
        }],
        3 if quiet => {
            let week = rng.i64(1..days / 7);
            let start = (week * 7 + 2) * DAY + rng.i64(0..2 * DAY);
            vec![Injection {
                kind: Kind::WeekendBurst,
                start: start.min((days - 1) * DAY),
                minutes: rng.i64(5..=30),
                per_minute: rng.i64(10..=30) as f64,
            }]
        }
        5 if quiet => vec![Injection {
            kind: Kind::EarlyBurst,
            start: rng.i64(DAY / 2..3 * DAY),
            minutes: rng.i64(5..=30),
            per_minute: rng.i64(10..=30) as f64,
        }],
        7 if quiet => vec![Injection {
            kind: Kind::SlowRamp,
            start: weekday_start(rng, 7),
            minutes: 60,
            per_minute: 40.0,
        }],
        _ if !quiet && index.is_multiple_of(3) => vec![Injection {
            kind: Kind::BusyBurst,
            start: weekday_start(rng, 7),
            minutes: rng.i64(5..=30),
            per_minute: (3.0 * background.rate * shape(8 * DAY + 13 * 60))
                .round()
                .max(10.0),
        }],
        _ => Vec::new(),
    }
}

fn tally(
    episodes: &[Episode],
    injections: &[Injection],
    params: &RateParams,
    score: &mut Score,
    kinds: &mut [(Kind, usize, usize, Vec<i64>)],
) {
    let mut matched = vec![false; episodes.len()];
    for injection in injections {
        let slot = kinds
            .iter_mut()
            .find(|k| k.0 == injection.kind)
            .expect("every kind has a slot");
        slot.1 += 1;
        let hit = episodes.iter().enumerate().find(|(_, e)| {
            e.start >= injection.start - 2
                && e.start < injection.start + injection.minutes + params.end_after
        });
        if let Some((i, episode)) = hit {
            matched[i] = true;
            slot.2 += 1;
            slot.3.push((episode.start - injection.start).max(0));
        }
    }
    // Insights of one injection after the first (it may flicker) are neither.
    for (i, episode) in episodes.iter().enumerate() {
        if matched[i] {
            score.true_positives += 1;
            continue;
        }
        let near = injections.iter().any(|inj| {
            episode.start >= inj.start - 2 && episode.start < inj.start + inj.minutes + 60
        });
        if !near {
            score.false_positives += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_detectors_meet_their_targets() {
        for score in evaluate_detectors(12, 30, 7) {
            eprintln!("{}", score.report());
            assert!(score.false_positive_rate() <= 1.0, "{}", score.report());
            assert!(score.recall(Kind::QuietBurst) >= 0.95, "{}", score.report());
            assert!(
                score.max_delay(Kind::QuietBurst).unwrap() <= 2,
                "{}",
                score.report()
            );
        }
    }
}
