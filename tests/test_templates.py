"""Template mining: same cluster per line as drain3 fed line by line, stable ids, safe persisted state."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from drain3 import TemplateMiner as Drain3Miner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from logrca import PROJECT_ROOT
from logrca.parsers.ingest.header_format import compile_header, split_header
from logrca.parsers.templates.batches import mine_template_batches
from logrca.parsers.templates.masking import DEFAULT_MASKING_RULES, load_masking_file
from logrca.parsers.templates.miner import (
    TemplateConfig,
    TemplateMiner,
    mine_templates,
    prepare_batch,
)
from logrca.parsers.templates.state import TemplateStateError

SYSTEMS = ["HDFS", "Hadoop", "Spark", "Zookeeper", "BGL", "HPC", "Linux", "Apache", "OpenSSH", "OpenStack"]
SETTINGS_DIR = PROJECT_ROOT / "bench" / "loghub_masking"


def drain3_line_by_line(messages: list[str], config: TemplateConfig) -> list[int]:
    """What a hand-written script gets: drain3.TemplateMiner.add_log_message on every line."""
    drain_config = TemplateMinerConfig()
    drain_config.drain_sim_th, drain_config.drain_depth = config.sim_th, config.depth
    drain_config.masking_instructions = [MaskingInstruction(r.pattern, r.mask_with) for r in config.masking]
    miner = Drain3Miner(config=drain_config)
    return [miner.add_log_message(message)["cluster_id"] for message in messages]


def drain_ids(miner: TemplateMiner, mined: pl.DataFrame) -> list[int]:
    """Drain's cluster id of each line (logrca's ``template_id`` is a stable hash naming that cluster)."""
    return miner.ids.clusters(mined["template_id"].to_numpy()).tolist()


def sample(shared_data, system: str) -> tuple[list[str], TemplateConfig]:
    settings = load_masking_file(SETTINGS_DIR / f"{system}.yaml")
    lines = pl.Series(
        (shared_data / "loghub" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
    )
    messages = split_header(lines, compile_header(settings["format"]))["Content"].to_list()
    config = TemplateConfig(
        masking=settings["masking"] + list(DEFAULT_MASKING_RULES),
        sim_th=settings["sim_th"],
        depth=settings["depth"],
        split_max_values=0,  # Drain's grouping alone: what these tests compare with drain3 line by line
    )
    return messages, config


@pytest.mark.parametrize("system", SYSTEMS)
def test_same_cluster_per_line_as_drain3_line_by_line(shared_data, system):
    messages, config = sample(shared_data, system)
    expected = drain3_line_by_line(messages, config)
    miner = TemplateMiner(config)
    events = pl.DataFrame({"message": messages, "line_no": range(1, len(messages) + 1)})
    batches = [events.slice(start, 700) for start in range(0, events.height, 700)]  # three batches
    mined = pl.concat(list(mine_template_batches(batches, miner, with_params=False)))
    assert drain_ids(miner, mined) == expected
    assert mined["line_no"].to_list() == list(range(1, len(messages) + 1))
    assert sum(cluster.size for cluster in miner.drain.clusters) == len(messages)


def test_ids_stable_across_batches_and_save_load(shared_data, tmp_path):
    """Drain's cluster per line is the same in batches and across save/load; template ids name those clusters."""
    messages, config = sample(shared_data, "Hadoop")
    events = pl.DataFrame({"message": messages})
    whole_miner = TemplateMiner(config)
    whole = drain_ids(whole_miner, mine_templates(events, whole_miner))
    state = tmp_path / "state" / "templates.json"
    first_miner = TemplateMiner(config.model_copy(update={"state_path": state}))
    first = mine_templates(events.head(1000), first_miner)
    assert drain_ids(first_miner, first) == whole[:1000]
    TemplateMiner(config.model_copy(update={"state_path": state}))  # nothing saved yet: starts empty
    saver = TemplateMiner(config.model_copy(update={"state_path": state}))
    saved = mine_templates(events.head(1000), saver)
    assert saved["template_id"].to_list() == first["template_id"].to_list()  # same batches: same ids
    saver.save()
    reloaded = TemplateMiner(config.model_copy(update={"state_path": state}))
    second = mine_templates(events.tail(1000), reloaded)
    assert drain_ids(reloaded, second) == whole[1000:]
    assert set(first["template_id"]) & set(second["template_id"])  # ids carried over by the state
    final = reloaded.templates()
    assert final.height == len(set(whole))
    reloaded.save()
    assert (state.parent / "templates.json.bak").exists()
    assert [p.name for p in state.parent.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "unreadable"),
        ('{"version": 99}', "version"),
        ('{"version": 1, "settings": null}', "other mining settings"),
        ("", "unreadable"),
    ],
)
def test_corrupted_state_gives_clear_error(tmp_path, content, needle):
    state = tmp_path / "templates.json"
    state.write_text(content)
    with pytest.raises(TemplateStateError) as error:
        TemplateMiner(TemplateConfig(state_path=state))
    message = str(error.value)
    assert str(state) in message and needle in message and "delete" in message


