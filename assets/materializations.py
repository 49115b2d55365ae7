"""What an earlier run recorded: the metadata of an asset's latest materialization of one partition."""

from __future__ import annotations

from typing import Any

__all__ = ["latest_metadata"]


def latest_metadata(instance, asset: str, partition: str, key: str) -> Any:
    """The value of ``key`` in the metadata of ``asset``'s latest materialization of ``partition``,
    or None when it was never materialized or did not record ``key``."""
    from dagster import AssetKey, AssetRecordsFilter

    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    recorded = records[0].asset_materialization.metadata.get(key)
    return recorded.value if recorded is not None else None
