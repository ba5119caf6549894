//! The ten common security queries of the CloudTrail reference, written as a user writes them
//! for Athena's CloudTrail table, run with only the table name changed (`cloudtrail_logs` to
//! `events`). Column names, `json_extract_scalar` / `json_extract` JSONPaths, string times and
//! `readonly = 'false'` all work as in Athena.

use serde_json::Value;

use crate::canned::build_lake;
use crate::util::*;

/// The query (as written for Athena) and the rows it must return on the scenario lake.
const QUERIES: &[(&str, &str, usize)] = &[
    ("root usage", "SELECT eventtime, useridentity.arn, eventname FROM cloudtrail_logs
        WHERE useridentity.type = 'Root' AND useridentity.invokedby IS NULL AND eventtype <> 'AwsServiceEvent'
        AND eventtime >= '2024-03-05T00:00:00Z'", 1),
    ("console sign-in without MFA", "SELECT useridentity.arn, sourceipaddress FROM cloudtrail_logs
        WHERE eventname = 'ConsoleLogin' AND json_extract_scalar(additionaleventdata, '$.MFAUsed') <> 'Yes'
        AND json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success'", 1),
    ("console sign-in failures", "SELECT sourceipaddress, count(*) AS failures FROM cloudtrail_logs
        WHERE eventname = 'ConsoleLogin' AND errormessage = 'Failed authentication'
        GROUP BY sourceipaddress ORDER BY failures DESC", 2),
    ("unauthorized calls by principal", "SELECT useridentity.arn, eventsource, eventname, count(*) AS total
        FROM cloudtrail_logs WHERE errorcode LIKE '%UnauthorizedOperation' OR errorcode LIKE 'AccessDenied%'
        GROUP BY useridentity.arn, eventsource, eventname ORDER BY count(*) DESC", 2),
    ("IAM policy changes", "SELECT eventtime, eventname, useridentity.arn FROM cloudtrail_logs
        WHERE eventname IN ('DeleteGroupPolicy', 'DeleteRolePolicy', 'DeleteUserPolicy',
        'PutGroupPolicy', 'PutRolePolicy', 'PutUserPolicy', 'CreatePolicy', 'DeletePolicy', 'CreatePolicyVersion',
        'DeletePolicyVersion', 'AttachRolePolicy', 'DetachRolePolicy', 'AttachUserPolicy', 'DetachUserPolicy',
        'AttachGroupPolicy', 'DetachGroupPolicy')", 1),
    ("CloudTrail tampering", "SELECT eventtime, eventname, json_extract_scalar(requestparameters, '$.name') AS trail
        FROM cloudtrail_logs WHERE eventname IN ('CreateTrail', 'UpdateTrail', 'DeleteTrail', 'StartLogging', 'StopLogging')", 1),
    ("KMS key disable or deletion", "SELECT eventtime, eventname, json_extract_scalar(requestparameters, '$.keyId')
        FROM cloudtrail_logs WHERE eventsource = 'kms.amazonaws.com' AND eventname IN ('DisableKey', 'ScheduleKeyDeletion')", 2),
    ("S3 bucket policy changes", "SELECT eventtime, eventname, json_extract_scalar(requestparameters, '$.bucketName') AS bucket
        FROM cloudtrail_logs WHERE eventsource = 's3.amazonaws.com' AND eventname IN ('PutBucketAcl', 'PutBucketPolicy',
        'PutBucketCors', 'PutBucketLifecycle', 'PutBucketReplication', 'DeleteBucketPolicy', 'DeleteBucketCors',
        'DeleteBucketLifecycle', 'DeleteBucketReplication')", 1),
    ("security groups opened to the world", "SELECT eventtime, eventname, json_extract_scalar(requestparameters, '$.groupId')
        FROM cloudtrail_logs WHERE eventname IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress',
        'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress', 'CreateSecurityGroup', 'DeleteSecurityGroup')
        AND CAST(json_extract(requestparameters, '$.ipPermissions') AS varchar) LIKE '%0.0.0.0/0%'", 1),
    ("AWS Config changes", "SELECT eventtime, eventname FROM cloudtrail_logs
        WHERE eventsource = 'config.amazonaws.com' AND eventname IN ('StopConfigurationRecorder',
        'DeleteDeliveryChannel', 'PutDeliveryChannel', 'PutConfigurationRecorder')
        AND from_iso8601_timestamp('2024-03-05T00:00:00Z') <= eventtime", 1),
];

#[test]
fn athena_queries_run_with_only_the_table_renamed() {
    let (_dir, root) = temp_dir();
    let lake = build_lake(&root);
    for (name, athena, rows) in QUERIES {
        let sql = athena.replace("cloudtrail_logs", "events");
        let output = trailq(&[
            "query",
            "--lake",
            lake.to_str().unwrap(),
            &sql,
            "--format",
            "json",
        ]);
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(result.as_array().unwrap().len(), *rows, "{name}: {result}");
    }
}
