//! The `sessions` table: one row per successful credential-issuing call (`AssumeRole*`,
//! `GetFederationToken`, `GetSessionToken`, `AssumeRoot`), derived from `events` rows.
//!
//! Ingest derives the rows of each `events` file it writes from the same rows, after
//! de-duplication, so `sessions` holds each issuing event once, as `events` does; compaction
//! derives them again for lakes ingested before the table existed. The struct is the table's
//! column list, as for `findings`.

use std::sync::LazyLock;

use arrow::array::{Array, AsArray, RecordBatch, StructArray};
use arrow::datatypes::{DataType, SchemaRef, TimestampMillisecondType};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::record::time::parse_time;

/// One row of `sessions`: the credentials one call issued, and who called. Times are UTC
/// milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The issued access key id (`ASIA...`).
    pub accesskeyid: String,
    /// When they were issued: the issuing call's `eventTime`.
    pub issuedat: i64,
    /// When they expire (`credentials.expiration`, else the requested or default duration).
    pub expiresat: Option<i64>,
    /// The issuing call's `eventID`.
    pub eventid: String,
    /// The issuing API (`AssumeRole`, `AssumeRoleWithSAML`, ...).
    pub eventname: String,
    /// The region of the call.
    pub awsregion: String,
    /// The account whose trail recorded the call.
    pub recipientaccountid: Option<String>,
    /// The caller's `userIdentity.type`.
    pub issuertype: Option<String>,
    /// The caller's ARN.
    pub issuerarn: Option<String>,
    /// The caller's principal id.
    pub issuerprincipalid: Option<String>,
    /// The caller's account.
    pub issueraccountid: Option<String>,
    /// The access key the caller signed with: the next hop of the chain.
    pub issueraccesskeyid: Option<String>,
    /// The caller's user name (IAM, SAML or web-identity user).
    pub issuerusername: Option<String>,
    /// The caller's identity provider (SAML or OIDC).
    pub issueridentityprovider: Option<String>,
    /// The service that called on its own behalf.
    pub issuerinvokedby: Option<String>,
    /// The Identity Center user the caller acted for (`onBehalfOf.userId`).
    pub issueronbehalfof: Option<String>,
    /// When the caller's own session was created, if the caller is a session.
    pub issuersessioncreated: Option<i64>,
    /// The caller's source identity, if its session has one.
    pub issuersourceidentity: Option<String>,
    /// The caller's address.
    pub sourceipaddress: Option<String>,
    /// The caller's user agent.
    pub useragent: Option<String>,
    /// The role assumed (`AssumeRole*`), or the task policy (`AssumeRoot`).
    pub rolearn: Option<String>,
    /// The session name asked for (or the federated user's name).
    pub rolesessionname: Option<String>,
    /// The issued session's ARN (`assumedRoleUser.arn`, `federatedUser.arn`; the user for
    /// `GetSessionToken`).
    pub sessionarn: Option<String>,
    /// The account the issued session acts in.
    pub sessionaccountid: Option<String>,
    /// The source identity the session carries (set by this call or inherited).
    pub sourceidentity: Option<String>,
    /// The SAML subject or web-identity token's subject.
    pub federatedsubject: Option<String>,
    /// The SAML subject type (`persistent`, `transient`, ...).
    pub federatedsubjecttype: Option<String>,
    /// The SAML issuer or OIDC provider.
    pub federatedissuer: Option<String>,
    /// The SAML or OIDC audience.
    pub federatedaudience: Option<String>,
    /// The session tags the call set (JSON object of key to value).
    pub sessiontags: Option<String>,
    /// Those of them marked transitive (JSON object), which follow the session down a chain.
    pub transitivetags: Option<String>,
    /// `AssumeRoot`'s target member account.
    pub targetprincipal: Option<String>,
}

/// The APIs that issue temporary credentials, all of STS.
pub const ISSUING_APIS: [&str; 6] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetFederationToken",
    "GetSessionToken",
    "AssumeRoot",
];

/// The service of the issuing APIs.
pub const STS: &str = "sts.amazonaws.com";

