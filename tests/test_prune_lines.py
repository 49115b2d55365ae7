"""``logrca es prune-lines``: a dry run by default (how many, up to when), deletion only with --yes."""

from __future__ import annotations

import uuid

import pytest
from test_log_lines import events
from typer.testing import CliRunner

from logrca.cli import app
from logrca.rca.log_lines import ensure_templates, index_lines, lines_stream

pytestmark = pytest.mark.es


def test_prune_lines_says_what_it_would_delete_and_deletes_only_with_yes(es_url, es_client, index_prefix):
    prefix = f"{index_prefix}-{uuid.uuid4().hex[:8]}"  # a data stream may outlive the clean-up
    ensure_templates(es_client, prefix=prefix, retention_days=None)
    index_lines(es_client, prefix=prefix, system="Shop", partition="p1", events=events(6))  # March 2026
    args = ["es", "prune-lines", "--older-than-days", "1", "--index-prefix", prefix, "--es-url", es_url]

    dry = CliRunner().invoke(app, args)
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("dry run: would delete 6 lines older than 20")
    assert f"(data streams {prefix}-logs-*). Add --yes to delete them." in dry.stdout
    es_client.indices.refresh(index=lines_stream(prefix, "Shop"))
    assert es_client.count(index=lines_stream(prefix, "Shop"))["count"] == 6

    done = CliRunner().invoke(app, [*args, "--yes"])
    assert done.exit_code == 0 and done.stdout.startswith("deleted 6 lines older than 20"), done.output
    es_client.indices.refresh(index=lines_stream(prefix, "Shop"))
    assert es_client.count(index=lines_stream(prefix, "Shop"))["count"] == 0


def test_prune_lines_checks_the_index_prefix():
    done = CliRunner().invoke(app, ["es", "prune-lines", "--older-than-days", "1", "--index-prefix", "BAD"])
    assert done.exit_code == 2 and "not a usable index prefix" in done.output
