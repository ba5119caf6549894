//! The rule that decides when a per-minute rate is unusual, shared by the rate detectors
//! (`api-call-rate`, `api-error-rate`, `principal-burst`).
//!
//! For a series (one account, region and subject) and a minute `m` with count `c`:
//!
//! * **Baseline**: the minutes `[m - B, m)`, `B` = `baseline-days` × 1440, cut at the start of the
//!   data, empty minutes included (as AWS computes `baseline.average`): its mean rate
//!   `λ = max(N / B, 1 / B)`, its busiest minute `peak`, and its longest run of consecutive
//!   *significant* minutes (below).
//! * A minute is **significant** when `c ≥ min-events` (one call against a zero baseline is not an
//!   incident) and the Poisson tail `P(X ≥ c)`, `X ~ Poisson(λ)`, is at most `p-value`.
//! * An insight **starts** at a significant minute that is also a *spike*:
//!   `c > peak + peak-margin × √peak`, busier than the baseline's busiest minute by more than its
//!   Poisson noise (so a nightly batch job that is the baseline's own peak stays normal); or at
//!   the first minute of a *sustained run* of `run-minutes` consecutive significant minutes when
//!   the baseline never had a run that long (so ten calls a minute for five minutes is found even
//!   on an API whose nightly batch makes sixty in one minute). Its baseline is then frozen, as
//!   AWS's ends at the insight's start.
//! * It **continues** while minutes stay elevated (`c ≥ min-events` and a tail at most
//!   `p-continue` against the frozen baseline) and ends after `end-after` normal minutes; its end
//!   is the minute after its last elevated one.
//! * Minutes after the watermark are not judged: an insight still open there is reported as
//!   ongoing (a Start without an End), and a later run closes it.

use std::collections::VecDeque;

use super::stats::poisson_tail;

/// Parameters of the rule (each detector has its own defaults, settable with `--set`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateParams {
    /// Days of baseline before each minute.
    pub baseline_days: f64,
    /// Fewest events in a minute that can be significant.
    pub min_events: f64,
    /// Largest tail probability of a significant minute.
    pub p_value: f64,
    /// Largest tail probability of a minute that keeps an insight open.
    pub p_continue: f64,
    /// A spike exceeds the baseline's busiest minute by this many of its standard deviations.
    pub peak_margin: f64,
    /// Consecutive significant minutes that make a sustained run.
    pub run_minutes: i64,
    /// Normal minutes that end an insight.
    pub end_after: i64,
    /// Minutes of data needed before a minute is judged.
    pub min_baseline_minutes: i64,
}

impl Default for RateParams {
    fn default() -> Self {
        Self {
            baseline_days: 7.0,
            min_events: 10.0,
            p_value: 1e-6,
            p_continue: 1e-3,
            peak_margin: 3.0,
            run_minutes: 3,
            end_after: 5,
            min_baseline_minutes: 1440,
        }
    }
}

/// Where a series is judged: minutes are UTC minutes since 1970.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JudgeSpan {
    /// The first minute with data in the lake (the baseline cannot reach before it).
    pub data_start: i64,
    /// The first minute judged.
    pub from: i64,
    /// The watermark: the last minute judged.
    pub to: i64,
}

/// One insight found in a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The first unusual minute.
    pub start: i64,
    /// The minute after the last elevated one; `None` while still open at the watermark.
    pub end: Option<i64>,
    /// Baseline events per minute (count / minutes, empty minutes included).
    pub baseline_average: f64,
    /// Minutes of the baseline.
    pub baseline_minutes: i64,
    /// Events in the first minute.
    pub start_count: f64,
    /// Events from the start to the end (or the watermark).
    pub total: f64,
    /// The tail probability of the first minute.
    pub p_value: f64,
}

impl Episode {
    /// Minutes from start to end (to the watermark + 1 while open).
    pub fn duration(&self, watermark: i64) -> i64 {
        self.end.unwrap_or(watermark + 1) - self.start
    }

    /// Events per minute over the insight.
    pub fn average(&self, watermark: i64) -> f64 {
        self.total / self.duration(watermark).max(1) as f64
    }
}

/// A sliding maximum over (minute, value) pairs.
#[derive(Default)]
struct SlidingMax(VecDeque<(i64, f64)>);

impl SlidingMax {
    fn push(&mut self, minute: i64, value: f64) {
        while self.0.back().is_some_and(|&(_, v)| v <= value) {
            self.0.pop_back();
        }
        self.0.push_back((minute, value));
    }

    fn evict_before(&mut self, minute: i64) {
        while self.0.front().is_some_and(|&(m, _)| m < minute) {
            self.0.pop_front();
        }
    }

    fn max(&self) -> f64 {
        self.0.front().map_or(0.0, |&(_, v)| v)
    }
}

/// The sliding baseline: the event count, the busiest minute and the longest significant run.
#[derive(Default)]
struct Window {
    points: VecDeque<(i64, f64)>,
    sum: f64,
    peaks: SlidingMax,
    /// Runs of significant minutes, by the minute they ended (or the latest minute so far).
    runs: SlidingMax,
}