const TIME_COLUMNS: [&str; 3] = ["issuedat", "expiresat", "issuersessioncreated"];

/// The schema of `sessions` (without its `event_date` partition column, the day of `issuedat`).
pub fn sessions_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| crate::record::rows::traced_schema::<SessionRow>(&TIME_COLUMNS));
    SCHEMA.clone()
}

/// The rows as a batch of `sessions_schema()`.
pub fn sessions_batch(rows: &[SessionRow]) -> Result<RecordBatch, serde_arrow::Error> {
    serde_arrow::to_record_batch(sessions_schema().fields(), &rows)
}

/// The rows of a batch of `sessions` (any column order; text plain or views).
pub fn session_rows(batch: &RecordBatch) -> Result<Vec<SessionRow>, serde_arrow::Error> {
    serde_arrow::from_record_batch(batch)
}

/// Text of a column or struct member, plain or view.
pub(super) fn text(array: &dyn Array, row: usize) -> Option<&str> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        _ => None,
    }
}

/// A member of a struct column.
pub(super) fn member<'a>(parent: Option<&'a StructArray>, name: &str) -> Option<&'a dyn Array> {
    parent?.column_by_name(name).map(|c| c.as_ref())
}

pub(super) fn member_struct<'a>(
    parent: Option<&'a StructArray>,
    name: &str,
) -> Option<&'a StructArray> {
    member(parent, name)?.as_struct_opt()
}

/// The sessions issued by the rows of `batches` (in the events schema or the file schema)
/// whose `keep` flag is set (flags run over the batches' rows in order).
pub fn derive(batches: &[RecordBatch], keep: &[bool]) -> Vec<SessionRow> {
    let mut rows = Vec::new();
    let mut offset = 0;
    for batch in batches {
        derive_batch(batch, &keep[offset..offset + batch.num_rows()], &mut rows);
        offset += batch.num_rows();
    }
    rows
}

