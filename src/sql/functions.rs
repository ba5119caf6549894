//! SQL functions a CloudTrail analyst needs: the parts of an ARN, the principal behind an event,
//! and IP-in-CIDR. One registry feeds both the session and `trailq query --functions`.

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, StringArray, StructArray, TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::record::principal::principals;
use crate::record::schema::{RECORD, USER_IDENTITY, data_type, text_as_views, timestamp_type};
use crate::record::time::parse_time;

/// A function's documentation, as `trailq query --functions` prints it.
pub struct FunctionDoc {
    /// Call signature.
    pub signature: &'static str,
    /// What it returns.
    pub description: &'static str,
    /// An example call and its result.
    pub example: &'static str,
}

/// Every trailq SQL function (JSON functions come from `datafusion-functions-json`).
pub const FUNCTIONS: &[FunctionDoc] = &[
    FunctionDoc {
        signature: "json_match(json, path, op, value)",
        description: "whether any value at a dotted path of a JSON text matches: keys compared \
                      without case, arrays searched element by element; op is equals (with * \
                      and ? wildcards, \\ escapes, case-insensitive), equals_cased, regex \
                      (value may start with (?i), (?m), (?s)), cidr, exists, null, lt, lte, gt \
                      or gte",
        example: "json_match(requestparameters, 'ipPermissions.items.ipRanges.items.cidrIp', 'equals', '0.0.0.0/0')",
    },
    FunctionDoc {
        signature: "json_find(json, path)",
        description: "the first value at a dotted path of a JSON text, as json_match finds it \
                      (keys without case, arrays searched): strings as they are, other values as \
                      JSON text; null when there is none",
        example: "json_find(requestparameters, 'ipPermissions.items.ipRanges.items.cidrIp') = '0.0.0.0/0'",
    },
    FunctionDoc {
        signature: "arn_partition(arn)",
        description: "the partition of an ARN (aws, aws-cn, aws-us-gov)",
        example: "arn_partition('arn:aws:iam::111122223333:user/alice') = 'aws'",
    },
    FunctionDoc {
        signature: "arn_service(arn)",
        description: "the service of an ARN",
        example: "arn_service('arn:aws:iam::111122223333:user/alice') = 'iam'",
    },
    FunctionDoc {
        signature: "arn_region(arn)",
        description: "the region of an ARN (null for global resources)",
        example: "arn_region('arn:aws:lambda:eu-west-1:111122223333:function:f') = 'eu-west-1'",
    },
    FunctionDoc {
        signature: "arn_account(arn)",
        description: "the account id of an ARN (null when it has none, as for S3 buckets)",
        example: "arn_account('arn:aws:iam::111122223333:user/alice') = '111122223333'",
    },
    FunctionDoc {
        signature: "arn_resource_type(arn)",
        description: "the resource type: the resource part up to its first / or : (S3: bucket or object)",
        example: "arn_resource_type('arn:aws:sts::111122223333:assumed-role/admin/s') = 'assumed-role'",
    },
    FunctionDoc {
        signature: "arn_resource_name(arn)",
        description: "the resource after its type (S3: the bucket, or bucket/key)",
        example: "arn_resource_name('arn:aws:iam::111122223333:role/ops/deployer') = 'ops/deployer'",
    },
    FunctionDoc {
        signature: "arn_role_name(arn)",
        description: "the role name of a role or assumed-role ARN (null otherwise)",
        example: "arn_role_name('arn:aws:sts::111122223333:assumed-role/admin/session') = 'admin'",
    },
    FunctionDoc {
        signature: "principal(useridentity)",
        description: "who acted, as one string: the role ARN for assumed roles, the user ARN for users \
                      and root, the service for AWS services, else the best identifier there is",
        example: "principal(useridentity) = 'arn:aws:iam::111122223333:role/admin'",
    },
    FunctionDoc {
        signature: "json_extract_scalar(json, path)",
        description: "Athena's function: the scalar at a JSONPath ($.a.b, $.a[0], $['a']) as text; \
                      null for objects, arrays and missing paths",
        example: "json_extract_scalar(requestparameters, '$.bucketName') = 'my-bucket'",
    },
    FunctionDoc {
        signature: "json_extract(json, path)",
        description: "Athena's function: the JSON text at a JSONPath (objects and arrays too)",
        example: "json_extract(requestparameters, '$.ipPermissions') LIKE '%0.0.0.0/0%'",
    },
    FunctionDoc {
        signature: "from_iso8601_timestamp(text)",
        description: "Athena's function: an ISO-8601 time as a UTC timestamp (eventtime already is one)",
        example: "from_iso8601_timestamp('2024-03-05T10:00:00Z')",
    },
    FunctionDoc {
        signature: "ip_in_cidr(address, cidr)",
        description: "whether an IPv4 or IPv6 address is in a CIDR block (or equals an address); \
                      null when the address is not an IP (sourceipaddress can be a service name)",
        example: "ip_in_cidr('203.0.113.9', '203.0.113.0/24') = true",
    },
];

