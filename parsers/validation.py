"""Validation shared by every config section: readable pydantic errors and regular expressions that compile."""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Union

from pydantic import AfterValidator, BaseModel, ValidationError
from typing_extensions import is_typeddict  # knows its own TypedDict too (pydantic requires it)

__all__ = [
    "error_text",
    "PolarsRegex",
    "Regex",
    "check_index_prefix",
    "check_polars_regex",
    "check_regex",
    "format_validation_errors",
]


def format_validation_errors(error: ValidationError, model: type | None = None) -> str:
    """``  sources.1.format: Input should be ...`` for each error, indented, one per line.

    With the validated ``model``, an unknown key also gets the closest known key and, when there are
    few, the known ones on a second line (``  sources.0.json_fields.timestmp: unknown key; did you mean
    'timestamp'?`` / ``    allowed: timestamp, level, ...``).
    """
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        known = _keys_at(model, item["loc"][:-1]) if item["type"] == "extra_forbidden" and model else None
        if not known:
            lines.append(f"  {where}: {error_text(item)}")
            continue
        import difflib

        close = difflib.get_close_matches(str(item["loc"][-1]), known, n=1)
        lines.append(f"  {where}: unknown key" + (f"; did you mean {close[0]!r}?" if close else ""))
        if len(known) <= 10:
            lines.append(f"    allowed: {', '.join(known)}")
    return "\n".join(lines)


def error_text(item: dict) -> str:
    """One pydantic error's words, without the "Value error, " it puts before a validator's own."""
    return item["msg"].removeprefix("Value error, ")


def _keys_at(kind, loc: tuple) -> list[str] | None:
    """The keys the model or TypedDict at ``loc`` (a path into ``kind``) takes; None when it is not one."""
    for part in (*loc, None):
        while typing.get_origin(kind) in (Annotated, Union, types.UnionType):  # X | None, Annotated[X, ...]
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            kind = args[0] if typing.get_origin(kind) is Annotated or len(args) == 1 else None
        if part is None:
            break
        if isinstance(part, int) and typing.get_origin(kind) is list:
            kind = typing.get_args(kind)[0]
        elif isinstance(kind, type) and issubclass(kind, BaseModel) and part in kind.model_fields:
            kind = kind.model_fields[part].annotation
        elif is_typeddict(kind) and part in kind.__annotations__:
            kind = typing.get_type_hints(kind)[part]
        else:
            return None
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [name for name, field in kind.model_fields.items() if not field.exclude]
    return list(kind.__annotations__) if is_typeddict(kind) else None


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


def check_polars_regex(value: str) -> str:
    """``value`` itself when polars' (Rust) regex engine compiles it: patterns run on whole columns.

    Python's ``re`` accepts look-arounds and back-references that polars rejects only when the
    column is scanned, mid-run; this checks when the config is loaded.
    """
    import polars as pl

    try:
        pl.select(pl.lit("").str.contains(value))
    except pl.exceptions.PolarsError as error:
        raise ValueError(
            f"{value!r} is not a valid regular expression for polars: {_reason(error)}"
        ) from error
    return value


def _reason(error: Exception) -> str:
    """The regex engine's own line (``error: look-around ... is not supported``), not the expression polars ran."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [line.removeprefix("error:").strip() for line in lines if line.startswith("error:")]
    return (said or lines or [type(error).__name__])[0]


#: A config field holding a regular expression that polars runs on columns, checked at load.
PolarsRegex = Annotated[str, AfterValidator(check_polars_regex)]


#: An index prefix Elasticsearch takes in every index name logrca makes (``<prefix>-findings`` ...):
#: lower case, no ``\\ / * ? " < > | , # :`` or space, not starting with ``-``, ``_`` or ``+``.
_INDEX_PREFIX = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def check_index_prefix(value: str) -> str:
    """``value`` itself when it can start Elasticsearch index names; checked before any request.

    Raises
    ------
    ValueError
        ``'Shop' is not a usable index prefix: ...``; callers prefix the variable or option.
    """
    if not _INDEX_PREFIX.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a usable index prefix: Elasticsearch index names take lower-case letters, "
            "digits, '.', '_' and '-', starting with a letter or digit (at most 100 here)"
        )
    return value
