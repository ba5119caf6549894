//! What generated events look like: the APIs called, who calls them, and how they fail.

use serde_json::{Value, json};

/// One API of the catalogue.
pub struct Api {
    /// `eventSource`.
    pub source: &'static str,
    /// `eventName`.
    pub name: &'static str,
    /// `readOnly`.
    pub read_only: bool,
    /// Relative frequency.
    pub weight: u32,
}

const fn api(source: &'static str, name: &'static str, read_only: bool, weight: u32) -> Api {
    Api {
        source,
        name,
        read_only,
        weight,
    }
}

/// Management APIs, weighted roughly as a busy account calls them day to day. Changes that
/// security rules watch (trails stopped, policies attached, keys created, ports opened) are not
/// among them: in a healthy account they are rare, and the generator makes them only in its
/// injected attack (`EventFactory::attack`).
pub const MANAGEMENT: &[Api] = &[
    api("ec2.amazonaws.com", "DescribeInstances", true, 120),
    api("ec2.amazonaws.com", "DescribeSecurityGroups", true, 40),
    api("ec2.amazonaws.com", "RunInstances", false, 6),
    api("ec2.amazonaws.com", "TerminateInstances", false, 4),
    api("ec2.amazonaws.com", "CreateTags", false, 10),
    api("sts.amazonaws.com", "GetCallerIdentity", true, 30),
    api("iam.amazonaws.com", "GetRole", true, 25),
    api("iam.amazonaws.com", "ListRoles", true, 10),
    api("kms.amazonaws.com", "Decrypt", true, 80),
    api("kms.amazonaws.com", "GenerateDataKey", true, 40),
    api("s3.amazonaws.com", "ListBuckets", true, 15),
    api("s3.amazonaws.com", "GetBucketPolicy", true, 10),
    api("s3.amazonaws.com", "CreateBucket", false, 1),
    api("lambda.amazonaws.com", "Invoke", false, 5),
    api("lambda.amazonaws.com", "ListFunctions20150331", true, 10),
    api("ecs.amazonaws.com", "RunTask", false, 4),
    api("ecs.amazonaws.com", "DescribeTasks", true, 20),
    api("ssm.amazonaws.com", "GetParameter", true, 40),
    api("logs.amazonaws.com", "CreateLogStream", false, 15),
    api("monitoring.amazonaws.com", "PutMetricData", false, 20),
    api("cloudtrail.amazonaws.com", "LookupEvents", true, 3),
    api("guardduty.amazonaws.com", "ListDetectors", true, 3),
    api("glue.amazonaws.com", "CreateTable", false, 2),
    api("secretsmanager.amazonaws.com", "GetSecretValue", true, 15),
    api("dynamodb.amazonaws.com", "DescribeTable", true, 15),
];

/// S3 data-event APIs.
pub const DATA: &[Api] = &[
    api("s3.amazonaws.com", "GetObject", true, 60),
    api("s3.amazonaws.com", "PutObject", false, 20),
    api("s3.amazonaws.com", "HeadObject", true, 20),
    api("s3.amazonaws.com", "ListObjects", true, 10),
    api("s3.amazonaws.com", "DeleteObject", false, 3),
];