fn derive_batch(batch: &RecordBatch, keep: &[bool], out: &mut Vec<SessionRow>) {
    let column = |name: &str| batch.column_by_name(name).map(|c| c.as_ref());
    let (Some(source), Some(name)) = (column("eventsource"), column("eventname")) else {
        return;
    };
    let candidates: Vec<usize> = (0..batch.num_rows())
        .filter(|&row| {
            keep[row]
                && text(source, row) == Some(STS)
                && text(name, row).is_some_and(|n| ISSUING_APIS.contains(&n))
                && column("errorcode").is_none_or(|c| c.is_null(row))
        })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let get = |name: &str, row: usize| column(name).and_then(|c| text(c, row));
    let times = batch
        .column_by_name("eventtime")
        .map(|c| c.as_primitive::<TimestampMillisecondType>());
    let identity = column("useridentity").and_then(|c| c.as_struct_opt());
    let context = member_struct(identity, "sessioncontext");
    let attributes = member_struct(context, "attributes");
    let on_behalf = member_struct(identity, "onbehalfof");
    let who = |name: &str, row: usize| member(identity, name).and_then(|c| text(c, row));
    for row in candidates {
        let Some(time) = times.map(|t| t.value(row)) else {
            continue;
        };
        let json = |name: &str| -> Map<String, Value> {
            get(name, row)
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|v| match v {
                    Value::Object(map) => Some(map),
                    _ => None,
                })
                .unwrap_or_default()
        };
        let request = json("requestparameters");
        let response = json("responseelements");
        let event_name = get("eventname", row).unwrap_or_default().to_string();
        let Some(key) = pointer(&response, "/credentials/accessKeyId") else {
            // No key recorded (a redacted or truncated response): nothing to follow.
            continue;
        };
        let issuer_created = member(attributes, "creationdate")
            .filter(|c| c.is_valid(row))
            .map(|c| c.as_primitive::<TimestampMillisecondType>().value(row));
        let issuer_account = who("accountid", row).map(str::to_string);
        let role_arn = string(&request, "roleArn").or_else(|| string(&request, "taskPolicyArn"));
        let session_arn = pointer(&response, "/assumedRoleUser/arn")
            .or_else(|| pointer(&response, "/federatedUser/arn"))
            .or_else(|| match event_name.as_str() {
                // GetSessionToken's credentials act as the calling user.
                "GetSessionToken" => who("arn", row).map(str::to_string),
                _ => None,
            });
        let session_account = session_arn
            .as_deref()
            .or(role_arn.as_deref())
            .and_then(arn_account)
            .or_else(|| string(&request, "targetPrincipal"))
            .or_else(|| issuer_account.clone());
        let issuer_source_identity =
            member(context, "sourceidentity").and_then(|c| text(c, row).map(str::to_string));
        let source_identity = string(&response, "sourceIdentity")
            .or_else(|| string(&request, "sourceIdentity"))
            .or_else(|| issuer_source_identity.clone());
        let (tags, transitive) = tags(&request);
        let expires = pointer(&response, "/credentials/expiration")
            .and_then(|t| parse_expiration(&t))
            .or_else(|| {
                let seconds = request
                    .get("durationSeconds")
                    .and_then(|d| d.as_i64().or_else(|| d.as_str()?.parse().ok()))
                    .unwrap_or_else(|| default_duration(&event_name));
                Some(time + seconds * 1000)
            });
        let subject = string(&response, "subject")
            .or_else(|| string(&response, "subjectFromWebIdentityToken"));
        out.push(SessionRow {
            accesskeyid: key,
            issuedat: time,
            expiresat: expires,
            eventid: get("eventid", row).unwrap_or_default().to_string(),
            eventname: event_name,
            awsregion: get("awsregion", row).unwrap_or_default().to_string(),
            recipientaccountid: get("recipientaccountid", row).map(str::to_string),
            issuertype: who("type", row).map(str::to_string),
            issuerarn: who("arn", row).map(str::to_string),
            issuerprincipalid: who("principalid", row).map(str::to_string),
            issueraccountid: issuer_account,
            issueraccesskeyid: who("accesskeyid", row).map(str::to_string),
            issuerusername: who("username", row).map(str::to_string),
            issueridentityprovider: who("identityprovider", row).map(str::to_string),
            issuerinvokedby: who("invokedby", row).map(str::to_string),
            issueronbehalfof: member(on_behalf, "userid")
                .and_then(|c| text(c, row).map(str::to_string)),
            issuersessioncreated: issuer_created,
            issuersourceidentity: issuer_source_identity,
            sourceipaddress: get("sourceipaddress", row).map(str::to_string),
            useragent: get("useragent", row).map(str::to_string),
            rolearn: role_arn,
            rolesessionname: string(&request, "roleSessionName")
                .or_else(|| string(&request, "name")),
            sessionarn: session_arn,
            sessionaccountid: session_account,
            sourceidentity: source_identity,
            federatedsubject: subject,
            federatedsubjecttype: string(&response, "subjectType"),
            federatedissuer: string(&response, "issuer")
                .or_else(|| string(&response, "provider"))
                .or_else(|| string(&request, "principalArn")),
            federatedaudience: string(&response, "audience"),
            sessiontags: tags,
            transitivetags: transitive,
            targetprincipal: string(&request, "targetPrincipal"),
        });
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)?.as_str().map(str::to_string)
}

fn pointer(map: &Map<String, Value>, path: &str) -> Option<String> {
    let (first, rest) = path.trim_start_matches('/').split_once('/')?;
    map.get(first)?
        .pointer(&format!("/{rest}"))?
        .as_str()
        .map(str::to_string)
}

/// The account of an ARN (`arn:aws:sts::123456789012:assumed-role/...`).
pub fn arn_account(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (!account.is_empty()).then(|| account.to_string())
}

/// STS's default lifetime of each API's credentials, in seconds.
fn default_duration(api: &str) -> i64 {
    match api {
        "GetFederationToken" | "GetSessionToken" => 12 * 3600,
        "AssumeRoot" => 900,
        _ => 3600,
    }
}

