//! Origin resolution: from the access key a call was signed with, back through the calls that
//! issued each key, to the person or workload behind it.
//!
//! A session's key was issued by a call (a `sessions` row) that was itself signed with a key,
//! and so on, until a caller that is not a session: an IAM user or root with its own key, an
//! Identity Center, SAML or web-identity user, or an AWS service. Where the chain leaves the
//! lake (an issuing call older than the lake, or recorded in an account whose trail is not
//! ingested), it ends with what is known and says why. Every session key's origin is resolved
//! once, when the index is built; a query then looks keys up.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, StructArray};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, Fields, TimestampMillisecondType};
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::sessions::{SessionRow, member, member_struct, text};
use crate::record::schema::timestamp_type;
use crate::record::time::format_time;

/// Hops followed at most: real chains are short (role chaining is limited to one hour per
/// hop), so a longer one is a loop the cycle check missed or data worth a look.
pub const MAX_HOPS: usize = 16;

/// A caller, as an issuing call's `userIdentity` (or an event's) describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Caller {
    /// `userIdentity.type`.
    pub kind: Option<String>,
    /// Its ARN.
    pub arn: Option<String>,
    /// Its principal id.
    pub principal_id: Option<String>,
    /// Its account.
    pub account: Option<String>,
    /// The key it signed with.
    pub access_key: Option<String>,
    /// IAM, SAML or web-identity user name.
    pub user_name: Option<String>,
    /// SAML or OIDC provider.
    pub identity_provider: Option<String>,
    /// The AWS service, for service callers.
    pub invoked_by: Option<String>,
    /// The Identity Center user behind it.
    pub on_behalf_of: Option<String>,
    /// When its session was created, for sessions.
    pub session_created: Option<i64>,
    /// Its session's source identity.
    pub source_identity: Option<String>,
}

impl Caller {
    /// The caller of an issuing call.
    pub fn issuer_of(session: &SessionRow) -> Self {
        Caller {
            kind: session.issuertype.clone(),
            arn: session.issuerarn.clone(),
            principal_id: session.issuerprincipalid.clone(),
            account: session.issueraccountid.clone(),
            access_key: session.issueraccesskeyid.clone(),
            user_name: session.issuerusername.clone(),
            identity_provider: session.issueridentityprovider.clone(),
            invoked_by: session.issuerinvokedby.clone(),
            on_behalf_of: session.issueronbehalfof.clone(),
            session_created: session.issuersessioncreated,
            source_identity: session.issuersourceidentity.clone(),
        }
    }

    /// Whether the caller is a session, whose key some earlier call issued.
    fn is_session(&self) -> bool {
        matches!(
            self.kind.as_deref(),
            Some("AssumedRole") | Some("FederatedUser")
        )
    }
}

/// Text members of `useridentity` a caller is read from, in `CallerColumns` order.
const CALLER_TEXTS: usize = 10;

/// A caller as its row holds it: the text members, then its session's creation time.
type CallerView<'a> = ([Option<&'a str>; CALLER_TEXTS], Option<i64>);

/// The members of a `useridentity` column (plain or view text) that describe a caller, found
/// once per batch rather than once per row.
struct CallerColumns<'a> {
    identity: &'a StructArray,
    texts: [Option<&'a dyn Array>; CALLER_TEXTS],
    created: Option<&'a PrimitiveArray<TimestampMillisecondType>>,
}

impl<'a> CallerColumns<'a> {
    /// The members of `identity`; absent ones read as null.
    fn new(identity: &'a StructArray) -> Self {
        let id = Some(identity);
        let context = member_struct(id, "sessioncontext");
        Self {
            identity,
            texts: [
                member(id, "type"),
                member(id, "arn"),
                member(id, "principalid"),
                member(id, "accountid"),
                member(id, "accesskeyid"),
                member(id, "username"),
                member(id, "identityprovider"),
                member(id, "invokedby"),
                member(member_struct(id, "onbehalfof"), "userid"),
                member(context, "sourceidentity"),
            ],
            created: member(member_struct(context, "attributes"), "creationdate")
                .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>()),
        }
    }

    /// Row `row`, borrowed (`None` where the row has no `useridentity`).
    fn view(&self, row: usize) -> Option<CallerView<'a>> {
        if self.identity.is_null(row) {
            return None;
        }
        let texts = self.texts.map(|column| column.and_then(|c| text(c, row)));
        let created = self
            .created
            .filter(|c| c.is_valid(row))
            .map(|c| c.value(row));
        Some((texts, created))
    }
}

