"""Readable pydantic validation errors: one line per bad field, named by its dotted path."""

from __future__ import annotations

from pydantic import ValidationError


def format_validation_errors(error: ValidationError) -> str:
    """``  sources.1.format: Input should be ...`` for each error, indented, one per line."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)
