"""``logrca es`` options are checked before anything starts: the error names the flag."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from logrca.cli import app


@pytest.mark.parametrize(
    ("args", "flag", "said"),
    [
        (["start", "--port", "9271", "--heap", "lots"], "--heap", "'lots' is not a heap size"),
        (["start", "--port", "9271", "--heap", "64m"], "--heap", "at least 128m"),
        (["start", "--port", "70000"], "--port", "70000 is not in 1-65435"),
        (["start", "--port", "65500"], "--port", "the transport port, port+100"),
        (["stop", "--port", "0"], "--port", "greater than or equal to 1"),
        (["status", "--port", "70000"], "--port", "less than or equal to 65535"),
    ],
)
def test_a_bad_port_or_heap_is_a_usage_error_naming_the_flag(args, flag, said):
    done = CliRunner().invoke(app, ["es", *args], env={"COLUMNS": "200"})
    assert done.exit_code == 2, done.output
    assert f"Invalid value for '{flag}'" in done.output and said in done.output
    assert "Exception" not in done.output and "starting Elasticsearch" not in done.output


@pytest.mark.parametrize("heap", ["512m", "1g", "2G", "128M"])
def test_heap_sizes_the_jvm_takes_pass(heap):
    from logrca.commands.es import _heap

    assert _heap(heap) == heap
