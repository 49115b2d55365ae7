"""Config validation: errors name the file and the field."""

from __future__ import annotations

import pytest

from logrca import PROJECT_ROOT
from logrca.assets.config import ConfigError, load_config

EXAMPLE = PROJECT_ROOT / "examples" / "shop" / "logrca.yaml"


def test_example_config_loads_with_resolved_paths():
    config = load_config(EXAMPLE)
    assert {s.name for s in config.sources} == {"gateway", "checkout", "payments", "inventory", "db"}
    assert {s.format for s in config.sources} == {"loghub", "jsonl", "syslog"}
    assert config.resolve(config.topology).is_file()
    assert config.source("checkout").multiline is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: xml}]",
            "sources.0.format",
        ),
        ("start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: loghub}]", "header"),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl, timezone: Mars/Base}]",
            "sources.0.timezone",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl, multiline: {start_pattern: '('}}]",
            "sources.0.multiline.start_pattern",
        ),
        ("start: 2026-01-01\nsources: []", "sources"),
        ("sources: [{name: a, service: a, paths: [x.log], format: jsonl}]", "start"),
        ("start: 2026-01-01\nsourcez: []", "sourcez"),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "changes: {rules: [{name: r, pattern: 'deploy(', kind: deploy}]}",
            "changes.rules.0.pattern",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "indexing: {retention_days: 0}",
            "indexing.retention_days",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\nreport: {pictur: false}",
            "report.pictur",
        ),
        (
            "start: 2026-01-01\ntopology: nope.yaml\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]",
            "topology",
        ),
        (  # no <Content>: refused at load, not with a traceback mid-run
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: loghub, header: '<Date> <Time> <Msg>'}]",
            "sources.0: header format '<Date> <Time> <Msg>' has no <Content>",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: loghub, header: '<Pid> <Content>'}]",
            "has no time field",
        ),
        (  # valid for Python's re, not for polars' engine that runs it on columns
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl, multiline: {start_pattern: '(?<=x)y'}}]",
            "sources.0.multiline.start_pattern",
        ),
        (  # change and detection rules run on polars' engine too: a look-around is refused at load
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "changes: {rules: [{name: r, pattern: '(?<!un)deployed', kind: deploy}]}",
            "changes.rules.0.pattern: '(?<!un)deployed' is not a valid regular expression for "
            "polars: look-around, including look-ahead and look-behind, is not supported",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "changes: {rules: [{name: r, pattern: deployed, kind: deploy, version_pattern: '(?=v)(\\S+)'}]}",
            "changes.rules.0.version_pattern",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "detection: {rules: [{name: r, pattern: '(a)\\1'}]}",
            "detection.rules.0.pattern",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "detection: {error_pattern: '(?=x)'}",
            "detection.error_pattern",
        ),
        (  # a typo in the detection section was ignored: the threshold silently stayed at its default
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "detection: {min_scor: 4}",
            "detection.min_scor",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl}]\n"
            "detection: {rules: [{name: r, patern: oom}]}",
            "detection.rules.0.patern",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl, encoding: utf-nine}]",
            "sources.0.encoding",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log], format: jsonl, timestamp_format: yyMMdd}]",
            "sources.0.timestamp_format",
        ),
        (
            "start: 2026-01-01\nsources: [{name: a, service: a, paths: [x.log, '.'], format: jsonl}]",
            "sources.0.paths.1: ",
        ),
        (  # polars' parser takes any format and reads no line with it
            "start: 2026-01-01\nsources: [{name: a, paths: [x.log], format: jsonl, timestamp_format: '%Q %Z'}]",
            "sources.0.timestamp_format: '%Q' in '%Q %Z' is not a time directive (chrono's strftime)",
        ),
        (  # would run no partition and exit 0
            "start: 2026-01-05T10:00\nend: 2026-01-05T09:00\nsources: [{name: a, paths: [x.log], format: jsonl}]",
            "end: 2026-01-05 09:00 UTC is not after start (2026-01-05 10:00 UTC)",
        ),
        (  # a typo in json_fields would be ignored and the field read from its default key
            "start: 2026-01-01\nsources: [{name: a, paths: [x.log], format: jsonl, json_fields: {timestmp: ts}}]",
            "sources.0.json_fields.timestmp: unknown key; did you mean 'timestamp'?\n"
            "    allowed: timestamp, level, message, service, host, trace_id",
        ),
    ],
)
def test_invalid_config_names_the_field(tmp_path, body, field):
    path = tmp_path / "logrca.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert field in str(error.value)
    assert str(path) in str(error.value)


