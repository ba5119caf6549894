-- title: Activity in regions an account never used before
-- purpose: Calls in a region where the account had no activity between `baseline_since` and
--   `since`: crypto-mining and hiding in unused regions.
-- params: since (time, default 1d), until (time, default now), baseline_since (time, default 31d)
-- columns: account, awsregion, principal, calls, first_seen
-- detection: medium
WITH recent AS (
    SELECT recipientaccountid AS account, awsregion, principal, eventtime
    FROM events
    WHERE eventtime >= $since AND eventtime < $until AND eventtype <> 'AwsServiceEvent'
), known AS (
    SELECT DISTINCT recipientaccountid AS account, awsregion
    FROM events
    WHERE eventtime >= $baseline_since AND eventtime < $since
)
SELECT r.account, r.awsregion, r.principal, count(*) AS calls, min(r.eventtime) AS first_seen
FROM recent r LEFT JOIN known k ON r.account = k.account AND r.awsregion = k.awsregion
WHERE k.account IS NULL
GROUP BY 1, 2, 3
ORDER BY first_seen
