-- title: Top talkers
-- purpose: The 20 principals making the most calls, with their error share and distinct APIs: the
--   first look at an unfamiliar account, and where noise comes from.
-- params: since (time, default 1d), until (time, default now)
-- columns: principal, calls, errors, apis, regions, accounts
WITH grouped AS (
    -- Counting per principal and API first keeps the distinct counts below small.
    SELECT principal, eventsource, eventname, awsregion, recipientaccountid,
           count(*) AS calls, count(errorcode) AS errors
    FROM events
    WHERE eventtime >= $since AND eventtime < $until
    GROUP BY 1, 2, 3, 4, 5
)
SELECT principal, sum(calls) AS calls, sum(errors) AS errors,
       count(DISTINCT eventsource || ':' || eventname) AS apis, count(DISTINCT awsregion) AS regions,
       count(DISTINCT recipientaccountid) AS accounts
FROM grouped
GROUP BY principal
ORDER BY calls DESC, principal
LIMIT 20
