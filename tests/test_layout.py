"""The house stays walkable: files under 400 lines, functions under 60 lines of code unless their docstring says why."""

from __future__ import annotations

import ast
import re

from logrca import PROJECT_ROOT, STAGES

FOLDERS = (*STAGES, "logrca", "bench")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
#: A function may stay longer when its docstring says why ("Long because ...", "Longer than 60 lines
#: because ...", "Over 60 lines for ...").
WHY_LONG = re.compile(r"\bLong because|\b(Longer than|Over) 60 lines")


def _sources():
    for folder in FOLDERS:
        yield from sorted((PROJECT_ROOT / folder).rglob("*.py"))


def _docstring_lines(node: ast.FunctionDef) -> int:
    """Lines the function's docstring takes (documentation is not length of code)."""
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first.end_lineno - first.lineno + 1
    return 0


def test_no_file_over_400_lines():
    too_long = []
    for path in _sources():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_FILE_LINES:
            too_long.append(f"{path.relative_to(PROJECT_ROOT)}: {lines} lines")
    assert not too_long, "files over 400 lines (split them along a real seam):\n" + "\n".join(too_long)


def test_no_function_over_60_lines_without_a_reason():
    too_long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
                if length > MAX_FUNCTION_LINES and not WHY_LONG.search(ast.get_docstring(node) or ""):
                    too_long.append(
                        f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}: {length} lines"
                    )
    assert not too_long, (
        f"functions over {MAX_FUNCTION_LINES} lines of code whose docstring does not say why:\n"
        + "\n".join(too_long)
    )
