"""Syslog lines (RFC 5424, and RFC 3164 whose times have no year) as events."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from logrca.parsers.ingest.line_formats import _join_rest, extract_trace_id, parse_timestamps
from logrca.parsers.ingest.sources import SourceConfig

# RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG ; RFC 3164: <PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG
SYSLOG_5424 = r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|(?:\[[^\]]*\])+) ?(?P<msg>.*)$"
SYSLOG_3164 = r"^(?:<(?P<pri>\d{1,3})>)?(?P<ts>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (?P<host>\S+) (?P<app>[^:\[\s]+)(?:\[(?P<procid>\d+)\])?: ?(?P<msg>.*)$"
_SEVERITY = ["FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG"]

#: How far after its file's last change a line without a year may seem to be written (clocks differ)
#: before it is taken to be from the year before.
SYSLOG_YEAR_SLACK = timedelta(days=1)


def parse_syslog(records: pl.DataFrame, source: SourceConfig, *, written: datetime) -> pl.DataFrame:
    """Parse RFC 5424 or RFC 3164 syslog lines; the level comes from the PRI severity.

    RFC 3164 times have no year: it is the year of ``written`` (the file's last change, UTC), or the
    year before for a time that would be more than :data:`SYSLOG_YEAR_SLACK` after it (a file
    written across New Year: ``Dec 31 23:50`` in a file last changed on 1 January).
    """
    head = records.select(pl.col("head"), pl.col("rest"))
    new = head["head"].str.extract_groups(SYSLOG_5424)
    old = head["head"].str.extract_groups(SYSLOG_3164)
    is_new = new.struct.field("ts").is_not_null()
    ts_new = parse_timestamps(new.struct.field("ts"), timestamp_format=None, timezone=source.timezone)
    stamps = old.struct.field("ts").str.replace_all(r"\s+", " ")

    def in_year(year: int, stamps: pl.Series) -> pl.Series:
        return parse_timestamps(
            pl.select(pl.lit(f"{year} ") + stamps).to_series(),
            timestamp_format=source.timestamp_format or "%Y %b %d %H:%M:%S",
            timezone=source.timezone,
        )

    ts_old = in_year(written.year, stamps)
    too_late = (ts_old > written + SYSLOG_YEAR_SLACK).fill_null(False)
    if too_late.any():  # parsed again in the year before: only those lines (most files have none)
        late = too_late.arg_true()
        ts_old = ts_old.scatter(late, in_year(written.year - 1, stamps.gather(late)))
    frame = pl.DataFrame(
        {
            "timestamp": pl.select(pl.when(is_new).then(ts_new).otherwise(ts_old)).to_series(),
            "pri": pl.select(
                pl.when(is_new).then(new.struct.field("pri")).otherwise(old.struct.field("pri"))
            ).to_series(),
            "host": pl.select(
                pl.when(is_new).then(new.struct.field("host")).otherwise(old.struct.field("host"))
            ).to_series(),
            "msg": pl.select(
                pl.when(is_new).then(new.struct.field("msg")).otherwise(old.struct.field("msg"))
            ).to_series(),
            "matched": pl.select(is_new | old.struct.field("ts").is_not_null()).to_series(),
            "rest": head["rest"],
        }
    )
    severity = pl.col("pri").cast(pl.Int64, strict=False) % 8
    return frame.select(
        "timestamp",
        pl.when(pl.col("pri").is_null())
        .then(None)
        .otherwise(severity.replace_strict(list(range(8)), _SEVERITY, default=None))
        .alias("level"),
        "host",
        _join_rest(pl.col("msg"), head["rest"]).alias("message"),
        extract_trace_id(pl.col("msg")).alias("trace_id"),
        pl.when(~pl.col("matched"))
        .then(pl.lit("not a syslog line (RFC 5424 or RFC 3164)"))
        .when(pl.col("timestamp").is_null())
        .then(pl.lit("unparseable syslog timestamp"))
        .otherwise(None)
        .alias("problem"),
    )
