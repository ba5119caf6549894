-- title: Activity from an address or network
-- purpose: Everything done from one IP address or CIDR block, by principal and API.
-- params: cidr (text: an address or CIDR such as 203.0.113.0/24), since (time, default 30d), until (time, default now)
-- columns: principal, eventsource, eventname, calls, errors, first_seen, last_seen
SELECT principal, eventsource, eventname, count(*) AS calls,
       count(errorcode) AS errors, min(eventtime) AS first_seen, max(eventtime) AS last_seen
FROM events
WHERE ip_in_cidr(sourceipaddress, $cidr)
  AND eventtime >= $since AND eventtime < $until
GROUP BY 1, 2, 3
ORDER BY calls DESC, principal, eventname
