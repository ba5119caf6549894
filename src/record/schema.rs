//! THE table schema: every CloudTrail field trailq maps, its column name and its Arrow type.
//!
//! The field tree below is the single source of truth. The parser, the Arrow builders and the
//! JSON rebuild all walk it, so adding a field here is the whole change. Column names are the
//! CloudTrail keys in lower case (the Athena and CloudTrail Lake convention), so SQL identifiers
//! need no quoting.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field as ArrowField, Fields, Schema, SchemaRef, TimeUnit};

/// How a JSON value is typed in its column.
#[derive(Debug)]
pub enum Kind {
    /// A JSON string, stored as UTF-8.
    Str,
    /// A JSON boolean (`readOnly`, `managementEvent`). The strings `"true"`/`"false"` are accepted
    /// too, as LookupEvents writes them, and their original form is kept in `unmapped`.
    Bool,
    /// A boolean CloudTrail writes as the string `"true"`/`"false"` (`mfaAuthenticated`).
    BoolText,
    /// An ISO-8601 UTC time string, stored as a millisecond timestamp.
    Time,
    /// Free-form JSON of any type (request parameters and other payloads), stored as JSON text.
    Json,
    /// A JSON object with known keys.
    Struct(&'static [Field]),
    /// A JSON array of objects with known keys (`resources`).
    List(&'static [Field]),
}

/// One mapped CloudTrail field.
#[derive(Debug)]
pub struct Field {
    /// The key as CloudTrail writes it (case-sensitive).
    pub key: &'static str,
    /// How its value is typed.
    pub kind: Kind,
}

impl Field {
    /// The column (or struct member) name: the key in lower case.
    pub fn column_name(&self) -> String {
        self.key.to_ascii_lowercase()
    }
}

const fn f(key: &'static str, kind: Kind) -> Field {
    Field { key, kind }
}

use Kind::{Bool, BoolText, Json, List, Str, Struct, Time};

const SESSION_ISSUER: &[Field] = &[
    f("type", Str),
    f("principalId", Str),
    f("arn", Str),
    f("accountId", Str),
    f("userName", Str),
];

const SESSION_CONTEXT: &[Field] = &[
    f("sessionIssuer", Struct(SESSION_ISSUER)),
    f(
        "webIdFederationData",
        Struct(&[f("federatedProvider", Str), f("attributes", Json)]),
    ),
    f(
        "attributes",
        Struct(&[f("creationDate", Time), f("mfaAuthenticated", BoolText)]),
    ),
    f("sourceIdentity", Str),
    f("ec2RoleDelivery", Str),
    f("assumedRoot", Str),
    f("ec2IssuedInVPC", Str),
];

const USER_IDENTITY_MEMBERS: &[Field] = &[
    f("type", Str),
    f("principalId", Str),
    f("arn", Str),
    f("accountId", Str),
    f("accessKeyId", Str),
    f("userName", Str),
    f("invokedBy", Str),
    f("identityProvider", Str),
    f("credentialId", Str),
    f("sessionContext", Struct(SESSION_CONTEXT)),
    f(
        "onBehalfOf",
        Struct(&[f("userId", Str), f("identityStoreArn", Str)]),
    ),
    f(
        "inScopeOf",
        Struct(&[
            f("sourceArn", Str),
            f("sourceAccount", Str),
            f("issuerType", Str),
            f("credentialsIssuedTo", Str),
        ]),
    ),
    f("invokedByDelegate", Struct(&[f("accountId", Str)])),
];

/// The fields of a CloudTrail record (the CloudTrail User Guide's record contents), in column
/// order.
pub const RECORD: &[Field] = &[
    f("eventVersion", Str),
    f("userIdentity", Struct(USER_IDENTITY_MEMBERS)),
    f("eventTime", Time),
    f("eventSource", Str),
    f("eventName", Str),
    f("awsRegion", Str),
    f("sourceIPAddress", Str),
    f("userAgent", Str),
    f("errorCode", Str),
    f("errorMessage", Str),
    f("requestParameters", Json),
    f("responseElements", Json),
    f("additionalEventData", Json),
    f("requestID", Str),
    f("eventID", Str),
    f("eventType", Str),
    f("apiVersion", Str),
    f("managementEvent", Bool),
    f("readOnly", Bool),
    f(
        "resources",
        List(&[
            f("ARN", Str),
            f("accountId", Str),
            f("type", Str),
            f("ARNPrefix", Str),
        ]),
    ),
    f("recipientAccountId", Str),
    f("serviceEventDetails", Json),
    f("sharedEventID", Str),
    f("vpcEndpointId", Str),
    f("vpcEndpointAccountId", Str),
    f("eventCategory", Str),
    f(
        "addendum",
        Struct(&[
            f("reason", Str),
            f("updatedFields", Str),
            f("originalRequestID", Str),
            f("originalEventID", Str),
        ]),
    ),
    f("sessionCredentialFromConsole", BoolText),
    f("edgeDeviceDetails", Json),
    f(
        "tlsDetails",
        Struct(&[
            f("tlsVersion", Str),
            f("cipherSuite", Str),
            f("clientProvidedHostHeader", Str),
            f("keyExchange", Str),
        ]),
    ),
    f("insightDetails", Json),
    f("annotation", Str),
];

/// Position of `eventTime` in [`RECORD`]; it is the one field every row must have.
pub const EVENT_TIME: usize = 2;
/// Position of `eventSource` in [`RECORD`].
pub const EVENT_SOURCE: usize = 3;
/// Position of `eventName` in [`RECORD`].
pub const EVENT_NAME: usize = 4;
/// Position of `userIdentity` in [`RECORD`].
pub const USER_IDENTITY: usize = 1;
/// Position of `eventID` in [`RECORD`], the de-duplication key.
pub const EVENT_ID: usize = 14;

/// Lineage column: the source object (file path or `s3://bucket/key`) of the row.
pub const SOURCE_FILE: &str = "sourcefile";
/// Lineage column: the record's position (from 0) in the source object's `Records` array.
pub const SOURCE_INDEX: &str = "sourceindex";
/// JSON object holding every input field that has no typed column, and the original form of any
/// value its typed column does not preserve (explicit nulls, `"true"` strings for booleans,
/// non-canonical times). Merged over the typed columns it rebuilds the input record exactly.
pub const UNMAPPED: &str = "unmapped";
/// Derived column: who acted, as one string (see `record::principal`). Stored so queries that
/// group or filter by principal do not decode the whole `useridentity` struct.
pub const PRINCIPAL: &str = "principal";
/// The Hive partition column (a directory level, not stored in the files).
pub const EVENT_DATE: &str = "event_date";

/// The Arrow type of a field of the given kind.
pub fn data_type(kind: &Kind) -> DataType {
    match kind {
        Kind::Str | Kind::Json => DataType::Utf8,
        Kind::Bool | Kind::BoolText => DataType::Boolean,
        Kind::Time => timestamp_type(),
        Kind::Struct(fields) => DataType::Struct(struct_fields(fields)),
        Kind::List(fields) => DataType::List(Arc::new(ArrowField::new(
            "item",
            DataType::Struct(struct_fields(fields)),
            true,
        ))),
    }
}

/// UTC timestamps with millisecond precision.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The Arrow fields of a struct with the given members.
pub fn struct_fields(fields: &[Field]) -> Fields {
    fields
        .iter()
        .map(|field| ArrowField::new(field.column_name(), data_type(&field.kind), true))
        .collect()
}

static EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<ArrowField> = struct_fields(RECORD)
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    fields[EVENT_TIME] = fields[EVENT_TIME].clone().with_nullable(false);
    fields.push(ArrowField::new(SOURCE_FILE, DataType::Utf8, false));
    fields.push(ArrowField::new(SOURCE_INDEX, DataType::Int64, false));
    fields.push(ArrowField::new(UNMAPPED, DataType::Utf8, true));
    fields.push(ArrowField::new(PRINCIPAL, DataType::Utf8, true));
    Arc::new(Schema::new(fields))
});

