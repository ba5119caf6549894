-- title: Activity in regions an account never used before
-- purpose: Calls in a region where the account had no activity between `baseline_since` and
--   `since`: crypto-mining and hiding in unused regions.
-- params: since (time, default 1d), until (time, default now), baseline_since (time, default since-30d)
-- columns: account, awsregion, principal, calls, first_seen
-- detection: medium
WITH recent AS (
    -- Grouped before the join: the join then matches a few thousand groups, not every event.
    SELECT recipientaccountid AS account, awsregion, principal, count(*) AS calls,
           min(eventtime) AS first_seen
    FROM events
    WHERE eventtime >= $since AND eventtime < $until AND eventtype <> 'AwsServiceEvent'
    GROUP BY 1, 2, 3
), known AS (
    SELECT DISTINCT recipientaccountid AS account, awsregion
    FROM events
    WHERE eventtime >= $baseline_since AND eventtime < $since
)
SELECT r.account, r.awsregion, r.principal, r.calls, r.first_seen
FROM recent r LEFT JOIN known k ON r.account = k.account AND r.awsregion = k.awsregion
WHERE k.account IS NULL
ORDER BY first_seen
