"""Template mining: drain3's Drain on distinct masked messages, persisted state, polars in and out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from drain3.drain import Drain
from pydantic import BaseModel, ConfigDict, Field, field_validator

from logrca.parsers.templates.dedup import dense_codes
from logrca.parsers.templates.drain_bulk import BatchPlan, assign_lines, numeric_wildcard
from logrca.parsers.templates.drain_feed import DrainFeeder
from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES, Masker, MaskingRule, parse_masking_rules
from logrca.parsers.templates.parameters import line_templates, no_params
from logrca.parsers.templates.refine import SPLIT_ID_BASE, ClusterSplitter
from logrca.parsers.templates.state import miner_state, read_state, write_state
from logrca.parsers.templates.template_ids import TemplateIds, naming_text

__all__ = [
    "TemplateConfig",
    "TemplateMiner",
    "PreparedBatch",
    "prepare_batch",
    "mine_templates",
    "mine_templates_later",
    "TEMPLATE_COLUMNS",
]

#: The columns mining adds to the events (``log_templates``); ``params`` too with ``with_params``
#: (:data:`logrca.parsers.templates.parameters.PARAMS_DTYPE`; the ``log_parameters`` asset).
TEMPLATE_COLUMNS = {"template_id": pl.Int64, "template": pl.Utf8}
#: Rows per mining batch: 100k measured fastest on large partitions (the Drain heap and the leaves'
#: match matrices stay small; docs/scaling.md), and memory follows it (bench/bench_memory.py).
DEFAULT_BATCH_ROWS = 100_000

_DRAIN_SETTINGS = (
    "sim_th",
    "depth",
    "max_children",
    "max_clusters",
    "extra_delimiters",
    "parametrize_numeric_tokens",
    "split_max_values",
    "split_min_lines",
    "split_shared_words",
)


class TemplateConfig(BaseModel):
    """Settings of template mining (the ``templates:`` section of the logrca config).

    Defaults: generic masks (:data:`logrca.parsers.templates.masking.DEFAULT_MASKING_RULES`: ids,
    times, values with units, numbers), ``sim_th=0.5``, ``depth=4`` (drain3's: 0.4 and 4) and the split of
    clusters at positions of a few words (``split_max_values``, ``split_min_lines``) that no other
    cluster takes as values (``split_shared_words``), chosen together by
    leave-one-dataset-out over the ten Loghub samples (``bench/loghub_loo.py``; per-dataset
    figures in docs/parsing.md). ``masking`` accepts rules as mappings ``{pattern, mask_with}``
    or bare pattern strings.
    """

    model_config = ConfigDict(extra="forbid")

    masking: list[MaskingRule] = Field(default_factory=lambda: list(DEFAULT_MASKING_RULES))
    sim_th: float = Field(default=0.5, ge=0.0, le=1.0, description="Drain similarity threshold")
    depth: int = Field(default=4, ge=3, description="Drain tree depth (>= 3)")
    max_children: int = Field(default=100, ge=1)
    max_clusters: int | None = Field(
        default=None, ge=1, description="LRU bound on clusters; None = unbounded"
    )
    extra_delimiters: list[str] = Field(default_factory=list)
    parametrize_numeric_tokens: bool = True
    split_max_values: int = Field(
        default=5,
        ge=0,
        description="split a cluster at a variable position of at most this many words; 0 = off",
    )
    split_min_lines: int = Field(default=1, ge=1, description="lines each word of a split position needs")
    split_shared_words: int = Field(
        default=2,
        ge=0,
        description="no split at a position sharing this many words with another cluster's variable; 0 = off",
    )
    state_path: Path | None = Field(
        default=None, description="JSON file holding the miner state between runs"
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_ROWS,
        ge=1,
        description="rows log_templates reads, mines and writes at a time: its memory follows this",
    )

    @field_validator("masking", mode="before")
    @classmethod
    def _parse_masking(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, list) and all(isinstance(item, MaskingRule) for item in value):
            return value
        return parse_masking_rules(value, source="templates.masking")

    def drain_settings(self) -> dict[str, Any]:
        """The settings that change mining results (stored with the state and checked on load)."""
        settings = {name: getattr(self, name) for name in _DRAIN_SETTINGS}
        settings["masking"] = [[rule.pattern, rule.mask_with] for rule in self.masking]
        return settings


class TemplateMiner:
    """drain3's ``Drain`` with vectorized masking and a persisted, atomically written state.

    Parameters
    ----------
    config : TemplateConfig, optional
        Defaults to ``TemplateConfig()``. When ``config.state_path`` exists, the state is loaded.
    """

    def __init__(self, config: TemplateConfig | None = None):
        self.config = config or TemplateConfig()
        self.masker = Masker(self.config.masking)
        self.drain = self._new_drain()
        self._feeder = DrainFeeder(self.drain, always_feed=self.config.max_clusters is not None)
        self.splitter = self._new_splitter()
        self.ids = TemplateIds()  # Drain cluster id <-> template id (see template_ids.py)
        if self.config.state_path is not None and Path(self.config.state_path).exists():
            self.load(self.config.state_path)

    def _new_splitter(self) -> ClusterSplitter:
        c = self.config
        return ClusterSplitter(
            max_values=c.split_max_values, min_lines=c.split_min_lines, shared_words=c.split_shared_words
        )

    def _new_drain(self) -> Drain:
        c = self.config
        return Drain(
            depth=c.depth,
            sim_th=c.sim_th,
            max_children=c.max_children,
            max_clusters=c.max_clusters,
            extra_delimiters=tuple(c.extra_delimiters),
            parametrize_numeric_tokens=c.parametrize_numeric_tokens,
        )

    # -- mining ---------------------------------------------------------------------------
    def assign(
        self,
        distinct_masked: Sequence[str] | pl.Series,
        codes: Iterable[int] | np.ndarray,
        plan: BatchPlan | None = None,
    ) -> np.ndarray:
        """Drain cluster id per line, the same as feeding Drain every line in order (template ids: ``self.ids``).

        Parameters
        ----------
        distinct_masked : sequence of str
            The distinct masked messages of the batch (any order).
        codes : array-like of int
            Per line, in line order, the index of its message in ``distinct_masked``.
        plan : BatchPlan, optional
            From :func:`prepare_batch` (built ahead, e.g. on a reader thread).

        Notes
        -----
        Drain is only called for the lines whose result can differ from the last result of the same
        message (see :class:`logrca.parsers.templates.drain_feed.DrainFeeder`). With ``max_clusters`` (LRU eviction)
        every line is fed, since a skipped feed would not refresh the LRU order.
        """
        codes = np.fromiter(codes, dtype=np.int64) if not isinstance(codes, np.ndarray) else codes
        cluster_ids = assign_lines(self._feeder, distinct_masked, codes, plan=plan)
        wildcard = numeric_wildcard(self.drain)
        for cluster_id, first_template in self._feeder.created:  # in creation order
            # named after its template at the end of the batch that created it (see template_ids.py)
            self.ids.add(cluster_id, naming_text(self.template_of(cluster_id) or first_template, wildcard))
        self._feeder.created.clear()
        return cluster_ids

    def split(self, ids: np.ndarray, distinct_masked: pl.Series, codes: np.ndarray) -> np.ndarray:
        """Template id per line: :meth:`assign`'s cluster ids, split where a variable position holds a
        few words (:class:`logrca.parsers.templates.refine.ClusterSplitter`; off with ``split_max_values=0``)."""
        groups = self.splitter.split(
            ids, distinct_masked, codes, self._cluster_template, extra_delimiters=self.drain.extra_delimiters
        )
        wildcard = numeric_wildcard(self.drain)
        for group in np.unique(
            groups[groups >= SPLIT_ID_BASE]
        ).tolist():  # name new groups as assign names clusters
            if group not in self.ids.of_cluster:
                self.ids.add(group, naming_text(self.template_of(group) or "", wildcard))
        return groups

    def _cluster_template(self, cluster_id: int) -> str | None:
        cluster = self.drain.id_to_cluster.get(cluster_id)
        return None if cluster is None else cluster.get_template()

    def template_of(self, cluster_id: int) -> str | None:
        """Current template of a template id (a Drain cluster or a group split from one; None when evicted)."""
        return self.splitter.template(cluster_id, self._cluster_template)

    def templates(self) -> pl.DataFrame:
        """All current templates: ``template_id``, ``template``, ``size`` (lines seen)."""
        split_off = self.splitter.lines_split_off()
        rows = [
            (
                self.ids.of_cluster[c.cluster_id],
                self.template_of(c.cluster_id),
                c.size - split_off.get(c.cluster_id, 0),
            )
            for c in self.drain.clusters
            if c.size > split_off.get(c.cluster_id, 0)  # a cluster split entirely lives on in its groups
        ]
        rows += [
            (self.ids.of_cluster[group], self.template_of(group), size)
            for group, size in self.splitter.sizes.items()
        ]
        return pl.DataFrame(
            rows, schema={"template_id": pl.Int64, "template": pl.Utf8, "size": pl.Int64}, orient="row"
        ).sort("template_id")

    # -- persistence (see state.py) ---------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able snapshot: settings, cluster counter, clusters and the prefix tree."""
        return miner_state(
            self.drain, settings=self.config.drain_settings(), ids=self.ids, splitter=self.splitter
        )

    def save(self, path: str | Path | None = None) -> Path:
        """Write the state atomically (temp file in the same folder, fsync, ``os.replace``).

        The previous state is kept as ``<path>.bak``.
        """
        target = Path(path or self.config.state_path or "")
        if not str(target) or target == Path(""):
            raise ValueError("TemplateMiner.save: no path given and config.state_path is not set")
        return write_state(self.state(), target)

    def load(self, path: str | Path) -> None:
        """Replace the in-memory state by the one in ``path``.

        Raises
        ------
        logrca.parsers.templates.state.TemplateStateError
            When the file is unreadable, corrupted, of another version, or was written with other
            mining settings; the message names the file and how to rebuild.
        """
        self.drain, self.splitter, self.ids = read_state(
            path,
            settings=self.config.drain_settings(),
            drain=self._new_drain(),
            splitter=self._new_splitter(),
        )
        self._feeder = DrainFeeder(self.drain, always_feed=self.config.max_clusters is not None)


def _empty_result(events: pl.DataFrame) -> pl.DataFrame:
    return events.with_columns(
        *[pl.lit(None, dtype=dtype).alias(name) for name, dtype in TEMPLATE_COLUMNS.items()]
    ).clear()


class PreparedBatch(NamedTuple):
    """The part of mining a batch that needs no Drain state (see :func:`prepare_batch`)."""

    events: pl.DataFrame
    raw: pl.Series  # distinct raw messages
    raw_codes: np.ndarray  # per line, its raw message
    raw_first: np.ndarray  # per raw message, its first line
    masked_raw: pl.Series  # per raw message, masked
    masked: pl.Series | None = None  # distinct masked messages
    line_codes: np.ndarray | None = None  # per line, its masked message
    plan: BatchPlan | None = None  # tokens and prefixes of ``masked`` (None when every line is fed)


def prepare_batch(events: pl.DataFrame, miner: TemplateMiner, *, tokenize: bool = True) -> PreparedBatch:
    """Deduplicate, mask, deduplicate again and tokenize a batch: everything before Drain's state is read.

    Uses only the miner's settings (masks, delimiters, depth), never its tree, so it is safe to
    run on another thread while the miner works on an earlier batch. With ``tokenize=False`` it
    stops after masking (:func:`mine_templates` does the rest), which balances a reader thread
    against the miner when there are many distinct messages.
    """
    if "message" not in events.columns:
        raise ValueError(f"mine_templates: events need a 'message' column; got columns {events.columns}")
    messages = events["message"].cast(pl.Utf8).fill_null("")
    raw, raw_codes, raw_first = dense_codes(messages)  # mask each distinct raw message once
    prepared = PreparedBatch(events, raw, raw_codes, raw_first, miner.masker.mask_series(raw))
    return _tokenized(prepared, miner) if tokenize else prepared


def _tokenized(prepared: PreparedBatch, miner: TemplateMiner) -> PreparedBatch:
    masked, masked_codes_of_raw, _ = dense_codes(prepared.masked_raw)
    line_codes = masked_codes_of_raw[prepared.raw_codes]
    plan = None
    if miner.config.max_clusters is None and len(
        line_codes
    ):  # with max_clusters every line is fed: no plan needed
        plan = BatchPlan(
            masked,
            line_codes,
            miner.drain.extra_delimiters,
            miner.drain.max_node_depth,  # settings, not the tree
            numeric_wildcard(miner.drain),
        )
    return prepared._replace(masked=masked, line_codes=line_codes, plan=plan)


def mine_templates(
    events: pl.DataFrame,
    miner: TemplateMiner,
    *,
    with_params: bool = True,
    prepared: PreparedBatch | None = None,
) -> pl.DataFrame:
    """Add ``template_id``, ``template`` and ``params`` to a frame with a ``message`` column.

    Parameters
    ----------
    events : pl.DataFrame
        Must hold ``message`` (Utf8); other columns are kept, row order too. Null messages are
        mined as the empty message.
    miner : TemplateMiner
        Holds the Drain state; updated in place (call ``miner.save()`` to persist it).
    with_params : bool, default True
        Also compute ``params`` (no such column when False, which is faster).
    prepared : PreparedBatch, optional
        :func:`prepare_batch` of these ``events`` with this miner's settings, made ahead (it needs
        no Drain state, so a reader thread can make it while the previous batch is mined).

    Returns
    -------
    pl.DataFrame
        ``events`` plus ``template_id: Int64`` (a stable hash of the cluster's first template, see
        :mod:`logrca.parsers.templates.template_ids`; kept across batches and runs by the state), ``template: Utf8`` (the cluster's template after this
        batch) and ``params: List(Utf8)`` (the message's tokens where the template has a variable
        part; computed on the masked tokenization, see Notes).

    Notes
    -----
    Raw messages are deduplicated, each distinct one masked once, masked messages deduplicated
    again; Drain is called only for the lines that change its state
    (:func:`logrca.parsers.templates.drain_bulk.assign_batch`); ``template`` and ``params`` per
    distinct pair (:func:`logrca.parsers.templates.parameters.line_templates`). Guarantee:
    the Drain cluster of every line (``miner.ids.clusters(template_id)``) equals the ``cluster_id``
    drain3's Drain returns when fed every line in order (same masks and settings), across batches and save/load (tested line by line
    against ``drain3.TemplateMiner``) when ``split_max_values=0``. By default a cluster whose
    variable position holds a few words is then split (:class:`logrca.parsers.templates.refine.ClusterSplitter`)
    and each group gets its own template id. ``template`` is the group's template at the end of the
    batch. References: He et al., "Drain", ICWS 2017; logpai/Drain3 ``drain3/drain.py``.
    """
    mined, params = mine_templates_later(events, miner, with_params=with_params, prepared=prepared)
    return mined if params is None else mined.with_columns(params())


def mine_templates_later(
    events: pl.DataFrame,
    miner: TemplateMiner,
    *,
    with_params: bool = True,
    prepared: PreparedBatch | None = None,
) -> tuple[pl.DataFrame, Callable[[], pl.Series] | None]:
    """:func:`mine_templates` without ``params``, and a job that returns them (same values; None without ``with_params``).

    The job reads nothing of the miner (the templates it needs are taken now), so it can run on
    another thread while the miner mines the next batch (:func:`logrca.parsers.templates.batches.mine_to_files`).
    """
    if prepared is None or prepared.events is not events:
        prepared = prepare_batch(events, miner)  # checks the 'message' column
    if events.height == 0:
        return _empty_result(events), no_params if with_params else None
    if prepared.masked is None:
        prepared = _tokenized(prepared, miner)
    ids = miner.split(
        miner.assign(prepared.masked, prepared.line_codes, plan=prepared.plan),
        prepared.masked,
        prepared.line_codes,
    )
    per_line, params = line_templates(
        ids,
        prepared.raw,
        prepared.raw_codes,
        prepared.raw_first,
        template_of=miner.template_of,
        extra_delimiters=miner.config.extra_delimiters,
        with_params=with_params,
    )
    template_ids = pl.Series("template_id", miner.ids.lookup(per_line["template_id"].to_numpy()))
    return events.with_columns(template_ids, per_line["template"]), params
