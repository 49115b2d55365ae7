"""Rich tables for the CLI: a header on every table, columns that wrap to the terminal unless ``--wide``."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.markdown import Markdown, TableElement
from rich.table import Table

__all__ = ["console", "markdown", "table"]


def console(*, wide: bool = False) -> Console:
    """The terminal (its own width, 80 when unknown); ``wide`` lets tables run past it instead of wrapping."""
    return Console(width=1000 if wide else None)


def table(
    title: str,
    columns: list[str],
    *,
    wide: bool = False,
    fixed: tuple[str, ...] = (),
    last_min: int = 10,
    widest: dict[str, int] | None = None,
) -> Table:
    """A table titled ``title`` with a header row. Unless ``wide``, the last column takes the spare width
    (at least ``last_min``) and the others wrap at 13 characters (``widest``: another width for a
    column, e.g. one that holds a time); ``fixed`` columns never wrap."""
    made = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)  # no side rules: more room for text
    for name in columns:
        if wide or name in fixed:
            made.add_column(name, no_wrap=True)
        elif name == columns[-1]:
            made.add_column(name, overflow="fold", ratio=1, min_width=max(len(name), last_min))
        else:
            wraps_at = (widest or {}).get(name, 13)
            made.add_column(name, overflow="fold", min_width=len(name), max_width=max(len(name), wraps_at))
    return made


class _FoldingTable(TableElement):
    """A Markdown table whose cells fold a word too long for its column instead of ending it in '…'."""

    def __rich_console__(self, console, options):
        for part in super().__rich_console__(console, options):
            if isinstance(part, Table):
                for column in part.columns:
                    column.overflow = "fold"
            yield part


class _FoldingMarkdown(Markdown):
    elements = {**Markdown.elements, "table_open": _FoldingTable}


def markdown(text: str) -> Markdown:
    """``text`` (a report) for the terminal: rich's Markdown, but a table cell never cuts a word.

    A service name like ``ts-order-other-service`` is one word: rich ended it in '…' in a narrow
    ranking column, which left two services looking alike; folded, the whole name shows.
    """
    return _FoldingMarkdown(text)
