-- title: New access keys
-- purpose: Long-lived access keys created, and for whom: a common persistence step after a
--   console or role compromise.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, principal, user, access_key, errorcode
SELECT eventtime, recipientaccountid AS account, principal,
       coalesce(json_get_str(requestparameters, 'userName'), useridentity.username) AS user,
       json_get_str(responseelements, 'accessKey', 'accessKeyId') AS access_key, errorcode
FROM events
WHERE eventsource = 'iam.amazonaws.com' AND eventname = 'CreateAccessKey'
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
