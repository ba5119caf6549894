"""Reads every table of a trailq lake with two Delta readers that share no code with trailq:
delta-rs's Python package and polars. Prints, per table, each reader's sorted row keys and
the table's version as JSON, for tests/integration/delta.rs to compare with `trailq query`.

Usage: delta_reader.py LAKE_URL   (S3 settings come from AWS_* environment variables)
"""

import json
import os
import sys

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

TABLES = ["events", "insights", "findings", "rejects"]


def key(table):
    """The expression that names a row of `table` (as the Rust test's SQL does)."""
    if table == "findings":
        return pl.col("eventid")
    if table == "rejects":
        return pl.concat_str(
            [
                pl.col("sourcefile"),
                pl.col("sourceindex").fill_null(-1).cast(pl.Utf8),
                pl.col("reason"),
            ],
            separator="#",
        )
    return pl.coalesce(
        pl.col("eventid"),
        pl.concat_str([pl.col("sourcefile"), pl.col("sourceindex").cast(pl.Utf8)], separator="#"),
    )


def storage_options():
    names = ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]
    options = {name: os.environ[name] for name in names if name in os.environ}
    if options.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        options["AWS_ALLOW_HTTP"] = "true"
    return options


def main():
    lake = sys.argv[1].rstrip("/")
    options = storage_options()
    out = {}
    for table in TABLES:
        uri = f"{lake}/{table}"
        try:
            delta = DeltaTable(uri, storage_options=options or None)
        except TableNotFoundError:
            out[table] = None
            continue
        by_deltalake = pl.from_arrow(delta.to_pyarrow_table())
        by_polars = pl.read_delta(uri, storage_options=options or None)
        out[table] = {
            "version": delta.version(),
            "deltalake": sorted(by_deltalake.select(key(table)).to_series().to_list()),
            "polars": sorted(by_polars.select(key(table)).to_series().to_list()),
            "partitions": delta.metadata().partition_columns,
        }
    json.dump(out, sys.stdout)


main()