/// Errors and how often an API call fails with each.
pub const ERRORS: &[(&str, &str)] = &[
    (
        "AccessDenied",
        "User is not authorized to perform this operation",
    ),
    (
        "Client.UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    ),
    (
        "AccessDeniedException",
        "User is not authorized to perform: kms:Decrypt",
    ),
    (
        "NoSuchEntityException",
        "The role with name app-old cannot be found.",
    ),
    ("ThrottlingException", "Rate exceeded"),
    ("ParameterNotFound", ""),
];

/// The errors of the old application, which calls a role that was deleted and is throttled
/// for retrying: never a permission error (`ERRORS[STALE_APP_ERRORS]`).
pub const STALE_APP_ERRORS: std::ops::Range<usize> = 3..5;

/// User agents of people and tools.
pub const USER_AGENTS: &[&str] = &[
    "aws-cli/2.18.5 md/awscrt#0.22.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.12.6",
    "Boto3/1.35.10 md/Botocore#1.35.10 ua/2.0 os/linux#5.10 lang/python#3.11.9",
    "aws-sdk-go-v2/1.30.4 os/linux lang/go#1.22.5 md/GOOS#linux api/ec2#1.177.0",
    "Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.64.0",
    "console.amazonaws.com",
    "AWS Internal",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15",
];

/// Non-ASCII names and values that must survive the round trip.
pub const NON_ASCII: &[&str] = &["josé", "Zoë-Ünal", "日本語チーム", "équipe ✓", "data 🚀"];

/// Request parameters of one call; some APIs have payloads whose types drift between calls.
pub fn request_parameters(api: &Api, pick: &mut fastrand::Rng, region: &str) -> Value {
    match api.name {
        "RunInstances" => json!({
            "instanceType": (["t3.micro", "m5.large", "c6i.xlarge"][pick.usize(..3)]),
            "minCount": 1, "maxCount": pick.u32(1..4),
            "instancesSet": {"items": [{"imageId": format!("ami-{:017x}", pick.u64(..))}]},
        }),
        "CreateTags" => {
            let mut tags = vec![json!({"key": "env", "value": "prod"})];
            if pick.u8(..4) == 0 {
                // Keys that differ only by case: legal JSON, fatal for case-insensitive readers.
                tags = vec![
                    json!({"Key": "Owner", "key": "owner", "value": NON_ASCII[pick.usize(..NON_ASCII.len())]}),
                ];
            }
            json!({"resourcesSet": {"items": [{"resourceId": format!("i-{:017x}", pick.u64(..))}]},
                   "tagSet": {"items": tags}})
        }
        "RunTask" => {
            // The same key path is an array in one event and a string in the next.
            let environment = if pick.bool() {
                json!([{"name": "STAGE", "value": "prod"}])
            } else {
                json!("HIDDEN_DUE_TO_SECURITY_REASONS")
            };
            json!({"cluster": "default", "taskDefinition": "web:42",
                   "overrides": {"containerOverrides": [{"name": "web", "environment": environment}]}})
        }
        "CreateTable" => {
            let parameters = if pick.bool() {
                json!({"classification": "parquet"})
            } else {
                json!("classification=parquet")
            };
            json!({"databaseName": "logs", "tableInput": {"name": "t", "parameters": parameters}})
        }
        "GetParameter" | "GetSecretValue" => {
            json!({"name": format!("/app/{}/db-password", region), "withDecryption": true})
        }
        "Decrypt" | "GenerateDataKey" => {
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": format!("arn:aws:kms:{region}:111122223333:key/{:08x}", pick.u32(..))})
        }
        "GetBucketPolicy" | "CreateBucket" => {
            json!({"bucketName": format!("corp-data-{}", pick.u32(..20)), "Host": "s3.amazonaws.com"})
        }
        "DescribeInstances" => {
            if pick.bool() {
                json!({"instancesSet": {}, "filterSet": {}})
            } else {
                json!({"maxResults": 1000, "instancesSet": {"items": [{"instanceId": format!("i-{:017x}", pick.u64(..))}]}})
            }
        }
        "GetCallerIdentity" | "ListBuckets" | "ListRoles" | "ListDetectors" => Value::Null,
        _ => json!({"region": region, "requestId": pick.u32(..)}),
    }
}

/// Response elements of a successful call (`null` for most reads, as in CloudTrail).
pub fn response_elements(api: &Api, pick: &mut fastrand::Rng) -> Value {
    match api.name {
        "RunInstances" => {
            json!({"requestId": format!("{:08x}", pick.u32(..)), "reservationId": format!("r-{:017x}", pick.u64(..)),
                                 "instancesSet": {"items": [{"instanceId": format!("i-{:017x}", pick.u64(..)), "currentState": {"code": 0, "name": "pending"}}]}})
        }
        "CreateTags" => {
            json!({"requestId": format!("{:08x}", pick.u32(..)), "_return": true})
        }
        _ if api.read_only => Value::Null,
        _ => json!({"status": "ok"}),
    }
}
