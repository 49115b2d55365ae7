"""Secrets never stored: redaction at ingest, its rules, and a corpus run through the real pipeline."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from pipeline_support import copy_example, pipeline_definitions, run_config_partition

from logrca import PROJECT_ROOT
from logrca.parsers.ingest.cards import _mask_cards, luhn_valid, luhn_valid_many, mask_cards
from logrca.parsers.ingest.secrets import MASK, Redactor, SecretsConfig

EXAMPLE = PROJECT_ROOT / "examples" / "shop"
INCIDENT_HOUR = "2026-03-10-02:00"

#: (secret, a realistic line that carries it), one per kind the default rules cover.
CORPUS = [
    ("Hunter2Hunter2", "login failed user=alice password=Hunter2Hunter2 attempts=3"),
    ("Pa55 w0rd!", 'config loaded {"user": "svc", "password": "Pa55 w0rd!", "pool": 5}'),
    ("sk_live_51HqLyjWDarjtT1zdp7dc", "payment client api_key=sk_live_51HqLyjWDarjtT1zdp7dc region=eu"),
    ("dXNlcjpzM2NyM3Q=", "upstream call Authorization: Basic dXNlcjpzM2NyM3Q= status=401"),
    ("mF_9.B5f-4.1JqM", "token refresh with Bearer mF_9.B5f-4.1JqM done"),
    (
        "eyJzdWIiOiJhbGljZSJ9",
        "session jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlX3ZhbHVl accepted",
    ),
    ("AKIAIOSFODNN7EXAMPLE", "s3 upload with key AKIAIOSFODNN7EXAMPLE bucket=inv-backups"),
    (
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
        "boto config aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY loaded",
    ),
    ("AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "maps lookup key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    (
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "git clone token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok",
    ),
    ("glpat-x1Y2z3W4v5U6t7S8r9Q0", "gitlab push with glpat-x1Y2z3W4v5U6t7S8r9Q0 rejected"),
    ("xoxb-2048-4096-AbCdEfGhIjKlMnOp", "notify slack token xoxb-2048-4096-AbCdEfGhIjKlMnOp channel=#ops"),
    (
        "MIIEpAIBAAKCAQEA7bq",
        "key dump -----BEGIN RSA PRIVATE KEY----- MIIEpAIBAAKCAQEA7bq -----END RSA PRIVATE KEY-----",
    ),
    ("S3cretPw0rd", "db connect failed url=postgres://inv_user:S3cretPw0rd@db:5432/inventory"),
    ("4111 1111 1111 1111", "charge declined card 4111 1111 1111 1111 amount=12.00"),
]


def test_every_secret_of_the_corpus_is_masked_and_the_rest_of_the_line_kept():
    redactor = Redactor.from_config(SecretsConfig())
    out = redactor.redact(pl.Series([line for _, line in CORPUS])).to_list()
    for (secret, line), masked in zip(CORPUS, out):
        assert secret not in masked, masked
        assert "[REDACTED" in masked
        assert masked.split()[0] == line.split()[0]  # the words around the secret stay


def test_lines_without_secrets_are_untouched():
    clean = [
        "Reserved 2 units of SKU-00161 for order ord-7807253 trace_id=a923710fdd843021",
        "ts=1773104400000 took 4111111111111112 ns",  # 13+ digits failing the Luhn check
        "user passed the pass check; tokens=5",
        "GET /api/orders?page=2 200",
    ]
    assert Redactor.from_config(SecretsConfig()).redact(pl.Series(clean)).to_list() == clean


def test_an_identifier_holding_a_secret_becomes_null_not_one_shared_id():
    """Two requests whose numeric trace ids pass the card check must not become one ``[REDACTED]`` request."""
    from logrca.parsers.ingest.schema import ReadResult, empty_events

    ids = ["4111111111111111", "5500005555555559", "a923710fdd843021", None]
    rows = [
        {"message": f"call trace_id={trace_id}", "trace_id": trace_id, "host": host}
        for trace_id, host in zip(ids, ["web-1", "token=abc123", "web-1", "web-2"], strict=True)
    ]
    events = pl.concat([empty_events(), pl.DataFrame(rows)], how="diagonal_relaxed")
    result = ReadResult(events=events, stats={"lines_read": 4, "ids_with_a_secret": 1})
    out = Redactor.from_config(SecretsConfig()).redact_result(result)
    assert out.events["trace_id"].to_list() == [None, None, "a923710fdd843021", None]
    assert out.events["host"].to_list() == ["web-1", None, "web-1", "web-2"]
    assert out.events["message"].to_list()[:3] == [f"call trace_id={MASK}"] * 2 + [
        "call trace_id=a923710fdd843021"
    ]
    assert out.stats == {"lines_read": 4, "ids_with_a_secret": 1 + 3}  # summed with what came before
    assert result.stats == {"lines_read": 4, "ids_with_a_secret": 1}  # the input's account untouched


def test_luhn_check():
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_vectorized_luhn_agrees_with_the_python_check():
    rng = random.Random(7)
    values = ["".join(rng.choice("0123456789") for _ in range(rng.randint(11, 21))) for _ in range(3000)]
    values += ["4111111111111111", "378282246310005", "12a4567890123456", "", "٣٣٣٣٣٣٣٣٣٣٣٣٣٣"]
    expected = [
        value.isascii() and value.isdigit() and 13 <= len(value) <= 19 and luhn_valid(value)
        for value in values
    ]
    assert luhn_valid_many(pl.Series(values)).to_list() == expected
    assert 100 < sum(expected) < 1000  # about one in ten random numbers passes


def test_card_masking_on_whole_columns_matches_the_line_by_line_rule():
    """Rows with one, several (passing and failing mixed) or non-ASCII candidates, as ``re.sub`` masks them."""
    rng = random.Random(11)

    def number() -> str:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(10, 21)))
        style = rng.random()
        if style < 0.3:
            return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
        if style < 0.4:
            return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
        return ("٣" if style < 0.45 else "é" if style < 0.5 else "") + digits

    lines = [
        " ".join(rng.choice(["card ", "x=", "", "_"]) + number() for _ in range(rng.randint(0, 4)))
        for _ in range(4000)
    ]
    lines += [None, "charge 4111 1111 1111 1111 ok", "took 4111111111111112 ns"]
    expected = [None if line is None else _mask_cards(line) for line in lines]
    got = mask_cards(pl.Series(lines, dtype=pl.Utf8)).to_list()
    assert got == expected
    assert sum(a != b for a, b in zip(got, lines)) > 100  # the test masks cards, not only keeps lines
    ascii_only = [line for line in lines if line is None or line.isascii()]  # the column-wide ASCII path
    assert mask_cards(pl.Series(ascii_only, dtype=pl.Utf8)).to_list() == [
        None if line is None else _mask_cards(line) for line in ascii_only
    ]


def test_values_of_digits_only_are_masked_as_the_line_by_line_rule():
    """Numeric ids (the check without a search) alone and mixed with text, as ``re.sub`` masks them."""
    rng = random.Random(5)
    ids = ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 24))) for _ in range(3000)]
    ids += ["4111111111111111", "0004111111111111111", "378282246310005", "5555555555554444"]
    mixed = ids + [None, "id 4111111111111111", "4111111111111111 ok", "٣٣٣٣٣٣٣٣٣٣٣٣٣٣"]
    for values in (ids, mixed):
        got = mask_cards(pl.Series(values, dtype=pl.Utf8)).to_list()
        assert got == [None if value is None else _mask_cards(value) for value in values]
    assert sum(value == MASK for value in got) > 20  # some random ids pass the check and are masked


@pytest.mark.parametrize("rules, cards", [(True, True), (True, False), (False, True)])
def test_redact_equals_every_rule_then_the_card_check_line_by_line(rules, cards):
    """Rows a rule, a card candidate, both or neither find: as Python ``re`` rewrites each line.

    With the rules or the card check turned off too: the one scan for candidates is built from what
    is on.
    """
    import re

    from logrca.parsers.ingest.secrets import DEFAULT_RULES

    rng = random.Random(5)
    pieces = [line for _, line in CORPUS] + ["took 4111111111111112 ns", "id 5105105105105100", "ok", "x=1"]
    lines = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) for _ in range(2000)]

    on = DEFAULT_RULES if rules else ()
    lines += [None, ""]

    def by_line(line: str | None) -> str | None:
        if line is None:
            return None
        for rule in on:
            line = re.sub(rule.pattern, re.sub(r"\$\{(\d+)\}", r"\\g<\1>", rule.replacement), line)
        return _mask_cards(line) if cards else line

    got = Redactor(rules=on, cards=cards).redact(pl.Series(lines, dtype=pl.Utf8)).to_list()
    expected = [by_line(line) for line in lines]
    assert got == expected
    assert sum(a != b for a, b in zip(expected, lines)) > 100  # secrets are there to mask


def test_rules_extend_and_turn_off_from_the_config():
    config = SecretsConfig(
        rules=[{"name": "employee_id", "pattern": r"\bEMP-\d{6}\b"}], disable=["card_number"]
    )
    redactor = Redactor.from_config(config)
    out = redactor.redact(pl.Series(["EMP-123456 paid with 4111 1111 1111 1111"])).to_list()
    assert out == [f"{MASK} paid with 4111 1111 1111 1111"]
    assert Redactor.from_config(SecretsConfig(enabled=False)) is None


def test_bad_rules_are_refused_at_load_naming_the_field(tmp_path):
    from logrca.assets.config import ConfigError, load_config

    text = (EXAMPLE / "logrca.yaml").read_text()
    for section, field in (
        ("secrets: {rules: [{name: x, pattern: '(?<=a)b'}]}", "secrets.rules.0.pattern"),
        ("secrets: {disable: [no_such_rule]}", "secrets"),
    ):
        shutil.copytree(EXAMPLE, tmp_path / "shop", dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs"))
        (tmp_path / "shop" / "logrca.yaml").write_text(text + "\n" + section + "\n")
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            load_config(tmp_path / "shop" / "logrca.yaml")


def test_definitions_hold_no_api_key_value():
    key = "c2VjcmV0LWFwaS1rZXktdmFsdWU="
    defs = pipeline_definitions(environ={"LOGRCA_ES_API_KEY": key})
    resource = defs.resources["elasticsearch"]
    assert key not in json.dumps(resource._get_non_default_public_field_values(), default=repr)
    assert key not in repr(defs.resources)
    from dagster import EnvVar

    assert isinstance(resource.api_key, EnvVar)
    assert resource.api_key.env_var_name == "LOGRCA_ES_API_KEY"


def _secret_lines(hour: str) -> str:
    """Syslog lines of the example's inventory service carrying the corpus, spread over ``hour``."""
    lines = []
    for minute in range(0, 60, 2):
        secret, text = CORPUS[minute // 2 % len(CORPUS)]
        lines.append(f"<131>1 {hour}:{minute:02d}:30.000Z inv-1 inventory 3100 - - {text}")
    return "\n".join(lines) + "\n"


#: Secrets in a span's name and pod, a quarantined span's attributes, a metric label and a broken sample.
SIGNAL_SECRETS = ("SpanN4meTok", "SpanP0dTok", "SpanQu4rPw", "L4belTok", "Pr0mLinePw")


def _secret_signals(root: Path) -> None:
    """A span request and scrape lines of the incident hour carrying :data:`SIGNAL_SECRETS`."""
    name_tok, pod_tok, quar, label, line = SIGNAL_SECRETS
    attrs = [{"key": k, "value": {"stringValue": v}} for k, v in (("service.name", "payments"),)]
    attrs.append({"key": "k8s.pod.name", "value": {"stringValue": f"payments-7d9f-2?token={pod_tok}"}})
    start = 1773111000000000000  # 02:50
    spans = [
        {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": span_id, "name": name, "attributes": extra}
        | {"startTimeUnixNano": str(start), "endTimeUnixNano": str(start + length)}
        for span_id, name, length, extra in (
            ("b7ad6b7169203331", f"GET /reset?access_token={name_tok}", 4000, []),
            (
                "b7ad6b7169203332",
                "late",
                -5,
                [{"key": "url.full", "value": {"stringValue": f"pg://u:{quar}@h"}}],
            ),
        )
    ]
    request = {"resourceSpans": [{"resource": {"attributes": attrs}, "scopeSpans": [{"spans": spans}]}]}
    with (root / "logs" / "spans" / "traces.jsonl").open("a") as out:
        out.write(json.dumps(request) + "\n")
    with (root / "logs" / "metrics" / "federate-20260310T0200Z.prom").open("a") as out:
        out.write(
            f'http_requests_total{{service="payments",pod="payments-7d9f-1",url="/p?token={label}"}} 3\n'
        )
        out.write(f'broken{{service="payments" password={line} 1\n')


@pytest.fixture(scope="module")
def secret_shop(tmp_path_factory):
    root = copy_example(tmp_path_factory.mktemp("secret-shop"))
    with (root / "logs" / "inventory" / "inventory.log").open("a") as log:
        log.write(_secret_lines("2026-03-10T02"))
    _secret_signals(root)
    return root


def test_the_corpus_reaches_the_events_when_redaction_is_off(secret_shop):
    """The control: without redaction the secrets would be stored (so the pipeline test can fail)."""
    from logrca.assets.config import load_config
    from logrca.parsers.ingest.readers import read_sources

    config = load_config(secret_shop / "logrca.yaml")
    merged, _ = read_sources(config.sources, base_dir=config.base_dir)
    text = "\n".join(merged.events["message"].to_list())
    assert all(secret in text for secret, _ in CORPUS)


def _parquet_text(folder) -> str:
    parts = []
    for path in folder.rglob("*.parquet"):
        parts.append(json.dumps(pl.read_parquet(path).to_dicts(), default=str, ensure_ascii=False))
    return "\n".join(parts)


def _file_bytes(folder) -> bytes:
    return b"\n".join(p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.suffix != ".parquet")


@pytest.mark.es
def test_no_secret_reaches_parquet_elasticsearch_the_report_or_the_event_log(
    secret_shop, tmp_path, es_url, es_client, index_prefix, instance
):
    from elasticsearch import helpers

    data_dir = tmp_path / "data"
    result = run_config_partition(
        secret_shop / "logrca.yaml",
        INCIDENT_HOUR,
        data_dir=data_dir,
        es_url=es_url,
        index_prefix=index_prefix,
        instance=instance,
    )
    parquet = _parquet_text(data_dir)
    stored = _file_bytes(data_dir)  # reports (Markdown), miner state, pickled objects
    es_client.indices.refresh(index=f"{index_prefix}-*")
    documents = json.dumps(
        [
            hit["_source"]
            for hit in helpers.scan(es_client, index=f"{index_prefix}-*", query={"query": {"match_all": {}}})
        ]
    )
    event_log = json.dumps(
        [
            entry.to_json() if hasattr(entry, "to_json") else str(entry)
            for entry in instance.all_logs(result.run_id)
        ]
    )
    history = _file_bytes(Path(instance.root_directory))
    reports = list(data_dir.rglob("*.md"))
    assert reports, "the incident hour writes a Markdown report"
    assert MASK in parquet  # the secret lines went through, masked
    for secret in [secret for secret, _ in CORPUS] + list(SIGNAL_SECRETS):
        for where, text in (("parquet", parquet), ("elasticsearch", documents), ("event log", event_log)):
            assert secret not in text, f"{secret!r} found in {where}"
        for where, blob in (("data files", stored), ("instance storage", history)):
            assert secret.encode() not in blob, f"{secret!r} found in {where}"
