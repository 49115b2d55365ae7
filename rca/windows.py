"""Which stretch of a partition is analysed and against what: the window, the baseline and their frames."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logrca.rca.case_analysis import Case


class AnalysisConfig(BaseModel):
    """Which stretch of a partition is analysed (the ``analysis:`` section of the logrca config).

    Without ``alert_time`` the window is the whole partition and the baseline the partitions before it
    (or the sources of role ``baseline``). With ``alert_time`` (an incident under study) the window runs
    from ``alert_time - window_lead`` to the partition's last record, and what the partition holds before
    it is the baseline when there are no ``baseline`` sources.
    """

    model_config = ConfigDict(extra="forbid")

    alert_time: datetime | None = Field(
        None, description="When the alert fired (UTC), if an incident is studied."
    )
    window_lead: timedelta = Field(
        timedelta(0), ge=timedelta(0), description="How long before the alert the window starts."
    )

    @field_validator("alert_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def split_window(
    frames: dict[str, pl.DataFrame] | pl.DataFrame, current_key: str
) -> tuple[pl.DataFrame | None, pl.DataFrame | None, int]:
    """``frames`` keyed by partition key -> (window frame, baseline frame or None, baseline partition count).

    A single frame (the first partition has no earlier ones) is the window itself.
    """
    if isinstance(frames, pl.DataFrame):
        frames = {current_key: frames}
    window = frames.get(current_key)
    others = [frame for key, frame in sorted(frames.items()) if key < current_key and frame is not None]
    baseline = pl.concat(others, how="vertical_relaxed") if others else None
    return window, baseline, len(others)


@dataclass
class WindowFrames:
    """A partition's frames cut into what is analysed and its baseline (see :func:`window_frames`)."""

    window: tuple[datetime, datetime] | None
    baseline: str
    baseline_partitions: int
    events: pl.DataFrame
    baseline_events: pl.DataFrame
    spans: pl.DataFrame
    baseline_spans: pl.DataFrame

    def case(
        self,
        *,
        name: str,
        system: str,
        metrics: pl.DataFrame,
        partition_window: tuple[datetime, datetime],
        topology: dict[str, list[str]] | None = None,
    ) -> Case:
        """The :class:`~logrca.rca.case_analysis.Case` the analysis reads (the partition when there is no window)."""
        start, end = self.window or partition_window
        return Case(
            name=name,
            system=system,
            alert_time=start,
            events=self.events,
            baseline_events=self.baseline_events,
            spans=self.spans,
            baseline_spans=self.baseline_spans,
            metrics=metrics,
            baseline_source=self.baseline,
            window_end=end,
            topology=topology,
        )

    def describe(self) -> dict:
        """What the report and the run's metadata say about the window (JSON-ready)."""
        start, end = self.window if self.window else (None, None)
        return {
            "window_start": start.isoformat() if start else None,
            "window_end": end.isoformat() if end else None,
            "baseline": self.baseline,
            "baseline_partitions": self.baseline_partitions,
        }


def described_window(described: dict) -> tuple[datetime, datetime] | None:
    """The window :meth:`WindowFrames.describe` names (read back from the ``analysis_window`` asset): None
    when it names none, and then, as :attr:`WindowFrames.window`, the partition is the window analysed."""
    if not described.get("window_start") or not described.get("window_end"):
        return None
    return datetime.fromisoformat(described["window_start"]), datetime.fromisoformat(described["window_end"])


def _pick(frames: dict[str, pl.DataFrame] | pl.DataFrame, key: str, empty: pl.DataFrame):
    window, baseline, count = split_window(frames, key)
    return (window if window is not None else empty), baseline, count


def window_frames(
    settings: AnalysisConfig,
    *,
    partition_key: str,
    partition_window: tuple[datetime, datetime],
    events: dict[str, pl.DataFrame] | pl.DataFrame,
    spans: dict[str, pl.DataFrame] | pl.DataFrame,
    fault_free_events: pl.DataFrame,
    fault_free_spans: pl.DataFrame,
) -> WindowFrames:
    """Cut a partition (``events``/``spans`` keyed by partition, the earlier ones for the baseline) into window and baseline.

    The window is the partition, or with ``settings.alert_time`` from the alert (minus the lead) to the
    partition's last event. The baseline is, in this order: the fault-free rows (sources of role
    ``baseline``) when there are any (``"normal"``), the earlier partitions (``"partitions"``), else the
    partition's own rows before the window (``"before-alert"``). ``window`` is None when the partition
    has no events after the alert.
    """
    window_events, earlier_events, count = _pick(events, partition_key, fault_free_events.clear())
    window_spans, earlier_spans, _ = _pick(spans, partition_key, fault_free_spans.clear())
    start, end = partition_window
    if settings.alert_time is not None:
        start = max(settings.alert_time - settings.window_lead, start)
        after = window_events.filter(pl.col("timestamp") >= start)
        end = after["timestamp"].max() + timedelta(microseconds=1) if not after.is_empty() else None
    if not fault_free_events.is_empty():
        baseline, base_events, base_spans = "normal", fault_free_events, fault_free_spans
    elif earlier_events is not None and not earlier_events.is_empty():
        baseline, base_events = "partitions", earlier_events
        base_spans = earlier_spans if earlier_spans is not None else fault_free_spans.clear()
    else:
        baseline = "before-alert"
        base_events = window_events.filter(pl.col("timestamp") < start)
        base_spans = window_spans.filter(pl.col("start") < start)
    return WindowFrames(
        window=(start, end) if end is not None else None,
        baseline=baseline,
        baseline_partitions=count if baseline == "partitions" else 0,
        events=window_events,
        baseline_events=base_events,
        spans=window_spans,
        baseline_spans=base_spans,
    )
