"""What README.md and docs/*.md name exists: commands and their options, repository paths, the names
after ``file.py:`` or before ``in `file.py` ``, dotted ``logrca.<stage>...`` names, and every
``LOGRCA_*`` variable the code reads is in README's Configuration.

A newcomer learns logrca from these files; a renamed option or a moved function left them wrong
without any test noticing. Only mechanical claims are checked here (no defaults, no numbers).
"""

from __future__ import annotations

import importlib
import re

import pytest
import typer

from logrca import PROJECT_ROOT
from logrca.cli import app

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
STAGES = ("logrca", "assets", "parsers", "rca", "incidents", "pipelines")
#: A backticked ``folder/.../file.ext`` (no glob, no placeholder).
PATH = re.compile(r"(?<![\w/.<*-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|yaml|yml|sh|toml|json|png))(?![\w/*])")


def _spans(text: str) -> list[str]:
    """Inline code spans, and the lines of fenced code blocks (a line ending in ``\\`` joined to the next)."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", prose) + [
        line for block in blocks for line in block.replace("\\\n", " ").splitlines()
    ]


def _command_lines() -> list[tuple[str, str]]:
    """``(doc, command line)`` for each ``logrca <command> ...`` shown in the docs."""
    found = []
    for doc in DOCS:
        for span in _spans(doc.read_text()):
            match = re.search(r"(?:^|[\s/])(logrca [a-z].*)$", span.split("  #")[0].strip())
            if match:
                found.append((doc.name, match.group(1)))
    return found


def _options(command) -> set[str]:
    return {
        name
        for param in command.params
        if param.param_type_name == "option"
        for name in param.opts + param.secondary_opts
    }


@pytest.mark.parametrize(("doc", "line"), _command_lines())
def test_every_command_and_option_shown_exists(doc, line):
    command, known = typer.main.get_command(app), set()
    words = line.split()[1:]
    while words and hasattr(command, "commands"):
        # `ack\|mitigate\|resolve` (a table cell) or `mitigate|resolve`: each alternative is a command
        names = [name for name in re.split(r"\\?\|", words[0]) if name]
        if not all(name in command.commands for name in names):
            break
        known |= _options(command)
        command = command.commands[names[0]]
        words.pop(0)
    if hasattr(command, "commands") and words and re.fullmatch(r"[a-z][a-z-]+", words[0]):
        pytest.fail(f"{doc}: `{line}`: {words[0]!r} is not a command of {sorted(command.commands)}")
    known |= _options(command) | {"--help"}
    shown = {flag for word in words for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", word)}
    assert shown <= known, f"{doc}: `{line}`: no such option {sorted(shown - known)}"


#: Folders that runs write (not in a fresh checkout).
WRITTEN = ("data_out/", ".cache/")


def _paths() -> list[tuple[str, str]]:
    return [
        (doc.name, path)
        for doc in DOCS
        for span in _spans(doc.read_text())
        for path in PATH.findall(span)
        if not path.startswith(WRITTEN)
    ]


@pytest.mark.parametrize(("doc", "path"), _paths())
def test_every_repository_path_named_exists(doc, path):
    # in the checkout the stages sit beside logrca/ (`logrca/rca/x.py` is `rca/x.py`)
    candidates = [PROJECT_ROOT / path, PROJECT_ROOT / path.removeprefix("logrca/")]
    assert any(candidate.exists() for candidate in candidates), f"{doc}: `{path}` does not exist"


def _file_names() -> list[tuple[str, str, str]]:
    """``(doc, file, name)`` for each ``file.py: name`` and each `` `name` in `file.py` `` in prose."""
    spans = [(doc.name, span) for doc in DOCS for span in _spans(doc.read_text())]
    after = [
        (doc, match.group(1), match.group(2))
        for doc, span in spans
        if (match := re.fullmatch(r"([\w/]+\.py): (\w+)", span.strip()))
    ]
    prose = [
        (doc.name, re.sub(r"^```[a-z]*\n.*?^```", "", doc.read_text(), flags=re.S | re.M)) for doc in DOCS
    ]
    before = [
        (doc, match.group(2), match.group(1))
        for doc, text in prose
        for match in re.finditer(r"`(\w+)(?:\(\))?` in\s+`([\w/]+\.py)`", text)
    ]
    return after + before


@pytest.mark.parametrize(("doc", "file", "name"), _file_names())
def test_every_name_after_a_file_is_defined_there(doc, file, name):
    matches = [p for stage in STAGES for p in (PROJECT_ROOT / stage).rglob(file.split("/")[-1])]
    matches = [p for p in matches if p.as_posix().endswith(file.removeprefix("logrca/"))]
    assert matches, f"{doc}: `{file}` does not exist"
    defined = re.compile(rf"^\s*(?:def|class|async def)\s+{name}\b|^{name}\s*[:=]", re.M)
    assert any(defined.search(p.read_text()) for p in matches), (
        f"{doc}: `{file}: {name}` is not defined there"
    )


def _dotted_names() -> list[tuple[str, str]]:
    """``(doc, name)`` for each dotted ``logrca.<stage>.module.name`` in a code span."""
    stages = "|".join(STAGES[1:])
    return sorted(
        {
            (doc.name, match.group(1))
            for doc in DOCS
            for span in _spans(doc.read_text())
            for match in re.finditer(rf"(?<![\w./-])(logrca\.(?:{stages})(?:\.\w+)*)(?![\w(/-])", span)
        }
    )


@pytest.mark.parametrize(("doc", "dotted"), _dotted_names())
def test_every_dotted_name_imports(doc, dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            assert hasattr(found, part), f"{doc}: `{dotted}`: {part!r} is not in {found!r}"
            found = getattr(found, part)
        return
    pytest.fail(f"{doc}: `{dotted}` does not import")


def test_every_variable_the_code_reads_is_in_the_readme():
    code = "\n".join(
        path.read_text()
        for stage in STAGES
        for path in (PROJECT_ROOT / stage).rglob("*.py")
        if ".venv" not in path.parts
    )
    read = set(re.findall(r"[\"'](LOGRCA_[A-Z0-9_]+)[\"']", code))
    readme = (PROJECT_ROOT / "README.md").read_text()
    configuration = readme[readme.index("## Configuration") : readme.index("## The pipeline")]
    assert read, "no variable found: the pattern is wrong"
    missing = sorted(read - set(re.findall(r"LOGRCA_[A-Z0-9_]+", configuration)))
    assert not missing, f"read by the code, not in README's Configuration: {missing}"