def test_a_paths_folder_that_does_not_exist_loads(tmp_path):
    """The incident and search commands load the config on machines that hold no logs: a missing
    folder fails the ingest run instead (test_ingest_summary), not the load."""
    path = tmp_path / "logrca.yaml"
    path.write_text("start: 2026-01-01\nsources: [{name: a, paths: [nodir/*.log], format: jsonl}]")
    assert load_config(path).sources[0].paths == ["nodir/*.log"]


def test_missing_and_non_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_example_declares_its_spans_and_metrics_in_the_standard_formats():
    config = load_config(EXAMPLE)
    assert [(s.name, s.format) for s in config.spans] == [("shop-spans", "otlp-json")]
    assert [(s.name, s.format) for s in config.metrics] == [("shop-metrics", "prometheus")]
    assert config.metrics[0].prometheus.service_labels == ["service"]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("spans: [{name: t, paths: [t.json], format: otlp}]", "spans.0.format", "otlp-json"),
        (
            "metrics: [{name: m, paths: [m.prom], format: prometheus, prometheus: {service_label: [app]}}]",
            "metrics.0.prometheus.service_label",
            "unknown key; did you mean 'service_labels'?",
        ),
        (
            "metrics: [{name: m, paths: [m.csv], format: case-csv, prometheus: {}}]",
            "metrics.0",
            "'prometheus' options need format 'prometheus'",
        ),
        (  # stored as an asset that nothing read: a pod's metrics are compared with its own earlier minutes
            "metrics: [{name: m, paths: [m.prom], format: prometheus, role: baseline}]",
            "metrics.0.role",
            "its own minutes before the alert",
        ),
    ],
)
def test_invalid_span_or_metric_source_names_the_field(tmp_path, body, field, reason):
    path = tmp_path / "logrca.yaml"
    path.write_text(
        f"start: 2026-01-01\nsources: [{{name: a, service: a, paths: [x.log], format: jsonl}}]\n{body}"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert field in str(error.value) and reason in str(error.value)


@pytest.mark.parametrize(
    "body",
    [
        "start: 2026-01-01\nbaseline_partitions: zero\nsources: [{name: a, paths: [x.log], format: jsonl}]",
        "sources: [unclosed",
    ],
)
def test_a_config_error_is_one_message_without_the_parsers_dump(tmp_path, body):
    """Dagster shows a code location error with its chained causes: pydantic's dump and stack would bury
    the message (and echo each input value)."""
    import traceback

    path = tmp_path / "logrca.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    shown = "".join(traceback.format_exception(error.value))
    assert "ValidationError" not in shown and "input_value" not in shown and "ScannerError" not in shown


def test_an_invalid_catalogue_fails_the_config_load_without_its_urls(tmp_path):
    """It used to load, and the partition run failed at its last step (``incidents``)."""
    (tmp_path / "catalogue.yaml").write_text(
        "services:\n  payments:\n    owner: team\n    ack_deadline_minutes: soon\n"
        "    contacts: [{name: Pat, email: pat@example.com}]\n"
        "    channels:\n"
        "      - {kind: slack, url: 'hooks.slack.com/services/T0/B0/SECRETTOKEN'}\n"
        "      - {kind: pagerx, url: 'https://pager.example.com/hook/SECRETTOKEN'}\n"
    )
    path = tmp_path / "logrca.yaml"
    path.write_text(
        "start: 2026-01-01\ncatalogue: catalogue.yaml\nsources: [{name: a, paths: [x.log], format: jsonl}]"
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message and str(tmp_path / "catalogue.yaml") in message
    assert "services.payments.ack_deadline_minutes: Input should be a valid integer" in message
    assert "services.payments.channels.0.url: not an http(s) URL" in message
    assert "services.payments.channels.1.kind: Input should be 'webhook', 'slack' or 'email'" in message
    assert "SECRETTOKEN" not in message and error.value.__cause__ is None


def test_a_catalogue_yaml_error_does_not_show_the_line(tmp_path):
    """YAML's own message quotes the line, here a webhook URL."""
    (tmp_path / "catalogue.yaml").write_text(
        "services:\n  a: {url: 'https://hooks.example.com/SECRETTOKEN', x: [}\n"
    )
    path = tmp_path / "logrca.yaml"
    path.write_text(
        "start: 2026-01-01\ncatalogue: catalogue.yaml\nsources: [{name: a, paths: [x.log], format: jsonl}]"
    )
    with pytest.raises(ConfigError, match="not valid YAML: .* at line 2, column") as error:
        load_config(path)
    assert "SECRETTOKEN" not in str(error.value)


def test_no_asset_holds_what_the_analysis_never_reads():
    """Fault-free metric files were ingested into ``baseline_metrics``, which no asset read."""
    from logrca.pipelines.definitions import build_definitions
    from logrca.pipelines.environment import deployment_from_env

    defs = build_definitions(load_config(EXAMPLE), deployment_from_env({}))
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "baseline_spans" in keys and "baseline_metrics" not in keys
