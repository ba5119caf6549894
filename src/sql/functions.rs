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

/// Whether `address` is in `cidr`; `None` when either does not parse.
fn in_cidr(address: &str, cidr: &str) -> Option<bool> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
