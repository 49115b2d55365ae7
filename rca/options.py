"""Every threshold, weight and switch of the case analysis in one typed, validated options object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from logrca.parsers.validation import error_text
from logrca.rca.detect import DetectionConfig
from logrca.rca.signals.metrics import MetricConfig

__all__ = [
    "AnalysisOptions",
    "NoiseOptions",
    "OptionsError",
    "PatternOptions",
    "RankOptions",
    "TraceOptions",
]

#: The signals the ranking fuses (``signal`` of :func:`logrca.rca.rank.evidence_rows`).
SIGNALS = (
    "log_behaviour",
    "log_rate",
    "trace_span_self_time",
    "trace_call_gap",
    "trace_trace_pattern",
    "metric",
)


def _known_signal(name: str) -> str:
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {name!r}; expected one of {', '.join(SIGNALS)}")
    return name


class OptionsError(ValueError):
    """Invalid analysis options; the message names each bad field by its dotted path (``noise.keep``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TraceOptions(_Strict):
    """Span signals (:mod:`logrca.rca.signals.traces`)."""

    quantile: float = Field(
        0.99, gt=0, lt=1, description="exclusive time: baseline quantile a call must pass"
    )
    min_score: float = Field(3.0, ge=0, description="exclusive time: smallest Poisson surprise kept")
    short_baseline_tail: bool = Field(
        True,
        description="exclusive time: no more surprising than the two-sample test of the calls above the "
        "quantile (a short baseline's quantile is a sample too)",
    )
    wire_offset_us: float = Field(
        1000.0, ge=0, description="wire time: added to both medians before their ratio"
    )
    wire_unit: float = Field(0.5, gt=0, description="wire time: log-ratio of one unit of score")
    wire_caller_weight: float = Field(
        0.9, ge=0, le=1, description="wire time: weight of outgoing edges against incoming ones"
    )
    wire_outlier_z: float | None = Field(
        3.0,
        gt=0,
        description="wire time: an edge whose baseline is an outlier among all edges (robust z above this) "
        "is judged against the typical edge; None: off",
    )
    per_request_rates: bool = Field(
        True, description="log rates scaled by the requests a service received (traces), not by time"
    )
    min_requests: int = Field(
        5, ge=1, description="per-request scaling only for services with this many baseline requests"
    )
    known_request_visits: int = Field(
        1,
        ge=0,
        description="a new template counts only lines of request kinds the baseline showed this often (0: all lines)",
    )

    def self_time_kwargs(self) -> dict[str, Any]:
        """The keyword options of :func:`logrca.rca.signals.traces.span_deviations` (exclusive time)."""
        return {
            "quantile": self.quantile,
            "min_score": self.min_score,
            "two_sample": self.short_baseline_tail,
        }


class PatternOptions(_Strict):
    """Trace-pattern attribution (:mod:`logrca.rca.signals.trace_patterns`)."""

    enabled: bool = True
    discount: bool = Field(
        True, description="take callers' lines a deviating callee explains out of their log findings"
    )
    min_visits: int = Field(5, ge=1, description="operations with fewer normal visits are not judged")
    rare_count: int = Field(
        2, ge=0, description="normal patterns seen at most this often count as rare (chosen by leave-one-out)"
    )
    multiplicity: Literal["log2", "count", "set"] = "log2"
    pre_alert_normal: bool = Field(
        False, description="the case before the window adds to the normal patterns (else the baseline alone)"
    )
    hand_off: bool = Field(False, description="the response rule (docs/rca.md); measured worse, off")

    def signal_kwargs(self) -> dict[str, Any]:
        """The keyword options of :func:`logrca.rca.signals.trace_patterns.trace_pattern_signal`."""
        return self.model_dump(
            include={
                "min_visits",
                "rare_count",
                "multiplicity",
                "pre_alert_normal",
                "hand_off",
            }
        )


class NoiseOptions(_Strict):
    """Each service's own noise (:func:`logrca.rca.rank.standout_scores`)."""

    source: Literal["before-alert", "normal", "both", "confirmed"] = Field(
        "before-alert", description="where a service's usual noise comes from (docs/rca.md)"
    )
    confirm_signals: tuple[str, ...] | None = Field(
        ("trace_call_gap",),
        description="signals whose pre-alert noise must also show between fault-free minutes",
    )
    min_quiet_s: float = Field(
        30.0, ge=0, description="seconds of data before the alert needed for a noise pass"
    )
    weight: float = Field(0.5, ge=0, description="share of the usual score taken off the window score")
    keep: float = Field(0.5, ge=0, le=1, description="share of its window score a service always keeps")

    @field_validator("confirm_signals")
    @classmethod
    def _known(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return value if value is None else tuple(_known_signal(name) for name in value)


class RankOptions(_Strict):
    """Fusion and ranking (:func:`logrca.rca.rank.rank_root_causes`)."""

    idle_weight: float = Field(
        0.3, ge=0, le=1, description="anomaly factor of services without spans in the window"
    )
    propagation: float = Field(0.0, ge=0, le=1, description="weight of the graph walk against own anomaly")
    signal_weights: dict[str, float] = Field(
        default_factory=dict, description="per signal factor on its robust z (0 leaves it out); 1 when absent"
    )

    @field_validator("signal_weights")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            _known_signal(name)
            if weight < 0:
                raise ValueError(f"weight of {name!r} must be >= 0, not {weight}")
        return value


class AnalysisOptions(_Strict):
    """The options of :func:`logrca.rca.case_analysis.analyse_case`: one object, every field validated.

    Build it from a dict (``AnalysisOptions.parse({"noise": {"keep": 0}})``) or change a few fields of
    one by dotted path (``options.changed({"noise.keep": 0})``); both raise :class:`OptionsError` naming
    the bad field. The defaults are the method documented in docs/rca.md.
    """

    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    metrics: MetricConfig = Field(default_factory=MetricConfig)
    traces: TraceOptions = Field(default_factory=TraceOptions)
    patterns: PatternOptions = Field(default_factory=PatternOptions)
    noise: NoiseOptions = Field(default_factory=NoiseOptions)
    ranking: RankOptions = Field(default_factory=RankOptions)
    merge_variants: bool = Field(
        True, description="list-length variants of one statement count as one template"
    )
    variant_max_period: int = Field(8, ge=1, description="longest repeated list element, in tokens")
    window_lead_s: float = Field(0.0, ge=0, description="window starts this many seconds before the alert")

    @classmethod
    def parse(cls, data: dict[str, Any] | None = None) -> AnalysisOptions:
        """Validate ``data`` (nested dicts); :class:`OptionsError` names every bad field."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as error:
            raise OptionsError(_describe(error)) from None

    def changed(self, changes: dict[str, Any]) -> AnalysisOptions:
        """A validated copy with ``changes`` applied, each keyed by its dotted path (``"noise.keep"``)."""
        data = self.model_dump()
        for path, value in changes.items():
            node = data
            *parents, leaf = path.split(".")
            for part in parents:
                if not isinstance(node.get(part), dict):
                    raise OptionsError(f"{path}: no such option group {part!r}")
                node = node[part]
            if leaf not in node and not (parents and parents[-1] == "signal_weights"):
                raise OptionsError(f"{path}: no such option")
            node[leaf] = value
        return type(self).parse(data)

    def differences(self, other: AnalysisOptions | None = None) -> dict[str, Any]:
        """Dotted paths whose value differs from ``other`` (the defaults when None), with this object's values."""
        mine, theirs = _flatten(self.model_dump()), _flatten((other or type(self)()).model_dump())
        return {k: v for k, v in mine.items() if theirs.get(k, _MISSING) != v}


_MISSING = object()


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or '(options)'}: {error_text(item)}"
        for item in error.errors()
    )