/// A function of one string.
type StringFn = fn(&str) -> Option<String>;

/// Registers every trailq function on the session.
pub fn register(ctx: &SessionContext) {
    let strings: [(&str, StringFn); 7] = [
        ("arn_partition", |arn| arn_part(arn, 1)),
        ("arn_service", |arn| arn_part(arn, 2)),
        ("arn_region", |arn| arn_part(arn, 3)),
        ("arn_account", |arn| arn_part(arn, 4)),
        ("arn_resource_type", |arn| resource(arn).map(|(t, _)| t)),
        ("arn_resource_name", |arn| resource(arn).map(|(_, n)| n)),
        ("arn_role_name", role_name),
    ];
    for (name, f) in strings {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| map_strings(args, f)),
        ));
    }
    // The column's type as the lake's files declare it (text as views).
    let identity = text_as_views(&data_type(&RECORD[USER_IDENTITY].kind));
    ctx.register_udf(create_udf(
        "principal",
        vec![identity],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(principal_udf),
    ));
    for (name, scalar_only) in [("json_extract_scalar", true), ("json_extract", false)] {
        ctx.register_udf(create_udf(
            name,
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| json_path_udf(args, scalar_only)),
        ));
    }
    ctx.register_udf(create_udf(
        "from_iso8601_timestamp",
        vec![DataType::Utf8],
        timestamp_type(),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = arrays(args)?;
            let times: TimestampMillisecondArray = arrays[0]
                .as_string::<i32>()
                .iter()
                .map(|v| v.and_then(parse_time))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(times.with_timezone("UTC"))))
        }),
    ));
    ctx.register_udf(create_udf(
        "json_match",
        vec![
            DataType::Utf8View,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Utf8,
        ],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(json_match_udf),
    ));
    ctx.register_udf(create_udf(
        "json_find",
        vec![DataType::Utf8View, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(json_find_udf),
    ));
    ctx.register_udf(create_udf(
        "ip_in_cidr",
        // Views, as the lake's text columns are read: no copy of each address.
        vec![DataType::Utf8View, DataType::Utf8View],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(ip_in_cidr_udf),
    ));
}

