"""W5 peers: the CIR spec (dag-specs/video/connection_induced_rebuffering.yaml, output
`cir_per_session`) written in DuckDB SQL and in Polars, for the benchmark report.

    python cir_peer.py convert HEARTBEATS.avro EVENTS.parquet   # once, outside the timing
    python cir_peer.py duckdb EVENTS.parquet OUT.jsonl
    python cir_peer.py polars EVENTS.parquet OUT.jsonl
    python cir_peer.py startup duckdb|polars                    # start and import only

`convert` reads the Avro object container file that `spanflow generate` wrote (fastavro) and
writes the six fields the query reads to Parquet (pyarrow, one row group per 1 M rows, Snappy):
`sessionId` (string), `timestamp` (int64, the Avro timestamp-millis value: epoch ms), `seq`
(int64), `playerState`, `cdn`, `userAction` (strings, null when absent). DuckDB cannot read
Avro here (its avro extension is downloaded at first use) and Polars' Avro reader rejects the
file, so both peers read that Parquet file.

The query, per session (events ordered by timestamp, then seq), exactly as the spec defines it:

- player_state = latest non-null playerState, cdn = latest non-null cdn (undefined before the
  first: every comparison with it is false); at an instant with several events the last wins;
- has_started_playing = a playerState == 'play' event at or before t;
- seeked_recently = a userAction == 'seek' event at s with s <= t < s + 5000 ms;
- connection_induced_buffering = player_state == 'buffer' AND has_started_playing AND NOT
  seeked_recently;
- cir_secs_all_cdns = seconds of connection_induced_buffering over [first event, last event];
  cir_secs_cdn1 = the same AND cdn == 'CDN1'; both rounded to 1e-6; the row's time is the last
  event's.

States only change at events, so each interval [t_i, t_i+1) between consecutive events of a
session has one value of player_state, cdn and has_started_playing (those after event i, which
include every earlier event of the same instant). Only seeked_recently can change inside it: the
latest seek at or before t_i, s, covers [t_i, min(s + 5000, t_i+1)) of it (a later seek is an
event, so it starts the next interval). So the interval contributes
(t_i+1 - t_i) - max(0, min(s + 5000, t_i+1) - t_i) ms when buffering after a start.

Rows are written as JSON lines, like spanflow's: {"output", "session", "time", "cir_secs_cdn1",
"cir_secs_all_cdns"}.
"""

import sys

SEEK_WINDOW_MS = 5000
COLUMNS = ["sessionId", "timestamp", "seq", "playerState", "cdn", "userAction"]


def convert(avro_path, parquet_path):
    import fastavro
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A reader schema of the six fields: fastavro skips the others. It still turns the
    # timestamp-millis `timestamp` into a datetime (the writer's logical type); pyarrow turns
    # those back into epoch ms exactly (datetimes hold microseconds).
    reader_schema = {
        "type": "record",
        "name": "io.spanflow.video.Heartbeat",
        "fields": [
            {"name": "sessionId", "type": "string"},
            {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "seq", "type": "long"},
            {"name": "playerState", "type": ["null", "string"], "default": None},
            {"name": "cdn", "type": ["null", "string"], "default": None},
            {
                "name": "userAction",
                "type": [
                    "null",
                    {
                        "type": "enum",
                        "name": "io.spanflow.video.UserAction",
                        "symbols": ["seek", "click", "skip"],
                    },
                ],
                "default": None,
            },
        ],
    }
    schema = pa.schema(
        [
            ("sessionId", pa.string()),
            ("timestamp", pa.int64()),
            ("seq", pa.int64()),
            ("playerState", pa.string()),
            ("cdn", pa.string()),
            ("userAction", pa.string()),
        ]
    )
    millis = pa.timestamp("ms", tz="UTC")
    rows_per_group = 1 << 20
    n = 0
    with open(avro_path, "rb") as f, pq.ParquetWriter(parquet_path, schema) as writer:
        cols = {c: [] for c in COLUMNS}

        def flush():
            arrays = {
                c: pa.array(cols[c], type=millis).cast(pa.int64())
                if c == "timestamp"
                else pa.array(cols[c], type=schema.field(c).type)
                for c in COLUMNS
            }
            writer.write_table(pa.table(arrays, schema=schema))
            for c in COLUMNS:
                cols[c].clear()

        for rec in fastavro.reader(f, reader_schema=reader_schema):
            for c in COLUMNS:
                cols[c].append(rec[c])
            n += 1
            if n % rows_per_group == 0:
                flush()
        if cols["sessionId"]:
            flush()
    print(n)


