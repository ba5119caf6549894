-- title: CloudTrail tampering
-- purpose: Trails stopped, deleted or narrowed (CIS CloudWatch.5): the first thing an intruder
--   does to stop being recorded.
-- params: since (time, default 30d), until (time, default now)
-- columns: eventtime, account, awsregion, principal, eventname, trail, errorcode
SELECT eventtime, recipientaccountid AS account, awsregion, principal,
       eventname, coalesce(json_get_str(requestparameters, 'name'), json_get_str(requestparameters, 'trailName')) AS trail,
       errorcode
FROM events
WHERE eventsource = 'cloudtrail.amazonaws.com'
  AND eventname IN ('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors',
                    'PutInsightSelectors', 'DeleteEventDataStore')
  AND eventtime >= $since AND eventtime < $until
ORDER BY eventtime
