"""The analysis options: one validated object; every error names the field by its dotted path."""

from __future__ import annotations

import re

import pytest

from logrca.rca.options import AnalysisOptions, OptionsError


def test_defaults_are_the_documented_method():
    options = AnalysisOptions()
    assert options.noise.source == "before-alert" and options.noise.keep == 0.5
    assert options.patterns.rare_count == 2
    assert options.patterns.enabled and not options.patterns.pre_alert_normal
    assert options.ranking.propagation == 0.0 and options.traces.wire_outlier_z == 3.0
    assert options.differences() == {}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"noise": {"keep": 2}}, "noise.keep"),
        ({"noise": {"source": "yesterday"}}, "noise.source"),
        ({"patterns": {"multiplicity": "bag"}}, "patterns.multiplicity"),
        ({"traces": {"wire_unit": 0}}, "traces.wire_unit"),
        ({"detection": {"min_new_count": 0}}, "detection.min_new_count"),
        ({"ranking": {"signal_weights": {"logs": 1.0}}}, "ranking.signal_weights"),
        ({"ranking": {"signal_weights": {"metric": -1.0}}}, "ranking.signal_weights"),
        ({"noise": {"confirm_signals": ["trace_call_gap", "wire"]}}, "noise.confirm_signals"),
        ({"nosie": {"keep": 0.5}}, "nosie"),
    ],
)
def test_an_invalid_option_is_refused_naming_its_field(data, field):
    with pytest.raises(OptionsError, match="^" + re.escape(field) + r"\b"):
        AnalysisOptions.parse(data)


def test_changed_applies_dotted_paths_validates_and_leaves_the_original_alone():
    base = AnalysisOptions()
    changed = base.changed({"noise.keep": 0.25, "ranking.signal_weights": {"metric": 0.0}})
    assert changed.noise.keep == 0.25 and changed.ranking.signal_weights == {"metric": 0.0}
    assert base.noise.keep == 0.5  # frozen: a copy, never the original
    assert changed.differences() == {"noise.keep": 0.25, "ranking.signal_weights.metric": 0.0}
    with pytest.raises(OptionsError, match="noise.keep"):
        base.changed({"noise.keep": -1})
    with pytest.raises(OptionsError, match="noise.kep: no such option"):
        base.changed({"noise.kep": 0.5})
    with pytest.raises(OptionsError, match="nois.keep: no such option group"):
        base.changed({"nois.keep": 0.5})
    with pytest.raises(Exception, match="frozen"):
        base.noise.keep = 0.1  # type: ignore[misc]
