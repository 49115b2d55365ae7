"""Lines of a file that lie in no partition at all: before the first partition or after the last.

A partition's run reads every file that may hold its lines and counts the file's other lines as
"in other partitions"; those before the configured start or after the configured end are in none,
so they are counted apart and named (they are read but stored nowhere).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from logrca.parsers.ingest.schema import as_utc
from logrca.parsers.wording import counted

#: Lines outside every partition (a part of ``lines_outside_window``): before the first, after the last.
NO_PARTITION = ("lines_before_start", "lines_after_end")


def no_partition(
    outside_events: pl.DataFrame, outside_rows: pl.DataFrame, span: tuple[datetime, datetime | None] | None
) -> tuple[dict[str, int], list[str]]:
    """Lines of a file outside its window that lie in no partition at all: counts and notes.

    ``span`` is the start of the first partition and the end of the last (None: partitions go on).
    Events count by their time, quarantined rows by their place in the file (as the window's cut
    places them).
    """
    counts, notes = dict.fromkeys(NO_PARTITION, 0), []
    if span is None:
        return counts, notes
    bounds = (("lines_before_start", as_utc(span[0])), ("lines_after_end", span[1] and as_utc(span[1])))
    for key, bound in bounds:
        if bound is None:
            continue
        before = key == "lines_before_start"
        times = (pl.col("timestamp") < bound) if before else (pl.col("timestamp") >= bound)
        places = (pl.col("placed_at") < bound) if before else (pl.col("placed_at") >= bound)
        counts[key] = int(outside_events.filter(times)["line_count"].sum()) + int(
            outside_rows.filter(places)["line_count"].sum()
        )
        if counts[key]:
            where = "before the configured start" if before else "after the configured end"
            notes.append(
                f"{counted(counts[key], 'line')} {where} {bound:%Y-%m-%d %H:%M} UTC: in no partition"
            )
    return counts, notes
