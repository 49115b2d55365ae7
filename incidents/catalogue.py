"""The service catalogue: who owns each service, whom to call in which order, and where alerts go."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from logrca.parsers.validation import Regex, format_validation_errors

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Channel",
    "Contact",
    "ServiceEntry",
    "SmtpSettings",
    "load_catalogue",
]

CATEGORIES = (
    "process_defect",
    "operation_error",
    "upgrade_compatibility",
    "dependency_failure",
    "resource_exhaustion",
    "bad_input",
)
_CATEGORY_ALIASES = {
    "upgrade": "upgrade_compatibility",
    "compatibility": "upgrade_compatibility",
    "upgrade_or_compatibility_problem": "upgrade_compatibility",
    "dependency": "dependency_failure",
    "resource": "resource_exhaustion",
    "operation": "operation_error",
    "operator_error": "operation_error",
    "defect": "process_defect",
    "bug": "process_defect",
    "input": "bad_input",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def normalize_category(value: object) -> str | None:
    """A category name as written by people ("resource exhaustion", "Bad-Input") in canonical form, or None."""
    if not isinstance(value, str):
        return None
    key = re.sub(r"[\s-]+", "_", value.strip().lower())
    key = _CATEGORY_ALIASES.get(key, key)
    return key if key in CATEGORIES else None


class CatalogueError(ValueError):
    """The catalogue file is missing or invalid; the message names the file and each bad field."""


def _check_email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _check_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        # the value is not shown: a webhook URL is itself the credential (its path holds the token)
        raise ValueError("not an http(s) URL (value not shown: a webhook URL holds its token)")
    return value


class Contact(BaseModel):
    """One on-call person; the catalogue lists them in escalation order."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    email: str | None = None
    webhook: str | None = Field(None, description="Personal webhook (generic JSON), e.g. a pager bridge.")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _check_email(value)

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return _check_url(value)

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if self.email is None and self.webhook is None:
            raise ValueError(f"contact {self.name!r} needs an email or a webhook")
        return self


class Channel(BaseModel):
    """Where a service's alerts go: a generic JSON webhook, a Slack-compatible webhook, or e-mail."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook", "slack", "email"]
    url: str | None = None
    to: list[str] = Field(default_factory=list, description="Extra e-mail recipients (email channel).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            _check_email(address)
        return value

    @model_validator(mode="after")
    def _target(self) -> Channel:
        if self.kind in ("webhook", "slack") and not self.url:
            raise ValueError(f"a {self.kind} channel needs a url")
        if self.kind == "email" and self.url:
            raise ValueError("an email channel takes 'to' addresses, not a url")
        return self


class ServiceEntry(BaseModel):
    """One service's owner team, on-call contacts (escalation order), channels and ack deadline."""

    model_config = ConfigDict(extra="forbid")

    owner: str = Field(min_length=1, description="Owning team.")
    contacts: list[Contact] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    ack_deadline_minutes: int | None = Field(None, gt=0)


class SmtpSettings(BaseModel):
    """SMTP relay for the e-mail channel (values may use ``${ENV_VAR:-default}``)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(25, gt=0, lt=65536)
    sender: str = "logrca@localhost.localdomain"
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = Field(10.0, gt=0)


class DeliveryRetry(BaseModel):
    """When a failed alert is tried again (``delivery_retry`` in the catalogue): after
    ``backoff_minutes * 2**(round - 1)`` minutes, at most ``cap_minutes``, for ``max_rounds`` rounds
    (each round is one send with its own quick tries); then it is given up and recorded."""

    model_config = ConfigDict(extra="forbid")

    backoff_minutes: float = Field(1.0, ge=0.0)
    cap_minutes: float = Field(60.0, ge=0.0)
    max_rounds: int = Field(8, ge=1)

    def next_attempt(self, rounds: int, now: datetime) -> datetime:
        """When round ``rounds + 1`` is due, after ``rounds`` failed rounds."""
        return now + timedelta(minutes=min(self.backoff_minutes * 2 ** max(rounds - 1, 0), self.cap_minutes))


class CategoryRule(BaseModel):
    """An extra category rule: a regex on evidence templates/samples, checked before the built-in ones."""

    model_config = ConfigDict(extra="forbid")

    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    pattern: Regex


class Catalogue(BaseModel):
    """All services; ``default`` (optional) covers services the catalogue does not list."""

    model_config = ConfigDict(extra="forbid")

    services: dict[str, ServiceEntry] = Field(min_length=1)
    default: ServiceEntry | None = None
    ack_deadline_minutes: int = Field(30, gt=0, description="Default time to acknowledge before escalating.")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    delivery_retry: DeliveryRetry = Field(default_factory=DeliveryRetry)
    category_rules: list[CategoryRule] = Field(default_factory=list)
    path: Path | None = Field(None, exclude=True)

    def entry(self, service: str | None) -> ServiceEntry | None:
        """The catalogue entry for ``service``, else ``default`` (None when neither exists)."""
        if service is not None and service in self.services:
            return self.services[service]
        return self.default

    def deadline_minutes(self, service: str | None) -> int:
        """Minutes an incident on ``service`` may stay unacknowledged before it escalates."""
        entry = self.entry(service)
        return (
            entry.ack_deadline_minutes if entry and entry.ack_deadline_minutes else None
        ) or self.ack_deadline_minutes


def expand_env(text: str) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` with the environment's value (or the default).

    An unset variable without a default raises CatalogueError naming it.
    """

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise CatalogueError(
                f"environment variable {name} is not set and has no default (${{{name}:-...}})"
            )
        return default

    return _ENV.sub(replace, text)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The parser's problem and where (``line 2, column 63``), without its snippet of the line: the
    line may hold a webhook URL, and the snippet is taken after ``${VAR}`` expansion."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or type(error).__name__
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def load_catalogue(path: Path | str) -> Catalogue:
    """Read and validate a catalogue YAML file.

    Parameters
    ----------
    path : Path or str
        The catalogue file (``services: {name: {owner, contacts, channels, ack_deadline_minutes}}``,
        optional ``default``, ``ack_deadline_minutes``, ``smtp``, ``delivery_retry``, ``category_rules``).

    Returns
    -------
    Catalogue

    Raises
    ------
    CatalogueError
        When the file is missing, not YAML, or a field is invalid; each bad field is named
        (``services.payments.contacts.0.email: Value error, not an e-mail address: 'x'``).
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogueError(f"{path}: catalogue file not found")
    try:
        raw = yaml.safe_load(expand_env(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path}: not valid YAML: {_yaml_problem(error)}") from None
    except CatalogueError as error:
        raise CatalogueError(f"{path}: {error}") from None
    if not isinstance(raw, dict):
        raise CatalogueError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        catalogue = Catalogue.model_validate(raw)
    except ValidationError as error:  # from None: pydantic's dump would echo each input value (URLs too)
        raise CatalogueError(f"{path}: invalid catalogue:\n{format_validation_errors(error)}") from None
    catalogue.path = path
    return catalogue
