-- title: Security groups opened to the internet
-- purpose: Ingress rules allowing 0.0.0.0/0 or ::/0 (CIS CloudWatch.10, the "public" variant):
--   an exposed SSH or database port.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, awsregion, principal, eventname, group_id, errorcode
SELECT eventtime, recipientaccountid AS account, awsregion, principal,
       eventname, coalesce(json_get_str(requestparameters, 'groupId'),
                           json_get_str(requestparameters, 'ModifySecurityGroupRulesRequest', 'GroupId')) AS group_id,
       errorcode
FROM events
WHERE eventsource = 'ec2.amazonaws.com'
  AND eventname IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
  AND (requestparameters LIKE '%"0.0.0.0/0"%' OR requestparameters LIKE '%"::/0"%')
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
