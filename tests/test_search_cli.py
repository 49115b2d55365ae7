"""``logrca search``: flags that filter log lines need --lines, a time range runs forward, and an
empty query lists the newest documents first."""

from __future__ import annotations

from typer.testing import CliRunner

from logrca.cli import app
from logrca.rca.search_index import search_all


def test_line_filters_without_lines_are_refused_not_ignored():
    result = CliRunner().invoke(app, ["search", "payments", "-t", "5", "--trace", "abc"])
    assert result.exit_code == 2
    assert "--template, --trace filter log lines: add --lines (-l)" in result.stderr


def test_a_time_range_that_runs_backwards_is_refused():
    result = CliRunner().invoke(
        app, ["search", "--lines", "--since", "2026-03-10T03:00:00", "--until", "2026-03-10T02:00:00"]
    )
    assert result.exit_code == 2
    assert "--since 2026-03-10 03:00:00 is not before --until 2026-03-10 02:00:00" in result.stderr


def test_an_empty_query_lists_the_newest_first(es_client, index_prefix):
    index = f"{index_prefix}-findings"
    for day in (3, 9, 5):
        es_client.index(index=index, document={"@timestamp": f"2026-03-0{day}T10:00:00Z", "day": day})
    es_client.indices.refresh(index=index)
    hits = search_all(es_client, prefix=index_prefix, query="", kinds=("findings",))
    assert [hit["source"]["day"] for hit in hits] == [9, 5, 3]
