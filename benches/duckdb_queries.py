"""DuckDB running trailq's canned queries on the same Parquet files, for benches/queries.rs.

trailq's SQL functions are defined as DuckDB macros with the same meaning (ip_in_cidr for IPv4
only, which is what the benchmark's parameters use). Prints [[name, median_ms, rows], ...] as
JSON.
Usage: duckdb_queries.py LAKE RUNS QUERIES_JSON PARAMS_JSON FILES_JSON
(FILES_JSON: the events files of the lake's Delta snapshot, lake-relative: files a compaction
replaced stay on disk until `trailq vacuum`, so a glob would read events twice.)
"""
import json
import re
import sys
import time

import duckdb

lake, runs, queries, params = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), dict(json.loads(sys.argv[4]))
files = [f"{lake}/{path}" for path in json.load(open(sys.argv[5]))]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
for macro in [
    """CREATE MACRO json_get_str(j, k) AS json_extract_string(j, '$."' || k || '"'),
                    (j, k1, k2) AS json_extract_string(j, '$."' || k1 || '"."' || k2 || '"')""",
    """CREATE MACRO json_get_int(j, k) AS TRY_CAST(json_extract(j, '$."' || k || '"') AS BIGINT)""",
    """CREATE MACRO principal(ui) AS CASE WHEN ui IS NULL THEN NULL ELSE coalesce(
        CASE ui.type WHEN 'AssumedRole' THEN coalesce(ui.sessioncontext.sessionissuer.arn, ui.arn)
                     WHEN 'AWSService' THEN ui.invokedby
                     WHEN 'IdentityCenterUser' THEN 'identitycenter:' || ui.onbehalfof.userid
                     WHEN 'SAMLUser' THEN ui.username
                     WHEN 'WebIdentityUser' THEN ui.username END,
        ui.arn, ui.invokedby, nullif(ui.principalid, ''), ui.username, 'account:' || ui.accountid) END""",
    r"""CREATE MACRO ip4(ip) AS CASE WHEN regexp_full_match(ip, '\d+\.\d+\.\d+\.\d+') THEN
        (CAST(split_part(ip, '.', 1) AS UBIGINT) << 24) + (CAST(split_part(ip, '.', 2) AS UBIGINT) << 16)
        + (CAST(split_part(ip, '.', 3) AS UBIGINT) << 8) + CAST(split_part(ip, '.', 4) AS UBIGINT) END""",
    """CREATE MACRO ip_in_cidr(ip, cidr) AS
        (ip4(ip) >> (32 - CAST(split_part(cidr, '/', 2) AS INTEGER)))
        = (ip4(split_part(cidr, '/', 1)) >> (32 - CAST(split_part(cidr, '/', 2) AS INTEGER)))""",
]:
    con.execute(macro)

results = []
for name, sql in queries:
    used = {p: v for p, v in params.items() if re.search(r"\$" + p + r"\b", sql)}
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        rows = len(con.execute(sql, used).fetchall())
        if run > 0:
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    results.append([name, times[len(times) // 2], rows])
print(json.dumps(results))
