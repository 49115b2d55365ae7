"""Propose a source block for log files logrca has not seen, in the spirit of Elasticsearch's find_structure.

:func:`detect_source` reads a sample of a file and builds candidate sources: JSON lines with a
field mapping, syslog (RFC 5424 / BSD), CSV, and Loghub-style headers built around a timestamp
found with :data:`~logrca.parsers.ingest.timestamp_catalogue.CATALOGUE` (with a multi-line start
when lines without a timestamp follow ones with it). Each candidate is scored by reading the sample
with logrca's own reader (:func:`~logrca.parsers.ingest.readers.read_source`): the share of lines
that end up in events. The best one is proposed, with its parse rate and quarantine reasons.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from logrca.parsers.ingest.files import FileProblem, iter_line_batches
from logrca.parsers.ingest.readers import read_source
from logrca.parsers.ingest.schema import LEVEL_ALIASES, LEVELS
from logrca.parsers.ingest.sources import SourceConfig
from logrca.parsers.ingest.timestamp_catalogue import CATALOGUE, TimestampLayout

__all__ = ["Proposal", "detect_source", "read_sample", "score_source"]

_LEVEL_WORDS = {word.lower() for word in (*LEVELS, *LEVEL_ALIASES)}
_JSON_KEYS = {
    "timestamp": ("timestamp", "@timestamp", "time", "ts", "datetime", "date", "asctime", "t"),
    "level": ("level", "severity", "lvl", "loglevel", "levelname", "log.level"),
    "message": ("message", "msg", "log", "text", "event", "body"),
    "service": ("service", "service.name", "app", "application", "logger", "name"),
    "host": ("host", "hostname", "pod", "node", "instance"),
    "trace_id": ("trace_id", "traceId", "trace", "trace.id", "request_id", "requestId"),
}


@dataclass
class Proposal:
    """A proposed source and how well it reads the sample."""

    source: SourceConfig
    lines: int
    parsed_lines: int
    reasons: dict[str, int] = field(default_factory=dict)
    timestamp_layout: str | None = None
    #: Why the file ended within the sample (``truncated gzip stream: ...``, as ingest words it), or None.
    cut: str | None = None

    @property
    def parse_rate(self) -> float:
        return self.parsed_lines / self.lines if self.lines else 0.0

    def block(self) -> dict:
        """The source block as it goes into the YAML config (defaults left out)."""
        return self.source.model_dump(exclude_defaults=True, exclude_none=True, mode="json")


def read_sample(path: Path, max_lines: int) -> tuple[list[str], FileProblem | None]:
    """The first ``max_lines`` lines of a file (plain or gzip), decoded leniently, and the problem
    that ended the file before them (a gzip stream cut short), if one did.

    The line a cut went through is not among the lines (ingest quarantines it): it is the
    problem's ``raw``. A cut after the sample's last line is not looked for.
    """
    lines: list[str] = []
    for item in iter_line_batches(path, batch_bytes=1 << 20):
        if isinstance(item, FileProblem):
            return lines, item
        lines += [raw.decode("utf-8", errors="replace") for raw in item.lines[: max_lines - len(lines)]]
        if len(lines) >= max_lines:
            break
    return lines, None


def score_source(source: SourceConfig, sample_file: Path) -> Proposal:
    """Read ``sample_file`` with ``source`` (logrca's reader) and count lines in events, by reason."""
    result = read_source(source, paths=[sample_file], prune_files=False)
    reasons = Counter(_reason_kind(r) for r in result.quarantine["reason"].to_list())
    return Proposal(
        source=source,
        lines=result.stats["lines_read"],
        parsed_lines=result.stats["lines_in_events"],
        reasons=dict(reasons.most_common()),
    )


def _reason_kind(reason: str) -> str:
    """A quarantine reason without the quoted text (``unparseable timestamp: 0811`` -> its head)."""
    return reason.split(":", 1)[0] if reason else "?"


def detect_source(path: Path, *, name: str | None = None, max_lines: int = 1000) -> Proposal | None:
    """The best-reading source block for ``path`` (None when the file has no line).

    Parameters
    ----------
    path : Path
        A log file (plain or gzip).
    name : str, optional
        Name (and service) of the source; default: the file name up to its first dot.
    max_lines : int, default 1000
        How many lines of the head are sampled.
    """
    sample, cut = read_sample(path, max_lines)
    lines = [line for line in sample if line.strip()]
    if not lines:
        return None
    name = name or re.sub(r"[^A-Za-z0-9_-]+", "-", path.name.split(".")[0]) or "logs"
    base = {"name": name, "service": name, "paths": [str(path)]}
    with tempfile.TemporaryDirectory(prefix="logrca-detect-") as tmp:
        sample = Path(tmp) / "sample.log"
        sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proposals = []
        for candidate, layout in _candidates(lines, base):
            try:
                source = SourceConfig.model_validate(candidate)
            except ValueError:
                continue  # a candidate the config would refuse is not proposed
            proposal = score_source(source, sample)
            proposal.timestamp_layout = layout
            proposals.append(proposal)
    if not proposals:
        return None
    best = max(enumerate(proposals), key=lambda item: (round(item[1].parse_rate, 4), -item[0]))[1]
    return _with_cut(best, cut) if cut is not None else best


def _with_cut(proposal: Proposal, cut: FileProblem) -> Proposal:
    """``proposal`` told of the file's cut: the line the cut went through is a sampled line that
    does not parse (as ingest quarantines it), counted under the cut's reason."""
    proposal.cut = cut.reason
    if cut.raw is not None:
        kind = _reason_kind(cut.reason)
        proposal.lines += 1
        proposal.reasons = dict((Counter(proposal.reasons) + Counter({kind: 1})).most_common())
    return proposal


def _candidates(lines: list[str], base: dict):
    """(source block, timestamp layout name) candidates, most specific first."""
    if sum(line.lstrip().startswith("{") for line in lines) >= len(lines) / 2:
        yield from _json_candidates(lines, base)
        return
    yield {**base, "format": "syslog"}, "RFC 5424 / BSD syslog"
    yield from _csv_candidates(lines, base)
    layout, position = _find_layout(lines)
    if layout is None:
        return
    for header in _headers(lines, layout, position):
        for fmt in dict.fromkeys([layout.timestamp_format, None]):
            block = {**base, "format": "loghub", "header": header, "timestamp_format": fmt}
            yield block, layout.name
            start = _multiline_start(lines, layout, position)
            if start:
                yield {**block, "multiline": {"start_pattern": start}}, layout.name


def _find_layout(lines: list[str]) -> tuple[TimestampLayout | None, int]:
    """The catalogue layout found in most lines (at a token start), and the token it starts at."""
    best, best_hits, best_token = None, 0, 0
    for layout in CATALOGUE:
        finder = re.compile(rf"(?:^|(?<=[\s\[(]))({layout.pattern})(?=$|[\s\]),|;])")
        hits, tokens = 0, Counter()
        for line in lines:
            found = finder.search(line[:200])
            if found:
                hits += 1
                tokens[len(line[: found.start()].split())] += 1
        if hits > best_hits:
            best, best_hits, best_token = layout, hits, tokens.most_common(1)[0][0]
    return best, best_token


def _headers(lines: list[str], layout: TimestampLayout, token: int) -> list[str]:
    """Loghub headers around the timestamp, from the most detailed (level, component) to the plainest."""
    finder = re.compile(layout.pattern)
    line = next((ln for ln in lines if finder.search(ln[:200])), lines[0])
    found = finder.search(line[:200])
    before = line[: found.start()]
    bracket = before.endswith("[") and line[found.end() : found.end() + 1] == "]"
    prefix_tokens = before.removesuffix("[").split()  # a "-" here may be a value elsewhere (BGL)
    prefix = [_field_for(tok, f"Field{i + 1}", dash=False) for i, tok in enumerate(prefix_tokens)]
    spaces = found.group(0).count(" ")
    if bracket:
        stamp = r"\[<Timestamp>\]"
    else:
        stamp = {0: "<Timestamp>", 1: "<Date> <Time>", 2: "<Month> <Day> <Time>"}.get(spaces)
        if stamp is None:
            return []
    rest = line[found.end() + (1 if bracket else 0) :]
    separator = re.match(r"[,|;]", rest)
    glue = re.escape(separator.group(0)) if separator else ""
    rest_tokens = rest[len(glue.replace("\\", "")) :].split()
    detailed = _after_stamp(rest_tokens)
    heads = [" ".join(prefix + [stamp + glue])]
    headers = [f"{heads[0]} {part}" for part in (detailed, "<Content>") if part]
    return list(dict.fromkeys(h.replace(" \\|", "\\|").replace("\\| ", "\\|") for h in headers))


def _field_for(token: str, name: str, *, dash: bool = True) -> str:
    if token == "-" and dash:
        return "-"
    if token.startswith("[") and token.endswith("]"):
        return rf"\[<{name}>\]"
    return f"<{name}>"


def _after_stamp(tokens: list[str]) -> str | None:
    """Fields between the timestamp and the message: level (plain or bracketed), then a component."""
    fields = []
    for i, token in enumerate(tokens[:5]):
        word = token.strip("[]:").lower()
        if word in _LEVEL_WORDS:
            level = r"\[<Level>\]" if token.startswith("[") else "<Level>"
            fields.append(level + (":" if token.endswith(":") else ""))
            after = tokens[i + 1 : i + 3]
            if after and after[0] == "-":
                fields.append("-")
                after = after[1:]
            if after and after[0].endswith(":") and not token.endswith(":"):
                fields.append("<Component>:")
            elif after and after[0].startswith("[") and after[0].endswith("]"):
                fields.append(r"\[<Thread>\]")
                if len(after) > 1 and after[1].endswith(":"):
                    fields.append("<Component>:")
            return " ".join([*fields, "<Content>"])
        fields.append(_field_for(token, f"Field{i + 10}"))  # numbered apart from the prefix's
    return None


def _multiline_start(lines: list[str], layout: TimestampLayout, token: int) -> str | None:
    """A start pattern when some lines have no timestamp (stack traces), else None."""
    if token != 0:
        return None
    start = re.compile(rf"^\[?{layout.pattern}")
    if all(start.search(line) for line in lines):
        return None
    return rf"^\[?{layout.pattern}"


def _json_candidates(lines: list[str], base: dict):
    keys: Counter = Counter()
    for line in lines[:200]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            keys.update(record.keys())
    mapping = {}
    for role, names in _JSON_KEYS.items():
        found = next((name for name in names if name in keys), None)
        mapping[role] = found or role
    yield {**base, "format": "jsonl", "json_fields": mapping}, "JSON field " + mapping["timestamp"]


def _csv_candidates(lines: list[str], base: dict):
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",;\t")
        rows = list(csv.reader(io.StringIO("\n".join(lines[:50])), dialect))
    except csv.Error:
        return
    if len(rows) < 2 or len(rows[0]) < 3 or dialect.delimiter != ",":
        return
    header, values = rows[0], rows[1:]
    time_column = next(
        (
            column
            for i, column in enumerate(header)
            if any(
                re.search(layout.pattern, row[i])
                for layout in CATALOGUE
                for row in values[:5]
                if i < len(row)
            )
        ),
        None,
    )
    if time_column is None:
        return
    widths = pl.DataFrame([r for r in values if len(r) == len(header)], schema=header, orient="row")
    message = max(
        (c for c in header if c != time_column), key=lambda c: widths[c].str.len_chars().mean() or 0
    )
    json_key = "log" if widths[message].str.starts_with("{").any() else None
    lowered = {c.lower(): c for c in header}
    options = {
        "timestamp_column": time_column,
        "message_column": message,
        "message_json_key": json_key,
        "host_column": next(
            (lowered[k] for k in ("host", "hostname", "podname", "pod") if k in lowered), None
        ),
        "trace_id_column": next((lowered[k] for k in ("traceid", "trace_id") if k in lowered), None),
    }
    yield {**base, "format": "csv-json", "csv": options}, f"CSV column {time_column}"


