"""Every asset of logrca on the partitions of one config, built when the Definitions are built."""

from __future__ import annotations

from logrca.assets.analysis import analysis_assets
from logrca.assets.changes import change_assets
from logrca.assets.config import LogrcaConfig
from logrca.assets.incidents import incident_assets
from logrca.assets.ingest import ingest_assets
from logrca.assets.mining import mining_assets
from logrca.assets.partitions import PartitionPlan, plan_for
from logrca.assets.reporting import reporting_assets
from logrca.assets.signals import signal_assets

__all__ = ["build_assets"]


def build_assets(config: LogrcaConfig) -> tuple[list, PartitionPlan]:
    """The assets (with their checks) in pipeline order, and the partition plan they share.

    ingest (logs, spans, metrics) -> templates, change events -> analysis (window, anomalies, graph root causes) -> report -> index -> incidents (-> review).
    """
    plan = plan_for(config)
    assets = [
        *ingest_assets(plan),
        *signal_assets(plan),
        *mining_assets(plan),
        *change_assets(plan),
        *analysis_assets(plan),
        *reporting_assets(plan),
        *incident_assets(plan),
    ]
    return assets, plan
