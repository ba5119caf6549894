//! Time conditions are answered by the day partitions (whole days unfiltered, edge days
//! filtered): every shape of range returns exactly the rows an independent reader counts.

use chrono::{DateTime, NaiveDate};
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

fn millis(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn every_kind_of_time_range_returns_exactly_its_rows() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let spec = TrailSpec {
        seed: 8,
        accounts: 1,
        regions: vec!["us-east-1".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 10).unwrap(),
        days: 3,
        events_per_day: 2_000,
        events_per_file: 200,
        ..TrailSpec::default()
    };
    generate(&spec, &trail).unwrap();
    assert_eq!(ingest(&trail, &lake, &[]).0, 0);
    let times: Vec<i64> = read_rows(&lake, "events")
        .iter()
        .map(|row| millis(row.json["eventTime"].as_str().unwrap()))
        .collect();
    let query = |sql: &str| query(&lake, sql);

    // (condition, first and last millisecond it admits)
    let day = |d: u32, time: &str| format!("2024-03-{d:02}T{time}Z");
    let cases: Vec<(String, i64, i64)> = vec![
        // Whole days, part days at either edge, within one day, open-ended, one instant.
        (day(10, "00:00:00"), day(12, "00:00:00")),
        (day(10, "06:30:00"), day(12, "18:15:00.500")),
        (day(11, "09:00:00"), day(11, "09:45:00")),
        (day(11, "23:00:00"), day(12, "01:00:00")),
        (day(9, "00:00:00"), day(14, "00:00:00")),
    ]
    .into_iter()
    .map(|(from, to)| {
        (
            format!("eventtime >= '{from}' AND eventtime < '{to}'"),
            millis(&from),
            millis(&to) - 1,
        )
    })
    .chain([
        (
            format!("eventtime > '{}'", day(11, "12:00:00")),
            millis(&day(11, "12:00:00")) + 1,
            i64::MAX,
        ),
        (
            format!("eventtime <= '{}'", day(11, "12:00:00")),
            i64::MIN,
            millis(&day(11, "12:00:00")),
        ),
        (
            format!(
                "eventtime BETWEEN '{}' AND '{}'",
                day(10, "22:00:00"),
                day(11, "02:00:00")
            ),
            millis(&day(10, "22:00:00")),
            millis(&day(11, "02:00:00")),
        ),
        (
            format!("eventtime = TIMESTAMP '{}'", &day(11, "12:00:00")),
            millis(&day(11, "12:00:00")),
            millis(&day(11, "12:00:00")),
        ),
    ])
    .collect();
    for (condition, first, last) in cases {
        let expected = times.iter().filter(|t| (first..=last).contains(t)).count();
        let rows = query(&format!(
            "SELECT count(*) AS n, min(eventtime) AS first, max(eventtime) AS last FROM events WHERE {condition}"
        ));
        assert_eq!(rows[0]["n"], expected, "{condition}");
        if expected > 0 {
            let seen = |key: &str| millis(rows[0][key].as_str().unwrap());
            assert!(
                seen("first") >= first && seen("last") <= last,
                "{condition}: {rows:?}"
            );
        }
        // The time column need not be read by the query itself.
        let names = query(&format!(
            "SELECT eventname FROM events WHERE {condition} AND eventname IS NOT NULL"
        ));
        assert_eq!(names.len(), expected, "{condition}");
    }

    // A limit still returns rows of the range only.
    let (from, to) = (day(10, "20:00:00"), day(11, "04:00:00"));
    let limited = query(&format!(
        "SELECT eventtime FROM events WHERE eventtime >= '{from}' AND eventtime < '{to}' LIMIT 7"
    ));
    assert_eq!(limited.len(), 7);
    for row in limited {
        let at = millis(row["eventtime"].as_str().unwrap());
        assert!((millis(&from)..millis(&to)).contains(&at), "{row}");
    }
}