/// The caller a borrowed row describes.
fn owned(view: &CallerView<'_>) -> Caller {
    let [
        kind,
        arn,
        principal_id,
        account,
        access_key,
        user_name,
        identity_provider,
        invoked_by,
        on_behalf_of,
        source_identity,
    ] = view.0.map(|t| t.map(str::to_string));
    Caller {
        kind,
        arn,
        principal_id,
        account,
        access_key,
        user_name,
        identity_provider,
        invoked_by,
        on_behalf_of,
        session_created: view.1,
        source_identity,
    }
}

/// One hop of a chain: a session, and the call that issued it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    /// The session's key.
    pub accesskeyid: String,
    /// The issuing call's event id.
    pub eventid: String,
    /// The issuing API.
    pub eventname: String,
    /// When the key was issued.
    pub issuedat: i64,
    /// When it expires.
    pub expiresat: Option<i64>,
    /// The session (assumed-role or federated-user ARN), else the role.
    pub sessionarn: Option<String>,
    /// The account the session acts in.
    pub accountid: Option<String>,
    /// Who called the issuing API.
    pub issuerarn: Option<String>,
    /// Its `userIdentity.type`.
    pub issuertype: Option<String>,
    /// From where.
    pub sourceipaddress: Option<String>,
}

impl Hop {
    fn of(session: &SessionRow) -> Self {
        Hop {
            accesskeyid: session.accesskeyid.clone(),
            eventid: session.eventid.clone(),
            eventname: session.eventname.clone(),
            issuedat: session.issuedat,
            expiresat: session.expiresat,
            sessionarn: session.sessionarn.clone().or(session.rolearn.clone()),
            accountid: session.sessionaccountid.clone(),
            issuerarn: session.issuerarn.clone(),
            issuertype: session.issuertype.clone(),
            sourceipaddress: session.sourceipaddress.clone(),
        }
    }
}

/// Who was behind a call: the `origin` struct of `events_with_origin` and `origin_of`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    /// The origin principal: a user's ARN, `identitycenter:<user>`, `<provider>:<subject>`,
    /// a service; for a chain that leaves the lake, the last session known.
    pub arn: Option<String>,
    /// Its kind: `IAMUser`, `Root`, `IdentityCenterUser`, `SAMLUser`, `WebIdentityUser`,
    /// `AWSService`, ...; `AssumedRole`/`FederatedUser`/`AWSAccount` when unresolved.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Its account.
    pub account: Option<String>,
    /// A person's or workload's name (user name, SAML or OIDC subject, service).
    pub name: Option<String>,
    /// The source identity carried down the chain, as AWS carries it.
    pub sourceidentity: Option<String>,
    /// Sessions between the call and the origin.
    pub hops: i32,
    /// Those sessions, the call's own first.
    pub chain: Vec<Hop>,
    /// Why the chain ends there.
    pub ends: String,
    /// Whether it ends at a principal that is not a session.
    pub resolved: bool,
    /// Whether the call was made after its session's credentials expired (`null` without a
    /// call time).
    pub expired: Option<bool>,
    /// The chain in words: `role/ci-deploy, assumed by user/alice via SSO`.
    pub summary: String,
}

/// Every session of the lake, by key, with each one's origin resolved.
pub struct OriginIndex {
    sessions: HashMap<String, SessionRow>,
    /// Row of each session key in `resolved`.
    rows: FxHashMap<String, usize>,
    /// Expiry of each row of `resolved`.
    expiries: Vec<Option<i64>>,
    resolved: StructArray,
    /// The accounts whose trails are in the lake.
    accounts: BTreeSet<String>,
    /// The lake's first event time.
    start: Option<i64>,
}

