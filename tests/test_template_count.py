"""Mining cost as templates grow (issue 17.3): results carried across batches once the tree is learnt."""

from __future__ import annotations

import random

import polars as pl
from drain3 import TemplateMiner as Drain3Miner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from logrca.parsers.templates.masking import parse_masking_rules
from logrca.parsers.templates.miner import TemplateConfig, TemplateMiner, mine_templates


def _templates(count: int, rng: random.Random) -> list[str]:
    """``count`` templates of six words sharing a head and one of four verbs: leaves of many clusters."""
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(5000)]
    verbs = vocabulary[:4]
    return [
        " ".join(["svc", rng.choice(verbs), *rng.sample(vocabulary[4:], 2), "{}", rng.choice(vocabulary[4:])])
        for _ in range(count)
    ]


def test_remembered_results_are_reused_after_a_learning_batch():
    """A batch that learns the templates one after the other leaves its remembered results under leaf
    versions that changed later; the next batch matches them again and remembers them anew, so the
    batch after it is answered from memory, and every line keeps drain3's cluster."""
    rng = random.Random(3)
    shapes = _templates(200, rng)
    learning = [shape.format(rng.randrange(10**6)) for shape in shapes for _ in range(3)]  # in order
    steady = [[rng.choice(shapes).format(rng.randrange(10**6)) for _ in range(2000)] for _ in range(3)]
    config = TemplateConfig(
        masking=parse_masking_rules([r"\b\d+\b"]), sim_th=0.4, depth=4, split_max_values=0
    )
    drain_config = TemplateMinerConfig()
    drain_config.drain_sim_th, drain_config.drain_depth = config.sim_th, config.depth
    drain_config.masking_instructions = [MaskingInstruction(r.pattern, r.mask_with) for r in config.masking]
    reference = Drain3Miner(config=drain_config)
    miner = TemplateMiner(config)
    reused = []
    for batch in [learning, *steady]:
        before = miner._feeder.reused
        mined = mine_templates(pl.DataFrame({"message": batch}), miner, with_params=False)
        reused.append(miner._feeder.reused - before)
        expected = [reference.add_log_message(message)["cluster_id"] for message in batch]
        assert miner.ids.clusters(mined["template_id"].to_numpy()).tolist() == expected
    distinct = [miner.masker.mask_series(pl.Series(batch)).n_unique() for batch in steady]
    assert reused[1] < distinct[0] // 2  # the learning batch's results were stale
    assert reused[2] == distinct[1] and reused[3] == distinct[2]  # then every message came from memory