DUCKDB_SQL = f"""
COPY (
  WITH ev AS (
    SELECT sessionId AS session, "timestamp" AS t, seq, playerState AS ps, cdn,
           userAction = 'seek' AS is_seek
    FROM read_parquet(?)
  ),
  steps AS (
    SELECT session, t,
      last_value(ps IGNORE NULLS) OVER w AS player_state,
      last_value(cdn IGNORE NULLS) OVER w AS cdn_state,
      bool_or(ps = 'play') OVER w AS started,
      max(CASE WHEN is_seek THEN t END) OVER w AS last_seek,
      lead(t) OVER (PARTITION BY session ORDER BY t, seq) AS t_next
    FROM ev
    WINDOW w AS (PARTITION BY session ORDER BY t, seq
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
  ),
  intervals AS (
    SELECT session, t, cdn_state,
      CASE WHEN t_next IS NOT NULL AND player_state = 'buffer' AND started
           THEN (t_next - t)
                - greatest(0, least(coalesce(last_seek + {SEEK_WINDOW_MS}, t), t_next) - t)
           ELSE 0 END AS cir_ms
    FROM steps
  )
  SELECT 'cir_per_session' AS output, session, max(t) AS "time",
    round(sum(CASE WHEN cdn_state = 'CDN1' THEN cir_ms ELSE 0 END) / 1000.0, 6) AS cir_secs_cdn1,
    round(sum(cir_ms) / 1000.0, 6) AS cir_secs_all_cdns
  FROM intervals
  GROUP BY session
  ORDER BY session
) TO '{{out}}' (FORMAT JSON)
"""


def run_duckdb(parquet_path, out_path):
    import duckdb

    con = duckdb.connect()
    con.execute(DUCKDB_SQL.replace("{out}", out_path.replace("'", "''")), [parquet_path])


def run_polars(parquet_path, out_path):
    import polars as pl

    t, t_next = pl.col("t"), pl.col("t_next")
    seek_end = pl.col("last_seek") + SEEK_WINDOW_MS
    covered = (
        pl.min_horizontal(pl.coalesce(seek_end, t), t_next) - t
    ).clip(lower_bound=0)
    cir_ms = (
        pl.when(
            t_next.is_not_null()
            & (pl.col("player_state") == "buffer")
            & pl.col("started")
        )
        .then(t_next - t - covered)
        .otherwise(0)
    )
    rows = (
        pl.scan_parquet(parquet_path)
        .select(
            pl.col("sessionId").alias("session"),
            pl.col("timestamp").alias("t"),
            "seq",
            pl.col("playerState").alias("ps"),
            "cdn",
            (pl.col("userAction") == "seek").alias("is_seek"),
        )
        .sort("session", "t", "seq")
        .with_columns(
            pl.col("ps").forward_fill().over("session").alias("player_state"),
            pl.col("cdn").forward_fill().over("session").alias("cdn_state"),
            (pl.col("ps") == "play")
            .fill_null(False)
            .cum_max()
            .over("session")
            .alias("started"),
            pl.when(pl.col("is_seek"))
            .then(t)
            .otherwise(None)
            .forward_fill()
            .over("session")
            .alias("last_seek"),
            t.shift(-1).over("session").alias("t_next"),
        )
        .with_columns(cir_ms.alias("cir_ms"))
        .group_by("session")
        .agg(
            t.max().alias("time"),
            pl.when(pl.col("cdn_state") == "CDN1")
            .then(pl.col("cir_ms"))
            .otherwise(0)
            .sum()
            .alias("cdn1_ms"),
            pl.col("cir_ms").sum().alias("all_ms"),
        )
        .sort("session")
        .select(
            pl.lit("cir_per_session").alias("output"),
            "session",
            "time",
            (pl.col("cdn1_ms") / 1000.0).round(6).alias("cir_secs_cdn1"),
            (pl.col("all_ms") / 1000.0).round(6).alias("cir_secs_all_cdns"),
        )
        .collect()
    )
    rows.write_ndjson(out_path)


def main(argv):
    if len(argv) == 3 and argv[1] == "startup" and argv[2] in ("duckdb", "polars"):
        __import__(argv[2])
        return
    if len(argv) != 4 or argv[1] not in ("convert", "duckdb", "polars"):
        sys.exit(__doc__)
    {"convert": convert, "duckdb": run_duckdb, "polars": run_polars}[argv[1]](argv[2], argv[3])


if __name__ == "__main__":
    main(sys.argv)