impl std::fmt::Debug for OriginIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OriginIndex({} sessions)", self.len())
    }
}

impl OriginIndex {
    /// An index of `sessions` (duplicates of a key keep the earliest issue), for a lake that
    /// holds the trails of `accounts` from `start` on.
    pub fn new(
        sessions: Vec<SessionRow>,
        accounts: BTreeSet<String>,
        start: Option<i64>,
    ) -> Result<Self, arrow::error::ArrowError> {
        let mut by_key: HashMap<String, SessionRow> = HashMap::with_capacity(sessions.len());
        for session in sessions {
            match by_key.get(&session.accesskeyid) {
                Some(kept)
                    if (kept.issuedat, &kept.eventid) <= (session.issuedat, &session.eventid) => {}
                _ => {
                    by_key.insert(session.accesskeyid.clone(), session);
                }
            }
        }
        let mut index = OriginIndex {
            sessions: by_key,
            rows: FxHashMap::default(),
            expiries: Vec::new(),
            resolved: StructArray::new_empty_fields(0, None),
            accounts,
            start,
        };
        let mut keys: Vec<&String> = index.sessions.keys().collect();
        keys.sort();
        let origins: Vec<Origin> = keys.iter().map(|key| index.follow(key)).collect();
        index.rows = keys
            .iter()
            .enumerate()
            .map(|(i, key)| ((*key).clone(), i))
            .collect();
        index.expiries = keys
            .iter()
            .map(|key| index.sessions[*key].expiresat)
            .collect();
        index.resolved = origins_array(&origins)?;
        Ok(index)
    }

    /// Sessions in the index.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the lake has no sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The origin of a call signed with `key` by `caller` (the call's `userIdentity`) at `time`.
    pub fn origin(&self, key: Option<&str>, caller: Option<&Caller>, time: Option<i64>) -> Origin {
        let mut origin = match key.filter(|k| self.sessions.contains_key(*k)) {
            Some(key) => self.follow(key),
            None => match caller {
                Some(caller) => self.of_caller(caller, key),
                None => unknown_key(key),
            },
        };
        if let (Some(time), Some(first)) = (time, origin.chain.first()) {
            origin.expired = first.expiresat.map(|expiry| time > expiry);
        }
        if origin.sourceidentity.is_none() {
            origin.sourceidentity = caller.and_then(|c| c.source_identity.clone());
        }
        origin
    }

    /// The origin of a call made by `caller` with a key the lake has no issuing call for.
    fn of_caller(&self, caller: &Caller, key: Option<&str>) -> Origin {
        let mut origin = match terminal(caller) {
            Some(origin) => origin,
            None if caller.kind.is_none() => unknown_key(key),
            None => self.left_lake(caller, key),
        };
        origin.summary = describe(&[], &origin, caller);
        origin
    }

    /// Follows `key` (a session of the index) to its origin.
    fn follow(&self, key: &str) -> Origin {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut current = &self.sessions[key];
        loop {
            seen.insert(current.accesskeyid.as_str());
            chain.push(Hop::of(current));
            let caller = Caller::issuer_of(current);
            let next = caller
                .access_key
                .as_deref()
                .and_then(|k| self.sessions.get(k).map(|s| (k, s)));
            let mut origin = match next {
                Some((next_key, _)) if seen.contains(next_key) => Origin {
                    ends: format!(
                        "cycle: {next_key} was issued by a call signed with a key it issued itself"
                    ),
                    ..session_origin(&caller, false)
                },
                Some(_) if chain.len() >= MAX_HOPS => Origin {
                    ends: format!("stopped after {MAX_HOPS} hops"),
                    ..session_origin(&caller, false)
                },
                Some((_, session)) => {
                    current = session;
                    continue;
                }
                None => match terminal(&caller) {
                    Some(origin) => origin,
                    None => self.left_lake(&caller, caller.access_key.as_deref()),
                },
            };
            origin.hops = chain.len() as i32;
            origin.sourceidentity = chain
                .iter()
                .rev()
                .find_map(|hop| self.sessions[&hop.accesskeyid].sourceidentity.clone())
                .or(caller.source_identity.clone());
            origin.chain = chain;
            origin.summary = describe(&origin.chain, &origin, &caller);
            return origin;
        }
    }