def test_truncated_state_with_right_header_is_reported(tmp_path):
    state = tmp_path / "templates.json"
    miner = TemplateMiner(TemplateConfig(state_path=state))
    mine_templates(pl.DataFrame({"message": ["a b c", "a b d"]}), miner)
    miner.save()
    import json

    broken = json.loads(state.read_text())
    del broken["tree"]
    state.write_text(json.dumps(broken))
    with pytest.raises(TemplateStateError, match="corrupted"):
        TemplateMiner(TemplateConfig(state_path=state))


def test_columns_params_and_other_columns_kept():
    events = pl.DataFrame(
        {
            "message": ["took 5 tries from 10.0.0.1", "took 17 tries from 10.0.0.2", None],
            "service": ["a", "b", "c"],
        }
    )
    mined = mine_templates(events, TemplateMiner(TemplateConfig(sim_th=0.4)))
    assert mined.columns == ["message", "service", "template_id", "template", "params"]
    assert mined.schema["template_id"] == pl.Int64 and mined.schema["params"] == pl.List(pl.Utf8)
    assert mined["template"].to_list()[:2] == ["took <*> tries from <*>"] * 2
    assert mined["params"].to_list()[:2] == [["5", "10.0.0.1"], ["17", "10.0.0.2"]]
    assert mined["service"].to_list() == ["a", "b", "c"]


@pytest.mark.parametrize("system", ["HDFS", "Linux", "OpenStack"])
def test_params_equal_a_line_by_line_reference(shared_data, system):
    """Per line: the message tokens that differ from the template's, or the regex path when masking changed the token count."""
    from logrca.parsers.templates.parameters import _regex_parameters

    messages, config = sample(shared_data, system)
    miner = TemplateMiner(config)
    mined = mine_templates(pl.DataFrame({"message": messages}), miner)
    expected = []
    for message, template in zip(messages, mined["template"].to_list()):
        tokens, masked, template_tokens = (
            message.split(),
            miner.masker.mask(message).split(),
            template.split(" "),
        )
        if len(tokens) == len(masked) == len(template_tokens):
            expected.append([token for token, literal in zip(tokens, template_tokens) if token != literal])
        else:
            expected.append(_regex_parameters(message, template))
    assert mined["params"].to_list() == expected
    assert sum(map(len, expected)) > len(messages)  # most lines have parameters


def test_params_when_masking_changes_token_count():
    config = TemplateConfig(masking=[{"pattern": r"/\S+ \S+", "mask_with": "*"}])
    mined = mine_templates(pl.DataFrame({"message": ["open /a b now"]}), TemplateMiner(config))
    assert mined["template"][0] == "open <*> now"
    assert mined["params"].to_list() == [["/a b"]]


def test_empty_frame_and_missing_column():
    empty = mine_templates(pl.DataFrame(schema={"message": pl.Utf8, "line_no": pl.Int64}), TemplateMiner())
    assert empty.schema == pl.Schema(
        {
            "message": pl.Utf8,
            "line_no": pl.Int64,
            "template_id": pl.Int64,
            "template": pl.Utf8,
            "params": pl.List(pl.Utf8),
        }
    )
    with pytest.raises(ValueError, match="'message' column"):
        mine_templates(pl.DataFrame({"text": ["x"]}), TemplateMiner())


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="depth"):
        TemplateConfig(depth=2)
    with pytest.raises(ValueError, match="templates.masking: rule 0"):
        TemplateConfig(masking=[{"pattern": "("}])


def _random_messages(seed: int, count: int) -> list[str]:
    """Messages built to stress Drain's tree: shared first tokens, digits, '<*>' tokens, varying lengths."""
    import random

    rng = random.Random(seed)
    words = [
        "open",
        "close",
        "read",
        "write",
        "user",
        "<*>",
        "error",
        "ok",
        "disk",
        "net",
        "a1",
        "b22",
        "x",
        "n\x00ul",
    ]
    shapes = [[rng.choice(words) for _ in range(rng.randint(0, 7))] for _ in range(40)]
    messages = []
    for _ in range(count):
        shape = rng.choice(shapes)
        tokens = [
            token if rng.random() < 0.8 else rng.choice(words + [str(rng.randint(0, 99))]) for token in shape
        ]
        messages.append("  ".join(tokens) if rng.random() < 0.1 else " ".join(tokens))
    return messages


