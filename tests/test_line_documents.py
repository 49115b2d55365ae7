"""Log-line documents built on whole columns equal the per-line ECS documents and ids (no Elasticsearch)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import polars as pl

from logrca.rca.log_lines import _line_document, _line_id, line_bodies


def _events(n: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)

    def text() -> str | None:
        return rng.choice(
            [None, "", "plain", 'a "quote" \\ slash', "tab\tnew\nline\x01", "é日本", ',"host":null']
        )

    start = datetime(2026, 3, 10, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "timestamp": [
                start + timedelta(microseconds=rng.choice([0, 1, 54000, 10**6]) * i) for i in range(n)
            ],
            "service": [rng.choice([None, "", "auth", "db"]) for _ in range(n)],
            "host": [text() for _ in range(n)],
            "level": [rng.choice([None, "", "INFO", "ERROR", "FATAL"]) for _ in range(n)],
            "message": [text() for _ in range(n)],
            "trace_id": [text() for _ in range(n)],
            "source_file": [rng.choice([None, "", "/logs/a.log"]) for _ in range(n)],
            "line_no": [rng.choice([None, i]) for i in range(n)],
            "template_id": [rng.choice([None, 3, 70]) for _ in range(n)],
        },
        schema_overrides={
            "timestamp": pl.Datetime("us", "UTC"),
            "line_no": pl.Int64,
            "template_id": pl.Int64,
        },
    )


def test_documents_and_ids_equal_the_per_line_ones():
    events = _events(2000, seed=2)
    bodies = line_bodies("Shop", "2026-03-10-01:00", events)
    assert bodies.height == events.height
    for row, doc_id, source in zip(events.iter_rows(named=True), bodies["_id"], bodies["_source"]):
        expected = _line_document("Shop", "2026-03-10-01:00", row)
        assert json.loads(source) == json.loads(json.dumps(expected)), row
        assert doc_id == _line_id("Shop", row)


def test_null_keys_are_left_out_not_written_as_null():
    def nulls(value) -> int:
        if isinstance(value, dict):
            return sum(nulls(v) for v in value.values())
        return int(value is None)

    documents = [json.loads(source) for source in line_bodies("Shop", "p", _events(300, seed=4))["_source"]]
    assert sum(nulls(document) for document in documents) == 0
    assert sum("trace" in document for document in documents) > 50  # present ones are kept
