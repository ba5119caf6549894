-- title: Roles assumed by a principal
-- purpose: Follow a principal through AssumeRole calls: which roles it took, from where, and the
--   session names it used; run again with a role found here to follow the chain.
-- params: principal (text: an ARN, or part of one), since (time, default 30d), until (time, default now)
-- columns: eventtime, account, caller, role, session, sourceipaddress, errorcode
SELECT eventtime, recipientaccountid AS account, principal AS caller,
       json_get_str(requestparameters, 'roleArn') AS role,
       json_get_str(requestparameters, 'roleSessionName') AS session, sourceipaddress, errorcode
FROM events
WHERE eventsource = 'sts.amazonaws.com'
  AND eventname IN ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity')
  AND (strpos(principal, $principal) > 0 OR strpos(coalesce(useridentity.arn, ''), $principal) > 0)
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
