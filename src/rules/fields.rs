//! Sigma field names (CloudTrail's, in any case: `eventName`, `userIdentity.type`,
//! `requestParameters.bucketName`) mapped to what the lake has: a column, a struct member, or a
//! path inside one of the JSON payload columns.

use crate::record::schema::{Field, Kind, RECORD};

/// Where a field's values are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A column or struct member (`useridentity.type`) holding text.
    Text(String),
    /// A boolean column or member (`readonly`).
    Bool(String),
    /// The event's time.
    Time(String),
    /// A path inside a JSON payload column (`requestparameters`, `bucketName`).
    Payload { column: String, path: String },
}

/// The target of a Sigma field name, or why no CloudTrail event can have it.
pub fn resolve(field: &str) -> Result<Target, String> {
    let parts: Vec<&str> = field.split('.').collect();
    let mut fields: &[Field] = RECORD;
    let mut sql = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let Some(found) = fields.iter().find(|f| f.key.eq_ignore_ascii_case(part)) else {
            let known: Vec<&str> = fields.iter().map(|f| f.key).collect();
            let close = known
                .iter()
                .filter(|k| {
                    strsim::jaro_winkler(&k.to_ascii_lowercase(), &part.to_ascii_lowercase()) > 0.85
                })
                .copied()
                .collect::<Vec<_>>();
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            let at = if sql.is_empty() {
                "CloudTrail records have no field".to_string()
            } else {
                format!("`{}` has no member", parts[..i].join("."))
            };
            return Err(format!("{at} `{part}`{hint}"));
        };
        sql.push(found.column_name());
        let rest = &parts[i + 1..];
        let path = sql.join(".");
        match (&found.kind, rest.is_empty()) {
            (Kind::Struct(members), false) => fields = members,
            (Kind::Struct(_), true) => {
                return Err(format!(
                    "`{field}` is an object: name one of its members (`{field}.…`)"
                ));
            }
            (Kind::Json, _) => {
                return Ok(Target::Payload {
                    column: path,
                    path: rest.join("."),
                });
            }
            (Kind::List(_), _) => {
                return Err(format!(
                    "`{field}`: fields inside the `resources` list are not supported yet"
                ));
            }
            (_, false) => {
                return Err(format!(
                    "`{}` is a single value: it has no member `{}`",
                    parts[..=i].join("."),
                    rest.join(".")
                ));
            }
            (Kind::Str, true) => return Ok(Target::Text(path)),
            (Kind::Bool | Kind::BoolText, true) => return Ok(Target::Bool(path)),
            (Kind::Time, true) => return Ok(Target::Time(path)),
        }
    }
    Err(format!("`{field}` names no field"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_case_insensitively_to_columns_members_and_payloads() {
        assert_eq!(resolve("eventName"), Ok(Target::Text("eventname".into())));
        assert_eq!(
            resolve("userIdentity.sessionContext.sessionIssuer.userName"),
            Ok(Target::Text(
                "useridentity.sessioncontext.sessionissuer.username".into()
            ))
        );
        assert_eq!(resolve("readOnly"), Ok(Target::Bool("readonly".into())));
        assert_eq!(
            resolve("userIdentity.sessionContext.attributes.mfaAuthenticated"),
            Ok(Target::Bool(
                "useridentity.sessioncontext.attributes.mfaauthenticated".into()
            ))
        );
        assert_eq!(
            resolve("requestParameters.bucketName"),
            Ok(Target::Payload {
                column: "requestparameters".into(),
                path: "bucketName".into()
            })
        );
        assert_eq!(
            resolve("additionalEventData.MFAUsed"),
            Ok(Target::Payload {
                column: "additionaleventdata".into(),
                path: "MFAUsed".into()
            })
        );
    }

    #[test]
    fn fields_no_event_can_have_are_errors_that_help() {
        let err = resolve("eventNmae").unwrap_err();
        assert!(
            err.contains("no field `eventNmae`") && err.contains("eventName"),
            "{err}"
        );
        let err = resolve("userIdentity.nosuch").unwrap_err();
        assert!(
            err.contains("`userIdentity` has no member `nosuch`"),
            "{err}"
        );
        assert!(resolve("eventName.x").unwrap_err().contains("single value"));
        assert!(
            resolve("userIdentity")
                .unwrap_err()
                .contains("is an object")
        );
    }
}
