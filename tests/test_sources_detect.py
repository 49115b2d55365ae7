"""`logrca sources detect/check`: the timestamp catalogue on samples of each layout, the ten Loghub
systems' formats found from their files alone, and the dry run of a config."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from logrca.cli import app
from logrca.parsers.ingest.detect import detect_source
from logrca.parsers.ingest.line_formats import parse_timestamps
from logrca.parsers.ingest.timestamp_catalogue import CATALOGUE

LOGHUB = ["Apache", "BGL", "HDFS", "HPC", "Hadoop", "Linux", "OpenSSH", "OpenStack", "Spark", "Zookeeper"]


@pytest.mark.parametrize(
    "layout", [layout for layout in CATALOGUE if layout.year], ids=lambda layout: layout.name
)
def test_every_catalogue_layout_parses_its_example(layout):
    import re

    import polars as pl

    assert re.fullmatch(layout.pattern, layout.example)
    parsed = parse_timestamps(
        pl.Series([layout.example]), timestamp_format=layout.timestamp_format, timezone="UTC"
    )
    assert parsed.null_count() == 0, layout.example


@pytest.mark.parametrize(
    ("lines", "format_name", "timestamp_format"),
    [
        (["2026-03-10T01:00:0{n}.123Z INFO api: request {n} done"], "loghub", "%Y-%m-%dT%H:%M:%S%.f%z"),
        (["2026-03-10 01:00:0{n},123 ERROR [main] c.s.App: failure {n}"], "loghub", "%Y-%m-%d %H:%M:%S%.f"),
        (["081109 20361{n} 148 INFO dfs.DataNode: block {n}"], "loghub", "%y%m%d %H%M%S"),
        (
            ['127.0.0.1 - - [10/Oct/2000:13:55:3{n} -0700] "GET /a{n} HTTP/1.0" 200 2326'],
            "loghub",
            "%d/%b/%Y:%H:%M:%S %z",
        ),
        (["2009/11/10 23:00:0{n} [error] 12#0: upstream {n} timed out"], "loghub", "%Y/%m/%d %H:%M:%S%.f"),
        (["177310440{n} worker {n} started"], "loghub", "epoch_s"),
        (["177310440{n}123 worker {n} started"], "loghub", "epoch_ms"),
        (
            ["2016-09-28 04:30:3{n}, Info                  CBS    Loaded stack {n}"],
            "loghub",
            "%Y-%m-%d %H:%M:%S%.f",
        ),
        (["2026-03-10 01:00:0{n},123 - app.db - WARNING - slow query {n}"], "loghub", "%Y-%m-%d %H:%M:%S%.f"),
        (["<134>1 2026-03-10T01:00:0{n}.000Z host app 12 - - message {n}"], "syslog", None),
        (["Jun 14 15:16:0{n} combo sshd[1{n}]: session opened"], "syslog", None),
    ],
)
def test_detect_finds_the_format_and_reads_every_line(tmp_path, lines, format_name, timestamp_format):
    path = tmp_path / "new.log"
    path.write_text("".join(line.format(n=n) + "\n" for n in range(10) for line in lines))
    proposal = detect_source(path)
    assert proposal.source.format == format_name
    assert proposal.parse_rate == 1.0
    if format_name == "loghub":
        assert proposal.source.timestamp_format in (timestamp_format, None)


def test_detect_proposes_a_multiline_start_for_stack_traces(tmp_path):
    record = "2026-03-10 01:00:0{n},000 ERROR [main] c.s.App: boom {n}\njava.lang.IllegalStateException: bad\n\tat c.s.App.run(App.java:1)\n"
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress("".join(record.format(n=n) for n in range(10)).encode()))
    proposal = detect_source(path)
    assert proposal.parse_rate == 1.0
    assert proposal.source.multiline is not None


def test_detect_maps_json_fields(tmp_path):
    path = tmp_path / "pay.log"
    rows = [
        {"ts": 1773104400000 + n, "severity": "info", "msg": f"paid {n}", "pod": "pay-1"} for n in range(10)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    proposal = detect_source(path)
    assert proposal.source.format == "jsonl"
    assert proposal.source.json_fields["timestamp"] == "ts"
    assert proposal.source.json_fields["message"] == "msg"
    assert proposal.source.json_fields["host"] == "pod"
    assert proposal.parse_rate == 1.0


def test_detect_reads_a_csv_export(tmp_path):
    path = tmp_path / "pods.csv"
    lines = ["Timestamp,PodName,Log"] + [
        f'2026-03-10T01:00:0{n}Z,api-5f9c-x2x{n},"{{""log"": ""INFO request {n}""}}"' for n in range(10)
    ]
    path.write_text("\n".join(lines) + "\n")
    proposal = detect_source(path)
    assert proposal.source.format == "csv-json"
    assert proposal.parse_rate > 0.9


@pytest.mark.parametrize("system", LOGHUB)
def test_detect_reads_the_loghub_samples(shared_data, system):
    proposal = detect_source(shared_data / "loghub" / system / f"{system}_2k.log", max_lines=2000)
    assert proposal.parse_rate >= 0.99, (proposal.block(), proposal.reasons)


def test_sources_check_counts_parsed_and_quarantined_by_reason(tmp_path, shared_data):
    import shutil

    shutil.copy(shared_data / "loghub" / "HDFS" / "HDFS_2k.log", tmp_path / "hdfs.log")
    (tmp_path / "empty.log").write_text("")
    config = tmp_path / "logrca.yaml"
    config.write_text(
        "start: 2026-01-01\nsources:\n"
        "  - {name: hdfs, service: hdfs, format: loghub, paths: ['*.log'],\n"
        "     header: '<Date> <Time> <Pid> <Level> <Component>: <Content>'}\n"
    )
    result = CliRunner().invoke(app, ["sources", "check", str(config), "--lines", "100"])
    assert result.exit_code == 1
    assert "100 × unparseable timestamp" in result.output
    assert "empty file" in result.output
    config.write_text(config.read_text().replace("}", ", timestamp_format: '%y%m%d %H%M%S'}"))
    for args in (
        [str(config)],
        ["--config", str(config)],
        ["-c", str(config)],
    ):  # as 'logrca run' takes it too
        result = CliRunner().invoke(app, ["sources", "check", *args, "--lines", "100"])
        assert result.exit_code == 0, result.output
        assert "100 parsed (100.0%)" in result.output
    both = CliRunner().invoke(app, ["sources", "check", str(config), "-c", str(tmp_path / "other.yaml")])
    assert both.exit_code == 2 and "two configs given" in both.output


def test_sources_detect_prints_a_block_the_config_accepts(tmp_path, shared_data):
    import yaml

    from logrca.parsers.ingest.sources import SourceConfig

    result = CliRunner().invoke(
        app, ["sources", "detect", str(shared_data / "loghub" / "Spark" / "Spark_2k.log")]
    )
    assert result.exit_code == 0, result.output
    assert "100.0% of 1000 sampled lines parse" in result.output
    block = yaml.safe_load(result.stdout)[0]
    assert SourceConfig.model_validate(block).format == "loghub"


def test_sources_detect_reads_every_file_of_a_folder(tmp_path, shared_data):
    """Pointed at a folder (as at /var/log/app/), detect proposes a block per file under it; an empty
    folder is an error naming it."""
    for name in ("Spark", "HDFS"):
        shutil.copy(shared_data / "loghub" / name / f"{name}_2k.log", tmp_path / f"{name}.log")
    (tmp_path / ".hidden").write_text("not a log\n")
    result = CliRunner().invoke(app, ["sources", "detect", str(tmp_path), "--lines", "200"])
    assert result.exit_code == 0, result.output
    assert [block["name"] for block in yaml.safe_load(result.stdout)] == ["HDFS", "Spark"]
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(app, ["sources", "detect", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "empty: a folder with no file in it" in empty.output


def test_sources_detect_proposes_no_block_for_a_file_no_format_reads(tmp_path, shared_data):
    """Binary data parses 0% in every format: saying so beats a ``syslog`` block that reads nothing;
    the readable file beside it still gets its block, and the exit says one file was not."""
    shutil.copy(shared_data / "loghub" / "Spark" / "Spark_2k.log", tmp_path / "Spark.log")
    (tmp_path / "core.bin").write_bytes(bytes(range(256)) * 40)
    result = CliRunner().invoke(
        app, ["sources", "detect", str(tmp_path), "--lines", "200"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 1
    assert [block["name"] for block in yaml.safe_load(result.stdout)] == ["Spark"]
    assert "core.bin:" in result.stderr and "no format reads any of its" in result.stderr
    assert "no block proposed" in result.stderr
    # the comments wrap to the terminal: a path, the reason of the closest format, the verdict
    comments = [line for line in result.output.splitlines() if line.startswith("#")]
    assert max(map(len, comments)) <= 80 and any(line.startswith("#   ") for line in comments)


def test_sources_check_fails_for_a_source_whose_folder_does_not_exist(tmp_path):
    config = tmp_path / "logrca.yaml"
    config.write_text(
        "start: 2026-01-01\nsources: [{name: app, service: app, paths: [nodir/*.log], format: jsonl}]"
    )
    result = CliRunner().invoke(app, ["sources", "check", str(config)])
    assert result.exit_code == 1
    assert f"folder {tmp_path / 'nodir'} does not exist" in result.output
    assert "app: a path's folder does not exist" in result.stderr


def test_a_log_and_its_rotated_files_get_one_block_with_a_glob(tmp_path):
    """checkout.log, .1 and .2.gz read alike: one block for all three (three blocks of one name would
    be refused by the config's unique names); a file read another way keeps its own block."""
    import gzip

    def lines(hour: int) -> str:
        return "".join(
            f"2026-03-10 {hour:02d}:{m:02d}:00,000 INFO  [main] c.App: request {m} served\n"
            for m in range(60)
        )

    (tmp_path / "checkout.log").write_text(lines(2))
    (tmp_path / "checkout.log.1").write_text(lines(1))
    (tmp_path / "checkout.log.2.gz").write_bytes(gzip.compress(lines(0).encode()))
    (tmp_path / "audit.log").write_text(
        "".join(f'{{"ts": "2026-03-10T02:00:{s:02d}Z", "msg": "ok"}}\n' for s in range(30))
    )
    result = CliRunner().invoke(app, ["sources", "detect", str(tmp_path)])
    assert result.exit_code == 0, result.output
    blocks = yaml.safe_load(result.stdout)
    assert [(b["name"], b["paths"]) for b in blocks] == [
        ("audit", [str(tmp_path / "audit.log")]),
        ("checkout", [str(tmp_path / "checkout.log*")]),
    ]
    assert "3 rotated files: 100.0% of 180 sampled lines parse" in result.stdout


def test_sources_detect_says_a_gzip_file_is_cut_short(tmp_path):
    """A .gz file cut short is not a clean 100%: the line the cut went through counts as a sampled
    line that does not parse, and the file is named with ingest's wording for the cut."""
    import gzip

    body = "".join(
        f"2026-03-10 01:{m:02d}:00,000 INFO  [main] c.App: request {m * 7919} served\n" for m in range(60)
    )
    packed = gzip.compress(body.encode())
    (tmp_path / "app.log.gz").write_bytes(packed[: len(packed) * 2 // 3])
    result = CliRunner().invoke(
        app, ["sources", "detect", str(tmp_path / "app.log.gz")], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    assert "100.0%" not in result.output
    assert "sampled lines parse; the file is cut short" in result.output
    assert "truncated gzip stream: line" in result.output and "cut off where the file ends" in result.output
    comments = [line for line in result.output.splitlines() if line.startswith("#")]
    assert max(map(len, comments)) <= 80
    assert yaml.safe_load(result.stdout)[0]["format"] == "loghub"
