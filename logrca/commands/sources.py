"""``logrca sources detect PATH...`` (propose a source block) and ``logrca sources check [CONFIG]`` (dry-run)."""

from __future__ import annotations

import re
from pathlib import Path

import typer

sources_app = typer.Typer(
    help="Find the format of new log files, and dry-run the configured sources on a sample.",
    no_args_is_help=True,
)


DETECT_HELP = (
    "Read a sample of each file and print the source block that reads it best, with its parse rate."
    "\n\nTries JSON lines (with a field mapping), syslog (RFC 5424 / BSD), CSV, and Loghub-style "
    "headers around a timestamp from a catalogue of layouts (ISO 8601, log4j, HDFS, Apache, epoch, "
    "...), with a multi-line start when stack-trace lines follow. Paste the block under `sources:` "
    "in the config."
)
CHECK_HELP = (
    "Dry-run every source on a sample of its files: lines parsed and quarantined, by reason."
    "\n\nNothing is written. Exits 1 when a source's files hold lines and none of them parses."
)


@sources_app.command("detect", help=DETECT_HELP)
def detect_command(
    paths: list[Path] = typer.Argument(
        ...,
        exists=True,
        help="Log files (plain or .gz), or folders: every file under them, hidden ones aside.",
    ),
    lines: int = typer.Option(1000, "--lines", "-n", min=1, help="Lines sampled from each file's head."),
    name: str = typer.Option(None, "--name", help="Source name and service (default: from the file name)."),
) -> None:
    """See :data:`DETECT_HELP`."""
    import yaml

    from logrca.parsers.ingest.detect import detect_source, read_sample
    from logrca.rca.markdown import counted

    failed = 0
    found = []
    for path in _files(paths):
        proposal = detect_source(path, name=name, max_lines=lines)
        if proposal is None:
            cut = read_sample(path, 1)[1]
            _comment(cut.reason if cut else "no line to read (empty file)", about=path, err=True)
            failed += 1
            continue
        if proposal.parsed_lines == 0:  # a block that reads nothing is not a proposal to paste
            reason = next(iter(proposal.reasons), "no event")
            _comment(
                f"no format reads any of its {counted(proposal.lines, 'line')} sampled; "
                f"closest, {proposal.block()['format']}: {reason}; no block proposed",
                about=path,
                err=True,
            )
            failed += 1
            continue
        found.append((path, proposal))
    for about, group in _rotations(found):
        proposal = group[0][1]
        block = proposal.block() | {"paths": [str(about)]}
        read = sum(p.lines for _, p in group)
        rate = sum(p.parsed_lines for _, p in group) / read
        files = f"{len(group)} rotated files: " if len(group) > 1 else ""
        cut = [(path, p.cut) for path, p in group if p.cut]
        short = "" if not cut else "; the file is cut short" if len(group) == 1 else f"; {len(cut)} cut short"
        _comment(f"{files}{rate:.1%} of {read} sampled lines parse{short}", about=about)
        for path, reason in cut:  # ingest's words for the cut, under the file it is in
            _comment(reason, about=path)
        if proposal.timestamp_layout:
            _comment(f"timestamp: {proposal.timestamp_layout}")
        for reason, count in list(proposal.reasons.items())[:5]:
            _comment(f"quarantined: {count} × {reason}")
        typer.echo(yaml.safe_dump([block], sort_keys=False, allow_unicode=True, width=100).rstrip())
    if failed:
        raise typer.Exit(1)


#: What rotation adds after a log file's name: ``.1``, ``.2.gz``, ``-20260310``, ``.2026-03-10``, ``.gz``.
_ROTATED = re.compile(r"(?:[.-](?:\d{1,3}|\d{8}(?:\d{2,6})?|\d{4}-\d{2}-\d{2}(?:[-_T]?\d{2,6})?))?(?:\.gz)?$")


