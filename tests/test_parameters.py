"""Parameters of lines whose masked form has another token count than the message (the regex path)."""

from __future__ import annotations

import polars as pl

from logrca.parsers.templates.batches import mine_in_batches
from logrca.parsers.templates.miner import TemplateMiner
from logrca.parsers.templates.parameters import _regex_parameters


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