@pytest.mark.parametrize(
    ("seed", "settings"),
    [
        (1, {"sim_th": 0.4, "depth": 4}),
        (2, {"sim_th": 0.6, "depth": 3, "max_children": 3}),
        (3, {"sim_th": 0.3, "depth": 5, "max_children": 4}),
        (4, {"sim_th": 0.5, "depth": 6, "parametrize_numeric_tokens": False}),
        (5, {"sim_th": 0.5, "depth": 4, "max_clusters": 15}),
        (6, {"sim_th": 0.7, "depth": 4, "extra_delimiters": ["_"]}),
    ],
)
def test_same_cluster_and_sizes_as_drain3_on_random_streams(seed, settings, tmp_path):
    messages = _random_messages(seed, 3000)
    config = TemplateConfig(masking=[], split_max_values=0, **settings)
    drain_config = TemplateMinerConfig()
    drain_config.drain_sim_th, drain_config.drain_depth = config.sim_th, config.depth
    drain_config.drain_max_children, drain_config.drain_max_clusters = (
        config.max_children,
        config.max_clusters,
    )
    drain_config.drain_extra_delimiters = list(config.extra_delimiters)
    drain_config.parametrize_numeric_tokens = config.parametrize_numeric_tokens
    reference = Drain3Miner(config=drain_config)
    expected = [reference.add_log_message(message)["cluster_id"] for message in messages]

    state = tmp_path / "state.json"
    miner = TemplateMiner(config.model_copy(update={"state_path": state}))
    got = []
    for start in range(0, len(messages), 450):  # batches, with a save and reload half-way
        got += drain_ids(
            miner,
            mine_templates(
                pl.DataFrame({"message": messages[start : start + 450]}), miner, with_params=False
            ),
        )
        if start == 1350:
            miner.save()
            miner = TemplateMiner(config.model_copy(update={"state_path": state}))
    assert got == expected
    sizes = {
        cluster.cluster_id: (cluster.size, cluster.get_template()) for cluster in reference.drain.clusters
    }
    assert {
        cluster.cluster_id: (cluster.size, cluster.get_template()) for cluster in miner.drain.clusters
    } == sizes


@pytest.mark.parametrize("small_cells", [0, 10**12])
def test_vectorized_matching_paths_agree_with_drain3(monkeypatch, small_cells):
    """Every re-match vectorized, leaves matched one by one (0) or all in flat chunks (10**12, tiny chunks)."""
    import logrca.parsers.templates.drain_bulk as drain_bulk
    import logrca.parsers.templates.drain_match as drain_match

    monkeypatch.setattr(drain_bulk, "_FEW", 0)
    monkeypatch.setattr(drain_match, "_SMALL_CELLS", small_cells)
    monkeypatch.setattr(drain_match, "_CHUNK_CELLS", 300)
    for seed, settings in (
        (7, {"sim_th": 0.4, "depth": 4}),
        (8, {"sim_th": 0.3, "depth": 3, "max_children": 3}),
    ):
        messages = _random_messages(seed, 2000)
        config = TemplateConfig(masking=[], split_max_values=0, **settings)
        drain_config = TemplateMinerConfig()
        drain_config.drain_sim_th, drain_config.drain_depth, drain_config.drain_max_children = (
            config.sim_th,
            config.depth,
            config.max_children,
        )
        reference = Drain3Miner(config=drain_config)
        expected = [reference.add_log_message(message)["cluster_id"] for message in messages]
        miner = TemplateMiner(config)
        got = []
        for start in range(0, len(messages), 500):
            got += drain_ids(
                miner,
                mine_templates(
                    pl.DataFrame({"message": messages[start : start + 500]}), miner, with_params=False
                ),
            )
        assert got == expected
        assert (
            miner._feeder.calls < len(messages) // 3
        )  # the vectorized match did answer most lines (not all fed)


def test_drain_is_skipped_for_repeated_messages(shared_data):
    messages, config = sample(shared_data, "HDFS")
    miner = TemplateMiner(config)
    mined = mine_templates(pl.DataFrame({"message": messages * 5}), miner, with_params=False)
    assert drain_ids(miner, mined) == drain3_line_by_line(messages * 5, config)
    distinct_masked = miner.masker.mask_series(pl.Series(messages)).n_unique()
    assert miner._feeder.calls < 2 * distinct_masked < len(messages)