    /// Where a session's issuing call is not in the lake: what is known, and why.
    fn left_lake(&self, caller: &Caller, key: Option<&str>) -> Origin {
        let account = caller
            .arn
            .as_deref()
            .and_then(super::sessions::arn_account)
            .or(caller.account.clone());
        let ends = match (caller.kind.as_deref(), key, &account) {
            (Some("AWSAccount"), _, Some(account)) => format!(
                "called from account {account}, which recorded the caller only by its principal id; \
                 that account's own trail names it"
            ),
            (_, None, _) => "the caller's access key is not recorded".to_string(),
            (_, Some(key), Some(account)) if !self.accounts.contains(account) => {
                format!("{key} was issued in account {account}, whose trail is not in the lake")
            }
            (_, Some(key), _) => match (caller.session_created, self.start) {
                (Some(created), Some(start)) if created < start => format!(
                    "{key} was issued at {}, before the lake's first event ({})",
                    format_time(created),
                    format_time(start)
                ),
                _ => format!("the call that issued {key} is not in the lake"),
            },
        };
        Origin {
            ends,
            ..session_origin(caller, false)
        }
    }

    /// The resolved origins of `keys`, one per row, as `origin_of` returns them: the index's
    /// precomputed rows for session keys, the caller's own for the others.
    pub fn origins_of(
        &self,
        keys: &dyn Array,
        identities: Option<&StructArray>,
        times: Option<&[i64]>,
    ) -> Result<StructArray, arrow::error::ArrowError> {
        let rows = keys.len();
        let columns = identities.map(CallerColumns::new);
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(rows);
        let mut expired: Vec<Option<bool>> = Vec::with_capacity(rows);
        let mut others: Vec<Origin> = Vec::new();
        let mut other_rows: FxHashMap<(Option<&str>, Option<CallerView>), usize> =
            FxHashMap::default();
        for row in 0..rows {
            let key = text(keys, row);
            let time = times.map(|t| t[row]);
            if let Some(&i) = key.and_then(|k| self.rows.get(k)) {
                picks.push((0, i));
                expired.push(
                    time.zip(self.expiries[i])
                        .map(|(time, expiry)| time > expiry),
                );
                continue;
            }
            let view = columns.as_ref().and_then(|c| c.view(row));
            let i = *other_rows.entry((key, view)).or_insert_with(|| {
                let caller = view.map(|view| owned(&view));
                others.push(self.origin(key, caller.as_ref(), None));
                others.len() - 1
            });
            picks.push((1, i));
            expired.push(None);
        }
        let others = origins_array(&others)?;
        let picked = interleave(&[&self.resolved as &dyn Array, &others], &picks)?;
        let picked = picked.as_struct();
        let (fields, mut columns, nulls) = picked.clone().into_parts();
        let at = fields
            .iter()
            .position(|f| f.name() == "expired")
            .expect("origins have an expired member");
        columns[at] = Arc::new(BooleanArray::from(expired));
        StructArray::try_new(fields, columns, nulls)
    }
}

/// An origin that is a session nobody can follow further.
fn session_origin(caller: &Caller, resolved: bool) -> Origin {
    Origin {
        arn: caller.arn.clone().or(caller.principal_id.clone()),
        kind: caller.kind.clone(),
        account: caller.account.clone(),
        name: caller.user_name.clone(),
        sourceidentity: caller.source_identity.clone(),
        hops: 0,
        chain: Vec::new(),
        ends: String::new(),
        resolved,
        expired: None,
        summary: String::new(),
    }
}

