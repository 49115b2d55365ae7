"""AC@k / Avg@5 and the evaluation loop: the analysis cannot see the label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from logrca.cli import app
from logrca.rca.evaluate import accuracy_at_k, average_at_5, evaluate_dataset

FIXTURE = Path(__file__).parent / "fixtures" / "rca" / "mini"


def test_accuracy_metrics():
    ranks = [1, 2, 3, None, 6]
    assert [accuracy_at_k(ranks, k) for k in (1, 3, 5)] == [0.2, 0.6, 0.6]
    assert average_at_5(ranks) == pytest.approx((0.2 + 0.4 + 0.6 + 0.6 + 0.6) / 5)
    assert accuracy_at_k([], 1) == 0.0


def test_analysis_gets_a_label_free_copy(tmp_path):
    seen = []

    def spy(case_dir: Path, normal_dirs: list[Path]) -> list[str]:
        assert not list(case_dir.rglob("label.json")) and not list(case_dir.parent.parent.rglob("label.json"))
        assert FIXTURE.resolve() not in case_dir.resolve().parents
        seen.append(case_dir.name)
        return ["ts-b-service", "ts-a-service"]

    result = evaluate_dataset(FIXTURE, analyse=spy)
    assert seen == ["c1"]
    assert result["cases"][0]["rank"] == 2 and result["AC@1"] == 0.0 and result["AC@3"] == 1.0


def test_eval_rca_command_runs_the_real_analysis_on_a_tiny_case():
    result = CliRunner().invoke(app, ["eval", "rca", str(FIXTURE), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["n"] == 1 and payload["cases"][0]["true_service"] == "ts-a-service"
    assert payload["cases"][0]["rank"] == 1  # the new warning in ts-a-service and the slower calls to it


def test_rca_command_prints_the_report():
    result = CliRunner().invoke(app, ["rca", str(FIXTURE / "cases" / "c1")])
    assert result.exit_code == 0, result.output
    assert "ts-a-service" in result.stdout and "#" in result.stdout


def test_eval_rca_says_which_baseline_it_used(tmp_path):
    import shutil

    with_normal = CliRunner().invoke(app, ["eval", "rca", str(FIXTURE)])
    assert with_normal.exit_code == 0, with_normal.output
    assert "baseline: the 1 fault-free folder(s)" in with_normal.stdout
    bare = tmp_path / "bare"
    shutil.copytree(FIXTURE / "cases", bare / "cases")  # no normal/: each case's own pre-alert minutes
    result = evaluate_dataset(bare, analyse=lambda case_dir, normal_dirs: [])
    assert (result["baseline"], result["normal_folders"]) == ("before-alert", 0)
    shown = CliRunner().invoke(app, ["eval", "rca", str(bare)])
    assert shown.exit_code == 0 and "minutes before its alert" in shown.stdout
    for output in (with_normal.stdout, shown.stdout):  # a header, and every line fits 80 columns
        assert "true root cause" in output and max(len(line) for line in output.splitlines()) <= 80


def test_eval_rca_on_empty_cases_is_an_error(tmp_path):
    (tmp_path / "cases").mkdir()
    result = CliRunner().invoke(app, ["eval", "rca", str(tmp_path)])
    assert result.exit_code == 1
    assert "no case folders" in result.output


def test_eval_rca_loo_reports_in_sample_beside_leave_one_out_and_the_rules():
    result = CliRunner().invoke(app, ["eval", "rca", str(FIXTURE), "--loo", "--no-normal"])
    assert result.exit_code == 0, result.output
    assert "baseline: before-alert" in result.stdout
    for line in ("in-sample (defaults)", "leave-one-out, grid", "leave-one-out, rules earn place", "rules ("):
        assert line in result.stdout
    assert "s/case analysis" in result.stdout


def test_rca_command_lists_the_changes_of_a_window_without_incident(tmp_path):
    """A restart alone is no incident, but the report that says so names it: a change is never hidden."""
    import gzip
    import shutil

    case = tmp_path / "cases" / "quiet"
    shutil.copytree(FIXTURE / "normal" / "n1", case)  # the fault-free minutes, against themselves
    log = case / "logs" / "00_log.csv.gz"
    restart = (
        '2024-03-01T10:00:30.000Z,0,10.0.0.1,ts-a-service-7f9-bb2,server,,,"{""log"": ""10:00:30.000 INFO  '
        'a.Items#7 Shutting down ts-a-service: received SIGTERM\\n"", ""stream"": ""stdout"", '
        '""time"": ""2024-03-01T10:00:30.000Z""}"'
    )
    log.write_bytes(gzip.compress(gzip.decompress(log.read_bytes()) + restart.encode() + b"\n"))
    (case / "case.json").write_text(json.dumps({"system": "mini", "alert_time": "2024-03-01T10:00:20Z"}))
    args = ["rca", str(case), "--normal", str(FIXTURE / "normal" / "n1"), "--markdown"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "No incident" in result.stdout
    assert "`ts-a-service` | restart |" in result.stdout and "received SIGTERM" in result.stdout
