"""Timestamp layouts logrca can recognise in a log sample: a regex to find each, the format to parse it.

The catalogue is data: each :class:`TimestampLayout` has a regular expression (valid for Python's
``re`` and polars' engine) that finds the timestamp text in a line, the ``timestamp_format`` a
source gives for it (a chrono/strftime format, or one of ``epoch_s``/``epoch_ms``/``epoch_us``/
``epoch_ns``), and an example. Order matters: when several layouts match the same share of lines,
the earlier (more specific) one wins; bare epoch numbers come last.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "TimestampLayout"]


@dataclass(frozen=True)
class TimestampLayout:
    """One way of writing a time. ``year`` is False when the text has none (syslog supplies it)."""

    name: str
    pattern: str
    timestamp_format: str
    example: str
    year: bool = True


_FRACTION = r"(?:[.,]\d{1,9})?"
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})?"

CATALOGUE: tuple[TimestampLayout, ...] = (
    TimestampLayout(
        "ISO 8601 / RFC 3339",
        rf"\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}}{_FRACTION}{_OFFSET}",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "2026-03-10T01:00:00.123Z",
    ),
    TimestampLayout(
        "yyyy-MM-dd HH:mm:ss,SSS (log4j, logback, Python logging, Windows CBS)",
        rf"\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}{_FRACTION}",
        "%Y-%m-%d %H:%M:%S%.f",
        "2015-10-18 18:01:47,978",
    ),
    TimestampLayout(
        "yyyy-MM-dd-HH.mm.ss.SSSSSS (IBM, BGL)",
        r"\d{4}-\d{2}-\d{2}-\d{2}\.\d{2}\.\d{2}(?:\.\d{1,9})?",
        "%Y-%m-%d-%H.%M.%S%.f",
        "2005-06-03-15.42.50.675872",
    ),
    TimestampLayout(
        "yyyy/MM/dd HH:mm:ss (Go log, nginx error log)",
        rf"\d{{4}}/\d{{2}}/\d{{2}} \d{{2}}:\d{{2}}:\d{{2}}{_FRACTION}",
        "%Y/%m/%d %H:%M:%S%.f",
        "2009/11/10 23:00:00",
    ),
    TimestampLayout(
        "dd/MMM/yyyy:HH:mm:ss Z (Apache/nginx access log)",
        r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
        "%d/%b/%Y:%H:%M:%S %z",
        "10/Oct/2000:13:55:36 -0700",
    ),
    TimestampLayout(
        "EEE MMM dd HH:mm:ss yyyy (ctime, Apache error log)",
        r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d{1,9})? \d{4}",
        "%a %b %d %H:%M:%S%.f %Y",
        "Sun Dec 04 04:47:44 2005",
    ),
    TimestampLayout(
        "yyyyMMdd-HH:mm:ss:SSS (HealthApp)",
        r"\d{8}-\d{2}:\d{2}:\d{2}:\d{3}",
        "%Y%m%d-%H:%M:%S:%3f",
        "20171223-22:15:29:606",
    ),
    TimestampLayout(
        "yyyyMMdd HH:mm:ss.SSS",
        rf"\d{{8}} \d{{2}}:\d{{2}}:\d{{2}}{_FRACTION}",
        "%Y%m%d %H:%M:%S%.f",
        "20260310 01:00:00.123",
    ),
    TimestampLayout(
        "yy/MM/dd HH:mm:ss (Spark)",
        r"\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}",
        "%y/%m/%d %H:%M:%S",
        "17/06/09 20:10:40",
    ),
    TimestampLayout("yyMMdd HHmmss (HDFS)", r"\d{6} \d{6}", "%y%m%d %H%M%S", "081109 203615"),
    TimestampLayout(
        "MMM dd HH:mm:ss (BSD syslog, RFC 3164; no year)",
        r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}",
        "%b %d %H:%M:%S",
        "Jun 14 15:16:01",
        year=False,
    ),
    TimestampLayout(
        "MM-dd HH:mm:ss.SSS (Android logcat; no year)",
        r"\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}",
        "%m-%d %H:%M:%S%.f",
        "03-17 16:13:38.811",
        year=False,
    ),
    TimestampLayout("epoch nanoseconds", r"1\d{18}", "epoch_ns", "1773104400000000000"),
    TimestampLayout("epoch microseconds", r"1\d{15}", "epoch_us", "1773104400000000"),
    TimestampLayout("epoch milliseconds", r"1\d{12}", "epoch_ms", "1773104400000"),
    TimestampLayout("epoch seconds", r"1\d{9}(?:\.\d{1,9})?", "epoch_s", "1773104400"),
)
