-- title: Who was behind a session
-- purpose: The chain behind an access key, a role session name or one event, hop by hop: each
--   session, the call that issued it and who made that call, down to the person or workload
--   (the last row, issuedby `origin`), or to where the chain leaves the lake and why.
-- params: access_key (text: an access key id, default -), session (text: a role session name, default -), event_id (text: an eventID, default -), since (time, default 90d), until (time, default now)
-- columns: target, hop, accesskeyid, session, issuedby, issuedat, expiresat, caller, callertype, sourceipaddress, eventid, note
WITH targets AS (
  SELECT $access_key AS target, origin_of($access_key) AS o FROM (VALUES (1)) AS one(x)
  WHERE $access_key <> '-'
  UNION ALL
  SELECT accesskeyid, origin_of(accesskeyid) FROM (
    SELECT DISTINCT accesskeyid FROM sessions
    WHERE $session <> '-' AND rolesessionname = $session
      AND event_date >= CAST($since AS DATE) AND event_date <= CAST($until AS DATE)
      AND issuedat >= $since AND issuedat < $until)
  UNION ALL
  SELECT eventid, origin_of(useridentity.accesskeyid, useridentity, eventtime) FROM events
  WHERE $event_id <> '-' AND eventid = $event_id AND eventtime >= $since AND eventtime < $until
),
hops AS (SELECT target, unnest(o.chain) AS h FROM targets)
SELECT target, CAST(row_number() OVER (PARTITION BY target ORDER BY h.issuedat DESC) AS BIGINT) AS hop,
       h.accesskeyid AS accesskeyid, h.sessionarn AS session, h.eventname AS issuedby,
       h.issuedat AS issuedat, h.expiresat AS expiresat, h.issuerarn AS caller,
       h.issuertype AS callertype, h.sourceipaddress AS sourceipaddress, h.eventid AS eventid,
       CAST(NULL AS VARCHAR) AS note
FROM hops
UNION ALL
SELECT target, CAST(o.hops + 1 AS BIGINT), CAST(NULL AS VARCHAR), o.arn, 'origin',
       CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP), o.summary, o.type, CAST(NULL AS VARCHAR),
       CAST(NULL AS VARCHAR),
       concat(o.ends, CASE WHEN o.sourceidentity IS NOT NULL THEN concat('; source identity ', o.sourceidentity) ELSE '' END,
              CASE WHEN o.expired THEN '; used after its credentials expired' ELSE '' END)
FROM targets
ORDER BY target, hop
