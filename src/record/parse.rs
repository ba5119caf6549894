//! One CloudTrail record (the bytes of one element of `Records`) parsed into typed values.
//!
//! Parsing is a single pass driven by the field tree of [`schema`](super::schema): strings are
//! borrowed from the input where they have no escapes, free-form payloads stay raw JSON text, and
//! anything the typed columns cannot hold exactly (unknown keys, explicit nulls, quirky forms of
//! known values) is collected into the `unmapped` overlay, so the record can be rebuilt losslessly.
//! A record whose known fields have unexpected types is refused with a reason naming the field.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::schema::{EVENT_ID, EVENT_TIME, Field, Kind, RECORD};
use super::time::parse_time_form;

/// A typed value of one mapped field.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    /// `Kind::Str`.
    Str(Cow<'a, str>),
    /// `Kind::Bool` and `Kind::BoolText`.
    Bool(bool),
    /// `Kind::Time`, milliseconds since the Unix epoch, UTC.
    Time(i64),
    /// `Kind::Json`: the value's JSON text, never `null`.
    Json(&'a RawValue),
    /// `Kind::Struct`: one slot per member, `None` when absent or null.
    Struct(Slots<'a>),
    /// `Kind::List`: the members of each element.
    List(Vec<Slots<'a>>),
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (Value::Json(a), Value::Json(b)) => a.get() == b.get(),
            (Value::Struct(a), Value::Struct(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            _ => false,
        }
    }
}

/// The values of a struct's members, in the order of its field list.
pub type Slots<'a> = Vec<Option<Value<'a>>>;

/// A parsed record: typed values plus the JSON overlay of what they do not preserve.
#[derive(Debug)]
pub struct Record<'a> {
    /// One slot per field of [`RECORD`].
    pub fields: Slots<'a>,
    /// The `unmapped` column: a JSON object, or `None` when the typed values say it all.
    pub unmapped: Option<String>,
}

impl Record<'_> {
    /// The event time in milliseconds since the epoch (always present in a parsed record).
    pub fn event_time_ms(&self) -> i64 {
        match self.fields[EVENT_TIME] {
            Some(Value::Time(ms)) => ms,
            _ => unreachable!("parse_record refuses records without eventTime"),
        }
    }

    /// The `eventID`, when the record has one.
    pub fn event_id(&self) -> Option<&str> {
        match &self.fields[EVENT_ID] {
            Some(Value::Str(id)) => Some(id),
            _ => None,
        }
    }
}

/// Parses one record. The error is a reason for the rejects table, naming the offending field.
pub fn parse_record(bytes: &[u8]) -> Result<Record<'_>, String> {
    let mut ctx = Ctx::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StructSeed {
        fields: RECORD,
        ctx: &mut ctx,
    }
    .deserialize(&mut de)
    .and_then(|parsed| de.end().map(|()| parsed))
    .map_err(|err| format!("invalid JSON: {err}"))?;
    if let Some(problem) = ctx.problem {
        return Err(problem);
    }
    let Some((fields, overlay)) = parsed else {
        return Err("record is not a JSON object".to_string());
    };
    if fields[EVENT_TIME].is_none() {
        return Err("record has no eventTime".to_string());
    }
    let unmapped = (!overlay.is_empty()).then(|| {
        let mut text = String::with_capacity(64);
        write_overlay(&overlay, &mut text);
        text
    });
    Ok(Record { fields, unmapped })
}

/// Entries of the overlay at one object level.
type Overlay<'a> = Vec<(Cow<'a, str>, Patch<'a>)>;

/// What the overlay says about one key.
#[derive(Debug)]
enum Patch<'a> {
    /// The input value verbatim (unknown keys).
    Raw(&'a RawValue),
    /// JSON text of an original value its column does not preserve.
    Text(String),
    /// Patches inside a struct.
    Object(Overlay<'a>),
    /// Patches inside each element of a list (empty where an element needs none).
    Items(Vec<Overlay<'a>>),
}

fn write_overlay(overlay: &Overlay<'_>, out: &mut String) {
    out.push('{');
    for (i, (key, patch)) in overlay.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(key, out);
        out.push(':');
        match patch {
            Patch::Raw(raw) => out.push_str(raw.get()),
            Patch::Text(text) => out.push_str(text),
            Patch::Object(inner) => write_overlay(inner, out),
            Patch::Items(items) => {
                out.push('[');
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_overlay(item, out);
                }
                out.push(']');
            }
        }
    }
    out.push('}');
}

