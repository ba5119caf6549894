-- title: Failed console sign-ins by source IP
-- purpose: Password guessing: failed console sign-ins grouped by source address, with the user
--   names tried (failures carry errorMessage "Failed authentication" and no errorCode).
-- params: since (time, default 30d), until (time, default now)
-- columns: sourceipaddress, failures, users, first_seen, last_seen
SELECT sourceipaddress, count(*) AS failures,
       array_to_string(array_sort(array_agg(DISTINCT coalesce(useridentity.username, useridentity.arn, '?'))), ', ') AS users,
       min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM events
WHERE eventname = 'ConsoleLogin'
  AND (errormessage = 'Failed authentication' OR json_get_str(responseelements, 'ConsoleLogin') = 'Failure')
  AND eventtime >= $since AND eventtime < $until
GROUP BY sourceipaddress
ORDER BY failures DESC, sourceipaddress