fn arrays(args: &[ColumnarValue]) -> Result<Vec<ArrayRef>> {
    let rows = args
        .iter()
        .find_map(|arg| match arg {
            ColumnarValue::Array(array) => Some(array.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    args.iter().map(|arg| arg.to_array(rows)).collect()
}

fn map_strings(args: &[ColumnarValue], f: StringFn) -> Result<ColumnarValue> {
    let arrays = arrays(args)?;
    let input = arrays[0].as_string::<i32>();
    let out: StringArray = input.iter().map(|v| v.and_then(f)).collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// Field `n` (from 0) of `arn:partition:service:region:account:resource`; `None` when empty.
fn arn_part(arn: &str, n: usize) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    if parts.next() != Some("arn") {
        return None;
    }
    parts
        .nth(n - 1)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
}

/// The resource type and name of an ARN.
fn resource(arn: &str) -> Option<(String, String)> {
    let service = arn_part(arn, 2)?;
    let resource = arn.splitn(6, ':').nth(5)?;
    if service == "s3" {
        let kind = if resource.contains('/') {
            "object"
        } else {
            "bucket"
        };
        return Some((kind.to_string(), resource.to_string()));
    }
    match resource.find(['/', ':']) {
        Some(at) => Some((resource[..at].to_string(), resource[at + 1..].to_string())),
        None => Some((resource.to_string(), String::new())),
    }
}

fn role_name(arn: &str) -> Option<String> {
    let (kind, name) = resource(arn)?;
    match kind.as_str() {
        // assumed-role/<role>/<session>
        "assumed-role" => name.split('/').next().map(str::to_string),
        // role/<path>/<role>
        "role" => name.rsplit('/').next().map(str::to_string),
        _ => None,
    }
    .filter(|name| !name.is_empty())
}

fn principal_udf(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = arrays(args)?;
    // `principals` reads the struct as ingest builds it.
    let identity = cast(&arrays[0], &data_type(&RECORD[USER_IDENTITY].kind))?;
    let identity = identity
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| DataFusionError::Plan("principal() takes the useridentity column".into()))?;
    Ok(ColumnarValue::Array(Arc::new(principals(identity))))
}

/// One step of a JSONPath.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses the JSONPath subset Athena users write: `$.a.b`, `$.a[0]`, `$['a b']`, `$["a"]`.
fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(after[..end].to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            let quoted = inside
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
            steps.push(match quoted {
                Some(key) => Step::Key(key.to_string()),
                None => Step::Index(inside.parse().ok()?),
            });
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn json_path(json: &str, path: &str, scalar_only: bool) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    for step in parse_path(path)? {
        value = match (step, value) {
            (Step::Key(key), serde_json::Value::Object(mut map)) => map.remove(&key)?,
            (Step::Index(i), serde_json::Value::Array(mut items)) if i < items.len() => {
                items.swap_remove(i)
            }
            _ => return None,
        };
    }
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) if scalar_only => Some(text),
        serde_json::Value::Object(_) | serde_json::Value::Array(_) if scalar_only => None,
        other => Some(other.to_string()),
    }
}

fn json_path_udf(args: &[ColumnarValue], scalar_only: bool) -> Result<ColumnarValue> {
    let arrays = arrays(args)?;
    let json = arrays[0].as_string::<i32>();
    let paths = arrays[1].as_string::<i32>();
    let out: StringArray = json
        .iter()
        .zip(paths.iter())
        .map(|(json, path)| json_path(json?, path?, scalar_only))
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// An IPv4 or IPv6 network: an address alone is a /32 or /128.
struct Network {
    base: u128,
    bits: u32,
    v4: bool,
}

impl Network {
    fn parse(cidr: &str) -> Option<Self> {
        let (network, bits) = match cidr.trim().split_once('/') {
            Some((network, bits)) => (network.parse::<IpAddr>().ok()?, Some(bits.parse().ok()?)),
            None => (cidr.trim().parse::<IpAddr>().ok()?, None),
        };
        let (base, width, v4) = match network {
            IpAddr::V4(n) => (u128::from(u32::from(n)), 32, true),
            IpAddr::V6(n) => (u128::from(n), 128, false),
        };
        let bits = bits.unwrap_or(width);
        (bits <= width).then_some(Self { base, bits, v4 })
    }

    /// Whether `address` is in the network; `None` when it is not an IP address (CloudTrail
    /// puts service names such as `s3.amazonaws.com` in `sourceipaddress`).
    fn contains(&self, address: &str) -> Option<bool> {
        let (address, width) = match address.trim().parse::<IpAddr>().ok()? {
            IpAddr::V4(a) if self.v4 => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) if !self.v4 => (u128::from(a), 128),
            _ => return Some(false),
        };
        let shift = width - self.bits;
        Some(self.bits == 0 || (address >> shift) == (self.base >> shift))
    }
}