fn unknown_key(key: Option<&str>) -> Origin {
    Origin {
        ends: match key {
            Some(key) => format!("no call in the lake issued {key}"),
            None => "no access key".to_string(),
        },
        ..session_origin(&Caller::default(), false)
    }
}

/// The origin a caller is when it is not a session.
fn terminal(caller: &Caller) -> Option<Origin> {
    if caller.is_session() {
        return None;
    }
    let provider = provider_name(caller.identity_provider.as_deref().unwrap_or("?"));
    let name = caller.user_name.clone();
    // Service events name the service without a type.
    let kind = caller
        .kind
        .as_deref()
        .or(caller.invoked_by.as_ref().map(|_| "AWSService"))?;
    let (kind, arn, name, ends) = match kind {
        "IAMUser" => (
            "IAMUser",
            caller.arn.clone(),
            name,
            "an IAM user's own credentials".to_string(),
        ),
        "Root" => (
            "Root",
            caller.arn.clone(),
            Some("root".to_string()),
            "the root user's own credentials".to_string(),
        ),
        "SAMLUser" if provider.contains("AWSSSO_") => (
            "IdentityCenterUser",
            name.as_ref().map(|n| format!("identitycenter:{n}")),
            name,
            "signed in through IAM Identity Center".to_string(),
        ),
        "SAMLUser" => (
            "SAMLUser",
            name.as_ref().map(|n| format!("saml:{provider}:{n}")),
            name,
            format!("a SAML identity provider ({provider})"),
        ),
        "WebIdentityUser" => (
            "WebIdentityUser",
            name.as_ref().map(|n| format!("{provider}:{n}")),
            name,
            format!("a web identity provider ({provider})"),
        ),
        "IdentityCenterUser" => (
            "IdentityCenterUser",
            caller
                .on_behalf_of
                .as_ref()
                .map(|u| format!("identitycenter:{u}")),
            caller.on_behalf_of.clone().or(name),
            "an IAM Identity Center user".to_string(),
        ),
        "AWSService" => (
            "AWSService",
            caller.invoked_by.clone(),
            caller.invoked_by.clone(),
            "an AWS service".to_string(),
        ),
        "AWSAccount" => return None,
        other => (
            other,
            caller.arn.clone().or(caller.principal_id.clone()),
            name,
            format!("a {other} principal"),
        ),
    };
    Some(Origin {
        arn,
        kind: Some(kind.to_string()),
        name,
        ends,
        resolved: true,
        ..session_origin(caller, true)
    })
}

/// `role/R` of an assumed-role or role ARN, `user/U`, `federated-user/F`, `root`.
pub fn short_name(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    match resource.strip_prefix("assumed-role/") {
        Some(rest) => format!("role/{}", rest.split('/').next().unwrap_or(rest)),
        None => resource.to_string(),
    }
}

/// A SAML or OIDC provider by its name (`token.actions.githubusercontent.com`), not its ARN.
fn provider_name(provider: &str) -> &str {
    provider
        .split_once(":oidc-provider/")
        .or_else(|| provider.split_once(":saml-provider/"))
        .map_or(provider, |(_, name)| name)
}

/// The verb of a hop: how its issuer got the session.
fn verb(api: &str) -> &'static str {
    match api {
        "GetFederationToken" => "federated by",
        "GetSessionToken" => "a session token of",
        "AssumeRoot" => "a root session taken by",
        _ => "assumed by",
    }
}

