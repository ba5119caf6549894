//! CloudTrail time strings: parsed leniently, written back in CloudTrail's own form.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parses a CloudTrail time, and says whether it was in CloudTrail's own form (so that
/// [`format_time`] gives the same text back).
pub fn parse_time_form(text: &str) -> Option<(i64, bool)> {
    if let Some(ms) = parse_canonical(text.as_bytes()) {
        return Some((ms, true));
    }
    let ms = parse_time(text)?;
    Some((ms, format_time(ms) == text))
}

/// Parses a CloudTrail time into milliseconds since the epoch (UTC).
///
/// Accepts CloudTrail's `2024-03-05T10:00:00Z`, any RFC 3339 time (fractions, offsets), the ISO
/// basic form `20131102T010628Z` that some `creationDate` values use, and a zone-less time,
/// which is taken as UTC.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Some(ms) = parse_canonical(text.as_bytes()) {
        return Some(ms);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_millis());
    }
    [
        "%Y%m%dT%H%M%SZ",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|time| time.and_utc().timestamp_millis())
}

/// The fast path for `YYYY-MM-DDTHH:MM:SSZ`, the form of nearly every CloudTrail time.
fn parse_canonical(b: &[u8]) -> Option<i64> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(time.and_utc().timestamp_millis())
}

/// Writes a time as CloudTrail does: whole seconds, `Z`; milliseconds only when there are any.
pub fn format_time(ms: i64) -> String {
    let Some(time) = DateTime::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    if ms.rem_euclid(1000) == 0 {
        time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// Days since 1970-01-01 of a UTC millisecond time: the `event_date` partition.
pub fn day_of(ms: i64) -> i32 {
    ms.div_euclid(86_400_000) as i32
}

/// The day number of `YYYY-MM-DD` (also `YYYY-M-D`), or `None`.
pub fn parse_day(text: &str) -> Option<i32> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((date - epoch).num_days()).ok()
}

/// `YYYY-MM-DD` of a day number from [`day_of`].
pub fn format_day(day: i32) -> String {
    DateTime::from_timestamp(i64::from(day) * 86_400, 0)
        .map(|time| time.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| day.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_round_trip() {
        for text in [
            "2024-03-05T10:00:00Z",
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
        ] {
            assert_eq!(format_time(parse_time(text).unwrap()), text);
        }
        assert_eq!(parse_time("2024-02-30T00:00:00Z"), None);
        assert_eq!(parse_time("2024-03-05T10:00:00"), Some(1_709_632_800_000));
    }

    #[test]
    fn other_forms_parse_but_format_differently() {
        let ms = parse_time("20131102T010628Z").unwrap();
        assert_eq!(format_time(ms), "2013-11-02T01:06:28Z");
        let ms = parse_time("2024-03-05T11:00:00.250+01:00").unwrap();
        assert_eq!(format_time(ms), "2024-03-05T10:00:00.250Z");
        assert_eq!(parse_time("Jan 22, 2021 12:46:28 AM"), None);
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse_time_form("2024-03-05T10:00:00Z"),
            Some((1_709_632_800_000, true))
        );
        assert_eq!(
            parse_time_form("2024-03-05T10:00:00.250Z"),
            Some((1_709_632_800_250, true))
        );
        assert_eq!(
            parse_time_form("2024-03-05T10:00:00.25Z"),
            Some((1_709_632_800_250, false))
        );
        assert_eq!(
            parse_time_form("2024-03-05T10:00:00"),
            Some((1_709_632_800_000, false))
        );
    }

    #[test]
    fn days() {
        assert_eq!(day_of(-1), -1);
        assert_eq!(format_day(day_of(1_709_632_800_000)), "2024-03-05");
    }
}
