"""Parsing metrics on a hand-made example with known values, labelled-file errors, and the CLI end to end."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from logrca import PROJECT_ROOT
from logrca.cli import app
from logrca.parsers.evaluate import (
    grouping_accuracy,
    parsing_accuracy,
    parsing_metrics,
    read_labelled,
    template_accuracy,
)

# 6 lines, true templates A A B B C D; the parser merges C and D and splits B.
TRUTH = pl.Series(["A <*>", "A <*>", "B x", "B x", "C <*>", "D <*>"])
PREDICTED = pl.Series(["A <*>", "A  <*> ", "B x", "B <*>", "<*> <*>", "<*> <*>"])


def test_grouping_accuracy_known_values():
    result = grouping_accuracy(TRUTH, PREDICTED.str.replace_all(r"\s+", " ").str.strip_chars())
    # correct true groups: A (lines 1-2) only -> GA = 2/6; predicted groups 4, true groups 4 -> P = R = 1/4
    assert result["GA"] == pytest.approx(2 / 6)
    assert result["PGA"] == pytest.approx(1 / 4) and result["RGA"] == pytest.approx(1 / 4)
    assert result["FGA"] == pytest.approx(1 / 4)
    assert grouping_accuracy(pl.Series(["a", "a", "b"]), pl.Series([7, 7, 9])) == {
        "GA": 1.0,
        "FGA": 1.0,
        "PGA": 1.0,
        "RGA": 1.0,
    }


def test_parsing_and_template_accuracy_known_values():
    # whitespace-normalised equal lines: 1, 2, 3 -> PA = 3/6
    assert parsing_accuracy(TRUTH, PREDICTED) == pytest.approx(0.5)
    result = template_accuracy(TRUTH, PREDICTED)
    # predicted templates: "A <*>" (lines 1,2: one true template, equal) correct; "B x" (line 3) correct;
    # "B <*>" wrong string; "<*> <*>" two true templates -> 2 correct of 4 predicted, of 4 true
    assert result["PTA"] == pytest.approx(2 / 4) and result["RTA"] == pytest.approx(2 / 4)
    assert result["FTA"] == pytest.approx(0.5)
    metrics = parsing_metrics(TRUTH, PREDICTED)
    assert metrics["GA"] == pytest.approx(2 / 6) and metrics["PA"] == pytest.approx(0.5)


def test_edge_cases():
    empty = pl.Series([], dtype=pl.Utf8)
    assert grouping_accuracy(empty, empty)["GA"] == 0.0
    assert parsing_accuracy(pl.Series(["a"]), pl.Series([None], dtype=pl.Utf8)) == 0.0
    with pytest.raises(ValueError, match="truth has 1 lines, predicted 2"):
        grouping_accuracy(pl.Series(["a"]), pl.Series(["a", "b"]))


def test_read_labelled_names_missing_columns(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("LineId,Content\n1,x\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['EventTemplate'\]"):
        read_labelled(bad)
    bad.write_text("LineId,Content,EventTemplate\n1,x,x\nfoo,y,y\n")
    with pytest.raises(ValueError, match=r"labels.csv:3: LineId is not an integer"):
        read_labelled(bad)


def test_cli_json_and_baseline_on_a_sample(shared_data):
    folder = shared_data / "loghub" / "HDFS"
    settings = PROJECT_ROOT / "bench" / "loghub_masking" / "HDFS.yaml"
    args = [
        "eval",
        "parsing",
        "--log",
        str(folder / "HDFS_2k.log"),
        "--truth",
        str(folder / "HDFS_2k.log_structured_corrected.csv"),
        "--masking",
        str(settings),
        "--baseline",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["lines"] == report["labelled"] == 2000 and report["unmatched_header"] == 0
    for side in ("logrca", "drain3"):
        assert set(report[side]) >= {"GA", "PA", "FGA", "FTA", "lines_per_second"}
    assert report["logrca"]["GA"] >= report["drain3"]["GA"] > 0.9


def test_cli_without_format_is_a_clear_error(shared_data, tmp_path):
    folder = shared_data / "loghub" / "Apache"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "parsing",
            "--log",
            str(folder / "Apache_2k.log"),
            "--truth",
            str(folder / "Apache_2k.log_structured_corrected.csv"),
        ],
    )
    assert result.exit_code == 2 and "no header format" in result.output


@pytest.mark.parametrize("batch_bytes", [1, 7, 1 << 20])
def test_iter_log_lines_keeps_every_line(tmp_path, batch_bytes):
    from logrca.parsers.evaluate import iter_log_lines

    path = tmp_path / "x.log"
    path.write_bytes(b"a\r\nb\xff c\n\n  d\re\nlast")
    lines = [line for batch in iter_log_lines(path, batch_bytes) for line in batch.to_list()]
    assert lines == ["a", "b\ufffd c", "", "  d\re", "last"]


def test_run_logrca_same_ids_as_drain3_on_concatenated_samples(shared_data, tmp_path):
    from logrca.commands.eval_parsing import build_configs
    from logrca.parsers.evaluate import run_drain3_baseline, run_logrca
    from logrca.parsers.ingest.header_format import compile_header

    folder = shared_data / "loghub" / "OpenSSH"
    log = tmp_path / "twice.log"
    log.write_bytes(
        (folder / "OpenSSH_2k.log").read_bytes().rstrip(b"\n")
        + b"\n"
        + (folder / "OpenSSH_2k.log").read_bytes()
    )
    config, _, fmt = build_configs(
        PROJECT_ROOT / "bench" / "loghub_masking" / "OpenSSH.yaml", None, None, default_masks=True
    )
    config = config.model_copy(update={"split_max_values": 0})  # Drain's grouping alone, as drain3's
    ours, _ = run_logrca(log, compile_header(fmt), config, batch_bytes=50_000)  # several batches
    theirs, _ = run_drain3_baseline(log, compile_header(fmt), config)
    assert ours.height == theirs.height == 4000
    assert ours["cluster_id"].to_list() == theirs["template_id"].to_list()  # drain3's cluster per line
    assert ours["template"].to_list() == theirs["template"].to_list()


SETTINGS = sorted((PROJECT_ROOT / "bench" / "loghub_masking").glob("*.yaml"))


@pytest.mark.parametrize("settings", SETTINGS, ids=[path.stem for path in SETTINGS])
def test_grouping_accuracy_at_least_drain3s_with_the_same_settings(shared_data, settings):
    """Every labelled sample with a settings file: logrca's GA >= plain drain3's, at drain3's defaults and at the usual settings."""
    from logrca.commands.eval_parsing import build_configs
    from logrca.parsers.evaluate import evaluate_parsing
    from logrca.parsers.templates.miner import TemplateConfig

    folder = shared_data / "loghub" / settings.stem
    log, truth = (
        folder / f"{settings.stem}_2k.log",
        folder / f"{settings.stem}_2k.log_structured_corrected.csv",
    )
    if not (log.is_file() and truth.is_file()):
        pytest.skip(f"no labelled sample for {settings.stem} in {folder}")
    config, usual, fmt = build_configs(settings, None, None, default_masks=True)
    defaults = TemplateConfig()
    pairs = (
        (
            config.model_copy(update={"sim_th": defaults.sim_th, "depth": defaults.depth}),
            TemplateConfig(masking=usual.masking),
        ),
        (config, usual),
    )
    for logrca_config, drain3_config in pairs:
        report = evaluate_parsing(log, fmt, truth, logrca_config, baseline_config=drain3_config)
        assert report["logrca"]["GA"] >= report["drain3"]["GA"], (settings.stem, logrca_config.sim_th, report)


