-- title: Cross-account access
-- purpose: Calls whose caller belongs to another account than the one recording them: trusted
--   partners, and roles an attacker set up to come back in.
-- params: since (time, default 30d), until (time, default now)
-- columns: account, caller_account, principal, eventsource, eventname, calls, first_seen
SELECT recipientaccountid AS account, useridentity.accountid AS caller_account,
       principal, eventsource, eventname, count(*) AS calls,
       min(eventtime) AS first_seen
FROM events
WHERE useridentity.accountid IS NOT NULL
  AND useridentity.accountid <> recipientaccountid
  AND useridentity.accountid <> 'anonymous'
  AND eventtime >= $since AND eventtime < $until
GROUP BY 1, 2, 3, 4, 5
ORDER BY calls DESC
