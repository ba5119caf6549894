-- title: KMS keys disabled or scheduled for deletion
-- purpose: Customer-managed keys disabled or scheduled for deletion (CIS CloudWatch.7): data
--   encrypted under them becomes unreadable, a ransomware move.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, awsregion, principal, eventname, key, pending_days, errorcode
SELECT eventtime, recipientaccountid AS account, awsregion, principal,
       eventname, json_get_str(requestparameters, 'keyId') AS key,
       json_get_int(requestparameters, 'pendingWindowInDays') AS pending_days, errorcode
FROM events
WHERE eventsource = 'kms.amazonaws.com'
  AND eventname IN ('DisableKey', 'ScheduleKeyDeletion')
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
