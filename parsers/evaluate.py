"""Log parsing accuracy (GA, PA, FGA, FTA of Loghub-2.0) on labelled logs, for logrca and plain drain3."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from logrca.parsers.ingest.header_format import HeaderFormat, compile_header, split_content
from logrca.parsers.templates.batches import first_batch_size, mine_ahead
from logrca.parsers.templates.miner import TemplateConfig, TemplateMiner

__all__ = [
    "normalize_templates",
    "grouping_accuracy",
    "parsing_accuracy",
    "template_accuracy",
    "parsing_metrics",
    "read_labelled",
    "read_log_lines",
    "iter_log_lines",
    "run_logrca",
    "plain_drain3",
    "run_drain3_baseline",
    "evaluate_parsing",
]

REQUIRED_LABEL_COLUMNS = ("LineId", "Content", "EventTemplate")


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def normalize_templates(templates: pl.Series) -> pl.Series:
    """Collapse runs of whitespace to one space and strip both ends (the usual normalisation)."""
    return templates.cast(pl.Utf8).str.replace_all(r"\s+", " ").str.strip_chars()


def grouping_accuracy(truth: pl.Series, predicted: pl.Series) -> dict[str, float]:
    """Grouping accuracy (GA) and its F1 over groups (FGA).

    Parameters
    ----------
    truth, predicted : pl.Series
        Group keys per line (e.g. true ``EventTemplate`` and predicted template or cluster id), same length.

    Returns
    -------
    dict
        ``GA``, ``FGA``, ``PGA`` (precision), ``RGA`` (recall), all in [0, 1].

    Notes
    -----
    A true group is *correct* when the lines of exactly one predicted group equal its lines.
    GA = lines in correct groups / lines; PGA = correct / predicted groups; RGA = correct / true
    groups; FGA = 2 PGA RGA / (PGA + RGA).

    References
    ----------
    .. [1] J. Zhu et al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019 (GA).
    .. [2] Z. A. Khan, D. Shin, D. Bianculli, L. Briand, "Guidelines for Assessing the Accuracy of
       Log Message Template Identification Techniques", ICSE 2022 (FGA).
    .. [3] Z. Jiang et al., "A Large-scale Evaluation for Log Parsing Techniques: How Far are We?",
       ISSTA 2024 (Loghub-2.0 definitions used here).

    Examples
    --------
    >>> grouping_accuracy(pl.Series(["a", "a", "b"]), pl.Series([1, 1, 2]))["GA"]
    1.0
    """
    if truth.len() != predicted.len():
        raise ValueError(f"grouping_accuracy: truth has {truth.len()} lines, predicted {predicted.len()}")
    if truth.len() == 0:
        return {"GA": 0.0, "FGA": 0.0, "PGA": 0.0, "RGA": 0.0}
    frame = pl.DataFrame({"t": truth.cast(pl.Utf8), "p": predicted.cast(pl.Utf8)})
    pairs = (
        frame.group_by("t", "p")
        .len("n_tp")
        .join(frame.group_by("t").len("n_t"), on="t")
        .join(frame.group_by("p").len("n_p"), on="p")
    )
    correct = pairs.filter((pl.col("n_tp") == pl.col("n_t")) & (pl.col("n_tp") == pl.col("n_p")))
    n_true, n_pred = frame["t"].n_unique(), frame["p"].n_unique()
    precision, recall = correct.height / n_pred, correct.height / n_true
    return {
        "GA": correct["n_tp"].sum() / frame.height,
        "FGA": _f1(precision, recall),
        "PGA": precision,
        "RGA": recall,
    }


def parsing_accuracy(truth_templates: pl.Series, predicted_templates: pl.Series) -> float:
    """Parsing accuracy (PA): share of lines whose predicted template string equals the true one.

    Both sides are whitespace-normalised (:func:`normalize_templates`); a null prediction is wrong.

    References
    ----------
    .. [1] Z. Jiang et al., ISSTA 2024 (Loghub-2.0); PA as in Dai et al., "Logram", TSE 2020.
    """
    if truth_templates.len() != predicted_templates.len():
        raise ValueError(
            f"parsing_accuracy: truth has {truth_templates.len()} lines, predicted {predicted_templates.len()}"
        )
    if truth_templates.len() == 0:
        return 0.0
    equal = normalize_templates(truth_templates) == normalize_templates(predicted_templates)
    return float(equal.fill_null(False).sum()) / truth_templates.len()


def template_accuracy(truth_templates: pl.Series, predicted_templates: pl.Series) -> dict[str, float]:
    """F1 of template accuracy (FTA), with precision PTA and recall RTA.

    Notes
    -----
    Lines are grouped by predicted template string. A predicted template is correct when all its
    lines have one and the same true template and the predicted string equals it (after
    whitespace normalisation). PTA = correct / predicted templates, RTA = correct / true templates.

    References
    ----------
    .. [1] Z. A. Khan et al., ICSE 2022 (template accuracy).
    .. [2] Z. Jiang et al., ISSTA 2024 (Loghub-2.0 ``evaluate_template_level``).
    """
    if truth_templates.len() == 0:
        return {"FTA": 0.0, "PTA": 0.0, "RTA": 0.0}
    frame = pl.DataFrame(
        {
            "t": normalize_templates(truth_templates),
            "p": normalize_templates(predicted_templates).fill_null(""),
        }
    )
    per_predicted = frame.group_by("p").agg(
        pl.col("t").n_unique().alias("n_true"), pl.col("t").first().alias("t")
    )
    correct = per_predicted.filter((pl.col("n_true") == 1) & (pl.col("t") == pl.col("p"))).height
    precision, recall = correct / per_predicted.height, correct / frame["t"].n_unique()
    return {"FTA": _f1(precision, recall), "PTA": precision, "RTA": recall}


def parsing_metrics(truth_templates: pl.Series, predicted_templates: pl.Series) -> dict[str, float]:
    """GA, FGA, PA, FTA (plus precisions/recalls) as in Loghub-2.0: groups are template strings."""
    truth = normalize_templates(truth_templates)
    predicted = normalize_templates(predicted_templates).fill_null("")
    return {
        **grouping_accuracy(truth, predicted),
        "PA": parsing_accuracy(truth, predicted),
        **template_accuracy(truth, predicted),
    }


def read_labelled(path: str | Path) -> pl.DataFrame:
    """Read a Loghub ``*_structured*.csv``: ``LineId`` (Int64), ``Content``, ``EventTemplate`` (+ ``EventId``).

    Raises
    ------
    ValueError
        Naming the file and the missing columns, or a non-integer ``LineId``.
    """
    path = Path(path)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise ValueError(f"{path}: cannot read labelled CSV: {error}") from error
    missing = [column for column in REQUIRED_LABEL_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {frame.columns}")
    line_ids = frame["LineId"].str.strip_chars().cast(pl.Int64, strict=False)
    if line_ids.null_count():
        bad = frame.with_row_index("row").filter(line_ids.is_null())["row"][0] + 2  # +1 header, +1 one-based
        raise ValueError(f"{path}:{bad}: LineId is not an integer")
    keep = [c for c in ("Content", "EventId", "EventTemplate") if c in frame.columns]
    return frame.select(line_ids.alias("LineId"), *keep)


def iter_log_lines(path: str | Path, batch_bytes: int = 32 * 2**20) -> Iterator[pl.Series]:
    """Yield the lines of a (large) log file in batches of about ``batch_bytes``.

    Lines end at ``\\n`` (a trailing ``\\r`` is dropped); undecodable bytes become U+FFFD. Memory is
    bounded by the batch size, whatever the file size. The first batch is a quarter of the size
    (:func:`logrca.parsers.templates.batches.first_batch_size`: the miner starts sooner and learns the tree on fewer messages).
    """
    if batch_bytes < 1:
        raise ValueError(f"iter_log_lines: batch_bytes must be >= 1, got {batch_bytes}")
    with open(path, "rb") as stream:
        size = first_batch_size(batch_bytes)
        while True:
            block, size = stream.read(size), batch_bytes
            if not block:
                break
            if not block.endswith(b"\n"):
                block += stream.readline()  # complete the last line
            yield _to_lines(block)


def _to_lines(block: bytes) -> pl.Series:
    """Lines of a block (each ended by ``\n``, the last one possibly not): polars' reader, or Python for bad UTF-8."""
    try:
        return pl.read_lines(block)["line"]
    except pl.exceptions.ComputeError:  # undecodable bytes: decode with U+FFFD in their place
        lines = block.decode("utf-8", errors="replace").removesuffix("\n").split("\n")
        return pl.Series("line", lines, dtype=pl.Utf8).str.strip_suffix("\r")


