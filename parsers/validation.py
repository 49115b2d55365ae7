"""Validation shared by every config section: readable pydantic errors and regular expressions that compile."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ValidationError

__all__ = ["Regex", "check_regex", "format_validation_errors"]


def format_validation_errors(error: ValidationError) -> str:
    """``  sources.1.format: Input should be ...`` for each error, indented, one per line."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def check_regex(value: str) -> str:
    """``value`` itself when it compiles as a Python regular expression.

    Raises
    ------
    ValueError
        ``'ord-(' is not a valid regular expression: missing ), unterminated subpattern at position 4``;
        pydantic prefixes it with the field's path.
    """
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"{value!r} is not a valid regular expression: {error}") from error
    return value


#: A config field holding a regular expression, checked when the config is loaded.
Regex = Annotated[str, AfterValidator(check_regex)]
