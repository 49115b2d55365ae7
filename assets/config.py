"""The logrca YAML config, composed of the stages' own section models.

Each stage owns its section: ``sources`` (:class:`logrca.parsers.ingest.sources.SourceConfig`), ``secrets``
(:class:`logrca.parsers.ingest.secrets.SecretsConfig`),
``spans`` and ``metrics`` (:class:`logrca.parsers.ingest.sources.SignalSourceConfig`),
``templates`` (:class:`logrca.parsers.templates.miner.TemplateConfig`), ``analysis``
(:class:`logrca.rca.windows.AnalysisConfig`), ``detection``
(:class:`logrca.rca.detect.DetectionConfig`), ``ranking`` (:class:`logrca.rca.rank.RankingConfig`),
``changes`` (:class:`logrca.rca.changes.ChangesConfig`), ``report`` (:class:`logrca.rca.report.ReportConfig`),
``indexing`` (:class:`logrca.rca.log_lines.IndexingConfig`).
This module composes them and imports them; none of them imports it. The Definitions load the file
when they are built (:mod:`logrca.pipelines.definitions`), never at import.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from logrca.incidents.catalogue import CatalogueError, load_catalogue
from logrca.parsers.ingest.secrets import SecretsConfig
from logrca.parsers.ingest.sources import (
    MetricSourceConfig,
    SourceConfig,
    SpanSourceConfig,
    folder_patterns,
)
from logrca.parsers.templates.miner import TemplateConfig
from logrca.parsers.validation import format_validation_errors
from logrca.rca.changes import ChangesConfig
from logrca.rca.detect import DetectionConfig
from logrca.rca.log_lines import IndexingConfig
from logrca.rca.rank import RankingConfig
from logrca.rca.report import ReportConfig
from logrca.rca.windows import AnalysisConfig

__all__ = ["ConfigError", "LogrcaConfig", "load_config"]


class ConfigError(ValueError):
    """The config file is missing or invalid; the message names the file and each bad field."""


class LogrcaConfig(BaseModel):
    """Everything one logrca deployment reads. Relative paths resolve against the config file's folder."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(
        "default", min_length=1, description="Name of the monitored system (used in ids and indices)."
    )
    sources: list[SourceConfig] = Field(min_length=1)
    spans: list[SpanSourceConfig] = Field(
        default_factory=list, description="Trace span sources (OpenTelemetry, Jaeger, Zipkin, case CSV)."
    )
    metrics: list[MetricSourceConfig] = Field(
        default_factory=list, description="Metric sources (Prometheus text, case CSV)."
    )
    topology: Path | None = None
    catalogue: Path | None = None
    knowledge_base: Path | None = None
    partitions: Literal["hourly", "daily"] = "hourly"
    start: datetime = Field(description="First partition's start (UTC).")
    end: datetime | None = Field(
        None, description="End of the last partition (UTC); none: partitions run up to now."
    )
    baseline_partitions: int = Field(
        2, ge=1, description="How many earlier partitions form the detection baseline."
    )
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    templates: TemplateConfig = Field(default_factory=TemplateConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    changes: ChangesConfig = Field(default_factory=ChangesConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    indexing: IndexingConfig = Field(default_factory=IndexingConfig)
    base_dir: Path = Field(Path("."), exclude=True)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")  # absent when start itself is invalid
        if value is not None and start is not None and value <= start:
            raise ValueError(f"{value:%Y-%m-%d %H:%M} UTC is not after start ({start:%Y-%m-%d %H:%M} UTC)")
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> LogrcaConfig:
        names = [s.name for s in (*self.sources, *self.spans, *self.metrics)]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"source names must be unique across sources, spans and metrics: {doubled}")
        return self

    def resolve(self, path: Path | str | None) -> Path | None:
        """``path`` relative to the config file's folder (absolute paths stay as they are)."""
        if path is None:
            return None
        path = Path(path)
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``; KeyError lists the known names."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source {name!r}; known: {[s.name for s in self.sources]}")


def load_config(path: Path | str) -> LogrcaConfig:
    """Read and validate a YAML config file.

    Raises
    ------
    ConfigError
        When the file is missing, is not YAML, or a field is invalid; every bad field is named
        (``sources.1.format: Input should be 'loghub', ...``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None  # the message says it all
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        config = LogrcaConfig.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as error:
        # from None: the message names every bad field; pydantic's own dump (chained, it follows the
        # message in Dagster's code location error) repeats it with each input value, secrets included
        raise ConfigError(
            f"{path}: invalid config:\n{format_validation_errors(error, LogrcaConfig)}"
        ) from None
    for field_name in ("topology", "catalogue", "knowledge_base"):
        value = getattr(config, field_name)
        if value is not None and not config.resolve(value).exists():
            raise ConfigError(f"{path}: {field_name}: {config.resolve(value)} does not exist")
    if config.catalogue is not None:
        _check_catalogue(path, config.resolve(config.catalogue))
    problems = []
    for number, source in enumerate(config.sources):
        for index, folder in folder_patterns(source, config.base_dir):
            problems.append(
                f"  sources.{number}.paths.{index}: {folder} is a folder; name its files, e.g. {folder}/*.log"
            )
    if problems:
        raise ConfigError(f"{path}: invalid config:\n" + "\n".join(problems))
    return config


def _check_catalogue(path: Path, catalogue: Path) -> None:
    """Validate the service catalogue now: otherwise a bad channel or deadline surfaces only at the
    ``incidents`` step, after a whole partition ran. Its messages name the file and field, never a URL."""
    try:
        load_catalogue(catalogue)
    except CatalogueError as error:
        raise ConfigError(f"{path}: catalogue: {error}") from None