/// The schema of the `events` and `insights` rows as trailq builds them (without the
/// `event_date` partition column).
pub fn events_schema() -> SchemaRef {
    EVENTS_SCHEMA.clone()
}

/// The schema the `events` and `insights` files declare: text inside structs and lists as
/// string views. The Parquet data is the same; readers that follow the declared Arrow types
/// (DataFusion, Arrow) then read `useridentity.arn` and the like without copying each value.
/// (DataFusion itself reads top-level text as views whatever the file declares.)
pub fn events_file_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<ArrowField> = events_schema()
            .fields()
            .iter()
            .map(|field| {
                let data_type = match field.data_type() {
                    nested @ (DataType::Struct(_) | DataType::List(_)) => text_as_views(nested),
                    other => other.clone(),
                };
                field.as_ref().clone().with_data_type(data_type)
            })
            .collect();
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// `data_type` with every text type in it, however deep, as a string view.
pub fn text_as_views(data_type: &DataType) -> DataType {
    let field = |f: &ArrowField| f.clone().with_data_type(text_as_views(f.data_type()));
    match data_type {
        DataType::Utf8 => DataType::Utf8View,
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| field(f.as_ref())).collect())
        }
        DataType::List(item) => DataType::List(Arc::new(field(item.as_ref()))),
        other => other.clone(),
    }
}

/// The schema of the `rejects` table: inputs and records that could not be placed in `events`.
pub fn rejects_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            ArrowField::new(SOURCE_FILE, DataType::Utf8, false),
            ArrowField::new(SOURCE_INDEX, DataType::Int64, true),
            ArrowField::new("byteoffset", DataType::Int64, true),
            ArrowField::new("reason", DataType::Utf8, false),
            ArrowField::new("raw", DataType::Utf8, true),
            ArrowField::new("rejectedat", timestamp_type(), false),
            ArrowField::new("txid", DataType::Utf8, false),
        ]))
    });
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_positions_match_their_fields() {
        assert_eq!(RECORD[EVENT_TIME].key, "eventTime");
        assert_eq!(RECORD[EVENT_ID].key, "eventID");
        assert_eq!(RECORD[USER_IDENTITY].key, "userIdentity");
        assert_eq!(RECORD[EVENT_SOURCE].key, "eventSource");
        assert_eq!(RECORD[EVENT_NAME].key, "eventName");
    }

    #[test]
    fn column_names_are_lower_case_and_unique() {
        let schema = events_schema();
        let mut names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert!(names.iter().all(|n| *n == n.to_ascii_lowercase()));
        assert!(names.contains(&"useridentity") && names.contains(&"sourceipaddress"));
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