/// The chain in words, from the call's session to its origin.
fn describe(chain: &[Hop], origin: &Origin, last_caller: &Caller) -> String {
    let mut words = Vec::new();
    let mut account = chain.first().and_then(|hop| hop.accountid.clone());
    for hop in chain {
        let name = hop
            .sessionarn
            .as_deref()
            .map(short_name)
            .unwrap_or_default();
        words.push(match (&hop.accountid, &account) {
            (Some(a), Some(b)) if a != b => format!("{name} ({a})"),
            _ => name,
        });
        account = hop.accountid.clone();
    }
    let who = match origin.kind.as_deref() {
        Some("IdentityCenterUser") => {
            format!("user/{} via SSO", origin.name.as_deref().unwrap_or("?"))
        }
        Some("SAMLUser") => format!("user/{} via SAML", origin.name.as_deref().unwrap_or("?")),
        Some("WebIdentityUser") => format!(
            "{} via OIDC ({})",
            origin.name.as_deref().unwrap_or("?"),
            provider_name(last_caller.identity_provider.as_deref().unwrap_or("?"))
        ),
        _ => origin
            .arn
            .as_deref()
            .map(short_name)
            .or(origin.account.clone().map(|a| format!("account {a}")))
            .unwrap_or_else(|| "an unknown caller".to_string()),
    };
    let who = match (&origin.account, &account) {
        (Some(a), Some(b)) if a != b && !who.contains(a.as_str()) => format!("{who} ({a})"),
        _ => who,
    };
    let who = if origin.resolved {
        who
    } else {
        format!("{who} (the chain leaves the lake)")
    };
    if chain.is_empty() {
        return who;
    }
    let mut text = words[0].clone();
    for (i, hop) in chain.iter().enumerate() {
        let next = words.get(i + 1).cloned().unwrap_or_else(|| who.clone());
        text.push_str(&format!(", {} {next}", verb(&hop.eventname)));
    }
    text
}

/// The Arrow type of a hop.
fn hop_fields() -> Fields {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Fields::from(vec![
        Field::new("accesskeyid", DataType::Utf8, false),
        Field::new("eventid", DataType::Utf8, false),
        Field::new("eventname", DataType::Utf8, false),
        Field::new("issuedat", timestamp_type(), false),
        Field::new("expiresat", timestamp_type(), true),
        text("sessionarn"),
        text("accountid"),
        text("issuerarn"),
        text("issuertype"),
        text("sourceipaddress"),
    ])
}

/// The members of the `origin` struct.
pub fn origin_fields() -> Fields {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let hop = Field::new("item", DataType::Struct(hop_fields()), true);
    Fields::from(vec![
        text("arn"),
        text("type"),
        text("account"),
        text("name"),
        text("sourceidentity"),
        Field::new("hops", DataType::Int32, false),
        Field::new("chain", DataType::List(Arc::new(hop)), false),
        Field::new("ends", DataType::Utf8, false),
        Field::new("resolved", DataType::Boolean, false),
        Field::new("expired", DataType::Boolean, true),
        Field::new("summary", DataType::Utf8, false),
    ])
}

/// The Arrow type of `origin`.
pub fn origin_type() -> DataType {
    DataType::Struct(origin_fields())
}

