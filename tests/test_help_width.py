"""Every command's ``--help`` at 80 columns: each option's name shown whole, every line within 80."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from logrca.cli import app


def _command_paths(command, path=()):
    """The name path of ``command`` and of every command under it (the root is ``()``)."""
    yield path
    for name, sub in sorted((getattr(command, "commands", None) or {}).items()):
        yield from _command_paths(sub, (*path, name))


def _command_at(path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


COMMANDS = list(_command_paths(typer.main.get_command(app)))


def test_every_command_is_walked():
    assert {(), ("run",), ("eval", "parsing"), ("incident", "list"), ("sources", "detect")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "logrca")
def test_help_at_80_columns_shows_every_option_name_whole(path):
    done = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    cut = [
        line for line in lines if line.startswith("│") and "…" in line
    ]  # rich ends a cell it cuts with "…"
    assert not cut, "\n".join(cut)
    names = [
        name
        for param in _command_at(path).params
        if not getattr(param, "hidden", False)
        for name in (*param.opts, *param.secondary_opts)
        if name.startswith("-")
    ]
    words = {word.strip("│,") for line in lines for word in line.split()}
    assert not [name for name in names if name not in words], done.output
