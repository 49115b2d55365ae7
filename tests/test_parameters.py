"""Parameters of lines whose masked form has another token count than the message (the regex path)."""

from __future__ import annotations

import numpy as np
import polars as pl

from logrca.parsers.templates.batches import mine_in_batches
from logrca.parsers.templates.drain_plan import single_spaced
from logrca.parsers.templates.miner import TemplateMiner
from logrca.parsers.templates.parameters import _regex_parameters, _unaligned_parameters, line_parameters


def test_lines_a_multi_token_mask_shortens_get_their_parameters_by_regex():
    # the time mask takes "Sun Jul 17 23:21:54 2005" (5 tokens) as one: the regex path, not the aligned one
    messages = [
        f"session opened for user {user} at {day} Jul 17 23:21:{second:02d} 2005"
        for user, day, second in (("ann", "Sun", 1), ("bob", "Mon", 2), ("cid", "Tue", 3))
    ] + ["session closed", "session closed"]
    events = pl.DataFrame({"message": messages * 3, "service": "auth"})
    mined = mine_in_batches(events, TemplateMiner())  # one batch: params against the final template
    rows = mined.to_dicts()
    for row in rows:
        assert row["params"] == _regex_parameters(row["message"], row["template"])
    opened = [row for row in rows if row["message"].startswith("session opened")]
    assert [row["params"][-1] for row in opened[:3]] == [
        "Sun Jul 17 23:21:01 2005",
        "Mon Jul 17 23:21:02 2005",
        "Tue Jul 17 23:21:03 2005",
    ]
    assert all(row["params"] == [] for row in rows if row["message"] == "session closed")


def test_the_vectorised_regex_path_gives_pythons_groups_row_for_row():
    # polars' Rust regex per template must capture what Python's re captures per row, whatever the
    # whitespace (tabs, runs, ends, non-ASCII spaces, the separators Rust's \s lacks), a failed
    # match, a template without variables and regex metacharacters in the template's words
    templates = pl.Series(
        [
            "took <*> for (req) <*> [x]+ a.b",
            "no variables here",
            "<*> <*>",
            "pool <*>: <*>|done ~#&-",
        ]
    )
    cases = [
        ("took 12 ms for (req) 7 [x]+ a.b", 0),
        ("took\t12  ms for (req) 7 [x]+ a.b  ", 0),
        ("  took 12 ms\nfor (req) 7 [x]+ a.b", 0),
        ("took 12\x1cms for (req) 7 [x]+ a.b", 0),
        ("took 12\u00a0ms for (req) 7 [x]+ a.b", 0),
        ("took\u3000 12\x85ms for\u2028(req) 7\x1f[x]+ a.b\x0b", 0),
        ("took 12 ms for (req) 7 [x]+ aXb", 0),
        ("nothing alike", 0),
        ("no variables here", 1),
        ("no  variables", 1),
        ("a b c d", 2),
        ("single", 2),
        ("", 2),
        ("pool 3 4: x y|done ~#&-", 3),
        ("pool é 4:  ü|done ~#&-", 3),
    ]
    messages = pl.Series([message for message, _ in cases])
    template_of = np.array([index for _, index in cases])
    rows = np.arange(len(cases))
    # the caller hands the messages single-spaced, as parameters() does
    text = messages.to_frame("m").select(single_spaced(pl.col("m"))).to_series()
    found = _unaligned_parameters(text, messages, templates, template_of, rows).sort("_row")
    assert found["_row"].to_list() == rows.tolist()
    expected = [_regex_parameters(message, templates[index]) for message, index in cases]
    assert found["params"].to_list() == expected
    assert expected[1] == ["12 ms", "7"] and expected[7] == [] and expected[10] == ["a", "b c d"]


def test_line_parameters_from_the_stored_columns_equal_the_miners(shared_data):
    """``log_parameters``' function on a mined frame's ``message`` and ``template`` columns gives the
    params mining gives (one batch: the templates are the final ones), nulls and repeats included."""
    from test_templates import sample

    for system in ("OpenSSH", "HDFS", "Apache"):
        messages, config = sample(shared_data, system)
        events = pl.DataFrame({"message": [*messages, None, messages[0]]})
        mined = mine_in_batches(events, TemplateMiner(config), batch_rows=len(messages) + 2)
        found = line_parameters(mined["message"], mined["template"], config.extra_delimiters)
        assert found.name == "params" and found.to_list() == mined["params"].to_list()
    assert line_parameters(pl.Series([], dtype=pl.Utf8), pl.Series([], dtype=pl.Utf8), ()).dtype == pl.List(
        pl.Utf8
    )


def test_a_mask_name_that_would_split_into_tokens_is_refused():
    import pytest
    from pydantic import ValidationError

    from logrca.parsers.templates.masking import MaskingRule

    for name in ("two words", "<IP>", "", "tab\there"):
        with pytest.raises(ValidationError, match="mask_with"):
            MaskingRule(pattern=r"\d+", mask_with=name)
    assert MaskingRule(pattern=r"\d+", mask_with="NUM").token == "<NUM>"