/// Whether `cidr` is a network `ip_in_cidr` and `json_match` accept.
pub(crate) fn parse_network(cidr: &str) -> Option<()> {
    Network::parse(cidr).map(|_| ())
}

/// Whether `address` is in `cidr`; `None` when either does not parse.
pub(crate) fn in_cidr(address: &str, cidr: &str) -> Option<bool> {
    Network::parse(cidr)?.contains(address)
}

fn ip_in_cidr_udf(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let rows = args.iter().find_map(|arg| match arg {
        ColumnarValue::Array(array) => Some(array.len()),
        ColumnarValue::Scalar(_) => None,
    });
    let addresses = args[0].to_array(rows.unwrap_or(1))?;
    let addresses = addresses.as_string_view();
    let out: BooleanArray = match &args[1] {
        // The usual case, a constant network: parsed once, not once per row.
        ColumnarValue::Scalar(cidr) => {
            let network = match cidr {
                ScalarValue::Utf8View(Some(cidr)) => Network::parse(cidr),
                _ => None,
            };
            match network {
                Some(network) => addresses
                    .iter()
                    .map(|a| a.and_then(|a| network.contains(a)))
                    .collect(),
                None => BooleanArray::new_null(addresses.len()),
            }
        }
        ColumnarValue::Array(cidrs) => addresses
            .iter()
            .zip(cidrs.as_string_view().iter())
            .map(|(a, c)| in_cidr(a?, c?))
            .collect(),
    };
    Ok(match rows {
        Some(_) => ColumnarValue::Array(Arc::new(out)),
        None => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
    })
}

/// How `json_match` compares each value it finds.
enum JsonTest {
    /// A Sigma-style pattern, lower-cased unless cased.
    Pattern {
        pattern: Vec<Glob>,
        cased: bool,
    },
    Regex(regex::Regex),
    Cidr(Network),
    Exists,
    Null,
    Compare(std::cmp::Ordering, bool, f64),
}

/// One piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Glob {
    /// Text to match as it is.
    Text(String),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters.
    Any,
}

/// Splits a Sigma-style pattern: `*` and `?` are wildcards, `\*`, `\?` and `\\` their literals.
pub(crate) fn glob(pattern: &str) -> Vec<Glob> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                text.push(chars.next().expect("peeked"));
            }
            '*' | '?' => {
                if !text.is_empty() {
                    out.push(Glob::Text(std::mem::take(&mut text)));
                }
                out.push(if c == '*' { Glob::Any } else { Glob::One });
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Glob::Text(text));
    }
    out
}

/// Whether `value` matches the pieces (backtracking on `*`, which patterns use sparingly).
pub(crate) fn glob_matches(pieces: &[Glob], value: &str) -> bool {
    match pieces.split_first() {
        None => value.is_empty(),
        Some((Glob::Text(text), rest)) => value
            .strip_prefix(text.as_str())
            .is_some_and(|tail| glob_matches(rest, tail)),
        Some((Glob::One, rest)) => {
            let mut chars = value.chars();
            chars.next().is_some() && glob_matches(rest, chars.as_str())
        }
        Some((Glob::Any, rest)) => {
            rest.is_empty()
                || value
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain([value.len()])
                    .any(|i| glob_matches(rest, &value[i..]))
        }
    }
}