@pytest.mark.parametrize("collide", [False, True])
def test_dense_codes_round_trip(monkeypatch, collide):
    from logrca.parsers.templates.dedup import dense_codes

    if collide:  # every value hashes alike: the exact fallback must still separate them
        monkeypatch.setattr(
            pl.Series, "hash", lambda self, *args, **kwargs: pl.Series([0] * self.len(), dtype=pl.UInt64)
        )
    for values in (
        pl.Series(["b", "a", "b", "", "a", "c"]),
        pl.Series([["1", "a"], ["1", "b"], ["1", "a"], [], ["1", "a\x00b"], []]),
    ):
        distinct, codes, first = dense_codes(values)
        assert distinct.gather(codes).to_list() == values.to_list()
        assert distinct.len() == len({repr(v) for v in values.to_list()})
        assert values.gather(first).to_list() == distinct.to_list()


def test_unique_hashes_equals_numpy_unique():
    from logrca.parsers.templates.dedup import _unique_hashes

    rng = np.random.default_rng(3)
    for values in (
        rng.integers(0, 50, 5_000).astype(np.uint64),
        rng.integers(0, 2**63, 300).astype(np.uint64),
        np.zeros(7, np.uint64),
        np.zeros(0, np.uint64),
    ):
        _, want_first, want_codes = np.unique(values, return_index=True, return_inverse=True)
        first, codes = _unique_hashes(values)
        assert (
            first.tolist() == want_first.tolist()
        )  # the first row of each value, distinct values in sorted order
        assert codes.tolist() == want_codes.tolist()


def test_tokenize_splits_as_drain3():
    from drain3.drain import Drain

    from logrca.parsers.templates.drain_bulk import tokenize

    messages = [
        "",
        "  ",
        "a b",
        " a\tb\n c ",
        "x\x1cy\x1fz",
        "u\u00a0v\u2003w\u3000",
        "k=v,w",
        "<*> <*>",
        "a\x00b c",
    ]
    for delimiters in ((), ("=", ",")):
        drain = Drain(extra_delimiters=delimiters)
        assert tokenize(pl.Series(messages), delimiters).to_list() == [
            drain.get_content_as_tokens(m) for m in messages
        ]


@pytest.mark.parametrize("tokenize", [False, True])
def test_batches_prepared_ahead_give_the_same_result(shared_data, tokenize):
    """prepare_batch needs only the settings: batches prepared before earlier ones are mined give drain3's ids."""
    messages, config = sample(shared_data, "Spark")
    expected = drain3_line_by_line(messages, config)
    miner = TemplateMiner(config)
    events = pl.DataFrame({"message": messages})
    batches = [events.slice(start, 500) for start in range(0, events.height, 500)]
    prepared = [prepare_batch(batch, miner, tokenize=tokenize) for batch in batches]  # all before any mining
    mined = [
        mine_templates(batch, miner, with_params=True, prepared=ready)
        for batch, ready in zip(batches, prepared)
    ]
    assert drain_ids(miner, pl.concat(mined)) == expected
    other = mine_templates(
        events.head(10), TemplateMiner(config), prepared=prepared[1]
    )  # for other events: ignored
    assert other["message"].to_list() == messages[:10]


def test_mine_in_batches_equals_one_batch(shared_data):
    """A large frame mined in batches: drain3's ids, the final templates; params differ only where a template generalised later."""
    from logrca.parsers.templates.batches import mine_in_batches

    messages, config = sample(shared_data, "OpenSSH")
    events = pl.DataFrame({"message": messages, "line_no": range(1, len(messages) + 1)})
    whole_miner = TemplateMiner(config)
    whole = mine_templates(events, whole_miner)
    miner = TemplateMiner(config)
    batched = mine_in_batches(events, miner, batch_rows=300)
    assert batched.columns == whole.columns and batched["line_no"].to_list() == whole["line_no"].to_list()
    # Drain's clusters are drain3's either way; template ids may differ with the batch ends (template_ids.py)
    assert drain_ids(miner, batched) == drain_ids(whole_miner, whole) == drain3_line_by_line(messages, config)
    assert batched["template"].to_list() == whole["template"].to_list()
    differ = batched.filter(pl.col("params") != whole["params"])
    assert differ.height < whole.height // 10  # params of early lines of a cluster that generalised later
    assert sum(cluster.size for cluster in miner.drain.clusters) == len(messages)
    with pytest.raises(ValueError, match="batch_rows"):
        mine_in_batches(events, miner, batch_rows=0)


def test_prefetch_keeps_order_and_raises_where_the_producer_failed():
    from logrca.parsers.templates.batches import prefetch

    def produce():
        yield from range(5)
        raise RuntimeError("bad batch 5")

    got = []
    with pytest.raises(RuntimeError, match="bad batch 5"):
        for item in prefetch(produce(), ahead=3):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
