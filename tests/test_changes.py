"""Change events: built-in and user rules on hand-written lines, the config section, and their weight in the ranking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import networkx as nx
import polars as pl
import pytest
from pydantic import ValidationError

from logrca.rca.changes import ChangesConfig, changes_before_anomaly, detect_changes
from logrca.rca.detect import ANOMALY_SCHEMA
from logrca.rca.rank import rank_root_causes

T0 = datetime(2031, 5, 4, 9, tzinfo=UTC)


def lines(rows):
    return pl.DataFrame(
        [(T0 + timedelta(minutes=m), s, msg) for m, s, msg in rows],
        schema={"timestamp": pl.Datetime("us", "UTC"), "service": pl.Utf8, "message": pl.Utf8},
        orient="row",
    )


@pytest.mark.parametrize(
    ("message", "kind", "version"),
    [
        ("Deployed release 7.2.1 of billing-api", "deploy", "7.2.1"),
        ("Rolling out orders v3.0.0-rc2 to 4 pods", "deploy", "3.0.0-rc2"),
        ("Starting ledger v1.14 (build 88)", "version_change", "1.14"),
        ("Configuration reloaded from /etc/app/app.yaml", "config_reload", None),
        ("Reloading feature flags", "config_reload", None),
        ("Received SIGTERM, shutting down", "restart", None),
        ("Server started on port 8080", "restart", None),
        ("Released version 2.4.0 to production", "deploy", "2.4.0"),
        ("Starting Jetty 9.4.12 on port 8080", "version_change", "9.4.12"),
        # Spring Boot's and Quarkus' start lines: a start, and the number is a duration, not a version
        ("Started OrderApplication in 2.41 seconds (JVM running for 3.1)", "restart", None),
        ("orders 1.0 on JVM started in 1.234s. Listening on port 8080", "restart", None),
    ],
)
def test_builtin_rules_recognise_common_shapes(message, kind, version):
    found = detect_changes(lines([(0, "svc", message)]))
    assert found.select("kind", "version").row(0) == (kind, version)


def test_ordinary_lines_are_not_changes():
    found = detect_changes(
        lines(
            [
                (0, "svc", "GET /orders 200 12ms"),
                (1, "svc", "payment 42 declined: card expired"),
                # "release" as a resource or the running version is no deploy (Hadoop's RM logs the first)
                (2, "svc", "getResources() for application_1445: ask=4 release= 0 newContainers=0"),
                (3, "svc", "Reservation 7 failed: cache returned 0 units (release v9.1.3)"),
                (4, "svc", "lock on orders released after 12 ms"),
            ]
        )
    )
    assert found.is_empty() and list(found.columns)[:3] == ["timestamp", "service", "kind"]


def test_user_rules_come_first_and_builtins_can_be_switched_off():
    config = ChangesConfig.model_validate(
        {
            "builtin": False,
            "rules": [
                {
                    "name": "helm",
                    "pattern": r"helm upgrade",
                    "kind": "deploy",
                    "version_pattern": r"chart=(\S+)",
                }
            ],
        }
    )
    found = detect_changes(
        lines([(0, "cart", "helm upgrade cart chart=cart-0.9.1"), (1, "cart", "Server started on port 80")]),
        config,
    )
    assert found.select("rule", "version").rows() == [("helm", "cart-0.9.1")]


def test_config_errors_name_the_field():
    with pytest.raises(ValidationError, match=r"rules\.0\.pattern"):
        ChangesConfig.model_validate({"rules": [{"name": "x", "pattern": "deploy(", "kind": "deploy"}]})
    with pytest.raises(ValidationError, match=r"rules\.0\.kind"):
        ChangesConfig.model_validate({"rules": [{"name": "x", "pattern": "x", "kind": "reboot"}]})


def test_only_a_change_shortly_before_the_first_anomaly_counts():
    changes = detect_changes(lines([(0, "a", "Deployed a 2.0.0"), (5, "b", "Deployed b 1.1.0")]))
    first = {"a": T0 + timedelta(minutes=3), "b": T0 + timedelta(minutes=2), "c": T0}
    found = changes_before_anomaly(changes, first, lookback=timedelta(minutes=10))
    assert set(found) == {"a"}  # b changed after its anomaly began; c did not change
    assert found["a"].startswith("deploy 3.0 min before its first anomaly")


def anomaly(service, score, minute):
    row = {k: None for k in ANOMALY_SCHEMA}
    row |= {
        "service": service,
        "kind": "new_template",
        "score": score,
        "first_seen": T0 + timedelta(minutes=minute),
    }
    row |= {"template_id": ord(service[0]), "template": f"{service} failed", "detail": "new"}
    row |= {"count_baseline": 0.0, "count_window": 5}
    return row


def test_a_change_before_its_anomalies_lifts_a_service_in_the_ranking():
    graph = nx.DiGraph([("gw", "a"), ("gw", "b")])
    anomalies = pl.DataFrame(
        [anomaly("a", 10.0, 5), anomaly("b", 11.0, 5), anomaly("c", 0.0, 5)], schema=ANOMALY_SCHEMA
    )
    changes = detect_changes(lines([(3, "a", "Starting a v2.0.0")]))
    plain = rank_root_causes(graph, anomalies, propagation=0.0)
    weighed = rank_root_causes(graph, anomalies, propagation=0.0, changes=changes, change_weight=0.5)
    unweighed = rank_root_causes(graph, anomalies, propagation=0.0, changes=changes, change_weight=0.0)
    assert plain["service"][0] == "b" and unweighed["service"][0] == "b"
    assert weighed["service"][0] == "a"
    assert (
        "version change 2.0 min before its first anomaly"
        in weighed.filter(pl.col("service") == "a")["explanation"][0]
    )
    # A change cannot make a suspect of a service without anomalies.
    quiet = detect_changes(lines([(3, "c", "Starting c v9.0.0")]))
    assert (
        rank_root_causes(graph, anomalies, propagation=0.0, changes=quiet, change_weight=5.0)["service"][0]
        == "b"
    )


#: Words the rules look for, their neighbours and look-alikes: the Kelvin sign and the long s fold to
#: k and s under (?i); letters outside ASCII make (or break) word boundaries.
_TEXT = (
    "deploy deployed deploying deployment rolled rolling roll-out rollout release released upgraded "
    "upgrading rollback starting started booting launching running new current version changed is now "
    "updated reload reloaded loading load the config configuration settings feature flag flags restart "
    "restarted restarting shutting down shutdown complete server service application process stopped "
    "v2.4.0 1.10.3-rc1 2.4 7 x helm chart=cart-0.9.1 STARTING Deployed ſhutting \u212aill éstarting "
    "deployé RESTART 12ms GET /orders"
)
_WORDS = _TEXT.split()
_USER_RULES = [
    {"name": "helm", "pattern": r"helm upgrade", "kind": "deploy", "version_pattern": r"chart=(\S+)"},
    {"name": "verbose", "pattern": "(?x) shutting \\s+ down  # a comment to the end", "kind": "restart"},
    {"name": "named", "pattern": r"(?i)(?P<what>kill)\b", "kind": "restart"},
]


def _first_matching_rule(events: pl.DataFrame, config: ChangesConfig) -> pl.DataFrame:
    """The rule each line's first line matches first, by one pass per rule (what detect_changes means)."""
    first = events.with_columns(pl.col("message").fill_null("").str.split("\n").list.first())
    rule = pl.lit(None, pl.Utf8)
    for each in reversed(config.all_rules()):
        rule = pl.when(pl.col("message").str.contains(each.pattern)).then(pl.lit(each.name)).otherwise(rule)
    return first.with_columns(rule=rule).filter(pl.col("rule").is_not_null())


