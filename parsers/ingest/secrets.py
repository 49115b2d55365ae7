"""Redact secrets from log text at ingest, before any event or quarantined line is stored.

The default rules (:data:`DEFAULT_RULES`) cover passwords and secrets written as ``key=value``,
JSON or HTTP header, bearer tokens and JWTs, cloud and code-host access keys (AWS, GCP, GitHub,
GitLab, Slack), private key blocks, credentials in URLs, and card numbers (kept only when the Luhn
check fails). They are Rust regular expressions run by polars on whole columns; only rows that
hold a candidate are rewritten, so clean text costs one combined scan.

Examples
--------
>>> import polars as pl
>>> redactor = Redactor.from_config(SecretsConfig())
>>> redactor.redact(pl.Series(["login user=bob password=hunter2 ok"])).to_list()
['login user=bob password=[REDACTED] ok']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from logrca.parsers.ingest.cards import (
    CARD_PREFILTER,
    MASK,
    luhn_valid,
    luhn_valid_many,
    mask_cards,
)
from logrca.parsers.ingest.schema import ReadResult
from logrca.parsers.templates.masking import select_in_parts
from logrca.parsers.validation import PolarsRegex

__all__ = [
    "DEFAULT_RULES",
    "MASK",
    "Redactor",
    "SecretRule",
    "SecretsConfig",
    "luhn_valid",
    "luhn_valid_many",
    "mask_cards",
]


#: Key names whose value is a secret whatever word they end: ``password``, ``dbPassword``,
#: ``db_password``, ``clientSecret``, ``accessToken``, ``JSESSIONID``. A key must end there (``\b`` or a
#: quote after it), so ``passwords``, ``tokens_used``, ``secretary`` and ``password_reset`` are no keys.
_LONG_KEYS = (
    r"password|passwd|passphrase|secret|token|credentials?|api[_-]?key"
    r"|(?:secret|private|access|signing|encryption|master)[_-]?key|session[_-]?id"
)
#: Short keys that end harmless words (``bypass``, ``compass``, ``OLDPWD``): only alone, after ``_``,
#: ``.`` or ``-`` (``db_pass``, ``DB.PWD``), or joined in camelCase with a capital (``dbPass``).
_SHORT_KEYS = r"pass|pwd"
#: A secret's key name, case-insensitive (the camelCase join is the one case-sensitive part).
_KEY_NAME = (
    rf"(?:[a-z0-9_.-]*(?:{_LONG_KEYS})|(?:[a-z0-9_.-]*[_.-])?(?:{_SHORT_KEYS})"
    r"|[a-z0-9_.-]*(?-i:[a-z0-9]P)(?:ass|wd))"
)
#: A quoted value, quotes kept in groups 2-4 for the replacement: "..." or '...' (to the line's end
#: when the quote is not closed), or \"...\" (JSON escaped inside a string, with its own escapes).
_QUOTED = (
    r'(")(?:[^"\\\n]|\\.)*(?:"|$)'
    r"|(')[^'\n]*(?:'|$)"
    r'|(\\")(?:[^\\"\n]|\\\\(?:\\"|\\\\|[^\\"\n])|\\[^\\"\n])*(?:\\"|$)'
)
_REQUOTE = f"${{1}}${{2}}${{3}}${{4}}{MASK}${{2}}${{3}}${{4}}"
#: 40+ base64 characters, one outside hex (``[G-Zg-z+/]``): for each place the first such one can
#: take, the run around it (Rust's regex has no look-ahead to say "40 long and not all hex").
_HEX, _B64, _NOT_HEX = "[0-9A-Fa-f]", "[A-Za-z0-9+/]", "[G-Zg-z+/]"
_BASE64_RUN = "|".join(
    [f"{_HEX}{{{before}}}{_NOT_HEX}{_B64}{{{39 - before},}}" for before in range(39)]
    + [f"{_HEX}{{39,}}{_NOT_HEX}{_B64}*"]
)
_HEADERS = r"authorization|proxy-authorization|x-api-key|x-auth-token|api-key|cookie|set-cookie"
#: A header's name alone or at the end of a dotted attribute name (``http.request.header.authorization``).
_HEADER_KEY = rf"(?:[a-z0-9_.-]*[_.-])?(?:{_HEADERS})"
#: The body of a JSON string without its quotes: plain, and escaped inside another JSON string (where
#: its quotes are ``\\"`` and its own escapes doubled).
_STRING = r'(?:[^"\\]|\\.)*'
_ESCAPED_STRING = r'(?:[^\\"\n]|\\\\(?:\\"|\\\\|[^\\"\n])|\\[^\\"\n])*'


def _attribute_forms(quote: str, string: str) -> tuple[str, str]:
    r"""The patterns of a secret-named span attribute whose JSON quotes are ``quote`` (``"``, or ``\"`` for
    a record escaped inside a string: a span logged as a message, a quarantined JSON line) and whose
    strings' bodies match ``string``: (its string value, its ``arrayValue``).

    The attribute is an OTLP ``KeyValue`` (``{"key": "db.password", "value": ``) or a Jaeger tag
    (``"key": "db.password", "type": "string", "value": ``). Its string value is ``{"stringValue": "``,
    ``"`` (Jaeger), or the first string of an ``arrayValue`` that the array pattern cannot read whole
    (a record cut inside it, an array in the array). The array pattern holds what precedes the values
    in group 1 and the ``]`` in group 2: its rule replaces all the flat elements (``{"stringValue":
    "..."}``, ``{"intValue": "5"}``, ``{"boolValue": true}``) with one masked string, as OpenTelemetry
    records each HTTP header as an array of strings. Each string cannot be masked in place: Rust's
    regex has no look-behind, so a match of the second string cannot see the key before the first,
    and one match cannot repeat a replacement. The number of values and any non-string element among
    them are lost; every value of such a key is the secret or part of it.
    """
    q = quote
    key = (
        rf"{q}key{q}\s*:\s*{q}(?:{_KEY_NAME}|{_HEADER_KEY}){q}\s*,\s*"
        rf"(?:{q}type{q}\s*:\s*{q}[a-z0-9]*{q}\s*,\s*)?{q}value{q}\s*:\s*"
    )
    array_open = rf"\{{\s*{q}arrayValue{q}\s*:\s*\{{\s*{q}values{q}\s*:\s*\[\s*"
    element = rf'\{{\s*{q}[a-z]+Value{q}\s*:\s*(?:{q}{string}{q}|[^\s"\\{{}}\[\],]+)\s*\}}'
    value = rf"({key}(?:{array_open})?(?:\{{\s*{q}[a-z]+Value{q}\s*:\s*)?{q}){string}({q})"
    return value, rf"({key}{array_open})(?:{element}\s*,\s*)*{element}(\s*\])"


_ATTRIBUTE, _ATTRIBUTE_ARRAY = _attribute_forms('"', _STRING)
_ESCAPED_ATTRIBUTE, _ESCAPED_ATTRIBUTE_ARRAY = _attribute_forms(r'\\"', _ESCAPED_STRING)
#: A path segment after one named as a secret's key (``/reset-password/<token>``, ``/api/token/<t>``),
#: when it holds a digit or is 16 characters or longer: ``/password/reset`` and ``/secret/data`` stay.
_SEGMENT = r"[^/\s?#\"'<>;,&)\]}]"
_PATH_SECRET = rf"(/{_KEY_NAME}/)(?:{_SEGMENT}*[0-9]{_SEGMENT}*|{_SEGMENT}{{16,}})"
#: A password in SQL: ``USER|ROLE name IDENTIFIED [WITH plugin] BY [PASSWORD] x`` (quoted or a word; the
#: user or role before it, so that "a user identified by email" stays), ``PASSWORD 'x'``.
_SQL_BY = r"(?:user|role)\s+[^\s;]+\s+identified(?:\s+with\s+[a-z0-9_]+)?\s+by(?:\s+password)?\s+"


class SecretRule(BaseModel):
    """One redaction: matches of ``pattern`` become ``replacement`` (``$1``, ``${name}`` keep groups)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    pattern: PolarsRegex
    replacement: str = MASK


#: Order matters: whole blocks and structured forms first, then bare tokens.
DEFAULT_RULES: tuple[SecretRule, ...] = tuple(
    SecretRule(name=name, pattern=pattern, replacement=replacement)
    for name, pattern, replacement in (
        (
            "private_key_block",
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----",
            "[REDACTED PRIVATE KEY]",
        ),
        (
            "private_key_open",
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*)",
            "[REDACTED PRIVATE KEY]",
        ),
        # A line (of a value or a multi-line message) that is only a long base64 run with a letter
        # outside hex: a key block's body lines read one by one. Hex runs (hashes, commit ids) stay.
        ("base64_line", rf"(?m)^(?:{_BASE64_RUN})={{0,2}}$", MASK),
        (
            "json_secret",
            rf'(?i)("(?:{_KEY_NAME}|{_HEADER_KEY})"\s*:\s*")(?:[^"\\]|\\.)*(")',
            f"${{1}}{MASK}${{2}}",
        ),
        ("attribute_array_secret", f"(?i){_ATTRIBUTE_ARRAY}", f'${{1}}{{"stringValue":"{MASK}"}}${{2}}'),
        ("attribute_secret", f"(?i){_ATTRIBUTE}", f"${{1}}{MASK}${{2}}"),
        (
            "escaped_attribute_array_secret",
            f"(?i){_ESCAPED_ATTRIBUTE_ARRAY}",
            f'${{1}}{{\\"stringValue\\":\\"{MASK}\\"}}${{2}}',
        ),
        ("escaped_attribute_secret", f"(?i){_ESCAPED_ATTRIBUTE}", f"${{1}}{MASK}${{2}}"),
        (
            "sql_identified_by",
            rf"""(?i)\b({_SQL_BY})(?:'(?:[^'\n]|'')*'|\\?"[^"\\\n]*\\?"|[^\s'";,)]+)""",
            f"${{1}}{MASK}",
        ),
        ("sql_password", r"(?i)\b(password\s+')(?:[^'\n]|'')*(')", f"${{1}}{MASK}${{2}}"),
        (
            "auth_header",
            rf"(?i)\b((?:{_HEADERS})\s*[:=]\s*)(?:(?:bearer|basic|token|digest|negotiate)\s+)?(?:\[REDACTED\]|[^\s\"',;]+)",
            f"${{1}}{MASK}",
        ),
        ("bearer_token", r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*", f"${{1}}{MASK}"),
        (
            "key_value_secret",
            rf"(?i)\b({_KEY_NAME}\b(?:\\?[\"'])?\s*[=:]\s*)"
            rf"(?:{_QUOTED}|\[REDACTED\]|\\?[\"']?[^\s\"',;&)}}\]]+)",
            _REQUOTE,
        ),
        # ``--password s3cr3t``: long flags only; ``-p`` is a port, a path or a profile as often
        (
            "flag_secret",
            rf"(?i)((?:^|\s)--(?:[a-z0-9]+[_-])*(?:{_LONG_KEYS}|pass)\s+)(?:{_QUOTED}|[^\s\"'-][^\s\"']*)",
            _REQUOTE,
        ),
        # ``password%3Ds3cr3t`` in an encoded URL: the value ends at a space, ``&`` or ``%26``
        (
            "url_encoded_secret",
            rf"(?i)\b([a-z0-9_.-]*(?:{_LONG_KEYS}|{_SHORT_KEYS})%3[da])(?:[^\s&%\"',;]|%(?:[013-9a-f][0-9a-f]|2[0-57-9a-f]))+",
            f"${{1}}{MASK}",
        ),
        ("url_path_secret", f"(?i){_PATH_SECRET}", f"${{1}}{MASK}"),
        ("url_credentials", r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^/\s@]+@", f"${{1}}:{MASK}@"),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+", MASK),
        ("aws_access_key_id", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", MASK),
        ("gcp_api_key", r"\bAIza[0-9A-Za-z_-]{35}", MASK),
        ("gcp_oauth_token", r"\bya29\.[0-9A-Za-z_-]{20,}", MASK),
        ("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{24,}", MASK),
        ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})", MASK),
        ("gitlab_token", r"\bgl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_-]{20,}", MASK),
        ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", MASK),
        ("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+", MASK),
    )
)

