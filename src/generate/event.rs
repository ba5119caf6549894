//! One generated CloudTrail record at a time, of every kind the product must handle.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::catalogue::{
    Api, DATA, ERRORS, MANAGEMENT, NON_ASCII, STALE_APP_ERRORS, USER_AGENTS, request_parameters,
    response_elements,
};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Instances per account and workload role: their ids are the roles' session names.
const FLEET_SIZE: u64 = 40;

/// One of `size` stable identities of `kind` in `account`, picked by a random `draw`, as a
/// 128-bit number: callers recur, as they do in real trails.
fn pooled(account: &str, kind: &str, draw: &str, size: u64) -> u128 {
    let slot = xxhash_rust::xxh3::xxh3_64(draw.as_bytes()) % size;
    xxhash_rust::xxh3::xxh3_128(format!("{account}/{kind}/{slot}").as_bytes())
}

/// The session name of instance `slot` of an account's fleet for `role`.
fn fleet_session(account: &str, role: &str, slot: u64) -> String {
    let id = xxhash_rust::xxh3::xxh3_128(format!("{account}/{role}/{slot}").as_bytes());
    format!("i-{:017x}", id >> 60)
}

/// A role's unique id (`AROA...`), stable per account and role.
fn role_id(account: &str, role: &str) -> String {
    let bits = xxhash_rust::xxh3::xxh3_128(format!("{account}/{role}").as_bytes());
    format!("AROA{}", upper_alnum(bits, 17))
}

/// `count` characters A-Z and 0-9 of `bits`.
fn upper_alnum(mut bits: u128, count: usize) -> String {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..count)
        .map(|_| {
            let c = DIGITS[(bits % 36) as usize];
            bits /= 36;
            c as char
        })
        .collect()
}

/// Makes the records of one account and region.
pub struct EventFactory<'a> {
    account: &'a str,
    accounts: &'a [String],
    region: &'a str,
    rng: &'a mut fastrand::Rng,
    /// The sessions this factory's calls used, by key: each gets its issuing call.
    sessions: HashMap<String, Planned>,
}

/// Who issued a generated session.
#[derive(Clone, Debug)]
enum Issuer {
    /// An AWS service (an instance profile, a Lambda function's role).
    Service(&'static str),
    /// GitHub Actions' OIDC token (`AssumeRoleWithWebIdentity`): always issued, see
    /// [`EventFactory::issuing_events`].
    GitHub,
    /// A person signing in through IAM Identity Center (`AssumeRoleWithSAML`).
    Sso(String),
    /// Another session (role chaining), possibly setting a source identity.
    Session(Box<SessionSpec>, Option<String>),
    /// An IAM user's `GetFederationToken`.
    Federation(String),
    /// An IAM user's `AssumeRole`, with its long-term key.
    User(String),
}

/// A generated session: the role (or federated user) and session name in an account, the
/// period its credentials were issued for, and who issued it.
#[derive(Clone, Debug)]
struct SessionSpec {
    account: String,
    role: String,
    session: String,
    /// Start of the period its credentials were issued for: a block of [`BLOCK_HOURS`] for
    /// workloads, people and federation, the hour for the pipeline's sessions.
    hour: DateTime<Utc>,
    issuer: Issuer,
}

impl SessionSpec {
    fn key(&self, region: &str) -> String {
        let bits = xxhash_rust::xxh3::xxh3_128(
            format!(
                "{}/{region}/{}/{}/{}",
                self.account,
                self.role,
                self.session,
                self.hour.timestamp()
            )
            .as_bytes(),
        );
        format!("ASIA{}", upper_alnum(bits, 16))
    }

    fn arn(&self) -> String {
        match self.issuer {
            Issuer::Federation(_) => {
                format!("arn:aws:sts::{}:federated-user/{}", self.account, self.role)
            }
            _ => format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                self.account, self.role, self.session
            ),
        }
    }

    /// Whether the session is issued whether or not a call uses it (workloads' and people's
    /// credentials are refreshed on schedule); the others are issued before their first use.
    fn always_issued(&self) -> bool {
        !self.hourly() || self.role == "ci-deployer"
    }

    /// Whether its credentials are issued for an hour (the pipeline's, and role chaining's,
    /// which AWS limits to an hour) rather than a block.
    fn hourly(&self) -> bool {
        matches!(
            self.role.as_str(),
            "ci-deployer" | "deploy" | "cdk-exec" | "break-glass" | "app-old"
        )
    }

    /// The lifetime of its credentials, in seconds: an hour, 8 hours for a block's (which
    /// overlap the next block's first minutes), 12 for federation.
    fn duration(&self) -> i64 {
        match self.issuer {
            Issuer::Federation(_) => 43_200,
            Issuer::User(_) => 3600,
            _ if self.hourly() => 3600,
            _ => 28_800,
        }
    }

    /// When a session issued on schedule is issued: spread over the first minutes of its
    /// period, a chained one a minute after the session it chains from.
    fn scheduled_issue(&self) -> DateTime<Utc> {
        match &self.issuer {
            Issuer::Session(parent, _) => parent.scheduled_issue() + Duration::seconds(60),
            Issuer::GitHub => {
                let run: i64 = self
                    .session
                    .rsplit('-')
                    .next()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                self.hour + Duration::seconds(60 + 30 * run)
            }
            _ => {
                let spread = xxhash_rust::xxh3::xxh3_64(
                    format!("{}/{}/{}", self.account, self.role, self.session).as_bytes(),
                ) % 420;
                self.hour + Duration::seconds(60 + spread as i64)
            }
        }
    }

    fn source_identity(&self) -> Option<String> {
        match &self.issuer {
            Issuer::Session(parent, set) => set.clone().or_else(|| parent.source_identity()),
            _ => None,
        }
    }
}

/// A session some call used, and when first.
#[derive(Clone, Debug)]
struct Planned {
    spec: SessionSpec,
    first_use: DateTime<Utc>,
}

/// The permission set role Identity Center creates for administrators.
const SSO_ROLE: &str = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
/// The subject of the pipeline's GitHub OIDC tokens.
const GITHUB_SUBJECT: &str = "repo:corp/app:ref:refs/heads/main";

