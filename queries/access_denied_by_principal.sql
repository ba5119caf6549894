-- title: Access denied by principal
-- purpose: Who is being refused, and for what: unauthorized and access-denied errors grouped by
--   principal and API (CIS CloudWatch.2). A burst for one principal is a stolen credential
--   probing its permissions, or a broken deployment.
-- params: since (time, default 30d), until (time, default now)
-- columns: principal, eventsource, eventname, errorcode, denied, first_seen, last_seen
SELECT principal, eventsource, eventname, errorcode, count(*) AS denied,
       min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM events
WHERE (errorcode LIKE '%UnauthorizedOperation' OR errorcode LIKE 'AccessDenied%')
  AND eventtime >= $since AND eventtime < $until
GROUP BY 1, 2, 3, 4
ORDER BY denied DESC, principal, eventname