#: ``\b`` or ``\B`` itself (not an escaped backslash before a ``b``, not ``\b{start}``).
_WORD_BOUNDARY = re.compile(r"(?<!\\)((?:\\\\)*)\\[bB](?!\{)")


def _scan_pattern(pattern: str) -> str:
    r"""``pattern`` without its word-boundary assertions: it matches wherever ``pattern`` does, and more.

    The one scan over a column only picks the rows to look at again with the rules as written. A
    Unicode ``\b`` makes Rust's fast engine (the lazy DFA) give up on any row holding a non-ASCII
    byte, and the fallback is about 20 times slower: a column with one row in ten not ASCII took 2.5 s
    per million rows instead of 0.13 s.
    """
    return _WORD_BOUNDARY.sub(r"\1", pattern)


#: A rule that ``disable`` names takes its other forms with it: the attribute's array and the escaped spellings.
_FORMS = {
    "attribute_secret": (
        "attribute_array_secret",
        "escaped_attribute_secret",
        "escaped_attribute_array_secret",
    ),
    "attribute_array_secret": ("escaped_attribute_array_secret",),
}


class SecretsConfig(BaseModel):
    """The ``secrets:`` section: redaction at ingest, on unless ``enabled: false``.

    ``rules`` are added after the defaults; ``disable`` names default rules to leave out
    (``card_number`` is the Luhn-checked card rule), each with its other forms (:data:`_FORMS`).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    rules: list[SecretRule] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_names(self) -> SecretsConfig:
        known = {rule.name for rule in DEFAULT_RULES} | {"card_number"}
        unknown = sorted(set(self.disable) - known)
        if unknown:
            raise ValueError(f"disable: unknown rule(s) {unknown}; known: {sorted(known)}")
        return self


@dataclass(frozen=True)
class Redactor:
    """Compiled redaction rules; :meth:`redact_result` rewrites every text column of a read."""

    rules: tuple[SecretRule, ...]
    cards: bool = True

    @staticmethod
    def from_config(config: SecretsConfig) -> Redactor | None:
        """The redactor of a ``secrets:`` section, or None when it is turned off."""
        if not config.enabled:
            return None
        off = set(config.disable).union(*(_FORMS.get(name, ()) for name in config.disable))
        rules = tuple(rule for rule in DEFAULT_RULES if rule.name not in off)
        return Redactor(rules=rules + tuple(config.rules), cards="card_number" not in config.disable)

    def redact(self, text: pl.Series) -> pl.Series:
        """``text`` with every secret replaced; rows without a candidate are not touched.

        One scan over the column finds the rows holding a candidate of any rule or a card number
        (one alternation: ``contains(a|b)`` is ``contains(a) | contains(b)``; each rule without its
        word boundaries, :func:`_scan_pattern`, so a superset of the rows). Only those rows are
        looked at again: the rules rewrite the ones a rule matches, so lines whose only candidate is
        a long number (ids, durations) are not run through every rule; cards are checked in all of
        them, after the rules.
        """
        if text.is_empty() or not (self.rules or self.cards):
            return text
        any_rule = "|".join(f"(?:{rule.pattern})" for rule in self.rules)
        wider = [f"(?:{_scan_pattern(rule.pattern)})" for rule in self.rules]
        scan = "|".join(wider + ([CARD_PREFILTER] if self.cards else []))
        found = select_in_parts(text, pl.col("m").str.contains(scan).fill_null(False))
        if not found.any():
            return text
        rows = found.arg_true()
        hits = text.gather(rows)
        if self.rules:
            by_rule = hits.str.contains(any_rule).fill_null(False)
            if by_rule.any():
                at = by_rule.arg_true()
                rewritten = pl.DataFrame({"t": hits.gather(at)}).select(_rewrite(pl.col("t"), self.rules))[
                    "t"
                ]
                hits = hits.scatter(at, rewritten)
        if self.cards:
            hits = mask_cards(hits)
        return text.scatter(rows, hits)

    def redact_texts(self, texts: list[str]) -> list[str]:
        """:meth:`redact` of loose strings (runbook bodies, a command line, an action's output)."""
        return self.redact(pl.Series(texts, dtype=pl.Utf8)).to_list() if texts else []

    def redact_distinct(self, text: pl.Series) -> pl.Series:
        """:meth:`redact` of a column whose values repeat (names, pods, labels), run on its distinct values."""
        distinct = text.drop_nulls().unique()
        if distinct.len() * 8 > text.len():  # mostly distinct: per row is as cheap
            return self.redact(text)
        redacted = self.redact(distinct.clone())  # redact scatters into the series it is given
        changed = (redacted != distinct).fill_null(False)
        return text.replace(distinct.filter(changed), redacted.filter(changed)) if changed.any() else text

    def redact_columns(
        self, frame: pl.DataFrame, names: list[str], stats: dict, *, ids=frozenset(), repeated=frozenset()
    ) -> tuple[pl.DataFrame, dict]:
        """``frame`` with secrets replaced in the columns ``names``, and ``stats`` with the ids they cost.

        A column among ``ids`` (an identifier: ``trace_id``, ``host``) holding a secret becomes null
        there, counted in ``stats["ids_with_a_secret"]``: one shared mask would join every such line
        into one request (or host). Columns among ``repeated`` are redacted per distinct value.
        """
        redacted = {
            name: (self.redact_distinct if name in repeated else self.redact)(frame[name]) for name in names
        }
        for name in ids & redacted.keys():
            held = (redacted[name] != frame[name]).fill_null(False)
            if held.any():
                redacted[name] = redacted[name].set(held, None)
                stats = stats | {"ids_with_a_secret": stats.get("ids_with_a_secret", 0) + held.sum()}
        return frame.with_columns(redacted.values()), stats

    def redact_quarantine(self, quarantine: pl.DataFrame) -> pl.DataFrame:
        """Quarantined rows with secrets replaced in ``raw`` and ``reason``; a row kept as hex bytes
        (undecodable) loses its hex when its text held a secret: the bytes would carry the secret on."""
        if not quarantine.height:
            return quarantine
        raw = self.redact(quarantine["raw"])
        return quarantine.with_columns(
            raw,
            self.redact(quarantine["reason"]),
            pl.when(raw != quarantine["raw"]).then(None).otherwise(pl.col("raw_hex")).alias("raw_hex"),
        )

    def redact_result(self, result: ReadResult) -> ReadResult:
        """Events and quarantine of a read with secrets replaced in every free-text column
        (:meth:`redact_columns`, :meth:`redact_quarantine`)."""
        events, stats = self.redact_columns(
            result.events, _text_columns(result.events), result.stats, ids=_ID_COLUMNS, repeated=_REPEATED
        )
        quarantine = self.redact_quarantine(result.quarantine)
        return ReadResult(events=events, quarantine=quarantine, stats=stats, files=result.files)


def _rewrite(text: pl.Expr, rules: tuple[SecretRule, ...]) -> pl.Expr:
    for rule in rules:
        text = text.str.replace_all(rule.pattern, rule.replacement)
    return text


#: Columns that name where a line came from, not what it said: the source's name, its file, a level
#: normalised to one of a few names. (``service`` is not one: formats such as ``jsonl`` read it from the line.)
_FIXED_COLUMNS = {"system", "source_file", "level"}
#: Columns of few distinct values, redacted per distinct value.
_REPEATED = {"service", "host"}
#: Identifier columns: a value holding a secret (a Luhn-valid numeric trace id, say) becomes null,
#: counted in ``stats["ids_with_a_secret"]``, not the shared mask that would make one id of them all.
_ID_COLUMNS = {"trace_id", "host"}


def _text_columns(frame: pl.DataFrame) -> list[str]:
    return [name for name, dtype in frame.schema.items() if dtype == pl.Utf8 and name not in _FIXED_COLUMNS]
