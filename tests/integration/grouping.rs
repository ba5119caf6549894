//! Grouping by the text columns whose values repeat goes through interned ids: the groups and
//! their counts are the ones an independent reader finds, nulls included.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use trailq::generate::{TrailSpec, generate};

use crate::util::*;

#[test]
fn groups_by_repeated_text_are_the_ones_an_independent_reader_counts() {
    let (_dir, root) = temp_dir();
    let trail = root.join("trail");
    let lake = root.join("lake");
    let spec = TrailSpec {
        seed: 21,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        start: NaiveDate::from_ymd_opt(2024, 3, 10).unwrap(),
        days: 2,
        events_per_day: 3_000,
        events_per_file: 300,
        ..TrailSpec::default()
    };
    generate(&spec, &trail).unwrap();
    assert_eq!(ingest(&trail, &lake, &[]).0, 0);

    // Five keys (two packed keys), one of them null for most events (errorcode).
    const KEYS: [(&str, &str); 5] = [
        ("eventsource", "eventSource"),
        ("eventname", "eventName"),
        ("awsregion", "awsRegion"),
        ("recipientaccountid", "recipientAccountId"),
        ("errorcode", "errorCode"),
    ];
    let mut expected: BTreeMap<Vec<Option<String>>, u64> = BTreeMap::new();
    for row in read_rows(&lake, "events") {
        let key = KEYS
            .iter()
            .map(|(_, json)| row.json[json].as_str().map(str::to_string))
            .collect();
        *expected.entry(key).or_default() += 1;
    }
    let columns = KEYS.map(|(column, _)| column).join(", ");
    let sql = format!("SELECT {columns}, count(*) AS n FROM events GROUP BY {columns}");
    let plan = query(&lake, &format!("EXPLAIN {sql}"));
    assert!(
        format!("{plan:?}").contains("__trailq_pack_key"),
        "the grouping was not rewritten: {plan:?}"
    );
    let mut found: BTreeMap<Vec<Option<String>>, u64> = BTreeMap::new();
    for row in query(&lake, &sql) {
        let key = KEYS
            .iter()
            .map(|(column, _)| row[column].as_str().map(str::to_string))
            .collect();
        assert!(found.insert(key, row["n"].as_u64().unwrap()).is_none());
    }
    assert!(expected.len() > 50, "too few groups: {}", expected.len());
    assert!(expected.keys().any(|key| key[4].is_none()));
    assert!(expected.keys().any(|key| key[4].is_some()));
    assert_eq!(found, expected);
}
