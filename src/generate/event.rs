//! One generated CloudTrail record at a time, of every kind the product must handle.

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
        let draw = self.rng.u64(..).to_string();
        let id = pooled(self.account, role, &draw, FLEET_SIZE);
        format!("i-{:017x}", id >> 60)
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

    fn role_issuer(&mut self, role: &str) -> Value {
        json!({
            "type": "Role",
            "principalId": format!("AROA{}", self.key_id("")),
            "arn": self.arn(&format!("role/{role}")),
            "accountId": self.account,
            "userName": role,
        })
    }

    fn iam_user(&mut self, name: &str) -> Value {
        json!({
            "type": "IAMUser",
            "principalId": self.key_id("AIDA"),
            "arn": self.arn(&format!("user/{name}")),
            "accountId": self.account,
            "accessKeyId": self.key_id("AKIA"),
            "userName": name,
        })
    }

    fn assumed_role(&mut self, role: &str, session: &str, time: DateTime<Utc>, mfa: bool) -> Value {
        let issuer = self.role_issuer(role);
        let mut context = self.session_context(issuer, time, mfa);
        if role == "app-role" {
            context["ec2RoleDelivery"] = json!("2.0");
        }
        let mut identity = json!({
            "type": "AssumedRole",
            "principalId": format!("AROA{}:{session}", self.key_id("")),
            "arn": format!("arn:aws:sts::{}:assumed-role/{role}/{session}", self.account),
            "accountId": self.account,
            "accessKeyId": self.key_id("ASIA"),
            "sessionContext": context,
        });
        if role == "lambda-exec" {
            identity["inScopeOf"] = json!({
                "sourceArn": format!("arn:aws:lambda:{}:{}:function:ingest", self.region, self.account),
                "sourceAccount": self.account,
                "issuerType": "AWS::Lambda::Function",
                "credentialsIssuedTo": format!("arn:aws:sts::{}:assumed-role/{role}/{session}", self.account),
            });
        }
        identity
    }

    /// A caller for an ordinary API call, and whether a person is behind it.
    fn caller(&mut self, api: &Api, time: DateTime<Utc>) -> (Value, Caller) {
        match api.name {
            "AssumeRoleWithSAML" => {
                let user = format!("{}@corp.example", ["ana", "li", "sam"][self.rng.usize(..3)]);
                let identity = json!({"type": "SAMLUser", "principalId": format!("QvXf:{user}"),
                    "userName": user, "identityProvider": "QvXfExampleIdP"});
                return (identity, Caller::Person);
            }
            "AssumeRoleWithWebIdentity" => {
                let identity = json!({"type": "WebIdentityUser",
                    "principalId": "token.actions.githubusercontent.com:sts.amazonaws.com:repo:corp/app:ref:refs/heads/main",
                    "userName": "repo:corp/app:ref:refs/heads/main",
                    "identityProvider": "token.actions.githubusercontent.com"});
                return (identity, Caller::Machine);
            }
            _ => {}
        }
        let roll = self.rng.u16(..1000);
        match roll {
            0..=549 => {
                let (role, who) = match self.rng.u8(..5) {
                    0 => ("ci-deployer", Caller::Machine),
                    1 => ("lambda-exec", Caller::Machine),
                    2 => ("app-old", Caller::Machine),
                    _ => ("app-role", Caller::Machine),
                };
                let session = self.instance_session(role);
                (self.assumed_role(role, &session, time, false), who)
            }
            550..=649 => {
                let person = NON_ASCII[self.rng.usize(..NON_ASCII.len())];
                let session = format!("{person}@corp.example");
                let role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
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
                let issuer = json!({"type": "IAMUser", "principalId": self.key_id("AIDA"),
                    "arn": self.arn("user/bob"), "accountId": self.account, "userName": "bob"});
                let context = self.session_context(issuer, time, false);
                let identity = json!({"type": "FederatedUser",
                    "principalId": format!("{}:bob", self.account),
                    "arn": format!("arn:aws:sts::{}:federated-user/bob", self.account),
                    "accountId": self.account, "accessKeyId": self.key_id("ASIA"),
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
        let (identity, caller) = self.caller(api, time);
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
    /// stolen access key of `svc-backup` used from one address to probe its permissions, blind
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
            let mut record = factory.base(time, &api, intruder.clone(), &Caller::Person);
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
