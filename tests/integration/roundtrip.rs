//! Property: any CloudTrail-shaped record -> Arrow -> Parquet -> back is the same JSON value.

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use trailq::generate::{TrailSpec, generate};
use trailq::record::{EventBatchBuilder, parse_record, rebuild_record, schema::events_schema};

/// Builds a batch from records, writes it to Parquet in memory, and reads it back.
fn through_parquet(records: &[String]) -> RecordBatch {
    let mut builder = EventBatchBuilder::default();
    for (i, text) in records.iter().enumerate() {
        let record = parse_record(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"));
        builder.append(&record, "mem", i as u64, text.len());
    }
    let batch = builder.finish();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, events_schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&events_schema(), &batches).unwrap()
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            // Keys differing only by case are fine in a payload.
            prop::collection::vec(
                (
                    prop_oneof![Just("Key".to_string()), Just("key".to_string()), text()],
                    inner
                ),
                0..4
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9:/._-]{0,12}",
        "\\PC{0,8}",
        Just("HIDDEN_DUE_TO_SECURITY_REASONS".to_string()),
        Just("quote \" backslash \\ newline \n tab \t é 日本 🚀".to_string()),
    ]
}

/// A string field: usually a string, sometimes an explicit null.
fn string_or_null() -> impl Strategy<Value = Value> {
    prop_oneof![8 => text().prop_map(Value::String), 1 => Just(Value::Null)]
}

fn user_identity() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "Root",
            "IAMUser",
            "AssumedRole",
            "AWSService",
            "Unknown",
            "SAMLUser",
        ]),
        string_or_null(),
        prop::option::of("[0-9]{12}"),
        prop::option::of(prop_oneof![Just("true"), Just("false")]),
        prop::option::of(prop_oneof![
            Just("2024-03-05T10:00:00Z"),
            Just("20131102T010628Z"),
            Just("not a time")
        ]),
        prop::option::of(any_json()),
        any::<bool>(),
    )
        .prop_map(|(kind, arn, account, mfa, created, unknown, empty_web)| {
            let mut identity = Map::new();
            identity.insert("type".into(), json!(kind));
            identity.insert("arn".into(), arn);
            if let Some(account) = account {
                identity.insert("accountId".into(), json!(account));
            }
            let mut attributes = Map::new();
            if let Some(mfa) = mfa {
                attributes.insert("mfaAuthenticated".into(), json!(mfa));
            }
            if let Some(created) = created {
                attributes.insert("creationDate".into(), json!(created));
            }
            let mut context = json!({"attributes": attributes});
            if empty_web {
                context["webIdFederationData"] = json!({});
            }
            identity.insert("sessionContext".into(), context);
            if let Some(unknown) = unknown {
                identity.insert("keyFromTheFuture".into(), unknown);
            }
            Value::Object(identity)
        })
}

fn resources() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            string_or_null(),
            prop::option::of("[0-9]{12}"),
            prop::option::of(any_json()),
        ),
        0..3,
    )
    .prop_map(|items| {
        Value::Array(
            items
                .into_iter()
                .map(|(arn, account, extra)| {
                    let mut item = json!({"ARN": arn, "type": "AWS::S3::Object"});
                    if let Some(account) = account {
                        item["accountId"] = json!(account);
                    }
                    if let Some(extra) = extra {
                        item["ARNPrefix2"] = extra;
                    }
                    item
                })
                .collect(),
        )
    })
}

prop_compose! {
    fn record()(
        time in prop_oneof![
            Just("2024-03-05T10:00:00Z".to_string()),
            "20[0-2][0-9]-0[1-9]-1[0-9]T[01][0-9]:[0-5][0-9]:[0-5][0-9]Z",
            Just("2024-03-05T10:00:00.123Z".to_string()),
            Just("2024-03-05T12:00:00+02:00".to_string()),
        ],
        id in prop::option::of("[0-9a-f-]{8,36}"),
        name in string_or_null(),
        read_only in prop::option::of(prop_oneof![Just(json!(true)), Just(json!(false)), Just(json!("true")), Just(Value::Null)]),
        identity in prop::option::of(prop_oneof![4 => user_identity(), 1 => Just(Value::Null)]),
        request in prop::option::of(any_json()),
        response in prop::option::of(any_json()),
        resources in prop::option::of(resources()),
        unknown in prop::collection::vec(("[a-z]{1,8}Future", any_json()), 0..3),
        tls in prop::option::of(Just(json!({"tlsVersion": "TLSv1.3", "keyExchange": "X25519MLKEM768"}))),
        console in prop::option::of(prop_oneof![Just(json!("true")), Just(json!(true))]),
    ) -> Value {
        let mut record = Map::new();
        record.insert("eventTime".into(), json!(time));
        if let Some(id) = id { record.insert("eventID".into(), json!(id)); }
        record.insert("eventName".into(), name);
        if let Some(v) = read_only { record.insert("readOnly".into(), v); }
        if let Some(v) = identity { record.insert("userIdentity".into(), v); }
        if let Some(v) = request { record.insert("requestParameters".into(), v); }
        if let Some(v) = response { record.insert("responseElements".into(), v); }
        if let Some(v) = resources { record.insert("resources".into(), v); }
        if let Some(v) = tls { record.insert("tlsDetails".into(), v); }
        if let Some(v) = console { record.insert("sessionCredentialFromConsole".into(), v); }
        for (key, value) in unknown { record.insert(key, value); }
        Value::Object(record)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_records_round_trip(records in prop::collection::vec(record(), 1..6)) {
        let texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        let batch = through_parquet(&texts);
        for (i, original) in records.iter().enumerate() {
            prop_assert_eq!(&rebuild_record(&batch, i).unwrap(), original);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Every record the generator makes, for any seed, round-trips.
    #[test]
    fn generated_records_round_trip(seed in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let spec = TrailSpec {
            seed,
            accounts: 1,
            regions: vec!["us-west-2".into()],
            start: NaiveDate::from_ymd_opt(2024, 3, 9).unwrap(),
            days: 1,
            events_per_day: 1_500,
            ..TrailSpec::default()
        };
        generate(&spec, dir.path()).unwrap();
        let inputs = crate::util::read_inputs(dir.path());
        let texts: Vec<String> = inputs.iter().map(|r| r.json.to_string()).collect();
        let batch = through_parquet(&texts);
        for (i, input) in inputs.iter().enumerate() {
            prop_assert_eq!(&rebuild_record(&batch, i).unwrap(), &input.json);
        }
    }
}
