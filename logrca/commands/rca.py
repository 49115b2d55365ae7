"""``logrca rca CASE_DIR`` (one incident's report) and ``logrca eval rca DATASET_DIR`` (AC@k over labelled cases).

Both run the pipeline's assets on each case folder in-process (:mod:`logrca.pipelines.case_run`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def rca_command(
    case_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="A case folder: case.json, logs/, traces/, metrics/."
    ),
    normal: list[Path] = typer.Option(
        None, "--normal", help="Fault-free folders for the baseline (default: ../../normal/*)."
    ),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the raw Markdown (to save or paste) instead of rendering it."
    ),
) -> None:
    """Run the pipeline on one incident case and print its report, rendered for the terminal.

    The report is the one the pipeline's report asset writes; --markdown prints its Markdown source.
    """
    from logrca.pipelines.case_run import run_case
    from logrca.rca.report_render import render_report

    try:
        run = run_case(case_dir, normal_dirs=list(normal) if normal else None)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    report = render_report(run.finding, title=f"Incident {run.name}", changes=run.changes)
    if markdown:
        typer.echo(report)
    else:
        from rich.console import Console

        from logrca.tables import markdown as terminal_markdown

        Console().print(terminal_markdown(report))
    lost = {name: n for name, n in run.quarantined.items() if n}
    if lost:
        typer.echo(f"quarantined rows (not analysed): {lost}", err=True)


def _evaluate(dataset_dir: Path, *, loo: bool, use_normal: bool, advance) -> dict:
    """``eval rca``'s result: every case through the pipeline's assets on one ephemeral Dagster instance."""
    from dagster import DagsterInstance

    from logrca.pipelines.case_run import load_case_frames, run_case
    from logrca.rca.evaluate import evaluate_dataset, evaluate_settings
    from logrca.rca.loo import default_grid, loo_report

    with DagsterInstance.ephemeral() as instance:
        if loo:
            evaluated = evaluate_settings(
                dataset_dir,
                default_grid(),
                load=lambda case, normal: load_case_frames(case, normal, instance=instance),
                use_normal=use_normal,
                on_case=lambda _: advance(),
            )
            return loo_report(evaluated)

        def analyse(case: Path, normal: list[Path]) -> list[str]:
            return run_case(case, normal_dirs=normal, instance=instance).ranking["service"].to_list()

        return evaluate_dataset(
            dataset_dir, analyse=analyse, use_normal=use_normal, on_case=lambda _: advance()
        )


def eval_rca_command(
    dataset_dir: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Folder with cases/*/ (and normal/*/)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    no_normal: bool = typer.Option(
        False, "--no-normal", help="Ignore normal/: each case's minutes before its alert are the baseline."
    ),
    loo: bool = typer.Option(
        False,
        "--loo",
        help="Leave one case out: choose the options on the other cases (a grid around the defaults), "
        "rank the held-out one; also what each rule of the method carries. Runs the grid (minutes).",
    ),
) -> None:
    """Run the pipeline on every case of DATASET_DIR without its label; print each true service's rank, AC@1, AC@3, Avg@5."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    n_cases = len([p for p in (dataset_dir / "cases").glob("*") if p.is_dir()])
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("ranking cases", total=n_cases)
            result = _evaluate(
                dataset_dir, loo=loo, use_normal=not no_normal, advance=lambda: progress.advance(task)
            )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    elif loo:
        _print_loo(result)
    else:
        _print_eval(result, dataset_dir)


def _cases_table(rows: list[dict], title: str, ranks: dict[str, str]):
    """One row per case: its name, true root cause, fault type and the ``ranks`` columns (80 columns)."""
    from logrca.tables import table

    columns = ["case", "true root cause", "fault", *ranks]
    made = table(title, columns, fixed=("case",), widest={"true root cause": 28, "fault": 14})
    for row in rows:
        shown = [str(row[key]) if row[key] is not None else "-" for key in ranks.values()]
        made.add_row(row["case"], row["true_service"], str(row["fault_type"] or "-"), *shown)
    return made


def _print_eval(result: dict, dataset_dir: Path) -> None:
    from logrca.tables import console

    console().print(_cases_table(result["cases"], "rank of each true root cause", {"rank": "rank"}))
    typer.echo(
        f"cases {result['n']}  AC@1 {result['AC@1']:.3f}  AC@3 {result['AC@3']:.3f}  Avg@5 {result['Avg@5']:.3f}  "
        f"({result['seconds_per_case']:.2f} s/case)"
    )
    if result["baseline"] == "normal":
        said = f"baseline: the {result['normal_folders']} fault-free folder(s) in {dataset_dir / 'normal'}"
    else:
        said = (
            "baseline: each case's own minutes before its alert\n"
            f"(no fault-free folders in {dataset_dir / 'normal'}, or --no-normal; with them the ranking has a "
            "cleaner reference)"
        )
    console().print(said, markup=False, highlight=False)  # wrapped to the terminal: the path may be long


def _print_loo(report: dict) -> None:
    def figures(row: dict) -> str:
        return f"AC@1 {row['AC@1']:.3f}  AC@3 {row['AC@3']:.3f}  Avg@5 {row['Avg@5']:.3f}"

    from logrca.tables import console

    ranks = {"rank": "rank", "LOO": "loo_rank", "rules": "loo_rules_rank"}
    console().print(_cases_table(report["cases"], "rank of each true root cause", ranks))
    typer.echo("(rank: in-sample; LOO: leave-one-out over the grid; rules: leave-one-out")
    typer.echo(" with every rule earning its place; '-': not ranked)")
    typer.echo(f"baseline: {report['baseline']}; {report['settings']} settings in the grid")
    typer.echo(f"in-sample (defaults)            {figures(report['in_sample'])}")
    typer.echo(f"leave-one-out, grid             {figures(report['loo'])}")
    typer.echo(f"leave-one-out, rules earn place {figures(report['loo_rules'])}")
    for case, chosen in report["loo_choices"].items():
        typer.echo(f"  fold without {case}: chose {chosen}")
    typer.echo("by fault type (cases ranked first / within the first 3):")
    for kind, row in sorted(report["by_kind"].items()):
        typer.echo(
            f"  {kind:16} {row['n']:2} cases  in-sample {row['in_sample'][0]}/{row['in_sample'][1]}  "
            f"LOO {row['loo'][0]}/{row['loo'][1]}  rules {row['loo_rules'][0]}/{row['loo_rules'][1]}"
        )
    typer.echo("rules (cases whose rank changes without the rule, better or worse with it):")
    for row in sorted(report["rules"], key=lambda r: (-r["changed"], r["rule"])):
        flag = "  <- one case" if row["changed"] == 1 else ""
        typer.echo(f"  {row['changed']:2}  {row['rule']}{flag}")
        for line in row["better"] + [f"{w} (worse with it)" for w in row["worse"]]:
            typer.echo(f"        {line}")
    typer.echo(
        f"{report['seconds_per_case']:.2f} s/case analysis, {report['load_seconds_per_case']:.2f} s/case load + templates"
    )


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("rca")(rca_command)
    eval_app.command("rca")(eval_rca_command)