/// Origins as a struct array of `origin_type()`.
pub fn origins_array(origins: &[Origin]) -> Result<StructArray, arrow::error::ArrowError> {
    let fields = origin_fields();
    let columns: Vec<ArrayRef> = serde_arrow::to_arrow(&fields, origins)
        .map_err(|err| arrow::error::ArrowError::ExternalError(Box::new(err)))?;
    StructArray::try_new(fields, columns, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn session(key: &str, issuer_kind: &str, issuer_key: Option<&str>) -> SessionRow {
        SessionRow {
            accesskeyid: key.into(),
            issuedat: 1_000,
            expiresat: Some(3_601_000),
            eventid: format!("event-{key}"),
            eventname: "AssumeRole".into(),
            awsregion: "us-east-1".into(),
            recipientaccountid: Some("111111111111".into()),
            issuertype: Some(issuer_kind.into()),
            issuerarn: Some(match issuer_kind {
                "IAMUser" => "arn:aws:iam::111111111111:user/alice".into(),
                _ => format!("arn:aws:sts::111111111111:assumed-role/from-{key}/s"),
            }),
            issuerprincipalid: None,
            issueraccountid: Some("111111111111".into()),
            issueraccesskeyid: issuer_key.map(str::to_string),
            issuerusername: (issuer_kind == "IAMUser").then(|| "alice".into()),
            issueridentityprovider: None,
            issuerinvokedby: None,
            issueronbehalfof: None,
            issuersessioncreated: Some(500),
            issuersourceidentity: None,
            sourceipaddress: None,
            useragent: None,
            rolearn: Some(format!("arn:aws:iam::111111111111:role/r-{key}")),
            rolesessionname: Some("s".into()),
            sessionarn: Some(format!("arn:aws:sts::111111111111:assumed-role/r-{key}/s")),
            sessionaccountid: Some("111111111111".into()),
            sourceidentity: None,
            federatedsubject: None,
            federatedsubjecttype: None,
            federatedissuer: None,
            federatedaudience: None,
            sessiontags: None,
            transitivetags: None,
            targetprincipal: None,
        }
    }

    fn index(sessions: Vec<SessionRow>) -> OriginIndex {
        let accounts = ["111111111111".to_string()].into();
        OriginIndex::new(sessions, accounts, Some(0)).unwrap()
    }

    #[test]
    fn two_hops_end_at_the_user_with_the_chain_in_words() {
        let index = index(vec![
            session("ASIA1", "IAMUser", Some("AKIA0")),
            session("ASIA2", "AssumedRole", Some("ASIA1")),
        ]);
        let origin = index.origin(Some("ASIA2"), None, Some(4_000_000));
        assert_eq!(origin.hops, 2);
        assert!(origin.resolved);
        assert_eq!(origin.kind.as_deref(), Some("IAMUser"));
        assert_eq!(
            origin.arn.as_deref(),
            Some("arn:aws:iam::111111111111:user/alice")
        );
        assert_eq!(origin.expired, Some(true));
        assert_eq!(
            origin.summary,
            "role/r-ASIA2, assumed by role/r-ASIA1, assumed by user/alice"
        );
        let keys: Vec<&str> = origin
            .chain
            .iter()
            .map(|h| h.accesskeyid.as_str())
            .collect();
        assert_eq!(keys, ["ASIA2", "ASIA1"]);
    }

    #[test]
    fn a_cycle_stops_and_says_so() {
        let index = index(vec![
            session("ASIA1", "AssumedRole", Some("ASIA2")),
            session("ASIA2", "AssumedRole", Some("ASIA1")),
        ]);
        let origin = index.origin(Some("ASIA1"), None, None);
        assert!(!origin.resolved);
        assert!(origin.ends.starts_with("cycle"), "{}", origin.ends);
        assert_eq!(origin.hops, 2);
    }

    #[test]
    fn a_chain_leaving_the_lake_says_where() {
        let mut outside = session("ASIA1", "AssumedRole", Some("ASIA9"));
        outside.issuerarn = Some("arn:aws:sts::999999999999:assumed-role/x/s".into());
        outside.issueraccountid = Some("999999999999".into());
        let mut before = session("ASIA2", "AssumedRole", Some("ASIA8"));
        before.issuersessioncreated = Some(-5);
        let index = index(vec![outside, before]);
        let origin = index.origin(Some("ASIA1"), None, None);
        assert!(!origin.resolved);
        assert!(origin.ends.contains("999999999999"), "{}", origin.ends);
        assert!(origin.summary.ends_with("(the chain leaves the lake)"));
        let origin = index.origin(Some("ASIA2"), None, None);
        assert!(
            origin.ends.contains("before the lake's first event"),
            "{}",
            origin.ends
        );
    }

    #[test]
    fn the_arrow_rows_match_the_resolved_origins() {
        let index = index(vec![session("ASIA1", "IAMUser", Some("AKIA0"))]);
        let keys = arrow::array::StringArray::from(vec![Some("ASIA1"), Some("AKIAZ"), None]);
        let array = index.origins_of(&keys, None, Some(&[0, 0, 0])).unwrap();
        assert_eq!(array.len(), 3);
        let hops = array
            .column_by_name("hops")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(hops.values().to_vec(), vec![1, 0, 0]);
        let resolved = array.column_by_name("resolved").unwrap().as_boolean();
        assert!(resolved.value(0) && !resolved.value(1));
        let expired = array.column_by_name("expired").unwrap().as_boolean();
        assert!(!expired.value(0) && expired.is_null(1));
    }
}