/// The session name of the pipeline's run `run` of `hour`.
fn ci_session(hour: DateTime<Utc>, run: u32) -> String {
    format!("gha-{}-{run}", hour.format("%Y%m%d%H"))
}

/// How long before a session's first use it is issued.
const ISSUE_LEAD_SECONDS: i64 = 90;
/// Instances of the `app-role` fleet that still run the old application.
const OLD_APP_INSTANCES: u64 = 4;
/// The GitHub Actions runs of each hour (their sessions are always issued).
const CI_RUNS: u32 = 2;

/// Hours workloads', people's and federated credentials are issued for.
const BLOCK_HOURS: i64 = 6;
/// Minutes after the hour before which the pipeline's chained sessions are not used.
const PIPELINE_START_MINUTES: i64 = 10;

fn hour_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time - Duration::seconds(time.timestamp().rem_euclid(3600))
}

fn block_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time - Duration::seconds(time.timestamp().rem_euclid(3600 * BLOCK_HOURS))
}

/// CloudTrail's form of `credentials.expiration`.
fn expiration_text(time: DateTime<Utc>) -> String {
    time.format("%b %-d, %Y, %-I:%M:%S %p").to_string()
}

fn time_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn pick_weighted<'c>(rng: &mut fastrand::Rng, apis: &'c [Api]) -> &'c Api {
    let total: u32 = apis.iter().map(|a| a.weight).sum();
    let mut roll = rng.u32(..total);
    for api in apis {
        if roll < api.weight {
            return api;
        }
        roll -= api.weight;
    }
    &apis[0]
}

impl<'a> EventFactory<'a> {
    /// A factory for `account` in `region`; `accounts` are the trail's other accounts.
    pub fn new(
        account: &'a str,
        accounts: &'a [String],
        region: &'a str,
        rng: &'a mut fastrand::Rng,
    ) -> Self {
        Self {
            account,
            accounts,
            region,
            rng,
            sessions: HashMap::new(),
        }
    }

    /// The factory's random source.
    pub fn rng(&mut self) -> &mut fastrand::Rng {
        self.rng
    }

