"""Templates and parameters per line, computed once per distinct (raw message, cluster) pair."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from logrca.parsers.templates.dedup import dense_codes
from logrca.parsers.templates.drain_bulk import tokenize
from logrca.parsers.templates.drain_plan import single_spaced, split_single_spaced
from logrca.parsers.templates.masking import select_in_parts

__all__ = ["PARAMS_DTYPE", "line_parameters", "line_templates", "no_params", "parameters"]

#: The type of each line's ``params``: the values, as text, in the order they stand in the message.
PARAMS_DTYPE = pl.List(pl.Utf8)


def line_templates(
    ids: np.ndarray,
    raw: pl.Series,
    raw_codes: np.ndarray,
    raw_first: np.ndarray,
    *,
    template_of: Callable[[int], str | None],
    extra_delimiters: Sequence[str],
    with_params: bool = True,
) -> tuple[pl.DataFrame, Callable[[], pl.Series] | None]:
    """``template_id`` and ``template`` per line, and a job that returns ``params`` per line (in line order).

    ``ids`` is the cluster of every line, ``raw`` the distinct raw messages, ``raw_codes`` each
    line's raw message and ``raw_first`` each raw message's first line. No job (None) when
    ``with_params`` is False.

    The job reads only the values it was given (the templates are taken now), never the miner, so
    it can run on another thread while the miner goes on with the next batch.

    The work is done per distinct (raw message, cluster) pair: one pair per raw message (its first
    line's cluster) plus pairs for the lines whose cluster differs, then gathered per line.
    ``params``: see :func:`parameters`.
    """
    pair_ids, pair_raw, pair_of_line = ids[raw_first], np.arange(raw.len()), raw_codes
    other = np.flatnonzero(ids != pair_ids[raw_codes])
    if len(other):
        other_key = raw_codes[other] * (int(ids.max()) + 1) + ids[other]
        _, other_first, other_pair = np.unique(other_key, return_index=True, return_inverse=True)
        pair_of_line = pair_of_line.copy()
        pair_of_line[other] = raw.len() + other_pair
        pair_ids = np.concatenate([pair_ids, ids[other[other_first]]])
        pair_raw = np.concatenate([pair_raw, raw_codes[other[other_first]]])
    id_values, id_of_pair = np.unique(pair_ids, return_inverse=True)
    templates = pl.Series([template_of(i) for i in id_values.tolist()], dtype=pl.Utf8)
    per_line = pl.Series(pair_of_line)
    lines = pl.DataFrame(
        {"template_id": pl.Series(pair_ids, dtype=pl.Int64), "template": templates.gather(id_of_pair)}
    )[per_line]
    if not with_params:
        return lines, None
    pairs = (raw.gather(pair_raw), templates, id_of_pair, extra_delimiters)
    return lines, lambda: parameters(*pairs).gather(per_line).alias("params")


def no_params() -> pl.Series:
    """The ``params`` column of no lines."""
    return pl.Series("params", [], dtype=PARAMS_DTYPE)


def line_parameters(messages: pl.Series, templates: pl.Series, extra_delimiters: Sequence[str]) -> pl.Series:
    """``params`` of each line from its message and its template (the columns of ``log_templates``).

    Computed once per distinct (message, template) pair (:func:`parameters`) and gathered per line.
    Null messages count as the empty message, as in mining.
    """
    if messages.len() == 0:
        return no_params()
    pairs = pl.DataFrame({"m": messages.cast(pl.Utf8).fill_null(""), "t": templates.cast(pl.Utf8)}).to_struct(
        "pair"
    )
    distinct, pair_of_line, _ = dense_codes(pairs)
    distinct_templates, template_of_pair, _ = dense_codes(distinct.struct.field("t"))
    found = parameters(distinct.struct.field("m"), distinct_templates, template_of_pair, extra_delimiters)
    return found.gather(pair_of_line).alias("params")


def parameters(
    messages: pl.Series,
    templates: pl.Series,
    template_of: np.ndarray,
    extra_delimiters: Sequence[str],
) -> pl.Series:
    """Parameter values per row; row ``i`` has template ``templates[template_of[i]]``.

    Where the message has as many tokens as the template, the message tokens that differ from the
    template's are the parameters: one flat comparison over all tokens, the template tokens
    gathered from each template split once, the lists rebuilt by a group-by on the (sorted) row
    number. Other rows (masking merged tokens, as ``12 ms`` into one) go through a regex of the
    template (``<...>`` tokens -> ``(.*?)``, as drain3's ``extract_parameters`` does).

    Drain keeps a cluster's token count, so a template has as many tokens as every masked message
    of its cluster (mask tokens hold no space, :class:`logrca.parsers.templates.masking.MaskingRule`):
    a message with the template's token count lines up with it position by position.
    """
    # the single-spaced messages serve the split and, for rows that do not align, the regexes
    spaced = None if extra_delimiters else select_in_parts(messages, single_spaced(pl.col("m")))
    tokens = tokenize(messages, extra_delimiters) if spaced is None else split_single_spaced(spaced)
    template_tokens = templates.fill_null("").str.split(" ")
    template_width = template_tokens.list.len().to_numpy().astype(np.int64)
    width = template_width[template_of]
    aligned = tokens.list.len().to_numpy() == width
    rows = np.flatnonzero(aligned)
    row_width = width[rows]
    flat_message = (tokens if len(rows) == messages.len() else tokens.gather(rows)).explode(
        empty_as_null=False
    )
    template_start, row_start = np.cumsum(template_width) - template_width, np.cumsum(row_width) - row_width
    position = np.repeat(template_start[template_of[rows]] - row_start, row_width) + np.arange(
        int(row_width.sum())
    )
    flat_template = template_tokens.explode(empty_as_null=False).gather(position)
    flat = pl.DataFrame(
        {
            "_row": pl.Series(np.repeat(rows, row_width)).set_sorted(),
            "params": flat_message,
            "_differ": flat_message != flat_template,
        }
    )
    found = flat.group_by("_row", maintain_order=True).agg(
        pl.col("params").filter("_differ")
    )  # every aligned row, in order
    rest = np.flatnonzero(~aligned)
    if len(rest):
        text = (
            spaced.gather(rest)
            if spaced is not None
            else select_in_parts(messages.gather(rest), single_spaced(pl.col("m")))
        )
        unaligned = _unaligned_parameters(text, messages, templates, template_of, rest)
        found = pl.concat([found, unaligned]).sort("_row")
    return found["params"]


def _unaligned_parameters(
    text: pl.Series, messages: pl.Series, templates: pl.Series, template_of: np.ndarray, rest: np.ndarray
) -> pl.DataFrame:
    """``_row`` and ``params`` of the ``rest`` rows, the same as :func:`_regex_parameters` on each.

    One polars ``extract_groups`` per template (Rust's regex engine: leftmost-first, as Python's
    ``re``, so the lazy groups capture the same text) on ``text``, the ``rest`` messages
    single-spaced as ``str.split()`` sees them (:func:`logrca.parsers.templates.drain_plan.single_spaced`),
    instead of a Python regex per row (on a landing hour whose masks merge ``12 ms`` into one
    token, most rows come here: ~40% of the CPU profile of mining it). Templates Rust cannot
    compile take the Python path.
    """
    of_row = template_of[rest]
    parts, slow = [], [np.empty(0, dtype=np.int64)]
    for template_index in np.unique(of_row).tolist():
        at = np.flatnonzero(of_row == template_index)
        template = templates[template_index]
        lists = _extracted(text.gather(at), template) if template else None
        if lists is None:
            slow.append(at)
        else:
            parts.append(pl.DataFrame({"_row": rest[at], "params": lists}))
    slow_at = np.sort(np.concatenate(slow))
    if len(slow_at):
        extracted = [
            _regex_parameters(m, t)
            for m, t in zip(
                messages.gather(rest[slow_at]).to_list(), templates.gather(of_row[slow_at]).to_list()
            )
        ]
        parts.append(_lists(rest[slow_at], extracted))
    return pl.concat(parts, how="vertical_relaxed")


def _extracted(text: pl.Series, template: str) -> pl.Series | None:
    """Groups of the template's regex in each (normalised) message: [] when it does not match; None when
    polars' regex engine rejects the pattern."""
    pattern = _rust_template_regex(template)
    if pattern.count("(.*?)") == 0:
        return pl.repeat(pl.lit([], dtype=PARAMS_DTYPE), text.len(), eager=True).alias("params")
    try:
        groups = select_in_parts(text, pl.col("m").str.extract_groups(pattern)).struct.unnest()
    except pl.exceptions.PolarsError:  # e.g. over the size limit
        return None
    lists = pl.concat_list(groups.columns)
    if groups[groups.columns[0]].null_count():  # a row the regex does not match gets []
        lists = (
            pl.when(pl.col(groups.columns[0]).is_not_null())
            .then(lists)
            .otherwise(pl.lit([], dtype=PARAMS_DTYPE))
        )
    return groups.select(lists.alias("params"))["params"]


@functools.lru_cache(maxsize=65536)
def _rust_template_regex(template: str) -> str:
    """:func:`_template_regex` for polars (Rust syntax, anchored at both ends as ``fullmatch``)."""
    return rf"\A(?:{_template_pattern(template, pl.escape_regex)})\z"


def _lists(rows: np.ndarray, values: list[list[str]]) -> pl.DataFrame:
    """``_row`` and ``params`` (list of strings) from Python lists, built flat (a Series of lists built
    from Python lists costs a conversion per list, several times the regex work)."""
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    flat = pl.DataFrame(
        {
            "_row": np.repeat(rows, lengths),
            "params": pl.Series([item for v in values for item in v], dtype=pl.Utf8),
        }
    )
    grouped = flat.group_by("_row", maintain_order=True).agg("params")
    return (
        pl.DataFrame({"_row": rows})
        .join(grouped, on="_row", how="left", maintain_order="left")
        .with_columns(pl.col("params").fill_null(pl.lit([], dtype=PARAMS_DTYPE)))
    )


def _regex_parameters(message: str, template: str | None) -> list[str]:
    """Parameters by turning the template into a regex (``<...>`` tokens -> ``(.*?)``); [] when no match."""
    if not template:
        return []
    found = _template_regex(template).fullmatch(" ".join(message.split()))
    return [] if found is None else list(found.groups())


@functools.lru_cache(maxsize=65536)
def _template_regex(template: str) -> re.Pattern:
    """The template as a regex, built once per template (a batch holds many lines of few templates)."""
    return re.compile(_template_pattern(template, re.escape))


def _template_pattern(template: str, escape) -> str:
    """The template as a regex pattern: ``<...>`` tokens -> ``(.*?)``, other words escaped with
    ``escape`` (Python's ``re`` or polars' Rust syntax). For single-spaced messages (both paths
    match ``" ".join(message.split())``): a space stays one space."""
    parts = re.split(r"(<[^<> ]+>)", template)
    return "".join(
        "(.*?)" if i % 2 else " ".join(escape(w) for w in part.split(" ")) for i, part in enumerate(parts)
    )