impl JsonTest {
    fn parse(op: &str, value: &str) -> Result<Self> {
        let number = || {
            value.trim().parse::<f64>().map_err(|_| {
                DataFusionError::Execution(format!("json_match: `{value}` is not a number"))
            })
        };
        use std::cmp::Ordering::{Greater, Less};
        Ok(match op {
            "equals" => JsonTest::Pattern {
                pattern: glob(&value.to_lowercase()),
                cased: false,
            },
            "equals_cased" => JsonTest::Pattern {
                pattern: glob(value),
                cased: true,
            },
            "regex" => JsonTest::Regex(regex::Regex::new(value).map_err(|err| {
                DataFusionError::Execution(format!("json_match: bad regular expression: {err}"))
            })?),
            "cidr" => JsonTest::Cidr(Network::parse(value).ok_or_else(|| {
                DataFusionError::Execution(format!("json_match: `{value}` is not a CIDR"))
            })?),
            "exists" => JsonTest::Exists,
            "null" => JsonTest::Null,
            "lt" => JsonTest::Compare(Less, false, number()?),
            "lte" => JsonTest::Compare(Less, true, number()?),
            "gt" => JsonTest::Compare(Greater, false, number()?),
            "gte" => JsonTest::Compare(Greater, true, number()?),
            other => {
                return Err(DataFusionError::Execution(format!(
                    "json_match: unknown op `{other}`"
                )));
            }
        })
    }

    /// Whether the values found at the path (`None` when the path is absent) pass.
    fn passes(&self, found: &[&serde_json::Value], present: bool) -> bool {
        match self {
            JsonTest::Exists => present,
            JsonTest::Null => !present || found.iter().any(|v| v.is_null()),
            _ => found.iter().any(|value| self.value_passes(value)),
        }
    }

    fn value_passes(&self, value: &serde_json::Value) -> bool {
        let text = match value {
            serde_json::Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
            serde_json::Value::Null => return false,
            other => std::borrow::Cow::Owned(other.to_string()),
        };
        match self {
            JsonTest::Pattern { pattern, cased } => {
                if *cased {
                    glob_matches(pattern, &text)
                } else {
                    glob_matches(pattern, &text.to_lowercase())
                }
            }
            JsonTest::Regex(re) => re.is_match(&text),
            JsonTest::Cidr(network) => network.contains(&text).unwrap_or(false),
            JsonTest::Compare(side, or_equal, bound) => text.trim().parse::<f64>().is_ok_and(|n| {
                let order = n.partial_cmp(bound);
                order == Some(*side) || (*or_equal && order == Some(std::cmp::Ordering::Equal))
            }),
            JsonTest::Exists | JsonTest::Null => true,
        }
    }
}

/// The values at a dotted path (keys without case), arrays searched element by element.
fn values_at<'a>(
    value: &'a serde_json::Value,
    path: &[&str],
    out: &mut Vec<&'a serde_json::Value>,
) {
    match value {
        serde_json::Value::Array(items) => {
            for item in items {
                values_at(item, path, out);
            }
        }
        serde_json::Value::Object(map) => match path.split_first() {
            None => out.push(value),
            Some((key, rest)) => {
                for (name, inner) in map {
                    if name.eq_ignore_ascii_case(key) {
                        values_at(inner, rest, out);
                    }
                }
            }
        },
        scalar if path.is_empty() => out.push(scalar),
        _ => {}
    }
}

/// An object's members as written: keys and unparsed values, borrowed from the text.
struct Members<'a>(Vec<(&'a str, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Members<'de>, M::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// `values_at` on the text itself: only the members on the path are parsed, the rest is
/// skipped over. Fails on a key with escapes (it cannot be borrowed) or invalid JSON.
fn values_in_text(
    text: &str,
    path: &[&str],
    out: &mut Vec<serde_json::Value>,
) -> serde_json::Result<()> {
    use serde_json::value::RawValue;
    match text.trim_start().as_bytes().first() {
        Some(b'[') => {
            for item in serde_json::from_str::<Vec<&RawValue>>(text)? {
                values_in_text(item.get(), path, out)?;
            }
        }
        Some(b'{') if !path.is_empty() => {
            for (key, value) in serde_json::from_str::<Members>(text)?.0 {
                if key.eq_ignore_ascii_case(path[0]) {
                    values_in_text(value.get(), &path[1..], out)?;
                }
            }
        }
        _ if path.is_empty() => out.push(serde_json::from_str(text)?),
        _ => {}
    }
    Ok(())
}

