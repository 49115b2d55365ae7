"""Templates of multi-service logs: the masks they need and one statement counted once whatever list it printed."""

from __future__ import annotations

import polars as pl

__all__ = ["ID_MASKS", "list_variant_of", "merge_list_variants", "mine_case_templates"]

#: Masks for the request-scoped values that multi-service logs carry (trace/span ids, dates, times,
#: numbers), so one statement is one template whatever request printed it.
ID_MASKS = (
    r"\b[0-9a-fA-F]{12,}\b",
    r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?)?\b",
    r"\b\d{1,2}:\d{2}:\d{2}\b",
    r"(?<![A-Za-z#\d])-?\d+(?:\.\d+)?\b",
)


def mine_case_templates(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """Mine templates over ``frames`` with one miner (so ids agree), in order; returns them with template columns.

    The pipeline's ``log_templates`` asset does the same with the config's masks (a case folder's config
    adds :data:`ID_MASKS`); this is for tests and benchmarks that start from frames.
    """
    from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES, MaskingRule
    from logrca.parsers.templates.miner import TemplateConfig, TemplateMiner, mine_templates

    extra = [MaskingRule(pattern=pattern, mask_with="*") for pattern in ID_MASKS]
    miner = TemplateMiner(TemplateConfig(masking=[*DEFAULT_MASKING_RULES, *extra]))
    return [mine_templates(frame, miner) for frame in frames]


def list_variant_of(
    tokens: list[str], other: list[str], *, max_period: int = 8, wildcard: str = "<*>"
) -> bool:
    """Whether two templates are one statement that printed a list of different length.

    True when the shorter template, but for its last token (a list cut at a different element), is a
    token-for-token prefix of the longer one (a wildcard matches any token: the miner may have generalised
    one of them further), and the longer one continues by repeating a unit of at most
    ``max_period`` tokens that holds some constant text (``Ticket(seatNo=<*>, ...),`` again and again).

    Notes
    -----
    Drain [1]_ puts lines of different token counts in different clusters, so a statement that prints a
    list (``soldTickets=[Ticket(...), Ticket(...)]``) gets one template per list length, and a list one
    element longer than any in the baseline looks like a new behaviour. Requiring a repeated unit with
    constant text keeps real changes apart: a different exception message or a free-text parameter that
    grew is not a repetition of an element already printed.

    References
    ----------
    .. [1] He, P. et al. *Drain: An Online Log Parsing Approach with Fixed Depth Tree*. ICWS 2017.
    """
    short, long_ = (tokens, other) if len(tokens) <= len(other) else (other, tokens)
    if len(short) < 4 or len(short) == len(long_):
        return False
    if any(a != b and wildcard not in (a, b) for a, b in zip(short[:-1], long_)):
        return False
    extension = range(len(short) - 1, len(long_) - 1)
    for period in range(1, min(max_period, len(short) - 1) + 1):  # the unit lies in the shared part
        unit = long_[len(short) - 1 - period : len(short) - 1]
        if any(t != wildcard for t in unit) and all(long_[i] == long_[i - period] for i in extension):
            return True
    return False


def _template_counts(baseline_events: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Per service and template: its text, lines in the baseline (``n_base``) and in the case (``n_case``)."""
    zero = pl.lit(0, pl.UInt32)
    return (
        pl.concat(
            [
                baseline_events.group_by("service", "template_id").agg(
                    pl.col("template").last(), pl.len().alias("n_base"), zero.alias("n_case")
                ),
                events.group_by("service", "template_id").agg(
                    pl.col("template").last(), zero.alias("n_base"), pl.len().alias("n_case")
                ),
            ]
        )
        .group_by("service", "template_id")
        .agg(pl.col("template").drop_nulls().last(), pl.col("n_base").sum(), pl.col("n_case").sum())
    )


def _variant_groups(rows: list[tuple], max_period: int) -> list[list[int]]:
    """Indices of ``rows`` (``(id, text, tokens, n_base, n_case)``) linked as list variants, transitively."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            if list_variant_of(rows[i][2], rows[j][2], max_period=max_period):
                parent[find(i)] = find(j)
    components: dict[int, list[int]] = {}
    for i in range(len(rows)):
        components.setdefault(find(i), []).append(i)
    return [members for members in components.values() if len(members) > 1]


def _remap_rows(counts: pl.DataFrame, max_period: int) -> list[dict]:
    """Per merged template: the id and text it takes (the variant with the most baseline, then case lines)."""
    remap = []
    for (service,), group in counts.group_by("service"):
        rows = [
            (t, x, (x or "").split(), nb, nc)
            for t, x, nb, nc in group.select("template_id", "template", "n_base", "n_case").iter_rows()
        ]
        rows = [r for r in rows if len(r[2]) >= 4]
        for members in _variant_groups(rows, max_period):
            keep = rows[max(members, key=lambda i: (rows[i][3], rows[i][4], -rows[i][0]))]
            remap += [
                {"service": service, "template_id": rows[i][0], "to_id": keep[0], "to_text": keep[1]}
                for i in members
                if rows[i] is not keep
            ]
    return remap


def merge_list_variants(
    baseline_events: pl.DataFrame, events: pl.DataFrame, *, max_period: int = 8
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Count the list-length variants of one statement as one template, in the baseline and the case alike.

    Per service, templates (of either frame) that are list-length variants of each other
    (:func:`list_variant_of` with ``max_period``, linked transitively) take the id and text of the one with the most baseline
    lines (else the most case lines). A variant seen only in the case is then not a new template, and a
    list that grows during the case does not move counts from one length class to the next.

    Returns
    -------
    (baseline_events, events)
        Both frames with ``template_id``/``template`` replaced where a template was merged.
    """
    if baseline_events.is_empty() or events.is_empty() or "template_id" not in events.columns:
        return baseline_events, events
    remap = _remap_rows(_template_counts(baseline_events, events), max_period)
    if not remap:
        return baseline_events, events
    id_type = events.schema["template_id"]
    table = pl.DataFrame(
        remap, schema={"service": pl.Utf8, "template_id": id_type, "to_id": id_type, "to_text": pl.Utf8}
    )

    def apply(frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.join(table, on=["service", "template_id"], how="left")
            .with_columns(
                pl.coalesce("to_id", "template_id").alias("template_id"),
                pl.coalesce("to_text", "template").alias("template"),
            )
            .drop("to_id", "to_text")
        )

    return apply(baseline_events), apply(events)
