"""The service catalogue: the example validates; bad files give errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from logrca import PROJECT_ROOT
from logrca.incidents.catalogue import CatalogueError, load_catalogue

EXAMPLE = PROJECT_ROOT / "examples" / "shop" / "catalogue.yaml"

VALID = """
ack_deadline_minutes: 20
smtp: {host: "${TEST_SMTP_HOST:-mail.internal}", port: "${TEST_SMTP_PORT:-2525}"}
services:
  payments:
    owner: payments-team
    ack_deadline_minutes: 5
    contacts:
      - {name: Pat, email: pat@example.com}
      - {name: Paula, webhook: "http://127.0.0.1:1/pager"}
    channels:
      - {kind: slack, url: "http://127.0.0.1:1/slack"}
      - {kind: email, to: [team@example.com]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_catalogue_lists_the_shop_services():
    catalogue = load_catalogue(EXAMPLE)
    assert {"gateway", "checkout", "payments", "inventory", "db"} <= set(catalogue.services)
    for name, entry in catalogue.services.items():
        assert entry.contacts, name
        assert entry.channels, name


def test_valid_catalogue_with_env_defaults_and_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SMTP_HOST", raising=False)
    monkeypatch.setenv("TEST_SMTP_PORT", "1125")
    catalogue = load_catalogue(write(tmp_path, VALID))
    assert catalogue.smtp.host == "mail.internal"
    assert catalogue.smtp.port == 1125
    assert [c.name for c in catalogue.services["payments"].contacts] == ["Pat", "Paula"]
    assert catalogue.deadline_minutes("payments") == 5
    assert catalogue.deadline_minutes("unknown") == 20
    assert catalogue.entry("unknown") is None


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        (VALID.replace("pat@example.com", "pat-at-example"), "services.payments.contacts.0.email"),
        (
            VALID.replace('{kind: slack, url: "http://127.0.0.1:1/slack"}', "{kind: slack}"),
            "services.payments.channels.0",
        ),
        (VALID.replace("kind: slack", "kind: pigeon"), "services.payments.channels.0.kind"),
        (VALID.replace("owner: payments-team", "team: payments-team"), "services.payments.owner"),
        (
            VALID.replace("ack_deadline_minutes: 5", "ack_deadline_minutes: -5"),
            "services.payments.ack_deadline_minutes",
        ),
        (VALID.replace("{name: Pat, email: pat@example.com}", "{name: Pat}"), "services.payments.contacts.0"),
        (VALID + "category_rules: [{category: gremlins, pattern: x}]", "category_rules.0.category"),
        (VALID + "category_rules: [{category: bad_input, pattern: '(unclosed'}]", "category_rules.0.pattern"),
    ],
)
def test_malformed_catalogue_names_the_field(tmp_path, broken, named):
    path = write(tmp_path, broken)
    with pytest.raises(CatalogueError) as error:
        load_catalogue(path)
    assert str(path) in str(error.value)
    assert named in str(error.value)


def test_missing_file_unset_variable_and_not_yaml(tmp_path, monkeypatch):
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "nope.yaml")
    monkeypatch.delenv("LOGRCA_TEST_UNSET_VAR", raising=False)
    with pytest.raises(CatalogueError, match="LOGRCA_TEST_UNSET_VAR"):
        load_catalogue(
            write(tmp_path, VALID.replace("${TEST_SMTP_HOST:-mail.internal}", "${LOGRCA_TEST_UNSET_VAR}"))
        )
    with pytest.raises(CatalogueError, match="not valid YAML"):
        load_catalogue(write(tmp_path, "services: [unclosed"))
    with pytest.raises(CatalogueError, match="mapping at the top level"):
        load_catalogue(write(tmp_path, "- a list\n"))