def test_a_log_cut_short_is_flagged_and_can_be_scored_on_its_lines(shared_data, tmp_path):
    folder = shared_data / "loghub" / "HDFS"
    truth = folder / "HDFS_2k.log_structured_corrected.csv"
    cut = tmp_path / "first300.log"
    cut.write_text(
        "".join((folder / "HDFS_2k.log").read_text(encoding="utf-8").splitlines(keepends=True)[:300]),
        encoding="utf-8",
    )
    settings = PROJECT_ROOT / "bench" / "loghub_masking" / "HDFS.yaml"
    base = ["eval", "parsing", "--log", str(cut), "--truth", str(truth), "--masking", str(settings)]
    strict = CliRunner().invoke(app, base)
    assert strict.exit_code == 0, strict.output
    said = strict.output.replace("\n", " ")
    assert "1700 labelled line(s) are not in the log" in said and "--present-only" in said
    assert "speed-up shows from about" not in strict.output  # no baseline, no speed-up line
    report = json.loads(CliRunner().invoke(app, [*base, "--json"]).stdout)
    assert (report["missing_lines"], report["scored"]) == (1700, 2000) and report["logrca"][
        "GA"
    ] < 0.2  # missing lines count as wrong
    present = json.loads(CliRunner().invoke(app, [*base, "--present-only", "--baseline", "--json"]).stdout)
    assert (present["missing_lines"], present["scored"]) == (1700, 300)
    assert present["logrca"]["GA"] >= present["drain3"]["GA"] > 0.9
    shown = CliRunner().invoke(app, [*base, "--present-only", "--baseline"])
    assert (
        "not in the log" not in shown.output
        and "speed-up shows from about 100,000 lines" in shown.output.replace("\n", " ")
    )


def test_without_a_settings_file_eval_measures_logrcas_defaults(tmp_path):
    """`logrca eval parsing --format F` scores TemplateConfig() as it is; a file's rules come after the generic masks."""
    from logrca.commands.eval_parsing import build_configs
    from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES
    from logrca.parsers.templates.miner import TemplateConfig

    config, baseline, fmt = build_configs(None, None, None, default_masks=True)
    assert config == TemplateConfig() and fmt is None
    assert (baseline.sim_th, baseline.depth, baseline.masking) == (config.sim_th, config.depth, [])
    settings = tmp_path / "only_masks.yaml"
    settings.write_text("masking:\n- pattern: 'ord-\\d+'\n  mask_with: ORDER\n")
    config, baseline, _ = build_configs(settings, None, None, default_masks=True)
    assert [rule.pattern for rule in config.masking] == [
        *(rule.pattern for rule in DEFAULT_MASKING_RULES),
        r"ord-\d+",
    ]
    assert (config.sim_th, config.depth) == (TemplateConfig().sim_th, TemplateConfig().depth)
    assert [rule.pattern for rule in baseline.masking] == [r"ord-\d+"]
