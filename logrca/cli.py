"""The ``logrca`` command line: one Typer app; each module in ``logrca.commands`` adds its commands."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import typer

# logrca uses a few Dagster features marked beta (partition mappings that allow missing upstream
# partitions, sensor owners) or preview (the per-partition check on rca_report); the warnings say
# nothing a user can act on, and `logrca eval rca` printed one per case.
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")
warnings.filterwarnings("ignore", message=r".*AssetCheckSpec is currently in preview.*")

app = typer.Typer(
    help="logrca: ingest logs, mine templates, detect changes, rank root causes, file incidents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
eval_app = typer.Typer(
    help="Measure logrca on labelled data (template mining, root-cause ranking).", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


def _register_commands() -> None:
    """Import every ``logrca.commands.*`` module and call its ``register(app, eval_app)``."""
    import logrca.commands as commands

    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"logrca.commands.{module_info.name}")
        module.register(app, eval_app)


_register_commands()


def main() -> None:
    """The ``logrca`` command: a deployment variable logrca cannot use is one line and exit code 2."""
    from logrca.pipelines.environment import DeploymentError

    try:
        app()
    except DeploymentError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
