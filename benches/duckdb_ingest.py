"""DuckDB converting the same gzipped CloudTrail files to zstd Parquet, for benches/ingest.rs.

DuckDB's schema inference (read_json_auto) refuses real CloudTrail payloads, whose keys can differ
only by case ("Duplicate name Key in struct"), so it gets an explicit schema equal in spirit to
trailq's: typed top-level fields, payloads and nested objects as JSON. Prints the median seconds.
Usage: duckdb_ingest.py TRAIL THREADS RUNS OUT.parquet
"""
import sys
import time

import duckdb

trail, threads, runs, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
columns = {
    "eventVersion": "VARCHAR", "userIdentity": "JSON", "eventTime": "TIMESTAMPTZ", "eventSource": "VARCHAR",
    "eventName": "VARCHAR", "awsRegion": "VARCHAR", "sourceIPAddress": "VARCHAR", "userAgent": "VARCHAR",
    "errorCode": "VARCHAR", "errorMessage": "VARCHAR", "requestParameters": "JSON", "responseElements": "JSON",
    "additionalEventData": "JSON", "requestID": "VARCHAR", "eventID": "VARCHAR", "eventType": "VARCHAR",
    "apiVersion": "VARCHAR", "managementEvent": "BOOLEAN", "readOnly": "BOOLEAN", "resources": "JSON",
    "recipientAccountId": "VARCHAR", "serviceEventDetails": "JSON", "sharedEventID": "VARCHAR",
    "vpcEndpointId": "VARCHAR", "vpcEndpointAccountId": "VARCHAR", "eventCategory": "VARCHAR",
    "addendum": "JSON", "sessionCredentialFromConsole": "VARCHAR", "edgeDeviceDetails": "JSON",
    "tlsDetails": "JSON", "insightDetails": "JSON", "annotation": "VARCHAR",
}
record = "STRUCT(" + ", ".join(f'"{name}" {kind}' for name, kind in columns.items()) + ")[]"
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET preserve_insertion_order = false")
sql = (
    f"COPY (SELECT unnest(Records, recursive := true) FROM read_json('{trail}/**/*.json.gz', "
    f"columns = {{'Records': '{record}'}}, maximum_object_size = 268435456)) "
    f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
)
times = []
for _ in range(runs):
    start = time.perf_counter()
    con.execute(sql)
    times.append(time.perf_counter() - start)
times.sort()
print(times[len(times) // 2])
