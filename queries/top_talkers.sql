-- title: Top talkers
-- purpose: The 20 principals making the most calls, with their error share and distinct APIs: the
--   first look at an unfamiliar account, and where noise comes from.
-- params: since (time, default 1d), until (time, default now)
-- columns: principal, calls, errors, apis, regions, accounts
SELECT principal, count(*) AS calls, count(errorcode) AS errors,
       count(DISTINCT eventsource || ':' || eventname) AS apis, count(DISTINCT awsregion) AS regions,
       count(DISTINCT recipientaccountid) AS accounts
FROM events
WHERE eventtime >= $since AND eventtime < $until
GROUP BY 1
ORDER BY calls DESC, principal
LIMIT 20