def read_log_lines(path: str | Path) -> pl.Series:
    """All lines of a log file (for files that fit in memory)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return pl.Series("line", text.splitlines(), dtype=pl.Utf8)


def _events_from_lines(lines: pl.Series, fmt: HeaderFormat, first_line_no: int = 1) -> pl.DataFrame:
    """``line_no``, ``matched``, ``message`` (Content, or the whole stripped line when the header does not match)."""
    header = split_content(lines, fmt)
    return pl.DataFrame(
        {
            "line_no": pl.int_range(first_line_no, first_line_no + lines.len(), eager=True, dtype=pl.Int64),
            "matched": header["matched"],
            "message": header["Content"]
            if header["matched"].all()
            else header["Content"].fill_null(lines.str.strip_chars()),
        }
    )


def _parsed_batches(log_path: str | Path, fmt: HeaderFormat, batch_bytes: int) -> Iterator[pl.DataFrame]:
    line_no = 1
    for lines in iter_log_lines(log_path, batch_bytes):
        yield _events_from_lines(lines, fmt, line_no)
        line_no += lines.len()


def run_logrca(
    log_path: str | Path,
    fmt: HeaderFormat,
    config: TemplateConfig,
    *,
    batch_bytes: int = 8 * 2**20,
    with_params: bool = False,
    miner: TemplateMiner | None = None,
) -> tuple[pl.DataFrame, float]:
    """Parse and mine a log file with logrca in batches; returns (line_no, matched, template_id, cluster_id, template) and seconds.

    ``cluster_id`` is Drain's own cluster of the line (what ``drain3.TemplateMiner`` returns), which
    ``template_id`` names (see :mod:`logrca.parsers.templates.template_ids`).

    ``with_params`` defaults to False: like drain3's ``add_log_message``, which the baseline times,
    this measures grouping and templates, not parameter extraction. ``miner`` (optional) is used
    instead of a fresh one built from ``config`` (e.g. to read its counters afterwards).
    """
    miner = miner or TemplateMiner(config.model_copy(update={"state_path": None}))
    started = time.perf_counter()
    parts = []
    # reading and header splitting run lazily inside the worker thread that prepares the batches
    for mined in mine_ahead(_parsed_batches(log_path, fmt, batch_bytes), miner, with_params=with_params):
        parts.append(mined.select("line_no", "matched", "template_id"))
    elapsed = time.perf_counter() - started
    result = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(schema={"line_no": pl.Int64, "matched": pl.Boolean, "template_id": pl.Int64})
    )
    final = miner.templates().select("template_id", "template")
    result = result.with_columns(
        pl.Series("cluster_id", miner.ids.clusters(result["template_id"].to_numpy()), dtype=pl.Int64)
    )
    return result.join(final, on="template_id", how="left", maintain_order="left"), elapsed


def plain_drain3(config: TemplateConfig):
    """drain3's own ``TemplateMiner`` with the masks and Drain settings of ``config`` (the baseline of every comparison)."""
    from drain3 import TemplateMiner as Drain3Miner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    drain_config = TemplateMinerConfig()
    drain_config.drain_sim_th, drain_config.drain_depth = config.sim_th, config.depth
    drain_config.drain_max_children, drain_config.drain_max_clusters = (
        config.max_children,
        config.max_clusters,
    )
    drain_config.drain_extra_delimiters = list(config.extra_delimiters)
    drain_config.parametrize_numeric_tokens = config.parametrize_numeric_tokens
    drain_config.masking_instructions = [
        MaskingInstruction(rule.pattern, rule.mask_with) for rule in config.masking
    ]
    return Drain3Miner(config=drain_config)


