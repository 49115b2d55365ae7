"""Split partitioned frames into the analysed window and its baseline, and run detection on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logrca.rca.detect import DetectionConfig, detect_anomalies


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


def detect_in_window(
    window_events: pl.DataFrame,
    baseline_events: pl.DataFrame | None,
    *,
    window: tuple[datetime, datetime],
    baseline_partitions: int,
    config: DetectionConfig | None = None,
) -> pl.DataFrame:
    """Detect anomalies of ``window`` against the ``baseline_partitions`` partitions right before it.

    The baseline period is ``baseline_partitions`` window lengths ending at the window's start;
    without baseline partitions detection still runs (error bursts and rules only).
    """
    length = window[1] - window[0]
    if baseline_events is None or baseline_events.is_empty() or baseline_partitions == 0:
        return detect_anomalies(window_events, window=window, baseline=None, config=config)
    baseline = (window[0] - baseline_partitions * length, window[0])
    events = pl.concat([baseline_events, window_events], how="vertical_relaxed")
    return detect_anomalies(events, window=window, baseline=baseline, config=config)