def _rotations(found: list) -> list[tuple[Path, list]]:
    """``found`` (file, proposal) as one entry per log and its rotated files: ``checkout.log``,
    ``checkout.log.1`` and ``checkout.log.2.gz`` under one glob (``checkout.log*``) when the same block
    reads them all; a file alone (or read another way) keeps its own path."""
    groups: dict[tuple, list] = {}
    for path, proposal in found:
        stem = _ROTATED.sub("", path.name) or path.name
        shape = {k: v for k, v in proposal.block().items() if k != "paths"}
        groups.setdefault((path.parent, stem, repr(shape)), []).append((path, proposal))
    return [
        (parent / f"{stem}*" if len(group) > 1 else group[0][0], group)
        for (parent, stem, _), group in groups.items()
    ]


def _comment(text: str, *, about: Path | None = None, err: bool = False) -> None:
    """``text`` as YAML comment lines that fit the terminal (80 columns when it is not one).

    ``about`` (a file) leads the first line whole; when the line would not fit, the text follows
    under it, indented.
    """
    import shutil
    import textwrap

    width = max(shutil.get_terminal_size((80, 24)).columns, 40)
    whole = f"# {about}: {text}" if about else f"# {text}"
    if len(whole) <= width:
        typer.echo(whole, err=err)
        return
    lines = [f"# {about}:"] if about else []
    indent = "#   " if about else "# "
    lines += textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent="#   ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    typer.echo("\n".join(lines), err=err)


def _files(paths: list[Path]) -> list[Path]:
    """``paths`` with each folder replaced by the files under it (sorted; hidden names left out).

    A folder without a file is an error that names it (nothing to detect is not a success).
    """
    files = []
    for path in paths:
        if not path.is_dir():
            files.append(path)
            continue
        inside = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not inside:
            typer.echo(f"error: {path}: a folder with no file in it", err=True)
            raise typer.Exit(1)
        files += inside
    return files


@sources_app.command("check", help=CHECK_HELP)
def check_command(
    config: Path = typer.Argument(
        None, help="logrca YAML config (default: $LOGRCA_CONFIG or the bundled example); or --config."
    ),
    config_option: Path = typer.Option(
        None, "--config", "-c", help="logrca YAML config, as 'logrca run' takes it (same as the argument)."
    ),
    lines: int = typer.Option(1000, "--lines", "-n", min=1, help="Lines sampled from each file's head."),
) -> None:
    """See :data:`CHECK_HELP`."""
    from logrca.assets.config import ConfigError, load_config
    from logrca.parsers.ingest.detect import check_source
    from logrca.pipelines.environment import deployment_from_env

    if config and config_option and config != config_option:
        typer.echo(f"error: two configs given: {config} and --config {config_option}", err=True)
        raise typer.Exit(2)
    path = config or config_option or deployment_from_env().config_path
    try:
        loaded = load_config(path)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    silent = []
    unread = []
    for source in loaded.sources:
        result = check_source(source, loaded.base_dir, max_lines=lines)
        rate = f"{result.parsed_lines / result.lines:.1%}" if result.lines else "-"
        quarantined = result.lines - result.parsed_lines
        typer.echo(
            f"{source.name[:12]:12} {source.format:8} {result.files:3} files {result.lines:6} lines "
            f"{result.parsed_lines:6} parsed ({rate}) {quarantined} quarantined"
        )
        for reason, count in result.reasons.items():
            typer.echo(f"    {count:6} × {reason}")
        for note in result.notes:
            typer.echo(f"    note: {note}")
        if result.lines and not result.parsed_lines:
            silent.append(source.name)
        if any("does not exist)" in note for note in result.notes):
            unread.append(source.name)
    if silent:
        typer.echo(f"error: no line of {', '.join(silent)} parses; see `logrca sources detect`", err=True)
    if unread:
        typer.echo(
            f"error: {', '.join(unread)}: a path's folder does not exist (see the note); not read", err=True
        )
    if silent or unread:
        raise typer.Exit(1)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")