impl Window {
    fn push(&mut self, minute: i64, count: f64) {
        self.points.push_back((minute, count));
        self.sum += count;
        self.peaks.push(minute, count);
    }

    fn evict_before(&mut self, minute: i64) {
        while let Some(&(m, c)) = self.points.front() {
            if m >= minute {
                break;
            }
            self.points.pop_front();
            self.sum -= c;
        }
        self.peaks.evict_before(minute);
        self.runs.evict_before(minute);
    }
}

/// Judges one series: `points` are (minute, count) with count > 0, in minute order.
pub fn judge(points: &[(i64, f64)], span: JudgeSpan, params: &RateParams) -> Vec<Episode> {
    let length = (params.baseline_days * 1440.0).round().max(1.0) as i64;
    let mut window = Window::default();
    let mut next = 0; // the first point not yet in the window
    let mut episodes = Vec::new();
    // The open insight: the episode, its frozen baseline rate, its last elevated minute.
    let mut open: Option<(Episode, f64, i64)> = None;
    // The current run of significant minutes: (first minute, last minute, length, first count,
    // first tail, baseline at its first minute).
    let mut run: Option<(i64, i64, i64, f64, f64, f64, i64)> = None;
    for (i, &(minute, count)) in points.iter().enumerate() {
        if minute > span.to {
            break;
        }
        // Close an open insight after `end_after` quiet minutes.
        if let Some((episode, _, last)) = &open
            && minute - last > params.end_after
        {
            let mut episode = episode.clone();
            episode.end = Some(last + 1);
            episodes.push(episode);
            open = None;
        }
        // The baseline is [minute - length, minute): add earlier points, evict old ones.
        while next < i {
            let (m, c) = points[next];
            if m >= minute - length {
                window.push(m, c);
            }
            next += 1;
        }
        window.evict_before(minute - length);
        let minutes = length.min(minute - span.data_start).max(1);
        let rate = (window.sum / minutes as f64).max(1.0 / minutes as f64);
        let tail = if count >= params.min_events {
            poisson_tail(count, rate)
        } else {
            1.0
        };
        let significant = tail <= params.p_value;
        // Runs are tracked over all minutes (they are part of every later baseline).
        run = match run {
            Some(r) if significant && r.1 == minute - 1 => {
                Some((r.0, minute, r.2 + 1, r.3, r.4, r.5, r.6))
            }
            _ if significant => Some((
                minute,
                minute,
                1,
                count,
                tail,
                window.sum / minutes as f64,
                minutes,
            )),
            _ => None,
        };
        let longest_run = window.runs.max();
        if let Some(r) = run {
            window.runs.push(minute, r.2 as f64);
        }
        if minute < span.from {
            continue;
        }
        if let Some((episode, frozen, last)) = &mut open {
            let elevated =
                count >= params.min_events && poisson_tail(count, *frozen) <= params.p_continue;
            if elevated {
                episode.total += count;
                *last = minute;
            }
            continue;
        }
        if minutes < params.min_baseline_minutes || !significant {
            continue;
        }
        let peak = window.peaks.max();
        let spike = count > peak + params.peak_margin * peak.sqrt();
        let sustained = run.is_some_and(|r| r.2 >= params.run_minutes)
            && longest_run < params.run_minutes as f64;
        let episode = if spike {
            Episode {
                start: minute,
                end: None,
                baseline_average: window.sum / minutes as f64,
                baseline_minutes: minutes,
                start_count: count,
                total: count,
                p_value: tail,
            }
        } else if sustained {
            let (first, _, length_so_far, first_count, first_tail, mean, base_minutes) =
                run.expect("a sustained run exists");
            // The run's earlier minutes belong to the insight: it starts at the run's start.
            let earlier: f64 = points[..i]
                .iter()
                .rev()
                .take_while(|&&(m, _)| m >= first)
                .map(|&(_, c)| c)
                .sum();
            debug_assert!(length_so_far >= params.run_minutes);
            Episode {
                start: first,
                end: None,
                baseline_average: mean,
                baseline_minutes: base_minutes,
                start_count: first_count,
                total: earlier + count,
                p_value: first_tail,
            }
        } else {
            continue;
        };
        let frozen = episode
            .baseline_average
            .max(1.0 / episode.baseline_minutes as f64);
        open = Some((episode, frozen, minute));
    }
    if let Some((mut episode, _, last)) = open {
        if span.to - last >= params.end_after {
            episode.end = Some(last + 1);
        }
        episodes.push(episode);
    }
    episodes
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 1440;

    fn span(days: i64) -> JudgeSpan {
        JudgeSpan {
            data_start: 0,
            from: 7 * DAY,
            to: days * DAY - 1,
        }
    }

    /// One call every `every` minutes for `days` days.
    fn steady(every: i64, days: i64) -> Vec<(i64, f64)> {
        (0..days * DAY)
            .step_by(every as usize)
            .map(|m| (m, 1.0))
            .collect()
    }

    fn with_burst(
        mut points: Vec<(i64, f64)>,
        start: i64,
        minutes: i64,
        count: f64,
    ) -> Vec<(i64, f64)> {
        points.retain(|&(m, _)| m < start || m >= start + minutes);
        points.extend((start..start + minutes).map(|m| (m, count)));
        points.sort_by_key(|&(m, _)| m);
        points
    }

    #[test]
    fn a_burst_on_a_quiet_api_is_one_insight_with_exact_bounds() {
        let start = 8 * DAY + 600;
        let points = with_burst(steady(120, 9), start, 5, 12.0);
        let episodes = judge(&points, span(9), &RateParams::default());
        assert_eq!(episodes.len(), 1, "{episodes:?}");
        let episode = &episodes[0];
        assert_eq!(episode.start, start);
        assert_eq!(episode.end, Some(start + 5));
        assert_eq!(episode.start_count, 12.0);
        assert_eq!(episode.total, 60.0);
        assert_eq!(episode.duration(span(9).to), 5);
        assert_eq!(episode.average(span(9).to), 12.0);
        // 7 days of one call per 2 hours, empty minutes included: 84 calls / 10080 minutes.
        assert_eq!(episode.baseline_minutes, 7 * DAY);
        let calls = points
            .iter()
            .filter(|&&(m, _)| m >= start - 7 * DAY && m < start)
            .count() as f64;
        assert!((episode.baseline_average - calls / (7 * DAY) as f64).abs() < 1e-12);
    }

    #[test]
    fn quiet_series_and_small_counts_never_fire() {
        let params = RateParams::default();
        assert!(judge(&steady(3, 14), span(14), &params).is_empty());
        // Nine calls in a minute against a zero baseline: below min-events.
        let points = vec![(9 * DAY, 9.0)];
        assert!(judge(&points, span(14), &params).is_empty());
        let points = vec![(9 * DAY, 10.0)];
        assert_eq!(judge(&points, span(14), &params).len(), 1);
    }

    #[test]
    fn a_minute_no_busier_than_the_baseline_peak_is_normal() {
        // A daily batch job of 40 calls in one minute is the baseline's own peak.
        let mut points: Vec<(i64, f64)> = (0..14).map(|d| (d * DAY + 120, 40.0)).collect();
        points.extend(steady(30, 14).into_iter().filter(|&(m, _)| m % DAY != 120));
        points.sort_by_key(|&(m, _)| m);
        assert!(judge(&points, span(14), &RateParams::default()).is_empty());
    }

    #[test]
    fn an_insight_open_at_the_watermark_has_no_end_and_later_closes() {
        let start = 8 * DAY + 600;
        let points = with_burst(steady(120, 9), start, 20, 15.0);
        let early = JudgeSpan {
            to: start + 9,
            ..span(9)
        };
        let episodes = judge(&points, early, &RateParams::default());
        assert_eq!(episodes.len(), 1);
        assert_eq!(episodes[0].end, None);
        assert_eq!(episodes[0].duration(early.to), 10);
        let episodes = judge(&points, span(9), &RateParams::default());
        assert_eq!(episodes[0].end, Some(start + 20));
        assert_eq!(episodes[0].start, start, "the same insight, same start");
    }

    #[test]
    fn a_repeat_must_outgrow_the_last_burst() {
        // The first burst becomes part of the next week's baseline: the same burst a day later
        // is no longer unusual, a larger one is.
        let first = 8 * DAY;
        let same = with_burst(
            with_burst(steady(120, 11), first, 1, 30.0),
            9 * DAY,
            1,
            30.0,
        );
        let starts: Vec<i64> = judge(&same, span(11), &RateParams::default())
            .iter()
            .map(|e| e.start)
            .collect();
        assert_eq!(starts, vec![first]);
        let larger = with_burst(
            with_burst(steady(120, 11), first, 1, 30.0),
            9 * DAY,
            1,
            60.0,
        );
        assert_eq!(judge(&larger, span(11), &RateParams::default()).len(), 2);
    }

    #[test]
    fn a_sustained_run_is_found_under_a_larger_nightly_batch() {
        // Sixty calls at 02:00 every night; then twelve a minute for six minutes at noon.
        let mut points: Vec<(i64, f64)> = (0..10).map(|d| (d * DAY + 120, 60.0)).collect();
        let start = 9 * DAY + 720;
        points.extend((start..start + 6).map(|m| (m, 12.0)));
        points.sort_by_key(|&(m, _)| m);
        let episodes = judge(&points, span(10), &RateParams::default());
        assert_eq!(episodes.len(), 1, "{episodes:?}");
        assert_eq!(
            episodes[0].start, start,
            "the insight starts where the run started"
        );
        assert_eq!(episodes[0].end, Some(start + 6));
        assert_eq!(episodes[0].total, 72.0);
    }

    #[test]
    fn short_history_is_not_judged() {
        let params = RateParams::default();
        let span = JudgeSpan {
            data_start: 0,
            from: 0,
            to: 3 * DAY,
        };
        assert!(
            judge(&[(1000, 50.0)], span, &params).is_empty(),
            "1000 minutes of history"
        );
        assert_eq!(judge(&[(1500, 50.0)], span, &params).len(), 1);
    }
}
