"""Small Markdown helpers for reports and Dagster metadata."""

from __future__ import annotations

import polars as pl

from logrca.parsers.wording import counted  # noqa: F401 - the reports and CLI take it from here


def cell(value, limit: int = 160) -> str:
    """One table cell: no pipes or newlines, cut to ``limit`` characters, em dash for null."""
    if value is None:
        return "—"
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def words_within(text: str, limit: int) -> str:
    """``text``, or its words that fit ``limit`` characters followed by "…" (never a word cut in two)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:(") + "…"


def frame_table(frame: pl.DataFrame, *, limit: int = 20) -> str:
    """A Markdown table of the first ``limit`` rows of ``frame``."""
    if frame.is_empty():
        return "(no rows)"
    head = frame.head(limit)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > limit:
        lines.append(f"\n… {frame.height - limit} more rows")
    return "\n".join(lines)
