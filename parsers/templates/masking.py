"""Masking rules (regex -> mask token) loaded from YAML or config, applied vectorized to a polars Series."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from logrca.parsers.validation import check_regex, error_text

__all__ = [
    "MaskingRule",
    "Masker",
    "load_masking_file",
    "parse_masking_rules",
    "mask_series",
    "DEFAULT_MASKING_RULES",
    "IDENTIFIER_RULES",
    "TIME_RULES",
    "NUMBER_RULES",
    "UNIT_RULES",
    "WEB_RULES",
]


class MaskingRule(BaseModel):
    """One masking rule: every match of ``pattern`` becomes ``<mask_with>`` (``<*>`` by default).

    The token is built as drain3's ``MaskingInstruction`` builds it (prefix ``<``, suffix ``>``), so
    ``mask_with: "*"`` gives the benchmark's ``<*>`` and ``mask_with: IP`` gives ``<IP>``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(description="regular expression (Python `re` syntax)")
    mask_with: str = Field(default="*", description="mask name; the token written is <mask_with>")

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, pattern: str) -> str:
        if pattern == "":
            raise ValueError("pattern is empty")
        if re.compile(check_regex(pattern)).match(""):
            raise ValueError(
                f"pattern {pattern!r} matches the empty string; it would insert masks everywhere"
            )
        return pattern

    @field_validator("mask_with")
    @classmethod
    def _one_token(cls, name: str) -> str:
        # the mask must stay one token: Drain keeps a cluster's token count, and parameters line
        # messages up with their template on it (logrca.parsers.templates.parameters)
        if name == "" or any(c.isspace() or c in "<>" for c in name):
            raise ValueError(f"mask_with {name!r} must be a non-empty name without spaces, '<' or '>'")
        return name

    @property
    def token(self) -> str:
        """The text written in place of a match, e.g. ``<*>``."""
        return f"<{self.mask_with}>"

    @cached_property
    def rust_compatible(self) -> bool:
        """True when polars' Rust regex engine accepts the pattern (no look-around, no back-references)."""
        try:
            pl.Series([""], dtype=pl.Utf8).str.contains(self.pattern)
        except pl.exceptions.PolarsError:
            return False
        return True