/// The values at a dotted path of a JSON text (see `values_at`); `None` when it is not JSON.
fn values_in(text: &str, path: &[&str]) -> Option<Vec<serde_json::Value>> {
    let mut found = Vec::new();
    if values_in_text(text, path, &mut found).is_ok() {
        return Some(found);
    }
    let json = serde_json::from_str::<serde_json::Value>(text).ok()?;
    let mut found = Vec::new();
    values_at(&json, path, &mut found);
    Some(found.into_iter().cloned().collect())
}

/// A constant text argument of a JSON function (its path, op or value).
fn constant(args: &[ColumnarValue], i: usize, function: &str) -> Result<String> {
    match &args[i] {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)),
        ) => Ok(text.clone()),
        _ => Err(DataFusionError::Execution(format!(
            "{function}: every argument after the JSON must be a constant"
        ))),
    }
}

/// Applies `f` to the values at `path` of each JSON text of the first argument (`None` for a
/// null or invalid text), and returns the results in the argument's shape.
fn map_json_paths<T, A>(
    args: &[ColumnarValue],
    path: &str,
    f: impl Fn(Option<Vec<serde_json::Value>>) -> Option<T>,
) -> Result<ColumnarValue>
where
    A: Array + FromIterator<Option<T>> + 'static,
{
    let path: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let rows = match &args[0] {
        ColumnarValue::Array(array) => array.len(),
        ColumnarValue::Scalar(_) => 1,
    };
    let texts = cast(&args[0].to_array(rows)?, &DataType::Utf8View)?;
    let out: A = texts
        .as_string_view()
        .iter()
        .map(|text| f(text.and_then(|t| values_in(t, &path))))
        .collect();
    Ok(match &args[0] {
        ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(out)),
        ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
    })
}

fn json_match_udf(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let path = constant(args, 1, "json_match")?;
    let test = JsonTest::parse(
        &constant(args, 2, "json_match")?,
        &constant(args, 3, "json_match")?,
    )?;
    map_json_paths::<_, BooleanArray>(args, &path, |found| {
        let found = found.unwrap_or_default();
        let found: Vec<&serde_json::Value> = found.iter().collect();
        Some(test.passes(&found, !found.is_empty()))
    })
}

