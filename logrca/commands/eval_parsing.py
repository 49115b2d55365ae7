"""``logrca eval parsing``: template-mining accuracy (GA, PA, FGA, FTA) and speed on a labelled log."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import typer

HELP = (
    "Measure template mining on a labelled log (Loghub layout): GA, PA, FGA, FTA and lines/s.\n\n"
    "\b\n"
    "GA   share of lines whose predicted group holds exactly their true group\n"
    "FGA  F1 over groups (a group is right when its lines equal a true group's)\n"
    "PA   share of lines whose template string equals their true template\n"
    "FTA  F1 over templates (right when its lines share one true template,\n"
    "     equal to it)\n\n"
    "Definitions of Loghub-2.0 (Jiang et al., ISSTA 2024); templates are compared after "
    "whitespace normalisation.\n\n"
    "--truth is a CSV with at least LineId, Content, EventTemplate (LineId: the 1-based line in --log).\n\n"
    "--format is the header format of the log's lines, e.g. '<Date> <Time> <Level> <Component>: <Content>'; "
    "without it, the --masking file's `format:`.\n\n"
    '--masking is a YAML file: a list of rules `- {pattern: REGEX, mask_with: "*"}`, or a mapping with '
    "`masking:` and optional `format:`, `sim_th:`, `depth:` (options given here win). logrca applies its "
    "generic masks first (ids, times, values with units, numbers; --no-default-masks skips them), "
    "then these rules.\n\n"
    "--baseline also runs plain drain3 (TemplateMiner, line by line, with the file's masks and the same "
    "sim_th and depth) on the same input and prints both.\n\n"
    "\b\n"
    "Example:\n"
    "  logrca eval parsing --log HDFS_2k.log \\\n"
    "    --truth HDFS_2k.log_structured_corrected.csv \\\n"
    "    --masking bench/loghub_masking/HDFS.yaml --baseline\n"
)

METRICS = ("GA", "PA", "FGA", "FTA")


def build_configs(
    masking: Path | None, sim_th: float | None, depth: int | None, default_masks: bool
) -> tuple[Any, Any, str | None]:
    """logrca config, drain3 baseline config and the header format from a masking/settings file."""
    from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES, load_masking_file
    from logrca.parsers.templates.miner import TemplateConfig

    settings: dict[str, Any] = load_masking_file(masking) if masking else {"masking": []}
    file_rules = settings["masking"]
    defaults = TemplateConfig()
    drain_settings = {
        "sim_th": sim_th if sim_th is not None else settings.get("sim_th", defaults.sim_th),
        "depth": depth if depth is not None else settings.get("depth", defaults.depth),
    }
    for key in ("max_children", "max_clusters", "extra_delimiters", "parametrize_numeric_tokens"):
        if key in settings:
            drain_settings[key] = settings[key]
    # generic masks first: they take whole ids and times, which a file's narrower rules (a clock
    # time inside a date) would otherwise cut into pieces they no longer recognise
    logrca_rules = (list(DEFAULT_MASKING_RULES) if default_masks else []) + list(file_rules)
    try:
        config = TemplateConfig(masking=logrca_rules, **drain_settings)
        baseline = TemplateConfig(masking=list(file_rules), **drain_settings)
    except ValueError as error:
        raise ValueError(f"{masking}: {error}") from error
    return config, baseline, settings.get("format")


SMALL_INPUT_LINES = 100_000


def render_report(report: dict[str, Any]) -> None:
    """Print the report as a rich table."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Template mining on {report['log']}")
    table.add_column("parser")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column("templates", justify="right")
    table.add_column("lines/s", justify="right")
    for name in ("drain3", "logrca"):
        if name in report:
            row = report[name]
            table.add_row(
                name,
                *[f"{row[m]:.3f}" for m in METRICS],
                str(row["templates"]),
                f"{row['lines_per_second']:,.0f}",
            )
    console.print(table)
    if "drain3" in report:
        speed = (
            f"speed-up: {report['logrca']['lines_per_second'] / report['drain3']['lines_per_second']:.1f}x"
        )
        if report["lines"] < SMALL_INPUT_LINES:
            speed += (
                f" (on {report['lines']:,} lines the batch set-up outweighs the work; logrca's speed-up shows from about "
                f"{SMALL_INPUT_LINES:,} lines: bench/bench_templates.py)"
            )
        console.print(speed)
    console.print(
        f"lines {report['lines']}, labelled {report['labelled']}, header not matched {report['unmatched_header']}, "
        f"lines without label {report['unlabelled_lines']}, labels without line {report['missing_lines']}, "
        f"scored {report['scored']}"
    )
    if report["missing_lines"] and not report["present_only"]:
        console.print(
            f"[yellow]warning: {report['missing_lines']} labelled line(s) are not in the log and count as wrongly parsed; "
            "if the log is cut short or a sample, pass --present-only to score only the lines it has[/yellow]"
        )


