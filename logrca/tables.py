"""Rich tables for the CLI: a header on every table, columns that wrap to the terminal unless ``--wide``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

__all__ = ["console", "table"]


def console(*, wide: bool = False) -> Console:
    """The terminal (its own width, 80 when unknown); ``wide`` lets tables run past it instead of wrapping."""
    return Console(width=250 if wide else None)


def table(title: str, columns: list[str], *, wide: bool = False, fixed: tuple[str, ...] = ()) -> Table:
    """A table titled ``title``; the last column takes the spare width, ``fixed`` ones never wrap."""
    made = Table(title=title, title_justify="left")
    overflow = "ellipsis" if wide else "fold"
    for name in columns:
        if name in fixed:
            made.add_column(name, no_wrap=True)
        elif name == columns[-1]:
            made.add_column(name, overflow=overflow, ratio=1, min_width=16)
        else:
            made.add_column(name, overflow=overflow)
    return made
