"""``--es-url`` (or LOGRCA_ES_URL) wherever a command talks to Elasticsearch, before or after the subcommand."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from logrca.cli import app

pytestmark = pytest.mark.es
NOBODY = "http://127.0.0.1:9"  # the variable points nowhere: only the flag can make these work


@pytest.mark.parametrize(
    "args",
    [
        ["search", "x", "--es-url", "{url}"],
        ["incident", "list", "--es-url", "{url}"],
        ["incident", "--es-url", "{url}", "list"],
        ["eval", "incidents", "--es-url", "{url}"],
        ["es", "prune-lines", "--older-than-days", "1", "--es-url", "{url}"],
    ],
    ids=["search", "incident-list-flag-after", "incident-flag-before", "eval-incidents", "es-prune-lines"],
)
def test_the_flag_reaches_the_cluster(args, es_url, index_prefix):
    args = [a.replace("{url}", es_url) for a in args]
    done = CliRunner().invoke(app, args, env={"LOGRCA_ES_URL": NOBODY, "LOGRCA_INDEX_PREFIX": index_prefix})
    assert done.exit_code == 0, done.output
    assert "not reachable" not in done.output


def test_es_status_asks_the_configured_cluster(es_url):
    done = CliRunner().invoke(app, ["es", "status"], env={"LOGRCA_ES_URL": es_url})
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] in ("green", "yellow")
    nobody = CliRunner().invoke(app, ["es", "status", "--es-url", NOBODY])
    assert nobody.exit_code == 1 and "is not reachable" in nobody.output


def test_eval_incidents_options_have_help():
    done = CliRunner().invoke(app, ["eval", "incidents", "--help"], env={"COLUMNS": "100"})
    assert "Elasticsearch URL" in done.stdout and "<prefix>-incidents" in done.stdout
    assert "Print the scores as one JSON object" in done.stdout