    fn uuid(&mut self) -> String {
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            self.rng.u32(..),
            self.rng.u16(..),
            self.rng.u16(..0x1000),
            self.rng.u16(0x8000..0xc000),
            self.rng.u64(..1 << 48)
        )
    }

    /// The 16-character unique part of a log file name.
    pub fn unique_suffix(&mut self) -> String {
        (0..16)
            .map(|_| ALNUM[self.rng.usize(..ALNUM.len())] as char)
            .collect()
    }

    fn key_id(&mut self, prefix: &str) -> String {
        let tail: String = (0..16)
            .map(|_| ALNUM[self.rng.usize(..26)] as char)
            .collect();
        format!("{prefix}{tail}")
    }

    /// The session name of a workload role: the id of one instance of the account's fleet for
    /// that role (a fixed set, as real workloads have, not a new instance per call).
    fn instance_session(&mut self, role: &str) -> String {
        fleet_session(self.account, role, self.rng.u64(..FLEET_SIZE))
    }

    fn ip(&mut self) -> String {
        match self.rng.u8(..10) {
            0 => format!("2001:db8::{:x}", self.rng.u16(..)),
            1..=5 => format!("203.0.113.{}", self.rng.u8(1..255)),
            _ => format!("198.51.100.{}", self.rng.u8(1..255)),
        }
    }

    fn arn(&self, rest: &str) -> String {
        format!("arn:aws:iam::{}:{rest}", self.account)
    }

    fn session_context(&mut self, issuer: Value, time: DateTime<Utc>, mfa: bool) -> Value {
        let created = time - Duration::minutes(i64::from(self.rng.u16(1..600)));
        // Some sessions report the creation date in ISO basic notation.
        let created = if self.rng.u8(..50) == 0 {
            created.format("%Y%m%dT%H%M%SZ").to_string()
        } else {
            time_text(created)
        };
        json!({
            "sessionIssuer": issuer,
            "webIdFederationData": {},
            "attributes": {"creationDate": created, "mfaAuthenticated": mfa.to_string()},
        })
    }

    /// An IAM user calling with its own long-term key (one per user and account).
    fn iam_user(&mut self, name: &str) -> Value {
        let stable = |kind: &str| {
            upper_alnum(
                xxhash_rust::xxh3::xxh3_128(format!("{}/{kind}/{name}", self.account).as_bytes()),
                16,
            )
        };
        json!({
            "type": "IAMUser",
            "principalId": format!("AIDA{}", stable("user")),
            "arn": self.arn(&format!("user/{name}")),
            "accountId": self.account,
            "accessKeyId": format!("AKIA{}", stable("key")),
            "userName": name,
        })
    }

    /// The session of `role` named `session` that a call at `time` signs with: the one of the
    /// period, or the period before while this one's credentials are not issued yet.
    fn session_at(&self, role: &str, session: &str, time: DateTime<Utc>) -> SessionSpec {
        let mut spec = SessionSpec {
            account: self.account.to_string(),
            role: role.to_string(),
            session: session.to_string(),
            hour: block_of(time),
            issuer: Issuer::GitHub,
        };
        if spec.hourly() {
            spec.hour = hour_of(time);
        }
        spec.issuer = self.issuer_of(role, session, spec.hour, time);
        if !spec.hourly() && time < spec.scheduled_issue() {
            let before = time - Duration::hours(BLOCK_HOURS);
            return SessionSpec {
                hour: block_of(before),
                issuer: self.issuer_of(role, session, block_of(before), before),
                ..spec
            };
        }
        spec
    }

    /// The issuer of the session of `role` named `session` for the period from `start`, used
    /// at `time`.
    fn issuer_of(
        &self,
        role: &str,
        session: &str,
        start: DateTime<Utc>,
        time: DateTime<Utc>,
    ) -> Issuer {
        match role {
            "lambda-exec" => Issuer::Service("lambda.amazonaws.com"),
            // The old application chains from the instance's own role.
            "app-old" => {
                Issuer::Session(Box::new(self.session_at("app-role", session, time)), None)
            }
            "ci-deployer" => Issuer::GitHub,
            // Deployments: the pipeline of the next account assumes `deploy` here ...
            "deploy" => {
                let at = self
                    .accounts
                    .iter()
                    .position(|a| a == self.account)
                    .unwrap_or(0);
                let other = &self.accounts[(at + 1) % self.accounts.len()];
                Issuer::Session(
                    Box::new(SessionSpec {
                        account: other.clone(),
                        role: "ci-deployer".into(),
                        session: session.to_string(),
                        hour: start,
                        issuer: Issuer::GitHub,
                    }),
                    None,
                )
            }
            // ... which hands over to the CDK's execution role.
            "cdk-exec" => Issuer::Session(Box::new(self.session_at("deploy", session, time)), None),
            // Break-glass: an administrator's SSO session chains on, naming the person.
            "break-glass" => Issuer::Session(
                Box::new(self.session_at(SSO_ROLE, session, time)),
                Some(session.to_string()),
            ),
            SSO_ROLE => Issuer::Sso(session.to_string()),
            "bob" => Issuer::Federation("bob".into()),
            _ => Issuer::Service("ec2.amazonaws.com"),
        }
    }

    /// Records that a call at `time` used `spec`'s session (and so each session of its chain
    /// that this account's trail records).
    fn plan(&mut self, spec: &SessionSpec, time: DateTime<Utc>) {
        if spec.account != self.account || spec.always_issued() {
            return;
        }
        let key = spec.key(self.region);
        let planned = self.sessions.entry(key).or_insert_with(|| Planned {
            spec: spec.clone(),
            first_use: time,
        });
        planned.first_use = planned.first_use.min(time);
        if let Issuer::Session(parent, _) = &spec.issuer {
            self.plan(parent, time - Duration::seconds(ISSUE_LEAD_SECONDS));
        }
    }

    /// The `userIdentity` of `spec`'s session.
    fn session_identity(&mut self, spec: &SessionSpec, time: DateTime<Utc>, mfa: bool) -> Value {
        let issuer = json!({
            "type": "Role",
            "principalId": role_id(&spec.account, &spec.role),
            "arn": format!("arn:aws:iam::{}:role/{}", spec.account, spec.role),
            "accountId": spec.account,
            "userName": spec.role,
        });
        let mut context = self.session_context(issuer, time, mfa);
        context["attributes"]["creationDate"] = json!(time_text(spec.hour));
        if let Some(source) = spec.source_identity() {
            context["sourceIdentity"] = json!(source);
        }
        if spec.role == "app-role" {
            context["ec2RoleDelivery"] = json!("2.0");
        }
        let principal = context["sessionIssuer"]["principalId"].clone();
        let mut identity = json!({
            "type": "AssumedRole",
            "principalId": format!("{}:{}", principal.as_str().unwrap_or_default(), spec.session),
            "arn": spec.arn(),
            "accountId": spec.account,
            "accessKeyId": spec.key(self.region),
            "sessionContext": context,
        });
        if spec.role == "lambda-exec" {
            identity["inScopeOf"] = json!({
                "sourceArn": format!("arn:aws:lambda:{}:{}:function:ingest", self.region, spec.account),
                "sourceAccount": spec.account,
                "issuerType": "AWS::Lambda::Function",
                "credentialsIssuedTo": spec.arn(),
            });
        }
        identity
    }

    /// A call at `time` by the session of `role` named `session` in this account.
    fn assumed_role(&mut self, role: &str, session: &str, time: DateTime<Utc>, mfa: bool) -> Value {
        let spec = self.session_at(role, session, time);
        self.plan(&spec, time);
        self.session_identity(&spec, time, mfa)
    }

    /// The calls that issued sessions in `hour`: on schedule, those of the workloads and
    /// people (at the start of each block of [`BLOCK_HOURS`]) and the pipeline's
    /// runs, which other accounts' deployments chain from; before their first use, the
    /// sessions this factory's calls chained to. Now and then an attempt to chain fails
    /// (AccessDenied) and issues nothing.
    pub fn issuing_events(&mut self, hour: DateTime<Utc>) -> Vec<Value> {
        let mut issued: Vec<(DateTime<Utc>, SessionSpec)> = Vec::new();
        let mut planned: Vec<Planned> = self.sessions.drain().map(|(_, p)| p).collect();
        planned.sort_by(|a, b| {
            (a.first_use, &a.spec.session, &a.spec.role).cmp(&(
                b.first_use,
                &b.spec.session,
                &b.spec.role,
            ))
        });
        for p in planned {
            let time = p.first_use - Duration::seconds(ISSUE_LEAD_SECONDS);
            issued.push((time, p.spec));
        }
        let mut scheduled = Vec::new();
        for run in 0..CI_RUNS {
            scheduled.push(self.session_at(
                "ci-deployer",
                &ci_session(hour, run),
                hour + Duration::minutes(PIPELINE_START_MINUTES),
            ));
        }
        if block_of(hour) == hour {
            let at = hour + Duration::minutes(30);
            for role in ["app-role", "lambda-exec"] {
                for slot in 0..FLEET_SIZE {
                    scheduled.push(self.session_at(
                        role,
                        &fleet_session(self.account, role, slot),
                        at,
                    ));
                }
            }
            for person in NON_ASCII {
                scheduled.push(self.session_at(SSO_ROLE, &format!("{person}@corp.example"), at));
            }
        }
        for spec in scheduled {
            issued.push((spec.scheduled_issue(), spec));
        }
        let mut out = Vec::new();
        for (time, spec) in issued {
            if matches!(spec.issuer, Issuer::Session(..)) && self.rng.u8(..12) == 0 {
                out.push(self.issuing_event(&spec, time - Duration::seconds(20), true));
            }
            out.push(self.issuing_event(&spec, time, false));
        }
        out
    }

    fn issuing_event(&mut self, spec: &SessionSpec, time: DateTime<Utc>, fails: bool) -> Value {
        let role_arn = format!("arn:aws:iam::{}:role/{}", spec.account, spec.role);
        let saml_provider = format!(
            "arn:aws:iam::{}:saml-provider/AWSSSO_0123456789abcdef_DO_NOT_DELETE",
            spec.account
        );
        let (name, identity, caller) = match &spec.issuer {
            Issuer::Service(service) => (
                "AssumeRole",
                json!({"type": "AWSService", "invokedBy": service}),
                Caller::Service(service),
            ),
            Issuer::GitHub => (
                "AssumeRoleWithWebIdentity",
                json!({"type": "WebIdentityUser",
                    "principalId": format!("arn:aws:iam::{}:oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:{GITHUB_SUBJECT}", spec.account),
                    "userName": GITHUB_SUBJECT,
                    "identityProvider": format!("arn:aws:iam::{}:oidc-provider/token.actions.githubusercontent.com", spec.account)}),
                Caller::Machine,
            ),
            Issuer::Sso(person) => (
                "AssumeRoleWithSAML",
                json!({"type": "SAMLUser", "principalId": format!("Xk2tQ9e0z3JvN0mRz6P2Fb6Zsvo=:{person}"),
                    "userName": person, "identityProvider": saml_provider}),
                Caller::Person,
            ),
            Issuer::Session(parent, _) => {
                let parent = parent.as_ref().clone();
                (
                    "AssumeRole",
                    self.session_identity(&parent, time, false),
                    Caller::Machine,
                )
            }
            Issuer::Federation(user) => {
                let user = user.clone();
                ("GetFederationToken", self.iam_user(&user), Caller::Person)
            }
            Issuer::User(user) => {
                let user = user.clone();
                ("AssumeRole", self.iam_user(&user), Caller::Person)
            }
        };
        let api = Api {
            source: "sts.amazonaws.com",
            name,
            read_only: false,
            weight: 1,
        };
        let mut record = self.base(time, &api, identity, &caller);
        let source_identity = match &spec.issuer {
            Issuer::Session(_, set) => set.clone(),
            _ => None,
        };
        let duration = spec.duration();
        let mut request = match &spec.issuer {
            Issuer::Sso(_) => {
                json!({"roleArn": role_arn, "principalArn": saml_provider, "durationSeconds": duration})
            }
            Issuer::Federation(user) => json!({"name": user, "durationSeconds": duration}),
            _ => {
                json!({"roleArn": role_arn, "roleSessionName": spec.session, "durationSeconds": duration})
            }
        };
        if let Some(source) = &source_identity {
            request["sourceIdentity"] = json!(source);
        }
        record.insert("requestParameters".into(), request);
        if fails {
            record.insert("errorCode".into(), json!("AccessDenied"));
            record.insert("errorMessage".into(), json!(format!("User is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{}:role/app-admin", spec.account)));
            record.insert("responseElements".into(), Value::Null);
            if let Some(parameters) = record.get_mut("requestParameters") {
                parameters["roleArn"] =
                    json!(format!("arn:aws:iam::{}:role/app-admin", spec.account));
            }
            return Value::Object(record);
        }
        let credentials = json!({"accessKeyId": spec.key(self.region), "sessionToken": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "expiration": expiration_text(time + Duration::seconds(duration))});
        let mut response = match &spec.issuer {
            Issuer::Federation(_) => json!({"credentials": credentials,
                "federatedUser": {"federatedUserId": format!("{}:{}", spec.account, spec.role), "arn": spec.arn()}}),
            _ => json!({"credentials": credentials,
                "assumedRoleUser": {"assumedRoleId": format!("{}:{}", role_id(&spec.account, &spec.role), spec.session), "arn": spec.arn()}}),
        };
        match &spec.issuer {
            Issuer::Sso(person) => {
                response["subject"] = json!(person);
                response["subjectType"] = json!("persistent");
                response["issuer"] = json!(
                    "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/MDEyMzQ1Njc4OTAx"
                );
                response["audience"] = json!("https://signin.aws.amazon.com/saml");
                response["nameQualifier"] = json!("Xk2tQ9e0z3JvN0mRz6P2Fb6Zsvo=");
            }
            Issuer::GitHub => {
                response["subjectFromWebIdentityToken"] = json!(GITHUB_SUBJECT);
                response["provider"] = json!(format!(
                    "arn:aws:iam::{}:oidc-provider/token.actions.githubusercontent.com",
                    spec.account
                ));
                response["audience"] = json!("sts.amazonaws.com");
            }
            _ => {}
        }
        if let Some(source) = &source_identity {
            response["sourceIdentity"] = json!(source);
        }
        record.insert("responseElements".into(), response);
        Value::Object(record)
    }

    /// A caller for an ordinary API call, and whether a person is behind it.
    fn caller(&mut self, time: DateTime<Utc>) -> (Value, Caller) {
        let roll = self.rng.u16(..1000);
        match roll {
            0..=549 => {
                let hour = hour_of(time);
                // The pipeline's sessions are issued at the start of each hour.
                let pipeline = time - hour >= Duration::minutes(PIPELINE_START_MINUTES);
                let (role, who) = match self.rng.u8(..5) {
                    0 if pipeline => {
                        let chained = self.accounts.len() > 1;
                        let role = match self.rng.u8(..4) {
                            2 if chained => "deploy",
                            3 if chained => "cdk-exec",
                            _ => "ci-deployer",
                        };
                        let run = self.rng.u32(..CI_RUNS);
                        let session = ci_session(hour, run);
                        return (
                            self.assumed_role(role, &session, time, false),
                            Caller::Machine,
                        );
                    }
                    1 => ("lambda-exec", Caller::Machine),
                    2 => ("app-old", Caller::Machine),
                    _ => ("app-role", Caller::Machine),
                };
                let session = match role {
                    // The old application still runs on a few of `app-role`'s instances.
                    "app-old" => {
                        fleet_session(self.account, "app-role", self.rng.u64(..OLD_APP_INSTANCES))
                    }
                    _ => self.instance_session(role),
                };
                (self.assumed_role(role, &session, time, false), who)
            }
            550..=649 => {
                let person = NON_ASCII[self.rng.usize(..NON_ASCII.len())];
                let session = format!("{person}@corp.example");
                let late = time - hour_of(time) >= Duration::minutes(PIPELINE_START_MINUTES);
                let role = if late && self.rng.u8(..10) == 0 {
                    "break-glass"
                } else {
                    SSO_ROLE
                };
                (
                    self.assumed_role(role, &session, time, true),
                    Caller::Console,
                )
            }
            650..=749 | 980..=989 => {
                let name = ["alice", "bob", "josé"][self.rng.usize(..3)];
                (self.iam_user(name), Caller::Person)
            }
            750..=899 => {
                let service = [
                    "ec2.amazonaws.com",
                    "cloudformation.amazonaws.com",
                    "config.amazonaws.com",
                ][self.rng.usize(..3)];
                (
                    json!({"type": "AWSService", "invokedBy": service}),
                    Caller::Service(service),
                )
            }
            900..=929 => {
                let other = self.accounts[self.rng.usize(..self.accounts.len())].clone();
                let draw = self.key_id("");
                let principal = format!(
                    "AIDA{}",
                    upper_alnum(pooled(&other, "caller", &draw, 8), 16)
                );
                let identity =
                    json!({"type": "AWSAccount", "principalId": principal, "accountId": other});
                (identity, Caller::Machine)
            }
            930..=949 => {
                let spec = self.session_at("bob", "bob", time);
                let issuer = json!({"type": "IAMUser", "principalId": self.iam_user("bob")["principalId"],
                    "arn": self.arn("user/bob"), "accountId": self.account, "userName": "bob"});
                let context = self.session_context(issuer, time, false);
                let identity = json!({"type": "FederatedUser",
                    "principalId": format!("{}:bob", self.account),
                    "arn": spec.arn(),
                    "accountId": self.account, "accessKeyId": spec.key(self.region),
                    "sessionContext": context});
                (identity, Caller::Person)
            }
            950..=979 => {
                let draw = self.uuid();
                let user = pooled(self.account, "identity-center-user", &draw, 25) as u64;
                let identity = json!({"type": "IdentityCenterUser", "accountId": self.account,
                    "onBehalfOf": {"userId": format!("{user:016x}"),
                        "identityStoreArn": format!("arn:aws:identitystore::{}:identitystore/d-9067642ac7", self.account)},
                    "credentialId": self.uuid()});
                (identity, Caller::Person)
            }
            990..=994 => {
                let identity = json!({"type": "Directory", "principalId": "d-906762fa12",
                    "accountId": self.account, "userName": "svc-directory"});
                (identity, Caller::Machine)
            }
            _ => {
                let identity = json!({"type": "Unknown", "principalId": "", "accountId": self.account,
                    "userName": "someone@corp.example"});
                (identity, Caller::Person)
            }
        }
    }

    fn base(
        &mut self,
        time: DateTime<Utc>,
        api: &Api,
        identity: Value,
        caller: &Caller,
    ) -> Map<String, Value> {
        let version = ["1.08", "1.09", "1.10", "1.11", "1.11"][self.rng.usize(..5)];
        let (ip, agent) = match caller {
            Caller::Service(service) => (service.to_string(), service.to_string()),
            Caller::Console => (self.ip(), "console.amazonaws.com".to_string()),
            Caller::Person | Caller::Machine => {
                let agent = USER_AGENTS[self.rng.usize(..USER_AGENTS.len())].to_string();
                let ip = if agent == "AWS Internal" {
                    "AWS Internal".to_string()
                } else {
                    self.ip()
                };
                (ip, agent)
            }
        };
        let mut record = Map::new();
        record.insert("eventVersion".into(), json!(version));
        record.insert("userIdentity".into(), identity);
        record.insert("eventTime".into(), json!(time_text(time)));
        record.insert("eventSource".into(), json!(api.source));
        record.insert("eventName".into(), json!(api.name));
        record.insert("awsRegion".into(), json!(self.region));
        record.insert("sourceIPAddress".into(), json!(ip));
        record.insert("userAgent".into(), json!(agent));
        record.insert("requestID".into(), json!(self.uuid()));
        record.insert("eventID".into(), json!(self.uuid()));
        record.insert("readOnly".into(), json!(api.read_only));
        record.insert("eventType".into(), json!("AwsApiCall"));
        record.insert("managementEvent".into(), json!(true));
        record.insert("recipientAccountId".into(), json!(self.account));
        record.insert("eventCategory".into(), json!("Management"));
        if !matches!(caller, Caller::Service(_)) {
            let mut tls = json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": format!("{}.{}.amazonaws.com", api.source.split('.').next().unwrap_or("api"), self.region)});
            if self.rng.bool() {
                tls["keyExchange"] = json!("X25519MLKEM768");
            }
            record.insert("tlsDetails".into(), tls);
        }
        if matches!(caller, Caller::Console) {
            record.insert("sessionCredentialFromConsole".into(), json!("true"));
        }
        record
    }

    /// An ordinary event at `time`: mostly API calls, some data events, sign-ins and service
    /// events, with the rare quirks real trails carry.
    pub fn event(&mut self, time: DateTime<Utc>, late: bool) -> Value {
        let roll = self.rng.u16(..1000);
        let mut record = match roll {
            0..=19 => self.console_sign_in(time),
            20..=169 => self.data_event(time),
            170..=199 => self.service_event(time),
            _ => self.api_call(time),
        };
        if late {
            record.insert("addendum".into(), json!({"reason": "DELIVERY_DELAY"}));
        }
        match self.rng.u16(..4000) {
            // A field from a newer eventVersion than trailq knows, at the top and nested.
            0..=3 => {
                record.insert(
                    "futureField".into(),
                    json!({"nested": [1, "two", null], "ok": true}),
                );
            }
            4..=5 => {
                if let Some(identity) = record
                    .get_mut("userIdentity")
                    .and_then(Value::as_object_mut)
                {
                    identity.insert("futureIdentityKey".into(), json!("x"));
                }
            }
            // readOnly as LookupEvents writes it: a string.
            6..=7 => {
                let text = record
                    .get("readOnly")
                    .and_then(Value::as_bool)
                    .map(|b| b.to_string());
                if let Some(text) = text {
                    record.insert("readOnly".into(), json!(text));
                }
            }
            // Sub-second event time.
            8 => {
                record.insert(
                    "eventTime".into(),
                    json!(time.format("%Y-%m-%dT%H:%M:%S.250Z").to_string()),
                );
            }
            // A record from before eventVersion 1.01: no eventID, no eventType.
            9..=10 => {
                record.insert("eventVersion".into(), json!("1.0"));
                record.remove("eventID");
                record.remove("eventType");
                record.remove("readOnly");
                record.remove("managementEvent");
                record.remove("eventCategory");
                record.remove("tlsDetails");
            }
            _ => {}
        }
        Value::Object(record)
    }

    fn api_call(&mut self, time: DateTime<Utc>) -> Map<String, Value> {
        let api = pick_weighted(self.rng, MANAGEMENT);
        let (identity, caller) = self.caller(time);
        let misconfigured = identity["arn"]
            .as_str()
            .is_some_and(|arn| arn.contains("app-old"));
        let cross_account = identity["type"] == "AWSAccount";
        let mut record = self.base(time, api, identity, &caller);
        record.insert(
            "requestParameters".into(),
            request_parameters(api, self.rng, self.region),
        );
        let fails = if misconfigured {
            self.rng.u8(..4) == 0
        } else {
            self.rng.u8(..60) == 0
        };
        if fails {
            // The old application calls what was deleted: its errors are missing resources.
            let (code, message) = if misconfigured {
                let errors = &ERRORS[STALE_APP_ERRORS];
                errors[self.rng.usize(..errors.len())]
            } else {
                ERRORS[self.rng.usize(..ERRORS.len())]
            };
            record.insert("errorCode".into(), json!(code));
            if !message.is_empty() {
                record.insert("errorMessage".into(), json!(message));
            }
            record.insert("responseElements".into(), Value::Null);
        } else {
            record.insert("responseElements".into(), response_elements(api, self.rng));
        }
        if cross_account {
            record.insert("sharedEventID".into(), json!(self.uuid()));
        }
        if api.name == "RunInstances" {
            let resource = json!({"ARN": format!("arn:aws:ec2:{}:{}:instance/i-{:017x}", self.region, self.account, self.rng.u64(..)),
                   "accountId": self.account, "type": "AWS::EC2::Instance"});
            record.insert("resources".into(), json!([resource]));
        }
        record
    }

    fn data_event(&mut self, time: DateTime<Utc>) -> Map<String, Value> {
        let api = pick_weighted(self.rng, DATA);
        let anonymous = self.rng.u16(..300) == 0;
        let (identity, caller) = if anonymous {
            (
                json!({"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}),
                Caller::Person,
            )
        } else {
            let session = self.instance_session("app-role");
            (
                self.assumed_role("app-role", &session, time, false),
                Caller::Machine,
            )
        };
        let mut record = self.base(time, api, identity, &caller);
        let bucket = format!("corp-data-{}", self.rng.u8(..20));
        let key = format!(
            "logs/{}/{:08x}.parquet",
            time.format("%Y/%m/%d"),
            self.rng.u32(..)
        );
        let agent = format!("[{}]", record["userAgent"].as_str().unwrap_or("aws-cli/2"));
        record.insert("userAgent".into(), json!(agent));
        record.insert(
            "requestParameters".into(),
            json!({"bucketName": bucket,
            "Host": format!("{bucket}.s3.{}.amazonaws.com", self.region), "key": key}),
        );
        record.insert("responseElements".into(), Value::Null);
        record.insert(
            "additionalEventData".into(),
            json!({
                "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0, "bytesTransferredOut": self.rng.u32(..1_000_000),
                "AuthenticationMethod": "AuthHeader", "x-amz-id-2": self.key_id(""),
            }),
        );
        let request_id: String = (0..16)
            .map(|_| ALNUM[self.rng.usize(..26)] as char)
            .collect();
        record.insert("requestID".into(), json!(request_id));
        record.insert("managementEvent".into(), json!(false));
        record.insert("eventCategory".into(), json!("Data"));
        record.insert("resources".into(), json!([
            {"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
            {"accountId": self.account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")},
        ]));
        if self.rng.u8(..4) == 0 {
            record.insert(
                "vpcEndpointId".into(),
                json!(format!("vpce-{:017x}", self.rng.u64(..))),
            );
            record.insert("vpcEndpointAccountId".into(), json!(self.account));
        }
        if anonymous {
            record.insert("errorCode".into(), json!("AccessDenied"));
            record.insert("errorMessage".into(), json!("Access Denied"));
        }
        record
    }

    fn console_sign_in(&mut self, time: DateTime<Utc>) -> Map<String, Value> {
        let name = [
            "ConsoleLogin",
            "ConsoleLogin",
            "ConsoleLogin",
            "SwitchRole",
            "CheckMfa",
        ][self.rng.usize(..5)];
        let api = Api {
            source: "signin.amazonaws.com",
            name,
            read_only: false,
            weight: 1,
        };
        let user = ["alice", "bob", "josé"][self.rng.usize(..3)];
        let mut identity = self.iam_user(user);
        // People mistype now and then; every console user signs in with MFA.
        let failed = name == "ConsoleLogin" && self.rng.u8(..25) == 0;
        if failed && self.rng.bool() {
            identity["userName"] = json!("HIDDEN_DUE_TO_SECURITY_REASONS");
        }
        let mut record = self.base(time, &api, identity, &Caller::Console);
        record.remove("readOnly");
        record.remove("sessionCredentialFromConsole");
        record.insert("eventType".into(), json!("AwsConsoleSignIn"));
        record.insert("userAgent".into(), json!(USER_AGENTS[6]));
        record.insert("requestParameters".into(), Value::Null);
        let mfa = "Yes";
        match name {
            "ConsoleLogin" => {
                let outcome = if failed { "Failure" } else { "Success" };
                record.insert("responseElements".into(), json!({"ConsoleLogin": outcome}));
                record.insert(
                    "additionalEventData".into(),
                    json!({
                    "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs",
                    "MobileVersion": "No", "MFAUsed": mfa}),
                );
                if failed {
                    // Sign-in failures have an errorMessage and no errorCode.
                    record.insert("errorMessage".into(), json!("Failed authentication"));
                }
            }
            "CheckMfa" => {
                record.insert("responseElements".into(), json!({"CheckMfa": "Success"}));
                record.insert(
                    "additionalEventData".into(),
                    json!({"MfaType": "Virtual MFA"}),
                );
            }
            _ => {
                record.insert("responseElements".into(), json!({"SwitchRole": "Success"}));
                record.insert(
                    "additionalEventData".into(),
                    json!({"SwitchFrom": self.arn("user/alice"),
                    "RedirectTo": "https://console.aws.amazon.com/"}),
                );
            }
        }
        record
    }

    fn service_event(&mut self, time: DateTime<Utc>) -> Map<String, Value> {
        let api = Api {
            source: "kms.amazonaws.com",
            name: "RotateKey",
            read_only: false,
            weight: 1,
        };
        let identity = json!({"accountId": self.account, "invokedBy": "kms.amazonaws.com"});
        let mut record = self.base(time, &api, identity, &Caller::Service("kms.amazonaws.com"));
        record.insert("sourceIPAddress".into(), json!("AWS Internal"));
        record.insert("eventType".into(), json!("AwsServiceEvent"));
        record.insert("requestParameters".into(), Value::Null);
        record.insert("responseElements".into(), Value::Null);
        let key_id = self.uuid();
        let key = format!("arn:aws:kms:{}:{}:key/{key_id}", self.region, self.account);
        record.insert(
            "resources".into(),
            json!([{"ARN": key, "accountId": self.account, "type": "AWS::KMS::Key"}]),
        );
        record.insert(
            "serviceEventDetails".into(),
            json!({"keyRotationStatus": "Succeeded", "rotationType": "AUTOMATIC"}),
        );
        record
    }

    /// An intrusion, starting at `start`: a password spray against console users, then a
    /// stolen access key of `svc-backup` used from one address to probe its permissions, then to
    /// assume the organization's admin role, as which it goes on to blind
    /// the account (trail stopped, GuardDuty deleted), persist (a new admin user with a key and
    /// a console password), open SSH to the world, expose a bucket, mine on GPUs, and schedule a
    /// key's deletion. Each step is something the built-in rules exist to catch.
    pub fn attack(&mut self, start: DateTime<Utc>) -> Vec<Value> {
        const ADDRESS: &str = "192.0.2.66";
        const AGENT: &str = "aws-cli/1.18.69 Python/3.8.10 Linux/6.5.0-kali3-amd64 botocore/1.17.0";
        let mut out = Vec::new();
        for (i, user) in ["alice", "bob", "josé"].into_iter().enumerate() {
            let mut record = self.console_sign_in(start + Duration::seconds(40 * i as i64));
            record.insert("eventName".into(), json!("ConsoleLogin"));
            record.insert("userIdentity".into(), self.iam_user(user));
            record.insert("sourceIPAddress".into(), json!(ADDRESS));
            record.insert(
                "responseElements".into(),
                json!({"ConsoleLogin": "Failure"}),
            );
            record.insert("errorMessage".into(), json!("Failed authentication"));
            record.insert(
                "additionalEventData".into(),
                json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"}),
            );
            out.push(Value::Object(record));
        }
        let intruder = self.iam_user("svc-backup");
        // Who the intruder acts as: the stolen key, then the role it assumes with it.
        let acting = std::cell::RefCell::new(intruder.clone());
        let admin = "support-admin";
        let mut call = |factory: &mut Self,
                        minute: i64,
                        source: &'static str,
                        name: &'static str,
                        parameters: Value,
                        error: Option<&str>| {
            let api = Api {
                source,
                name,
                read_only: name.starts_with("Get") || name.starts_with("List"),
                weight: 1,
            };
            let time = start + Duration::minutes(10 + minute);
            let identity = acting.borrow().clone();
            let mut record = factory.base(time, &api, identity, &Caller::Person);
            record.insert("sourceIPAddress".into(), json!(ADDRESS));
            record.insert("userAgent".into(), json!(AGENT));
            record.insert("requestParameters".into(), parameters);
            match error {
                Some(code) => {
                    record.insert("errorCode".into(), json!(code));
                    record.insert(
                        "errorMessage".into(),
                        json!(format!(
                            "User svc-backup is not authorized to perform: {name}"
                        )),
                    );
                    record.insert("responseElements".into(), Value::Null);
                }
                None => {
                    record.insert("responseElements".into(), json!({"status": "ok"}));
                }
            }
            out.push(Value::Object(record));
        };
        call(
            self,
            0,
            "sts.amazonaws.com",
            "GetCallerIdentity",
            Value::Null,
            None,
        );
        let probes = [
            ("iam.amazonaws.com", "ListUsers"),
            ("iam.amazonaws.com", "ListRoles"),
            ("iam.amazonaws.com", "GetAccountAuthorizationDetails"),
            ("organizations.amazonaws.com", "DescribeOrganization"),
            ("ec2.amazonaws.com", "DescribeInstances"),
            ("lambda.amazonaws.com", "ListFunctions20150331"),
        ];
        for (i, (source, name)) in probes.iter().cycle().take(12).enumerate() {
            let code = if *source == "ec2.amazonaws.com" {
                "Client.UnauthorizedOperation"
            } else {
                "AccessDenied"
            };
            call(
                self,
                1 + i as i64 / 5,
                source,
                name,
                Value::Null,
                Some(code),
            );
        }
        call(
            self,
            4,
            "secretsmanager.amazonaws.com",
            "ListSecrets",
            Value::Null,
            None,
        );
        call(
            self,
            5,
            "secretsmanager.amazonaws.com",
            "BatchGetSecretValue",
            json!({"filters": [{"key": "name", "values": ["prod/"]}]}),
            None,
        );
        // The key's own permissions are not enough: it assumes the organization's admin role.
        let time = start + Duration::minutes(15) + Duration::seconds(30);
        let role = SessionSpec {
            account: self.account.to_string(),
            role: "OrganizationAccountAccessRole".into(),
            session: "backup-maintenance".into(),
            hour: hour_of(time),
            issuer: Issuer::User("svc-backup".into()),
        };
        let mut assumed = self.issuing_event(&role, time, false);
        assumed["sourceIPAddress"] = json!(ADDRESS);
        assumed["userAgent"] = json!(AGENT);
        *acting.borrow_mut() = self.session_identity(&role, time, false);
        let trail = format!(
            "arn:aws:cloudtrail:{}:{}:trail/org-trail",
            self.region, self.account
        );
        call(
            self,
            6,
            "cloudtrail.amazonaws.com",
            "StopLogging",
            json!({"name": trail}),
            None,
        );
        call(
            self,
            7,
            "guardduty.amazonaws.com",
            "DeleteDetector",
            json!({"detectorId": "12abc34d567e8fa901bc2d34e56789f0"}),
            None,
        );
        call(
            self,
            8,
            "iam.amazonaws.com",
            "CreateUser",
            json!({"userName": admin}),
            None,
        );
        call(
            self,
            9,
            "iam.amazonaws.com",
            "CreateAccessKey",
            json!({"userName": admin}),
            None,
        );
        call(
            self,
            10,
            "iam.amazonaws.com",
            "AttachUserPolicy",
            json!({"userName": admin, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            None,
        );
        call(
            self,
            11,
            "iam.amazonaws.com",
            "CreateLoginProfile",
            json!({"userName": admin, "passwordResetRequired": false}),
            None,
        );
        call(
            self,
            13,
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": "sg-0a1b2c3d4e5f60718",
                "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            None,
        );
        call(
            self,
            15,
            "s3.amazonaws.com",
            "PutBucketPolicy",
            json!({"bucketName": "corp-data-3", "Host": "corp-data-3.s3.amazonaws.com",
                // A policy as text, as S3 logs it: JSON inside a JSON string.
                "bucketPolicy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::corp-data-3/*\"}]}"}),
            None,
        );
        call(
            self,
            18,
            "ec2.amazonaws.com",
            "RunInstances",
            json!({"instanceType": "p4d.24xlarge", "minCount": 8, "maxCount": 8,
                "instancesSet": {"items": [{"imageId": "ami-0c55b159cbfafe1f0"}]}}),
            None,
        );
        call(
            self,
            22,
            "kms.amazonaws.com",
            "ScheduleKeyDeletion",
            json!({"keyId": format!("arn:aws:kms:{}:{}:key/0b5c7e3a", self.region, self.account),
                "pendingWindowInDays": 7}),
            None,
        );
        out.push(assumed);
        let mut login = self.console_sign_in(start + Duration::minutes(40));
        login.insert("eventName".into(), json!("ConsoleLogin"));
        login.insert("userIdentity".into(), self.iam_user(admin));
        login.insert("sourceIPAddress".into(), json!(ADDRESS));
        login.insert(
            "responseElements".into(),
            json!({"ConsoleLogin": "Success"}),
        );
        login.remove("errorMessage");
        login.insert(
            "additionalEventData".into(),
            json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "No"}),
        );
        out.push(Value::Object(login));
        out
    }

    /// A network-activity (VPC endpoint) event for the `CloudTrail-NetworkActivity` folder.
    pub fn network_event(&mut self, time: DateTime<Utc>) -> Value {
        let api = Api {
            source: "kms.amazonaws.com",
            name: "ListKeys",
            read_only: true,
            weight: 1,
        };
        let session = self.instance_session("app-role");
        let identity = self.assumed_role("app-role", &session, time, false);
        let mut record = self.base(time, &api, identity, &Caller::Machine);
        record.insert("eventVersion".into(), json!("1.09"));
        record.remove("readOnly");
        record.remove("managementEvent");
        record.insert("eventType".into(), json!("AwsVpceEvent"));
        record.insert("eventCategory".into(), json!("NetworkActivity"));
        record.insert("requestParameters".into(), Value::Null);
        record.insert("responseElements".into(), Value::Null);
        record.insert("sharedEventID".into(), json!(self.uuid()));
        record.insert(
            "vpcEndpointId".into(),
            json!(format!("vpce-{:017x}", self.rng.u64(..))),
        );
        record.insert("vpcEndpointAccountId".into(), json!(self.account));
        if self.rng.u8(..3) == 0 {
            record.insert("errorCode".into(), json!("VpceAccessDenied"));
            record.insert(
                "errorMessage".into(),
                json!("The request was denied due to a VPC endpoint policy"),
            );
        }
        Value::Object(record)
    }

    /// An Insights Start and End record sharing one id, as AWS delivers them.
    pub fn insight_pair(&mut self, hour: DateTime<Utc>) -> Vec<Value> {
        let shared = self.uuid();
        let arn = format!(
            "arn:aws:sts::{}:assumed-role/ci-deployer/build-42",
            self.account
        );
        let insight = |state: &str,
                       average: f64,
                       duration: u32,
                       event_id: String,
                       time: DateTime<Utc>,
                       account: &str,
                       region: &str| {
            json!({
                "eventVersion": "1.07",
                "eventTime": time_text(time),
                "awsRegion": region,
                "eventID": event_id,
                "eventType": "AwsCloudTrailInsight",
                "recipientAccountId": account,
                "sharedEventID": shared,
                "insightDetails": {
                    "state": state,
                    "eventSource": "iam.amazonaws.com",
                    "eventName": "CreateAccessKey",
                    "insightType": "ApiCallRateInsight",
                    "insightContext": {
                        "statistics": {
                            "baseline": {"average": 0.0000992063},
                            "insight": {"average": average},
                            "insightDuration": duration,
                            "baselineDuration": 10080
                        },
                        "attributions": [
                            {"attribute": "userIdentityArn",
                             "insight": [{"value": arn, "average": average}],
                             "baseline": [{"value": arn, "average": 0.0000992063}]},
                            {"attribute": "errorCode",
                             "insight": [{"value": "null", "average": average}],
                             "baseline": [{"value": "null", "average": 0.0000992063}]}
                        ]
                    }
                },
                "eventCategory": "Insight"
            })
        };
        let start = hour + Duration::minutes(9);
        let start_id = self.uuid();
        let end_id = self.uuid();
        vec![
            insight("Start", 9.0, 1, start_id, start, self.account, self.region),
            insight(
                "End",
                3.5,
                12,
                end_id,
                start + Duration::minutes(12),
                self.account,
                self.region,
            ),
        ]
    }
}

/// Who is behind a call, which decides its source address and user agent.
enum Caller {
    Person,
    Console,
    Machine,
    Service(&'static str),
}