def _share(text: str) -> float:
    """``--sim-th``: a number from 0 to 1, else a usage error."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"{text} is not between 0 and 1")
    return value


def parsing_command(
    log: Path = typer.Option(..., "--log", exists=True, dir_okay=False, help="Raw log file."),
    truth: Path = typer.Option(
        ..., "--truth", exists=True, dir_okay=False, help="Labelled CSV (LineId, Content, EventTemplate)."
    ),
    header_format: str | None = typer.Option(
        None,
        "--format",
        help="Header format of the log's lines (default: the --masking file's).",
    ),
    masking: Path | None = typer.Option(
        None,
        "--masking",
        exists=True,
        dir_okay=False,
        help="YAML masking rules (and optional sim_th, depth, format).",
    ),
    sim_th: float | None = typer.Option(
        None,
        "--sim-th",
        metavar="<0..1>",
        parser=_share,  # not min/max: their "<float range> [0.0<=x<=1.0]" takes a third of 80 columns
        help="Drain similarity threshold (default: file, else logrca's 0.5).",
    ),
    depth: int | None = typer.Option(
        None, "--depth", metavar="<int>", min=3, help="Drain tree depth (default: file, else logrca's 4)."
    ),
    baseline: bool = typer.Option(
        False, "--baseline", help="Also run plain drain3 line by line and print both."
    ),
    no_default_masks: bool = typer.Option(
        False,
        "--no-default-masks",
        help="Skip logrca's generic masks (ids, times, values with units, numbers).",
    ),
    present_only: bool = typer.Option(
        False,
        "--present-only",
        help="Score only the labelled lines the log has (default: missing lines count as wrong).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Template-mining accuracy (GA, PA, FGA, FTA) and lines/s on a labelled log.

    Longer than 60 lines because of its ten typer options, one declaration each; the body is 20 lines.
    """
    try:
        config, baseline_config, file_format = build_configs(
            masking, sim_th, depth, default_masks=not no_default_masks
        )
        report = _evaluate(
            log,
            _required_format(header_format or file_format),
            truth,
            config,
            baseline_config=baseline_config if baseline else None,
            present_only=present_only,
            progress=not as_json,
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        render_report(report)


def _required_format(fmt: str | None) -> str:
    """The header format to use; ValueError when neither --format nor the --masking file gives one."""
    if not fmt:
        raise ValueError("no header format: pass --format or put 'format:' in the --masking file")
    return fmt


def _evaluate(
    log: Path, fmt: str, truth: Path, config: Any, *, baseline_config: Any, present_only: bool, progress: bool
) -> dict[str, Any]:
    """:func:`logrca.parsers.evaluate.evaluate_parsing`, under a spinner on stderr when ``progress``."""
    from logrca.parsers.evaluate import evaluate_parsing

    run = partial(
        evaluate_parsing, log, fmt, truth, config, baseline_config=baseline_config, present_only=present_only
    )
    if not progress:
        return run()
    from rich.console import Console

    with Console(stderr=True).status("mining templates..."):
        return run()


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add ``eval parsing`` to the ``eval`` group."""
    eval_app.command("parsing", help=HELP)(parsing_command)
