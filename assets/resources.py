"""Dagster resources: the logrca config file, the working folder, and the Elasticsearch cluster."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import polars as pl
from dagster import ConfigurableResource, MetadataValue, TableMetadataValue, TableRecord
from dagster_polars import PolarsParquetIOManager
from pydantic import PrivateAttr, field_validator

from logrca.assets.config import LogrcaConfig, load_config
from logrca.parsers.validation import check_index_prefix

# Definition metadata read by dagster-polars' Parquet IO manager: zstd at level 1 writes a partition
# of log events ~1.3x faster than its default level at about the same size (bench/bench_landing.py).
PARQUET_WRITE = {"compression": "zstd", "compression_level": 1}
#: The same for part files written by logrca itself (``polars.DataFrame.write_parquet``), statistics
#: off as dagster-polars writes them.
PARQUET_PART_WRITE = {**PARQUET_WRITE, "statistics": False}


class ParquetParts(pl.LazyFrame):
    """A scan of a folder of finished Parquet part files, read in name order: an output already written.

    :class:`BoundedParquetIOManager` moves the folder into the output's place (a rename) instead of
    reading it and writing it again; the partition is then stored as that folder of part files, which
    polars, DuckDB (``<partition>.parquet/*.parquet``) and Spark read as one table.
    """

    folder: Path

    def follow(self, folder: Path) -> None:
        """The files are in ``folder`` (moved there): this frame scans them there (whoever holds it,
        Dagster's in-process result included)."""
        self.folder = Path(folder)
        self._ldf = pl.scan_parquet(self.folder / "*.parquet")._ldf


def parquet_parts(folder: Path) -> ParquetParts:
    """The output for a folder of finished part files (see :class:`ParquetParts`)."""
    frame = ParquetParts._from_pyldf(pl.LazyFrame()._ldf)
    frame.follow(folder)
    return frame


#: Longest text a metadata sample cell keeps (the Parquet file keeps the whole value).
MAX_METADATA_CELL = 200


class BoundedParquetIOManager(PolarsParquetIOManager):
    """dagster-polars' Parquet IO manager with its sample rows and column stats cut to short cells.

    The stock manager copies five sample rows and ``describe()``'s min/max into the run's metadata
    whole, so one 5 MB log line costs megabytes of run history per asset; the Parquet file is the
    place for the whole line.
    """

    def sink_df_to_path(self, context, df, path):
        local = _local(path)
        if isinstance(df, ParquetParts) and local is not None:
            _replace(df.folder, local)
            df.follow(local)
            return None
        _remove_part_files(local)
        return super().sink_df_to_path(context, df, path)

    def write_df_to_path(self, context, df, path):
        _remove_part_files(_local(path))
        return super().write_df_to_path(context, df, path)

    def get_metadata(self, context, obj) -> dict:
        metadata = super().get_metadata(context, obj)
        for key in ("table", "stats"):
            value = metadata.get(key)
            if isinstance(value, TableMetadataValue):
                records = [
                    TableRecord({name: _bounded(cell) for name, cell in record.data.items()})
                    for record in value.records
                ]
                metadata[key] = MetadataValue.table(records=records, schema=value.schema)
        return metadata


def _local(path) -> Path | None:
    """``path`` (a UPath) as a local Path, or None when it lies in an object store."""
    return Path(path.path) if getattr(path, "protocol", "file") in ("", "file", "local") else None


def _remove_part_files(local: Path | None) -> None:
    """Part files an earlier run left at ``local``: a single file is about to take their place."""
    if local is not None and local.is_dir():
        shutil.rmtree(local)


def _replace(folder: Path, target: Path) -> None:
    """Move ``folder`` to ``target``, where an earlier run may have left a file or a folder.

    A rename when both lie on one file system (the spill folder is under the data folder); the
    earlier output is renamed aside first and deleted after, so a reader finds one or the other.
    """
    aside = target.with_name(f"{target.name}.replaced-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(aside)
    try:
        try:
            os.replace(folder, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            shutil.copytree(folder, target)  # another file system: copied, then removed
            shutil.rmtree(folder, ignore_errors=True)
    except BaseException:
        if aside.exists() and not target.exists():  # the earlier output stays where it was
            aside.rename(target)
        raise
    if aside.is_dir():
        shutil.rmtree(aside)
    elif aside.exists():
        aside.unlink()


def _bounded(value):
    if isinstance(value, str) and len(value) > MAX_METADATA_CELL:
        return value[: MAX_METADATA_CELL - 1] + "…"
    return value


class LogrcaConfigResource(ConfigurableResource):
    """The validated YAML config plus the folder where state and side tables are kept."""

    config_path: str
    data_dir: str

    _config: LogrcaConfig | None = PrivateAttr(default=None)

    def load(self) -> LogrcaConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def catalogue(self):
        """The service catalogue named by the config, or None when it names none."""
        from logrca.incidents.catalogue import load_catalogue

        config = self.load()
        return load_catalogue(config.resolve(config.catalogue)) if config.catalogue else None

    def knowledge(self) -> tuple[list[dict], list[dict]]:
        """Runbooks and past incidents of the config's knowledge base."""
        from logrca.parsers.ingest.secrets import Redactor
        from logrca.rca.knowledge import load_knowledge_base

        config = self.load()
        return load_knowledge_base(
            config.resolve(config.knowledge_base), Redactor.from_config(config.secrets)
        )

    def runbooks(self) -> list[dict]:
        """Only the runbooks of the config's knowledge base (past incidents are not read)."""
        from logrca.parsers.ingest.secrets import Redactor
        from logrca.rca.knowledge import load_knowledge_runbooks

        config = self.load()
        return load_knowledge_runbooks(
            config.resolve(config.knowledge_base), Redactor.from_config(config.secrets)
        )

    @contextmanager
    def locked(self, name: str):
        """Hold an exclusive lock (``flock`` on ``data_dir/locks/<name>.lock``) across processes.

        Partitions may run in parallel (multiprocess or celery executors on a shared folder); the
        template miner's state must be read, extended and written by one of them at a time.
        """
        lock_path = self.path("locks", f"{name}.lock")
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def path(self, *parts: str) -> Path:
        """A path under ``data_dir`` (folders are created)."""
        target = Path(self.data_dir).joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target


class ElasticsearchResource(ConfigurableResource):
    """An Elasticsearch cluster reached with the official client (URL, optional API key and CA file)."""

    url: str
    #: Set from ``EnvVar("LOGRCA_ES_API_KEY")`` by the Definitions, so Dagster's UI shows the variable's
    #: name, never the key.
    api_key: str | None = None
    index_prefix: str = "logrca"
    #: Settings new indices and index templates get (the deployment's, from ``LOGRCA_ES_SHARDS`` /
    #: ``_REPLICAS`` / ``_REFRESH_INTERVAL``; empty: one shard, no replica).
    index_settings: dict = {}
    #: The PEM file of the CAs that signed the cluster's https certificate (``LOGRCA_ES_CA_CERTS``).
    ca_certs: str | None = None

    @field_validator("index_prefix")
    @classmethod
    def _usable_prefix(cls, value: str) -> str:
        return check_index_prefix(value)

    def client(self):
        from logrca.rca.search_index import connect

        return connect(self.url, api_key=self.api_key, ca_certs=self.ca_certs)
