"""Words for counts in messages, shared by every stage (the lowest one holds it)."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, noun: str) -> str:
    """``1 line``, ``20 lines``: a count that reads as part of a sentence."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
