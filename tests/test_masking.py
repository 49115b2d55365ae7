"""Masking rules: loaded from YAML with clear errors; vectorized result equals Python re / drain3."""

from __future__ import annotations

import polars as pl
import pytest
from drain3.masking import LogMasker, MaskingInstruction

from logrca.parsers.templates.masking import (
    DEFAULT_MASKING_RULES,
    IDENTIFIER_RULES,
    Masker,
    MaskingRule,
    load_masking_file,
    parse_masking_rules,
)

MESSAGES = [
    "Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
    "id=42 took 17 ms session 0x14ed93111f20000 user 3f2a9c1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f",
    "cost $5 for item 7",
    "",
]


def test_vectorized_equals_drain3_masker_including_python_fallback():
    rules = [
        MaskingRule(pattern=r"blk_-?\d+", mask_with="BLK"),
        *IDENTIFIER_RULES,  # not the defaults: their number rule would leave nothing to the rules below
        MaskingRule(pattern=r"(?<==)\d+", mask_with="*"),  # look-behind: Rust regex lacks it
        MaskingRule(pattern=r"\b\d+\b", mask_with="NUM$1"),  # '$' in the token must stay literal
    ]
    masker = Masker(rules)
    assert [rule.pattern for rule in masker.python_fallback_rules] == [r"(?<==)\d+"]
    drain3_masker = LogMasker([MaskingInstruction(r.pattern, r.mask_with) for r in rules], "<", ">")
    expected = [drain3_masker.mask(m) for m in MESSAGES]
    assert masker.mask_series(pl.Series("message", MESSAGES)).to_list() == expected
    assert [masker.mask(m) for m in MESSAGES] == expected
    assert expected[0] == "Receiving block <BLK> src: /<*> dest: /<*>"  # IPv4 with its port
    assert expected[1].startswith("id=<*> took <NUM$1> ms session <*> user <*>")


def test_nulls_and_empty_series_are_kept():
    masker = Masker(IDENTIFIER_RULES)
    out = masker.mask_series(pl.Series("m", ["1.2.3.4", None], dtype=pl.Utf8))
    assert out.to_list() == ["<*>", None] and out.name == "m"
    assert masker.mask_series(pl.Series("m", [], dtype=pl.Utf8)).len() == 0


def test_load_yaml_list_and_mapping(tmp_path):
    listed = tmp_path / "list.yaml"
    listed.write_text("- {pattern: 'blk_-?\\d+', mask_with: BLK}\n- '\\d+'\n")
    assert [r.token for r in load_masking_file(listed)["masking"]] == ["<BLK>", "<*>"]
    mapping = tmp_path / "map.yaml"
    mapping.write_text("sim_th: 0.5\nmasking:\n  - regex_pattern: '=\\d+'\n    mask_with: V\n")
    settings = load_masking_file(mapping)
    assert settings["sim_th"] == 0.5 and settings["masking"][0].pattern == r"=\d+"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("- {pattern: '(unclosed'}\n", "rule 0"),
        ("- {pattern: 'a*'}\n", "matches the empty string"),
        ("- {pattern: 'x', colour: red}\n", "colour"),
        ("masking: 3\n", "expected a list"),
        ("masking: [\n", "not valid YAML"),
    ],
)
def test_bad_files_name_file_and_rule(tmp_path, content, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ValueError) as error:
        load_masking_file(path)
    assert needle in str(error.value) and str(path) in str(error.value)


def test_missing_file_and_bad_inline_rules(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_masking_file(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="rule 1"):
        parse_masking_rules(["ok", {"mask_with": "X"}], source="templates.masking")


def test_large_series_masked_in_parallel_parts_equals_drain3():
    """Above a few thousand rows the rules run on chunks in parallel; order, nulls and results stay exact."""
    rules = [
        MaskingRule(pattern=r"blk_-?\d+", mask_with="BLK"),
        *IDENTIFIER_RULES,
        MaskingRule(pattern=r"(?<==)\d+", mask_with="*"),
        MaskingRule(pattern=r"\b\d+\b", mask_with="NUM"),
    ]
    values = [
        None if i % 997 == 0 else f"{MESSAGES[i % len(MESSAGES)]} n={i} at 10.0.{i % 256}.{i % 7}"
        for i in range(40_000)
    ]
    masked = Masker(rules).mask_series(pl.Series("message", values, dtype=pl.Utf8))
    drain3_masker = LogMasker([MaskingInstruction(r.pattern, r.mask_with) for r in rules], "<", ">")
    assert masked.name == "message" and masked.len() == len(values)
    assert masked.to_list() == [None if v is None else drain3_masker.mask(v) for v in values]


def test_select_in_parts_keeps_row_order():
    from logrca.parsers.templates.masking import select_in_parts

    values = pl.Series([f"row {i}" for i in range(50_000)])
    out = select_in_parts(
        values, pl.col("m").str.replace("row ", "", literal=True).cast(pl.Int64), min_part=1000
    )
    assert out.to_list() == list(range(50_000))


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("connection from 10.0.0.1 (h) at Sun Jul 17 23:21:54 2005", "connection from <*> (h) at <*>"),
        ("2015-07-29 17:41:44,747 took 12 ms", "<*> took <*>"),
        (
            "Receiving blk_-42 and blk_42 on port:50010 in 0.25 s",
            "Receiving <*> and <*> on port:<*> in <*>",
        ),
        ("Resolved node-41.corp.example.com to /rack", "Resolved <*> to /rack"),
        ("src: /10.250.19.102:54106 file /tmp/_task_2008_0001/part-0", "src: /<*> file <*>"),
        (
            "ipv4 sda1 uid=0 session 0x1f 3f2a9c1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f",
            "ipv4 sda1 uid=<*> session <*> <*>",
        ),
    ],
)
def test_default_masks_take_whole_ids_times_and_numbers(message, masked):
    """Times, host names, ``_``-joined ids and values with their unit go whole (the number rule alone would leave digit-free pieces)."""
    masker = Masker(DEFAULT_MASKING_RULES)
    drain3_masker = LogMasker(
        [MaskingInstruction(r.pattern, r.mask_with) for r in DEFAULT_MASKING_RULES], "<", ">"
    )
    assert masker.mask(message) == drain3_masker.mask(message) == masked
    assert masker.mask_series(pl.Series([message])).to_list() == [masked]


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("estimated size 93.0 B, free 317.1 KB", "estimated size <*>, free <*>"),
        ("flushed 1.5GiB in 250 ms (3s total, 10 bytes)", "flushed <*> in <*> (<*> total, <*>)"),
        ("5 hosts in 2 racks", "<*> hosts in <*> racks"),  # a word that starts like a unit is no unit
        ("GET http://10.0.0.7:8080/a?b=1 from ops@example.com", "GET <*> from <*>"),
        ("link up on 00:1A:2b:3c:4D:5e port 3", "link up on <*> port <*>"),
    ],
)
def test_unit_and_web_masks_take_values_whole(message, masked):
    """Sizes and durations with their unit, URLs, e-mail and MAC addresses go whole (bench/loghub_loo.py offers them)."""
    from logrca.parsers.templates.masking import NUMBER_RULES, UNIT_RULES, WEB_RULES

    rules = [*WEB_RULES, *IDENTIFIER_RULES, *UNIT_RULES, *NUMBER_RULES]
    drain3_masker = LogMasker([MaskingInstruction(r.pattern, r.mask_with) for r in rules], "<", ">")
    assert Masker(rules).mask(message) == drain3_masker.mask(message) == masked
    assert Masker(rules).mask_series(pl.Series([message])).to_list() == [masked]