/// The session tags (`tags: [{key, value}]`) as a JSON object, and those named in
/// `transitiveTagKeys`.
fn tags(request: &Map<String, Value>) -> (Option<String>, Option<String>) {
    let Some(list) = request.get("tags").and_then(Value::as_array) else {
        return (None, None);
    };
    let transitive: Vec<&str> = request
        .get("transitiveTagKeys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let (mut all, mut kept) = (Map::new(), Map::new());
    for tag in list {
        let key = tag
            .get("key")
            .or_else(|| tag.get("Key"))
            .and_then(Value::as_str);
        let value = tag.get("value").or_else(|| tag.get("Value"));
        if let (Some(key), Some(value)) = (key, value) {
            all.insert(key.to_string(), value.clone());
            if transitive.iter().any(|t| t.eq_ignore_ascii_case(key)) {
                kept.insert(key.to_string(), value.clone());
            }
        }
    }
    let text = |map: Map<String, Value>| (!map.is_empty()).then(|| Value::Object(map).to_string());
    (text(all), text(kept))
}

/// Parses `credentials.expiration`: CloudTrail writes `Mar 5, 2024, 11:00:00 AM` (UTC); ISO
/// times are accepted too.
pub fn parse_expiration(text: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text, "%b %e, %Y, %l:%M:%S %p")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
        .or_else(|| parse_time(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::schema::timestamp_type;

    #[test]
    fn expirations_parse_in_cloudtrail_form_and_iso() {
        let ms = parse_expiration("Mar 5, 2024, 11:00:00 AM").unwrap();
        assert_eq!(crate::record::time::format_time(ms), "2024-03-05T11:00:00Z");
        let ms = parse_expiration("Dec 25, 2024, 1:05:09 PM").unwrap();
        assert_eq!(crate::record::time::format_time(ms), "2024-12-25T13:05:09Z");
        let ms = parse_expiration("2024-03-05T11:00:00Z").unwrap();
        assert_eq!(crate::record::time::format_time(ms), "2024-03-05T11:00:00Z");
        assert_eq!(parse_expiration("soon"), None);
    }

    #[test]
    fn tags_keep_only_the_transitive_ones_apart() {
        let request: Map<String, Value> = serde_json::from_str(
            r#"{"tags":[{"key":"team","value":"red"},{"key":"cost","value":"7"}],"transitiveTagKeys":["team"]}"#,
        )
        .unwrap();
        let (all, transitive) = tags(&request);
        assert_eq!(all.as_deref(), Some(r#"{"cost":"7","team":"red"}"#));
        assert_eq!(transitive.as_deref(), Some(r#"{"team":"red"}"#));
    }

    #[test]
    fn the_schema_types_times_and_round_trips_rows() {
        let schema = sessions_schema();
        assert_eq!(
            schema.field_with_name("issuedat").unwrap().data_type(),
            &timestamp_type()
        );
        assert!(!schema.field_with_name("accesskeyid").unwrap().is_nullable());
        let row = SessionRow {
            accesskeyid: "ASIAX".into(),
            issuedat: 1,
            expiresat: Some(2),
            eventid: "e".into(),
            eventname: "AssumeRole".into(),
            awsregion: "us-east-1".into(),
            recipientaccountid: None,
            issuertype: Some("IAMUser".into()),
            issuerarn: None,
            issuerprincipalid: None,
            issueraccountid: None,
            issueraccesskeyid: Some("AKIAX".into()),
            issuerusername: None,
            issueridentityprovider: None,
            issuerinvokedby: None,
            issueronbehalfof: None,
            issuersessioncreated: None,
            issuersourceidentity: None,
            sourceipaddress: None,
            useragent: None,
            rolearn: None,
            rolesessionname: None,
            sessionarn: None,
            sessionaccountid: None,
            sourceidentity: None,
            federatedsubject: None,
            federatedsubjecttype: None,
            federatedissuer: None,
            federatedaudience: None,
            sessiontags: None,
            transitivetags: None,
            targetprincipal: None,
        };
        let batch = sessions_batch(std::slice::from_ref(&row)).unwrap();
        assert_eq!(session_rows(&batch).unwrap(), vec![row]);
    }
}
