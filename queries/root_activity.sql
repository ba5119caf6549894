-- title: Root user activity
-- purpose: Every call made with the root user's own credentials. AWS services acting for root
--   (invokedby set) and service events are excluded, as in the CIS CloudWatch.1 metric filter.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, awsregion, eventsource, eventname, sourceipaddress, useragent, errorcode
SELECT eventtime, recipientaccountid AS account, awsregion, eventsource, eventname,
       sourceipaddress, useragent, errorcode
FROM events
WHERE useridentity.type = 'Root'
  AND useridentity.invokedby IS NULL
  AND eventtype <> 'AwsServiceEvent'
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
