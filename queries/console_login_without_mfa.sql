-- title: Console sign-ins without MFA
-- purpose: Successful console sign-ins where the user did not use MFA (CIS CloudWatch.3).
--   Federated and SSO sign-ins report no MFAUsed and are not listed.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, user, sourceipaddress, useragent
SELECT eventtime, recipientaccountid AS account, principal AS user,
       sourceipaddress, useragent
FROM events
WHERE eventname = 'ConsoleLogin'
  AND json_get_str(responseelements, 'ConsoleLogin') = 'Success'
  AND json_get_str(additionaleventdata, 'MFAUsed') <> 'Yes'
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