@pytest.mark.parametrize(
    "section",
    [
        {},
        {"rules": _USER_RULES},
        {"rules": _USER_RULES, "builtin": False},
        {"builtin": False},
        # a rule that ends the text: whole messages are no longer a superset of their first lines
        {"rules": [*_USER_RULES, {"name": "ends", "pattern": r"\bdown$", "kind": "restart"}]},
        # a rule that matches the empty text: a line without a message is a change of ""
        {"rules": [{"name": "empty", "pattern": "q*", "kind": "restart"}], "builtin": False},
    ],
)
def test_one_pass_finds_the_lines_and_rules_of_a_pass_per_rule(section):
    import random

    rng = random.Random(29)
    messages = [
        " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
        + rng.choice(["", "", "\nrestarted in the next line", "\r\n", "\n\tat x.Y.z(Y.java:7)"])
        for _ in range(4000)
    ] + [None, "", "\n".join(["Deployed", "x"])]
    events = pl.DataFrame(
        {
            "timestamp": [T0 + timedelta(seconds=rng.randint(0, 3600)) for _ in messages],
            "service": [rng.choice("abc") for _ in messages],
            "message": messages,
        },
        schema={"timestamp": pl.Datetime("us", "UTC"), "service": pl.Utf8, "message": pl.Utf8},
    )
    config = ChangesConfig.model_validate(section)
    expected = _first_matching_rule(events, config).sort("timestamp", maintain_order=True)
    found = detect_changes(events, config)
    columns = ["timestamp", "service", "message", "rule"]
    assert found.select(columns).equals(expected.select(columns))
    # every rule was hit, so a rule missing from the one pass would show
    assert set(expected["rule"]) == {rule.name for rule in config.all_rules()}