# Generic masks for operational logs, written for the Rust regex engine (no look-around), in
# groups applied in this order (identifiers, times and values with units before the numbers inside them).
#: UUIDs, IPv4 addresses (with their port), ``0x`` hex numbers, numbered host names (a dotted name
#: whose first label holds a digit: ``node-41.corp.example.com``) and tokens holding an id joined by
#: ``_`` (``blk_-42``, ``attempt_1445_0020_m_000000_0``, a path through ``_task_2008_0001``). Each
#: is masked whole: the number rule would cut it into pieces without digits, which Drain routes
#: down its tree as words (a token with a digit goes down the ``<*>`` branch), splitting one event.
IDENTIFIER_RULES: tuple[MaskingRule, ...] = (
    MaskingRule(
        pattern=r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
        mask_with="*",
    ),
    MaskingRule(pattern=r"(\d+\.){3}\d+(:\d+)?", mask_with="*"),
    MaskingRule(pattern=r"\b0[xX][0-9a-fA-F]+\b", mask_with="*"),
    MaskingRule(pattern=r"\b[\w-]*\d[\w-]*(\.[\w-]+){2,}\b", mask_with="*"),
    MaskingRule(pattern=r"\S*_-?\d\S*", mask_with="*"),
)
#: Dates and times written inside a message: C's ``asctime`` (``Sun Jul 17 23:21:54 2005``), ISO
#: 8601 dates with an optional time, and clock times (``06:06:20``, ``17:41:44,747``).
TIME_RULES: tuple[MaskingRule, ...] = (
    MaskingRule(
        pattern=r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +"
        r"\d{1,2} \d{2}:\d{2}:\d{2}( \d{4})?\b",
        mask_with="*",
    ),
    MaskingRule(
        pattern=r"\b\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}:\d{2}([.,]\d+)?(Z|[+-]\d{2}:?\d{2})?)?\b", mask_with="*"
    ),
    MaskingRule(pattern=r"\b\d{1,2}:\d{2}:\d{2}([.,]\d+)?\b", mask_with="*"),
)
#: Sizes and durations written with their unit (``93.0 B``, ``5.2 KB``, ``1.5GiB``, ``250 ms``,
#: ``3s``): masked whole, so one event does not split by the unit its value happened to need.
UNIT_RULES: tuple[MaskingRule, ...] = (
    MaskingRule(
        pattern=r"\b\d+(\.\d+)? ?([KMGTP]i?B|B|bytes?|[mun]s|µs|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?)\b",
        mask_with="*",
    ),
)
#: URLs (any ``scheme://``), e-mail addresses and MAC addresses, each masked whole.
WEB_RULES: tuple[MaskingRule, ...] = (
    MaskingRule(pattern=r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+", mask_with="*"),
    MaskingRule(pattern=r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b", mask_with="*"),
    MaskingRule(pattern=r"\b[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}\b", mask_with="*"),
)
#: Numbers standing alone as a word, with an optional decimal part (``42``, ``port:50010``,
#: ``0.25``), never digits inside a word (``ipv4``, ``sda1`` stay).
NUMBER_RULES: tuple[MaskingRule, ...] = (MaskingRule(pattern=r"\b\d+(\.\d+)?\b", mask_with="*"),)
#: logrca's default masks, chosen with the other template defaults by leave-one-dataset-out over
#: the ten Loghub samples (``bench/loghub_loo.py``, docs/parsing.md).
DEFAULT_MASKING_RULES: tuple[MaskingRule, ...] = (*IDENTIFIER_RULES, *TIME_RULES, *UNIT_RULES, *NUMBER_RULES)


def parse_masking_rules(raw: Any, *, source: str = "masking rules") -> list[MaskingRule]:
    """Validate masking rules given as a list of ``{pattern, mask_with}`` mappings (or bare pattern strings).

    Raises
    ------
    ValueError
        Naming ``source`` and the index of the bad rule.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(
            f"{source}: expected a list of rules like '- {{pattern: ..., mask_with: ...}}', got {type(raw).__name__}"
        )
    rules: list[MaskingRule] = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            item = {"pattern": item}
        if isinstance(item, dict) and "regex_pattern" in item:  # drain3's ini/JSON spelling
            item = {
                "pattern": item["regex_pattern"],
                **{k: v for k, v in item.items() if k != "regex_pattern"},
            }
        try:
            rules.append(MaskingRule.model_validate(item))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'rule'}: {error_text(e)}" for e in error.errors()
            )
            raise ValueError(f"{source}: rule {index}: {problems}") from error
    return rules


def load_masking_file(path: str | Path) -> dict[str, Any]:
    """Read a masking/settings YAML file.

    The file is either a list of rules, or a mapping with ``masking`` (list of rules) and optional
    settings (``sim_th``, ``depth``, ``format``, ...), returned as they are with ``masking`` parsed
    into :class:`MaskingRule` objects.

    Raises
    ------
    ValueError
        When the file is missing, not YAML, or a rule is bad; the message names the file.
    """
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ValueError(f"{path}: masking file not found") from error
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    if loaded is None:
        loaded = {}
    if isinstance(loaded, list):
        loaded = {"masking": loaded}
    if not isinstance(loaded, dict):
        raise ValueError(
            f"{path}: expected a mapping with 'masking:' or a list of rules, got {type(loaded).__name__}"
        )
    settings = dict(loaded)
    settings["masking"] = parse_masking_rules(loaded.get("masking"), source=str(path))
    return settings


class Masker:
    """Apply masking rules in order, on one string or vectorized on a polars Series.

    Rules the Rust regex engine accepts run as polars ``str.replace_all`` (vectorized); a rule
    it rejects (look-around, back-references) falls back to Python ``re`` on the distinct values
    only. :attr:`python_fallback_rules` lists those, so callers can report it.
    """

    def __init__(self, rules: Iterable[MaskingRule]):
        self.rules: tuple[MaskingRule, ...] = tuple(rules)
        self._compiled = [re.compile(rule.pattern) for rule in self.rules]

    @property
    def python_fallback_rules(self) -> list[MaskingRule]:
        """Rules that run through Python ``re`` because polars' Rust engine cannot compile them."""
        return [rule for rule in self.rules if not rule.rust_compatible]

    def mask(self, text: str) -> str:
        """Mask one string with Python ``re`` (same result as drain3's ``LogMasker.mask``)."""
        for rule, compiled in zip(self.rules, self._compiled):
            text = compiled.sub(rule.token, text)
        return text

    def mask_series(self, messages: pl.Series) -> pl.Series:
        """Mask every value of a Utf8 Series; nulls stay null, order and length are kept."""
        return mask_series(messages, self.rules, compiled=self._compiled)


def mask_series(
    messages: pl.Series, rules: Sequence[MaskingRule], *, compiled: Sequence[re.Pattern] | None = None
) -> pl.Series:
    """Apply ``rules`` in order to a Utf8 Series, vectorized where polars can.

    Parameters
    ----------
    messages : pl.Series
        Utf8 values to mask.
    rules : sequence of MaskingRule
        Applied in order, each to the output of the previous one (as drain3 does).

    Returns
    -------
    pl.Series
        Same length and name; each match replaced by the rule's token.

    Notes
    -----
    polars uses the Rust ``regex`` crate: same leftmost-first semantics as Python ``re`` for
    patterns without look-around or back-references. Other patterns run through Python ``re``
    on the distinct values of the Series (then joined back), which keeps them exact and is
    cheap when messages repeat.
    """
    if messages.dtype != pl.Utf8:
        raise TypeError(f"mask_series: `messages` must be a Utf8 Series, got {messages.dtype}")
    compiled = compiled or [re.compile(rule.pattern) for rule in rules]
    result = messages
    chain: pl.Expr | None = None  # consecutive Rust rules run as one expression, on all cores
    for rule, pattern in zip(rules, compiled):
        if rule.rust_compatible:
            chain = (pl.col("m") if chain is None else chain).str.replace_all(
                rule.pattern, rule.token.replace("$", "$$")
            )
            continue
        if chain is not None:
            result, chain = select_in_parts(result, chain), None
        distinct = result.drop_nulls().unique()
        masked = pl.Series(
            [pattern.sub(lambda _m, t=rule.token: t, value) for value in distinct.to_list()], dtype=pl.Utf8
        )
        result = result.replace_strict(distinct, masked, default=None, return_dtype=pl.Utf8)
    if chain is not None:
        result = select_in_parts(result, chain)
    return result.alias(messages.name)


def select_in_parts(values: pl.Series, expr: pl.Expr, *, min_part: int = 2048) -> pl.Series:
    """``expr`` (written on ``pl.col("m")``, row-wise) applied to ``values``, on all of polars' threads.

    An eager string operation on one Series runs on one thread; on a frame whose column is split
    into chunks, polars evaluates the chunks in parallel. Row order and length are kept; the result
    stays in chunks (polars operations accept that).
    """
    parts = min(pl.thread_pool_size(), values.len() // min_part)
    if parts < 2:
        return values.to_frame("m").select(expr).to_series()
    step = -(-values.len() // parts)
    chunked = pl.concat([values.slice(start, step) for start in range(0, values.len(), step)], rechunk=False)
    return chunked.to_frame("m").select(expr).to_series()