fn push_json_string(text: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(text).expect("a string always serializes"));
}

/// Parse state shared down the tree: the path of the current field and the first problem.
#[derive(Default)]
struct Ctx {
    path: Vec<&'static str>,
    problem: Option<String>,
}

impl Ctx {
    fn refuse(&mut self, expected: &str, found: impl fmt::Display) {
        if self.problem.is_none() {
            self.problem = Some(format!(
                "field `{}`: expected {expected}, found {found}",
                self.path.join(".")
            ));
        }
    }
}

/// Deserializes an object with the given members; `None` for `null` or a non-object (refused).
struct StructSeed<'c> {
    fields: &'static [Field],
    ctx: &'c mut Ctx,
}

type StructOut<'de> = Option<(Slots<'de>, Overlay<'de>)>;

impl<'de> DeserializeSeed<'de> for StructSeed<'_> {
    type Value = StructOut<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StructSeed<'_> {
    type Value = StructOut<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let fields = self.fields;
        let mut slots: Slots<'de> = Vec::with_capacity(fields.len());
        slots.resize_with(fields.len(), || None);
        let mut seen = 0u64;
        let mut overlay = Overlay::new();
        // Records from one producer share a key order: try the field after the last match first.
        let mut hint = 0;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            // Length and first byte rule out nearly every other key before a full compare.
            let (length, first) = (key.len(), key.as_bytes().first().copied());
            let position = (hint..fields.len()).chain(0..hint).find(|&i| {
                let name = fields[i].key;
                name.len() == length && name.as_bytes().first().copied() == first && name == key
            });
            let Some(i) = position else {
                let raw: &'de RawValue = map.next_value()?;
                overlay.push((key, Patch::Raw(raw)));
                continue;
            };
            hint = i + 1;
            if seen & (1 << i) != 0 {
                self.ctx.path.push(fields[i].key);
                self.ctx.refuse("each key once", "a second occurrence");
                self.ctx.path.pop();
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            seen |= 1 << i;
            self.ctx.path.push(fields[i].key);
            let (value, patch) = map.next_value_seed(FieldSeed {
                field: &fields[i],
                ctx: self.ctx,
            })?;
            self.ctx.path.pop();
            slots[i] = value;
            if let Some(patch) = patch {
                overlay.push((key, patch));
            }
        }
        Ok(Some((slots, overlay)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        self.ctx.refuse("an object", format_args!("boolean {v}"));
        Ok(None)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        self.ctx.refuse("an object", format_args!("number {v}"));
        Ok(None)
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        self.ctx.refuse("an object", format_args!("number {v}"));
        Ok(None)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        self.ctx.refuse("an object", format_args!("number {v}"));
        Ok(None)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        self.ctx
            .refuse("an object", format_args!("string {}", quoted(v)));
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.ctx.refuse("an object", "an array");
        Ok(None)
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Deserializes the value of one mapped field into its typed value and overlay patch.
struct FieldSeed<'c> {
    field: &'static Field,
    ctx: &'c mut Ctx,
}

type FieldOut<'de> = (Option<Value<'de>>, Option<Patch<'de>>);

const NULL: Option<Patch<'static>> = None;

fn null_out<'de>() -> FieldOut<'de> {
    (None, Some(Patch::Text("null".to_string())))
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = FieldOut<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match &self.field.kind {
            Kind::Json => {
                let raw: &'de RawValue = de::Deserialize::deserialize(d)?;
                Ok(if raw.get() == "null" {
                    null_out()
                } else {
                    (Some(Value::Json(raw)), NULL)
                })
            }
            Kind::Struct(fields) => {
                let out = StructSeed {
                    fields,
                    ctx: self.ctx,
                }
                .deserialize(d)?;
                Ok(match out {
                    // A refused non-object leaves a problem behind; null is kept as an explicit null.
                    None => null_out(),
                    Some((slots, overlay)) => (
                        Some(Value::Struct(slots)),
                        (!overlay.is_empty()).then_some(Patch::Object(overlay)),
                    ),
                })
            }
            _ => d.deserialize_any(self),
        }
    }
}

