//! The principal of an event as one string, derived from `useridentity`.

use arrow::array::{Array, StringArray, StructArray};

fn child<'a>(identity: &'a StructArray, name: &str) -> Option<&'a StringArray> {
    identity
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

fn text(array: Option<&StringArray>, row: usize) -> Option<&str> {
    array.filter(|a| a.is_valid(row)).map(|a| a.value(row))
}

/// Who acted, one string per row of a `useridentity` column: the role ARN for assumed roles (the
/// session issuer), the user ARN for users and root, the service for AWS services, the Identity
/// Center user id, the SAML or web-identity user name, else the best identifier there is.
pub fn principals(identity: &StructArray) -> StringArray {
    let kind = child(identity, "type");
    let arn = child(identity, "arn");
    let invoked_by = child(identity, "invokedby");
    let principal_id = child(identity, "principalid");
    let user_name = child(identity, "username");
    let account = child(identity, "accountid");
    let issuer_arn = identity
        .column_by_name("sessioncontext")
        .and_then(|c| c.as_any().downcast_ref::<StructArray>())
        .and_then(|c| c.column_by_name("sessionissuer"))
        .and_then(|c| c.as_any().downcast_ref::<StructArray>())
        .map(|issuer| (issuer, child(issuer, "arn")));
    let on_behalf = identity
        .column_by_name("onbehalfof")
        .and_then(|c| c.as_any().downcast_ref::<StructArray>())
        .and_then(|c| child(c, "userid"));
    (0..identity.len())
        .map(|row| {
            if identity.is_null(row) {
                return None;
            }
            let issuer = issuer_arn
                .and_then(|(issuer, arn)| issuer.is_valid(row).then(|| text(arn, row)).flatten());
            match text(kind, row) {
                Some("AssumedRole") => issuer.or(text(arn, row)).map(str::to_string),
                Some("AWSService") => text(invoked_by, row).map(str::to_string),
                Some("IdentityCenterUser") => {
                    text(on_behalf, row).map(|user| format!("identitycenter:{user}"))
                }
                Some("SAMLUser") | Some("WebIdentityUser") => {
                    text(user_name, row).map(str::to_string)
                }
                _ => None,
            }
            .or_else(|| text(arn, row).map(str::to_string))
            .or_else(|| text(invoked_by, row).map(str::to_string))
            .or_else(|| {
                text(principal_id, row)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
            })
            .or_else(|| text(user_name, row).map(str::to_string))
            .or_else(|| text(account, row).map(|a| format!("account:{a}")))
        })
        .collect()
}