def run_drain3_baseline(
    log_path: str | Path, fmt: HeaderFormat, config: TemplateConfig
) -> tuple[pl.DataFrame, float]:
    """Plain drain3 as a hand-written script uses it: Python regex header per line, ``TemplateMiner.add_log_message``.

    Uses drain3's ``TemplateMiner`` with the masks and Drain settings of ``config``. Templates are
    each cluster's final template (as the Loghub benchmark reports them).
    """
    miner = plain_drain3(config)
    header = re.compile(fmt.pattern)
    started = time.perf_counter()
    cluster_ids: list[int] = []
    with open(log_path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            line = line.strip()
            found = header.match(line)
            content = found.group("Content") if found else line
            cluster_ids.append(miner.add_log_message(content)["cluster_id"])
    elapsed = time.perf_counter() - started
    templates = {cluster.cluster_id: cluster.get_template() for cluster in miner.drain.clusters}
    frame = pl.DataFrame(
        {
            "line_no": pl.int_range(1, len(cluster_ids) + 1, eager=True, dtype=pl.Int64),
            "template_id": pl.Series(cluster_ids, dtype=pl.Int64),
        }
    )
    return frame.with_columns(
        pl.col("template_id").replace_strict(templates, return_dtype=pl.Utf8).alias("template")
    ), elapsed


def _score(truth: pl.DataFrame, predicted: pl.DataFrame, seconds: float) -> dict[str, Any]:
    joined = truth.join(predicted, left_on="LineId", right_on="line_no", how="left")
    metrics = parsing_metrics(joined["EventTemplate"], joined["template"])
    lines = predicted.height
    return {
        **{k: round(v, 4) for k, v in metrics.items()},
        "templates": predicted["template"].n_unique(),
        "lines": lines,
        "seconds": round(seconds, 4),
        "lines_per_second": round(lines / seconds, 1) if seconds > 0 else None,
    }


def evaluate_parsing(
    log_path: str | Path,
    header_format: str,
    truth_path: str | Path,
    config: TemplateConfig | None = None,
    *,
    baseline_config: TemplateConfig | None = None,
    present_only: bool = False,
) -> dict[str, Any]:
    """Mine ``log_path`` with logrca (and plain drain3 when ``baseline_config`` is given) and score both.

    Labelled lines missing from the log (``missing_lines``) count as wrongly parsed, unless
    ``present_only``: then only the labelled lines found in the log are scored (a log cut short,
    a sample of a larger labelled file); ``scored`` says how many were.

    Returns
    -------
    dict
        ``{"log", "truth", "lines", "labelled", "unmatched_header", "unlabelled_lines",
        "logrca": {GA, FGA, PA, FTA, ..., lines_per_second}, "drain3": {...} (with a baseline)}``.
        Lines whose true template is empty/null are left out of the metrics (as in Loghub-2.0).
    """
    fmt = compile_header(header_format)
    config = config or TemplateConfig()
    truth = read_labelled(truth_path).filter(
        pl.col("EventTemplate").is_not_null() & (pl.col("EventTemplate").str.strip_chars() != "")
    )
    predicted, seconds = run_logrca(log_path, fmt, config)
    present = truth.join(predicted, left_on="LineId", right_on="line_no", how="semi")
    missing = truth.height - present.height  # semi and anti joins split the rows
    scored = present if present_only else truth
    if scored.is_empty():
        raise ValueError(f"{truth_path}: no labelled line to score; an evaluation needs at least one")
    report: dict[str, Any] = {
        "log": str(log_path),
        "truth": str(truth_path),
        "lines": predicted.height,
        "labelled": truth.height,
        "unmatched_header": int((~predicted["matched"]).sum()),
        "unlabelled_lines": predicted.height
        - predicted.join(truth, left_on="line_no", right_on="LineId", how="semi").height,
        "missing_lines": missing,
        "present_only": present_only,
        "scored": scored.height,
        "logrca": _score(scored, predicted, seconds),
    }
    if baseline_config is not None:
        baseline, baseline_seconds = run_drain3_baseline(log_path, fmt, baseline_config)
        report["drain3"] = _score(scored, baseline, baseline_seconds)
    return report