fn quoted(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

fn expected(kind: &Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Bool => "a boolean",
        Kind::BoolText => "\"true\" or \"false\"",
        Kind::Time => "an ISO-8601 time string",
        Kind::Json => "any JSON",
        Kind::Struct(_) => "an object",
        Kind::List(_) => "an array of objects",
    }
}

impl<'de> FieldSeed<'_> {
    fn string(self, text: Cow<'de, str>) -> FieldOut<'de> {
        let kind = &self.field.kind;
        match kind {
            Kind::Str => (Some(Value::Str(text)), NULL),
            Kind::Bool | Kind::BoolText => match text.as_ref() {
                "true" | "false" => {
                    let value = Some(Value::Bool(text == "true"));
                    // `Bool`'s canonical form is a JSON boolean: keep the string in the overlay.
                    let patch = matches!(kind, Kind::Bool).then(|| json_text(&text));
                    (value, patch)
                }
                _ => {
                    self.ctx
                        .refuse(expected(kind), format_args!("string {}", quoted(&text)));
                    (None, NULL)
                }
            },
            Kind::Time => match parse_time_form(&text) {
                Some((ms, true)) => (Some(Value::Time(ms)), NULL),
                Some((ms, false)) => (Some(Value::Time(ms)), Some(json_text(&text))),
                None if self.ctx.path.len() == 1 => {
                    // Only the top-level eventTime is essential: without it the row has no place.
                    self.ctx
                        .refuse(expected(kind), format_args!("string {}", quoted(&text)));
                    (None, NULL)
                }
                None => (None, Some(json_text(&text))),
            },
            Kind::Json | Kind::Struct(_) | Kind::List(_) => {
                self.ctx
                    .refuse(expected(kind), format_args!("string {}", quoted(&text)));
                (None, NULL)
            }
        }
    }

    fn mismatch(self, found: impl fmt::Display) -> FieldOut<'de> {
        self.ctx.refuse(expected(&self.field.kind), found);
        (None, NULL)
    }
}

