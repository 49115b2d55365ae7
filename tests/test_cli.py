"""The command line, as a user runs it: logrca run, dagster asset materialize, logrca search, logrca es status."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from logrca import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "examples" / "shop"
BIN = PROJECT_ROOT / ".venv" / "bin"
INCIDENT_HOUR = "2026-03-10-02:00"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop-cli")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("logs", "__pycache__"))
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate.py"), str(root / "logs")], check=True, capture_output=True
    )
    return root


def cli_env(shop, tmp_path, es_url, prefix) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return dict(
        os.environ,
        DAGSTER_HOME=str(home),
        LOGRCA_CONFIG=str(shop / "logrca.yaml"),
        LOGRCA_DATA_DIR=str(tmp_path / "data"),
        LOGRCA_ES_URL=es_url,
        LOGRCA_INDEX_PREFIX=prefix,
    )


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("LOGRCA_INDEX_PREFIX", "Shop", "error: LOGRCA_INDEX_PREFIX='Shop' is not a usable index prefix"),
        (
            "LOGRCA_SENSOR_SETTLE_SECONDS",
            "soon",
            "error: LOGRCA_SENSOR_SETTLE_SECONDS='soon': expected a number",
        ),
    ],
)
def test_a_bad_deployment_variable_is_one_line_not_a_traceback(tmp_path, variable, value, said):
    done = subprocess.run(
        [str(BIN / "logrca"), "search", "anything"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, **{variable: value}, DAGSTER_HOME=str(tmp_path / "home")),
    )
    assert done.returncode == 2
    assert done.stderr.startswith(said) and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.es
def test_logrca_run_records_the_report_in_the_dagster_instance(shop, tmp_path, es_url, index_prefix):
    env = cli_env(shop, tmp_path, es_url, index_prefix)
    done = subprocess.run(
        [str(BIN / "logrca"), "run", "--partition", "2026-03-10-01:00", "--partition", INCIDENT_HOUR],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"INCIDENT root cause\s+payments", done.stderr)
    from dagster import AssetKey, DagsterInstance

    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        instance = DagsterInstance.get()
        event = instance.get_latest_materialization_event(AssetKey("rca_report"))
        assert event is not None and event.dagster_event.partition == INCIDENT_HOUR
        report = event.asset_materialization.metadata["report"].value
        assert "Ranked root-cause services" in report and "`payments`" in report
        assert "process\\_cpu\\_usage" in report  # the metric evidence, Markdown-escaped
    finally:
        os.environ.pop("DAGSTER_HOME")

    found = subprocess.run(
        [str(BIN / "logrca"), "search", "payments cpu", "--json", "--kind", "reports"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert hits and hits[0]["source"]["root_cause"] == "payments"
    assert hits[0]["source"]["service"]["name"] == "payments"  # ECS service.name
    finding = subprocess.run(
        [str(BIN / "logrca"), "search", "payment call timed out", "--json", "--kind", "findings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    first = json.loads(finding.stdout.splitlines()[0])["source"]
    template_id, service = first["template_id"], first["service"]["name"]
    table = subprocess.run(  # the table fits 80 columns and says how to reach the finding's lines
        [str(BIN / "logrca"), "search", "payment call timed out", "--kind", "findings"],
        env={**env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "relevance" in table.stdout and "--lines" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    lines = subprocess.run(
        [
            str(BIN / "logrca"),
            "search",
            "--lines",
            "-t",
            str(template_id),
            "-s",
            service,
            "--json",
            "-n",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    drilled = [json.loads(line) for line in lines.stdout.splitlines()]
    assert len(drilled) == 5 and all(d["labels"]["template_id"] == str(template_id) for d in drilled)
    assert [d["@timestamp"] for d in drilled] == sorted(d["@timestamp"] for d in drilled)
    assert "more than 5 match" in lines.stderr  # the first 5 of many: said, not left to guess
    shown = subprocess.run(
        [str(BIN / "logrca"), "search", "--lines", "-t", str(template_id), "-s", service, "-n", "2"],
        env={**env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "the first 2 log lines, oldest first (more match: -n for more)" in shown.stdout
    # each time to the millisecond, whole on its row, the date and time as people read them
    stamps = re.findall(r"^ *(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) ", shown.stdout, re.MULTILINE)
    assert len(stamps) == 2 and stamps == sorted(stamps), shown.stdout


@pytest.mark.es
def test_dagster_cli_materializes_the_chain(shop, tmp_path, es_url, index_prefix):
    env = cli_env(shop, tmp_path, es_url, index_prefix)
    done = subprocess.run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "logrca.pipelines.definitions",
            "--select",
            "*search_index",  # everything the index needs: logs, spans, metrics, analysis, report
            "--partition",
            "2026-03-10-00:00",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "data" / "parquet" / "raw_logs" / "2026-03-10-00:00.parquet").exists()
    assert (tmp_path / "data" / "parquet" / "root_causes" / "2026-03-10-00:00.parquet").exists()


def test_bad_config_is_reported_with_the_field(tmp_path):
    bad = tmp_path / "logrca.yaml"
    bad.write_text("start: 2026-01-01\nsources: [{name: a, paths: [x.log], format: loghub}]\n")
    done = subprocess.run(
        [str(BIN / "logrca"), "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, DAGSTER_HOME=str(tmp_path / "home")),
    )
    assert done.returncode == 2
    assert "sources.0" in done.stderr and "header" in done.stderr


@pytest.mark.parametrize("count", ["0", "-1"])
def test_last_takes_a_positive_count(count):
    from typer.testing import CliRunner

    from logrca.cli import app

    done = CliRunner().invoke(app, ["run", "--last", count])
    assert done.exit_code == 2
    assert "Invalid value for '--last'" in done.output and "greater than or equal to 1" in done.output


@pytest.mark.es
def test_es_status_reports_health(es_url):
    port = es_url.rsplit(":", 1)[1]
    done = subprocess.run(
        [str(BIN / "logrca"), "es", "status", "--port", port], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["status"] in ("green", "yellow")
    nothing = subprocess.run(
        [str(BIN / "logrca"), "es", "status", "--port", "9"], capture_output=True, text=True, timeout=60
    )
    assert nothing.returncode == 1 and "no Elasticsearch answers" in nothing.stderr


@pytest.mark.parametrize(
    "args", [["search", "timeout"], ["incident", "list"], ["incident", "weekly"], ["incident", "--es-url"]]
)
def test_a_server_that_is_not_there_is_one_line_with_the_reason_and_the_fix(args, free_port):
    url, other = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    if args[-1] == "--es-url":  # the flag wins over the variable, in the message too
        args, url, other = [*args, url, "list"], url, url.replace("127.0.0.1", "localhost")
    done = subprocess.run(
        [str(BIN / "logrca"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, LOGRCA_ES_URL=other if "--es-url" in args else url, COLUMNS="80"),
    )
    assert done.returncode == 1 and done.stdout == ""
    said = done.stderr.strip()
    assert said == (
        f"error: Elasticsearch at {url} is not reachable (Connection refused); "
        "start it with 'logrca es start' or set LOGRCA_ES_URL"
    )


def test_every_command_has_help():
    for args in (
        ["--help"],
        ["run", "--help"],
        ["search", "--help"],
        ["es", "start", "--help"],
        ["eval", "--help"],
    ):
        done = subprocess.run([str(BIN / "logrca"), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Usage" in done.stdout, args


def _commands(app, prefix=""):
    """(name, help text) of every command of ``app`` and its groups."""
    import inspect

    for command in app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        yield prefix + name, command.help or inspect.getdoc(command.callback) or ""
    for group in app.registered_groups:
        yield from _commands(group.typer_instance, f"{prefix}{group.name} ")


def test_command_help_paragraphs_have_no_hard_line_breaks():
    """Typer's rich help keeps a docstring's line breaks, so a paragraph split across source lines
    comes out broken mid-sentence at 80 columns; only ``\\b`` blocks (tables, examples) keep theirs,
    and their lines fit an 80-column terminal (help is indented by one column, a box by two)."""
    from logrca.cli import app

    commands = dict(_commands(app))
    assert {"run", "search", "es prune-lines", "eval parsing"} <= commands.keys()
    broken = {
        name: paragraph
        for name, text in commands.items()
        for paragraph in text.split("\n\n")
        if "\n" in paragraph.strip("\n") and not paragraph.lstrip("\n").startswith("\b")
    }
    assert not broken, broken
    kept = [
        line
        for text in commands.values()
        for paragraph in text.split("\n\n")
        if paragraph.lstrip("\n").startswith("\b")
        for line in paragraph.splitlines()
    ]
    assert kept and max(len(line) for line in kept) <= 78, [line for line in kept if len(line) > 78]


def test_search_hits_show_each_time_whole_at_80_columns():
    """A hit's time wraps between its date and its time of day, never inside the time (it is what a
    user copies into ``--since``), and the table still fits an 80-column terminal."""
    from rich.console import Console

    from logrca.commands.search import _hits_table

    report = {"root_cause": "payments", "window_start": "2026-03-10T02:18:03.004000+00:00"}
    report["summary"] = "trace span_self_time (score 43.5): 975/1780 requests spent longer inside " * 4
    finding = {"service": {"name": "checkout"}, "first_seen": "2026-03-10T02:18:05.120000Z"}
    finding |= {"template": "payment call timed out after <NUM> ms", "template_id": 7}
    hits = [
        {"kind": "reports", "score": 2.45, "source": report},
        {"kind": "findings", "score": 9.8, "source": finding},
    ]
    terminal = Console(width=80, record=True)
    terminal.print(_hits_table(hits, wide=False))
    shown = terminal.export_text().splitlines()
    assert max(len(line) for line in shown) <= 80
    # 200 characters of the summary's strongest signal, without its source and score: 3 of the 4 "inside"
    assert sum(line.count("inside") for line in shown) == 3
    assert any(line.rstrip().endswith("…") for line in shown)  # said to be cut: --json has it whole
    for date, time in (("2026-03-10", "02:18:03.004000Z"), ("2026-03-10", "02:18:05.120000Z")):
        row = next(i for i, line in enumerate(shown) if time in line)
        assert date in shown[row - 1] or date in shown[row], shown


def test_report_tables_in_the_terminal_fold_long_names_instead_of_cutting_them():
    """``ts-order-other-service`` and ``ts-order-other-servlet`` must not both show as ``ts-order-other-serv…``."""
    from rich.console import Console

    from logrca.tables import markdown

    name = "ts-order-other-service-of-the-shop"
    terminal = Console(width=20, record=True)
    terminal.print(markdown(f"| service |\n|---|\n| `{name}` |\n"))
    shown = terminal.export_text()
    assert "…" not in shown
    assert name in "".join(line.strip() for line in shown.splitlines()[2:])  # below the header and rule


def test_a_report_hit_reads_as_its_strongest_signal():
    """A report's summary holds every signal of its top suspect; a hit shows the strongest in words."""
    from logrca.commands.search import _summary

    summary = (
        "trace span_self_time (score 43.5): 975/1780 requests spent longer inside than baseline p99; "
        "metric process_cpu_usage (score 6.2): 0.97 vs its baseline median 0.31; "
        "anomalous callees it depends on: db"
    )
    assert (
        _summary(summary)
        == "span_self_time 975/1780 requests spent longer inside than baseline p99 (+2 more)"
    )
    assert _summary("log error_burst (score 3.0): 23 error lines vs 0.0 expected") == (
        "error_burst 23 error lines vs 0.0 expected"
    )
