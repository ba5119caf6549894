-- title: S3 bucket policy, ACL and public-access changes
-- purpose: Changes that can expose a bucket (CIS CloudWatch.8), including the public access
--   block being removed.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, principal, eventname, bucket, errorcode
SELECT eventtime, recipientaccountid AS account, principal, eventname,
       json_get_str(requestparameters, 'bucketName') AS bucket, errorcode
FROM events
WHERE eventsource = 's3.amazonaws.com'
  AND eventname IN ('PutBucketAcl', 'PutBucketPolicy', 'PutBucketCors', 'PutBucketLifecycle',
                    'PutBucketReplication', 'DeleteBucketPolicy', 'DeleteBucketCors',
                    'DeleteBucketLifecycle', 'DeleteBucketReplication',
                    'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock',
                    'PutAccountPublicAccessBlock', 'DeleteAccountPublicAccessBlock')
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