fn json_text(text: &str) -> Patch<'static> {
    let mut out = String::with_capacity(text.len() + 2);
    push_json_string(text, &mut out);
    Patch::Text(out)
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = FieldOut<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(expected(&self.field.kind))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(self.string(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.string(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.string(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(null_out())
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(match self.field.kind {
            Kind::Bool => (Some(Value::Bool(v)), NULL),
            // CloudTrail writes these as strings; keep the JSON boolean form in the overlay.
            Kind::BoolText => (Some(Value::Bool(v)), Some(Patch::Text(v.to_string()))),
            _ => self.mismatch(format_args!("boolean {v}")),
        })
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.mismatch(format_args!("number {v}")))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.mismatch(format_args!("number {v}")))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.mismatch(format_args!("number {v}")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.mismatch("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Kind::List(members) = self.field.kind else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(self.mismatch("an array"));
        };
        let mut items = Vec::new();
        let mut patches = Vec::new();
        while let Some(item) = seq.next_element_seed(StructSeed {
            fields: members,
            ctx: self.ctx,
        })? {
            match item {
                Some((slots, overlay)) => {
                    items.push(slots);
                    patches.push(overlay);
                }
                None => {
                    // Null elements cannot be told apart from refused ones here: refuse both.
                    self.ctx.refuse("an array of objects", "a null element");
                }
            }
        }
        let patch = patches
            .iter()
            .any(|overlay| !overlay.is_empty())
            .then_some(Patch::Items(patches));
        Ok((Some(Value::List(items)), patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Record<'_>, String> {
        parse_record(json.as_bytes())
    }

    #[test]
    fn typed_fields_and_borrowed_strings() {
        let record = parse(
            r#"{"eventVersion":"1.08","eventTime":"2024-03-05T10:00:00Z","eventID":"abc",
                "readOnly":false,"userIdentity":{"type":"Root","accountId":"012345678901"},
                "requestParameters":{"bucketName":"b","Key":1,"key":2},"responseElements":null}"#,
        )
        .unwrap();
        assert_eq!(record.event_time_ms(), 1_709_632_800_000);
        assert_eq!(record.event_id(), Some("abc"));
        assert!(matches!(
            &record.fields[0],
            Some(Value::Str(Cow::Borrowed("1.08")))
        ));
        assert_eq!(record.fields[18], Some(Value::Bool(false)));
        let Some(Value::Struct(identity)) = &record.fields[1] else {
            panic!("userIdentity is a struct")
        };
        assert_eq!(identity[3], Some(Value::Str("012345678901".into())));
        let Some(Value::Json(raw)) = &record.fields[10] else {
            panic!("requestParameters is JSON")
        };
        assert_eq!(raw.get(), r#"{"bucketName":"b","Key":1,"key":2}"#);
        assert_eq!(
            record.unmapped.as_deref(),
            Some(r#"{"responseElements":null}"#)
        );
    }

    #[test]
    fn unknown_keys_and_quirks_go_to_the_overlay() {
        let record = parse(
            r#"{"eventTime":"2013-11-02T01:06:28.5Z","readOnly":"true","newField":[1,{"a":null}],
                "userIdentity":{"futureKey":"x","sessionContext":{"attributes":
                  {"mfaAuthenticated":true,"creationDate":"20131102T010628Z"}}},
                "resources":[{"ARN":"a"},{"ARN":"b","extra":1}]}"#,
        )
        .unwrap();
        assert_eq!(record.event_time_ms(), 1_383_354_388_500);
        let overlay: serde_json::Value =
            serde_json::from_str(record.unmapped.as_deref().unwrap()).unwrap();
        assert_eq!(
            overlay,
            serde_json::json!({
                "eventTime": "2013-11-02T01:06:28.5Z",
                "readOnly": "true",
                "newField": [1, {"a": null}],
                "userIdentity": {"futureKey": "x", "sessionContext": {"attributes":
                    {"mfaAuthenticated": true, "creationDate": "20131102T010628Z"}}},
                "resources": [{}, {"extra": 1}]
            })
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"eventTime":"2024-03-05T10:00:00Z","eventName":5}"#,
                "field `eventName`: expected a string, found number 5",
            ),
            (
                r#"{"eventTime":"yesterday"}"#,
                "field `eventTime`: expected an ISO-8601 time string, found string \"yesterday\"",
            ),
            (
                r#"{"eventTime":"2024-03-05T10:00:00Z","userIdentity":"root"}"#,
                "field `userIdentity`: expected an object, found string \"root\"",
            ),
            (
                r#"{"eventTime":"2024-03-05T10:00:00Z","userIdentity":{"sessionContext":{"attributes":{"mfaAuthenticated":"maybe"}}}}"#,
                "field `userIdentity.sessionContext.attributes.mfaAuthenticated`: expected \"true\" or \"false\", found string \"maybe\"",
            ),
            (
                r#"{"eventTime":"2024-03-05T10:00:00Z","resources":[null]}"#,
                "field `resources`: expected an array of objects, found a null element",
            ),
            (
                r#"{"eventTime":"2024-03-05T10:00:00Z","readOnly":1}"#,
                "field `readOnly`: expected a boolean, found number 1",
            ),
            (r#"{"eventName":"x"}"#, "record has no eventTime"),
            (
                r#"{"eventTime":"2024-03-05T10:00:00Z","eventID":"a","eventID":"b"}"#,
                "field `eventID`: expected each key once, found a second occurrence",
            ),
        ];
        for (json, reason) in cases {
            assert_eq!(parse(json).unwrap_err(), reason, "{json}");
        }
        assert!(
            parse(r#"{"eventTime":"2024-03-05T10:00:00Z",}"#)
                .unwrap_err()
                .starts_with("invalid JSON: ")
        );
    }

    #[test]
    fn null_user_identity_is_accepted() {
        let record = parse(r#"{"eventTime":"2024-03-05T10:00:00Z","userIdentity":null}"#).unwrap();
        assert_eq!(record.fields[1], None);
        assert_eq!(record.unmapped.as_deref(), Some(r#"{"userIdentity":null}"#));
    }
}
