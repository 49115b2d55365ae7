"""What ``logrca run`` prints after a partition: counts per file, file problems, failed checks, causes.

Each line fits an 80-column terminal where it can (long file names are shortened to their last
parts); a failed step shows the innermost cause in one or two lines and its stack trace goes to a
log file (or the screen with ``-v``).
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC
from pathlib import Path

from rich.markup import escape

from logrca.incidents.record import parse_time
from logrca.rca.markdown import counted

#: Per-file lines shown for one partition; the rest are counted (all are in the asset's metadata).
MAX_FILES_SHOWN = 12
_WIDTH = 78


def materialized(result) -> dict[str, dict]:
    """Metadata values of each asset materialized by ``result``, by asset key."""
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        out[materialization.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in materialization.metadata.items()
        }
    return out


def summarize_run(result, key: str, *, verbose: bool, log_dir: Path) -> tuple[list[str], bool]:
    """Rich-markup lines summarising one partition's run, and whether it succeeded.

    It fails when a step failed or an asset check of ERROR severity did not pass.
    """
    meta = materialized(result)
    raw = meta.get("raw_logs", {})
    report = meta.get("rca_report", {})
    quarantined = meta.get("quarantined_lines", {}).get("dagster/row_count", 0)
    failed_checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    errors = [c for c in failed_checks if c.severity.value == "ERROR"]
    ok = result.success and not errors
    status = "ok" if ok else "[red]FAILED[/red]"
    line = f"{escape(key)}: {status} · {raw.get('dagster/row_count', '?')} events · {quarantined} quarantined"
    if report.get("incident"):
        line += (
            f" · INCIDENT root cause [bold]{escape(str(report.get('root_cause')))}[/bold]"
            f" ({_clock_window(report.get('incident_window'))}) → {escape(str(report.get('report_file')))}"
        )
    elif report:
        line += " · no incident"
    lines = [
        line,
        *incident_lines(meta.get("incidents", {})),
        *rerun_lines(meta),
        *file_lines(raw.get("files") or []),
    ]
    if skipped := raw.get("files_skipped_outside_window"):
        lines.append(
            f"  {counted(skipped, 'file')} not read: written before this partition or starting after it"
        )
    for check in failed_checks:
        lines += check_lines(check.check_name, check.severity.value, check.description)
    lines += step_failure_lines(result, verbose=verbose, log_dir=log_dir)
    return lines, ok


def incident_lines(filed: dict) -> list[str]:
    """Lines when filing did more than file (``incidents`` metadata): this re-run analysed the window again
    and its incident replaced the one an earlier run filed (outcome ``replaced``), or it found no incident
    there and withdrew the earlier one (``withdrawn``; ``narrowed``: it still covers other windows)."""
    texts = []
    if filed.get("outcome") == "replaced":
        earlier = filed.get("superseded") or "an earlier incident"
        texts.append(
            f"incident {filed.get('incident_id')} replaces {earlier}: this re-run analysed the window again "
            f"(the earlier one is marked superseded; logrca incident show {earlier.split(',')[0]})"
        )
    if withdrawn := filed.get("withdrawn"):
        noun = "incidents" if "," in withdrawn else "incident"
        texts.append(f"{noun} {withdrawn} withdrawn: a re-run of this window found no incident")
    if narrowed := filed.get("narrowed"):
        noun, verb = ("incidents", "cover") if "," in narrowed else ("incident", "covers")
        texts.append(f"{noun} {narrowed} no longer {verb} this window: a re-run found no incident in it")
    return [f"[yellow]{line}[/yellow]" for text in texts for line in _wrapped(text, 2, max_lines=3)]


def rerun_lines(meta: dict) -> list[str]:
    """What a re-run changed in Elasticsearch, when it changed anything: lines of the partition no
    longer read (a file shrank, was rewritten or rotated away) deleted, lines new since the last run,
    findings and reports no longer found deleted (``indexed_lines`` and ``search_index`` metadata)."""
    lines_meta, index_meta = meta.get("indexed_lines", {}), meta.get("search_index", {})
    rerun = lines_meta.get("lines_present", 0) > 0 or lines_meta.get("lines_deleted_stale", 0) > 0
    parts = []
    if gone := lines_meta.get("lines_deleted_stale", 0):
        parts.append(f"{counted(gone, 'indexed line')} no longer read deleted")
    if rerun and (new := lines_meta.get("lines_indexed", 0)):
        parts.append(f"{counted(new, 'line')} new")
    if stale := index_meta.get("deleted_stale", 0):
        noun = "finding or report" if stale == 1 else "findings or reports"
        parts.append(f"{stale} {noun} no longer found deleted")
    if not parts:
        return []
    return [f"[yellow]{line}[/yellow]" for line in _wrapped("re-run: " + "; ".join(parts), 2, max_lines=2)]


#: Lines a failed check's description may take (it names files; all are in the check's metadata).
MAX_CHECK_LINES = 4


def check_lines(name: str, severity: str, description: str | None) -> list[str]:
    """``check NAME failed (SEVERITY): description``, the description wrapped to 80 columns."""
    head = f"check {name} failed ({severity})"
    wrapped = _wrapped(f"{head}: {description}" if description else head, 2, max_lines=MAX_CHECK_LINES)
    return [wrapped[0].replace(head, f"[red]{head}[/red]", 1), *wrapped[1:]]


def _clock_window(window) -> str:
    """``start → end`` of the incident as clock times, ``02:18:03 → 02:50:01 UTC`` (the line starts with the
    partition's date; a window over midnight keeps its dates); the stored text when it is not two times."""
    try:
        start, end = (parse_time(part.strip()) for part in str(window).split("→"))
    except ValueError:
        return str(window)
    shape = "%H:%M:%S" if start.date() == end.date() else "%Y-%m-%d %H:%M:%S"
    return f"{start.astimezone(UTC):{shape}} → {end.astimezone(UTC):{shape}} UTC"


def file_lines(files: list[dict]) -> list[str]:
    """One line per file: ``name: read = in events + quarantined (+ other partitions)``, then its notes.

    Files whose lines all lie in other partitions (a rotated file of earlier hours) and that have
    nothing to say are counted on one line, not listed: in a run over many hours they were most of
    every partition's lines.
    """
    elsewhere = [record for record in files if _only_elsewhere(record)]
    shown = [record for record in files if not _only_elsewhere(record)]
    lines = []
    for record in shown[:MAX_FILES_SHOWN]:
        name = f"{record.get('source', '?')} {_short(record.get('file', '?'))}"
        if "lines_read" in record:
            events, quarantined = record["lines_in_events"], record["lines_quarantined"]
            outside = record.get("lines_outside_window", 0)
            others = outside - record.get("lines_before_start", 0) - record.get("lines_after_end", 0)
            text = f"{name}: {record['lines_read']} read = {events} in events + {quarantined} quarantined"
            kept = f"(+{others} in other partitions)".replace(" ", "\N{NO-BREAK SPACE}")  # wrapped whole
            lines += _wrapped(f"{text} {kept}" if others else text, 2)
            if missing := record["lines_read"] - events - quarantined - outside:
                lines.append(
                    f"    [red]{counted(missing, 'line')} in no event, quarantine or partition[/red]"
                )
        for note in record.get("notes", []):
            lines += [f"[yellow]{line}[/yellow]" for line in _wrapped(note, 4, max_lines=2)]
    if len(shown) > MAX_FILES_SHOWN:
        lines.append(f"  … {len(shown) - MAX_FILES_SHOWN} more files (all in raw_logs' metadata)")
    if elsewhere:
        outside = sum(record["lines_outside_window"] for record in elsewhere)
        lines.append(
            f"  {counted(len(elsewhere), 'more file')}: all {counted(outside, 'line')} in other partitions"
        )
    return lines


def _only_elsewhere(record: dict) -> bool:
    """A file read for this partition that held none of its lines and has no note."""
    return (
        "lines_read" in record
        and record["lines_in_events"] + record["lines_quarantined"] == 0
        and record.get("lines_outside_window", 0) > 0
        and not record.get("notes")
    )


def step_failure_lines(result, *, verbose: bool, log_dir: Path) -> list[str]:
    """The innermost cause of each failed step in a line or two; traces to a file (or shown with -v)."""
    lines = []
    for event in result.all_events:
        if not (event.is_step_failure and event.event_specific_data is not None):
            continue
        error = getattr(event.event_specific_data, "error", None)
        if error is None:
            lines.append(
                f"  [red]{escape(str(event.step_key))}: {escape(_cut(event.message or '', _WIDTH))}[/red]"
            )
            continue
        message = " ".join(first_cause(error).message.strip().splitlines()[:2])
        message = re.sub(r"^(?:[a-z_]\w*\.)+(?=[A-Z]\w*: )", "", message)  # TemplateStateError: ...
        lines.append(f"  [red]{escape(str(event.step_key))}: {escape(_cut(message, 2 * _WIDTH))}[/red]")
        if verbose:
            lines.append(escape(error.to_string()))
            continue
        log_dir.mkdir(parents=True, exist_ok=True)
        trace_file = log_dir / f"{result.run_id}.log"
        with trace_file.open("a", encoding="utf-8") as out:
            out.write(f"step {event.step_key}\n{error.to_string()}\n")
        lines.append(f"    (stack trace: {escape(str(trace_file))})")
    return lines


#: Dagster's wrappers around the error user code raised: their message names the step, not the cause.
_WRAPPERS = (
    "DagsterExecutionStepExecutionError",
    "DagsterUserCodeExecutionError",
    "DagsterExecutionInterruptedError",
)


def first_cause(error):
    """The first error in the chain that is not a Dagster wrapper (the one the asset raised)."""
    while error.cause is not None and (
        error.cls_name in _WRAPPERS
        or error.message.startswith(("dagster._core.errors.", "Exceeded max_retries"))
    ):
        error = error.cause
    return error


def _short(path: str) -> str:
    parts = Path(path).parts
    return str(Path(*parts[-2:])) if len(parts) > 2 else path


def _wrapped(text: str, indent: int, *, max_lines: int | None = None) -> list[str]:
    """``text`` escaped for markup, indented and wrapped to 80 columns (continuations 2 further in)."""
    lines = textwrap.wrap(
        re.sub(r"[ \t\r\n]+", " ", text),  # not str.split(): it splits at a no-break space
        width=_WIDTH + 2,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + 2),
        break_on_hyphens=False,
        max_lines=max_lines,
        placeholder=" …",
    )
    return [escape(line.replace("\N{NO-BREAK SPACE}", " ")) for line in lines]


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
