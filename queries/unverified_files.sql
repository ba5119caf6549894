-- title: Log files that do not verify
-- purpose: Every log file whose check against CloudTrail's signed digests did not pass (missing,
--   altered, injected, unlisted, under an invalid digest, or pending a digest), with how many of
--   its events the lake holds: an altered file is ingested like any other, so its events can be
--   shown or excluded by sourcefile. From the logfiles table (trailq verify, and after ingest).
-- params: since (time, default 30d), until (time, default now)
-- columns: hour, status, trail, awsaccountid, region, file, events, detail
WITH suspect AS (
  SELECT * FROM logfiles
  WHERE status <> 'verified' AND hour >= $since AND hour < $until
),
counts AS (
  SELECT sourcefile, count(*) AS events FROM events
  WHERE sourcefile IN (SELECT sourcefile FROM suspect)
  GROUP BY sourcefile
)
SELECT s.hour, s.status, s.trail, s.awsaccountid, s.region,
       coalesce(s.sourcefile, s.s3key) AS file, coalesce(c.events, 0) AS events, s.detail
FROM suspect s LEFT JOIN counts c ON c.sourcefile = s.sourcefile
ORDER BY s.hour, file