@dataclass
class SourceCheck:
    """How a configured source reads a sample of its files."""

    name: str
    files: int
    lines: int
    parsed_lines: int
    reasons: dict[str, int]
    notes: list[str]


def check_source(source: SourceConfig, base_dir: Path, *, max_lines: int = 1000) -> SourceCheck:
    """Dry-run ``source`` on the first ``max_lines`` lines of each of its files (nothing is written)."""
    from logrca.parsers.ingest.files import find_files

    try:
        files, problems = find_files(source.paths, base_dir)
    except FileNotFoundError as error:
        return SourceCheck(source.name, 0, 0, 0, {}, [str(error)])
    notes = [problem.reason for problem in problems]
    with tempfile.TemporaryDirectory(prefix="logrca-check-") as tmp:
        samples = []
        for number, path in enumerate(files):
            lines, cut = read_sample(path, max_lines)
            if cut is not None:
                notes.append(f"{path}: {cut.reason}")
            if not lines:
                notes.append(f"empty file: {path}")
                continue
            sample = Path(tmp) / f"{number:04d}-{path.name.removesuffix('.gz')}"
            sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
            samples.append(sample)
        proposal = score_source(source, samples[0]) if len(samples) == 1 else None
        if len(samples) > 1:
            result = read_source(source, paths=samples, prune_files=False)
            reasons = Counter(_reason_kind(r) for r in result.quarantine["reason"].to_list())
            proposal = Proposal(
                source,
                result.stats["lines_read"],
                result.stats["lines_in_events"],
                dict(reasons.most_common()),
            )
    if proposal is None:
        return SourceCheck(source.name, len(files), 0, 0, {}, notes)
    return SourceCheck(
        source.name, len(files), proposal.lines, proposal.parsed_lines, proposal.reasons, notes
    )