fn json_find_udf(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let path = constant(args, 1, "json_find")?;
    map_json_paths::<_, StringArray>(args, &path, |found| {
        found?.into_iter().find(|v| !v.is_null()).map(|v| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_found_in_the_text_match_those_found_in_the_parsed_value() {
        let texts = [
            r#"{"a": {"b": [{"c": 1}, {"C": "x"}, {"d": 2}]}, "A": {"b": {"c": null}}}"#,
            r#"[{"a": {"b": {"c": true}}}, {"a": [{"b": {"c": "y"}}]}]"#,
            r#"{"a\u0062": 1, "a": {"b": {"c": "escaped key elsewhere"}}}"#,
            r#"{"a": "scalar", "b": 2}"#,
            "null",
        ];
        for text in texts {
            for path in [vec!["a", "b", "c"], vec!["a"], vec![]] {
                let json: serde_json::Value = serde_json::from_str(text).unwrap();
                let mut expected = Vec::new();
                values_at(&json, &path, &mut expected);
                // The same values; the text gives them in document order, the parsed value
                // in key order.
                let sorted = |values: Vec<serde_json::Value>| {
                    let mut texts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                    texts.sort();
                    texts
                };
                let expected = sorted(expected.into_iter().cloned().collect());
                let found = values_in(text, &path).map(sorted);
                assert_eq!(found, Some(expected), "{text} at {path:?}");
            }
        }
        assert_eq!(values_in("{not json", &["a"]), None);
    }

    #[test]
    fn wildcards_escapes_and_json_paths() {
        assert!(glob_matches(&glob("*.example.com"), "a.example.com"));
        assert!(glob_matches(&glob("a?c"), "abc"));
        assert!(!glob_matches(&glob("a?c"), "ac"));
        assert!(glob_matches(&glob(r"100\*"), "100*"));
        assert!(!glob_matches(&glob(r"100\*"), "1000"));
        assert!(glob_matches(&glob(r"c:\\x"), r"c:\x"));
        let json: serde_json::Value = serde_json::from_str(
            r#"{"ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"0.0.0.0/0"}]}}]}}"#,
        )
        .unwrap();
        let mut found = Vec::new();
        values_at(
            &json,
            &["IPPERMISSIONS", "items", "ipRanges", "items", "cidrIp"],
            &mut found,
        );
        assert_eq!(found.len(), 2);
        let test = JsonTest::parse("equals", "0.0.0.0/0").unwrap();
        assert!(test.passes(&found, true));
        let test = JsonTest::parse("gte", "8").unwrap();
        assert!(!test.passes(&found, true));
    }

    #[test]
    fn arn_parts() {
        let user = "arn:aws:iam::111122223333:user/alice";
        assert_eq!(arn_part(user, 2).as_deref(), Some("iam"));
        assert_eq!(arn_part(user, 3), None);
        assert_eq!(arn_part(user, 4).as_deref(), Some("111122223333"));
        assert_eq!(arn_part("not an arn", 2), None);
        assert_eq!(resource(user), Some(("user".into(), "alice".into())));
        let function = "arn:aws:lambda:eu-west-1:111122223333:function:ingest";
        assert_eq!(
            resource(function),
            Some(("function".into(), "ingest".into()))
        );
        assert_eq!(
            resource("arn:aws:s3:::bucket"),
            Some(("bucket".into(), "bucket".into()))
        );
        assert_eq!(
            resource("arn:aws:s3:::bucket/a/b"),
            Some(("object".into(), "bucket/a/b".into()))
        );
    }

    #[test]
    fn role_names() {
        assert_eq!(
            role_name("arn:aws:sts::1:assumed-role/admin/sess").as_deref(),
            Some("admin")
        );
        assert_eq!(
            role_name("arn:aws:iam::1:role/path/deployer").as_deref(),
            Some("deployer")
        );
        assert_eq!(role_name("arn:aws:iam::1:user/alice"), None);
    }

    #[test]
    fn json_paths() {
        let json = r#"{"a":{"b":[{"c":"x"},{"c":2}]},"k y":true,"n":null}"#;
        assert_eq!(json_path(json, "$.a.b[0].c", true).as_deref(), Some("x"));
        assert_eq!(json_path(json, "$.a.b[1].c", true).as_deref(), Some("2"));
        assert_eq!(json_path(json, "$['k y']", true).as_deref(), Some("true"));
        assert_eq!(json_path(json, "$.a.b", true), None);
        assert_eq!(
            json_path(json, "$.a.b[1]", false).as_deref(),
            Some(r#"{"c":2}"#)
        );
        assert_eq!(json_path(json, "$.n", true), None);
        assert_eq!(json_path(json, "$.missing", false), None);
        assert_eq!(json_path(json, "a.b", false), None);
        assert_eq!(json_path("not json", "$.a", true), None);
    }

    #[test]
    fn cidr_matching() {
        assert_eq!(in_cidr("203.0.113.9", "203.0.113.0/24"), Some(true));
        assert_eq!(in_cidr("203.0.114.9", "203.0.113.0/24"), Some(false));
        assert_eq!(in_cidr("10.1.2.3", "0.0.0.0/0"), Some(true));
        assert_eq!(in_cidr("10.1.2.3", "10.1.2.3"), Some(true));
        assert_eq!(in_cidr("2001:db8::1", "2001:db8::/32"), Some(true));
        assert_eq!(in_cidr("2001:db8::1", "10.0.0.0/8"), Some(false));
        assert_eq!(in_cidr("AWS Internal", "10.0.0.0/8"), None);
        assert_eq!(in_cidr("10.0.0.1", "10.0.0.0/33"), None);
    }
}
