"""Secret forms beyond ``key=value``: key spellings, quoted and escaped values, flags, key bodies, near misses.

Each form is checked through :meth:`Redactor.redact` (what the readers call), against Python's ``re``
running the same rules line by line, and once end to end through :func:`read_source`.
"""

from __future__ import annotations

import json
import random
import re

import polars as pl
import pytest

from logrca.parsers.ingest.cards import _mask_cards
from logrca.parsers.ingest.readers import read_source
from logrca.parsers.ingest.secrets import DEFAULT_RULES, MASK, Redactor, SecretsConfig
from logrca.parsers.ingest.sources import SourceConfig

#: A PEM body line (64 base64 characters) as a key block's lines arrive one by one.
PEM_LINE = "MIIEpAIBAAKCAQEA7bqkXU4d4Z7n1hK2rQ8zR0b4z6K9+P/jmR8xL0E2w5bOqgBvYc1V"

#: (line, what it must become): every secret masked, the words around it kept.
MASKED = [
    ("connect dbPassword=s3cr3t host=db", f"connect dbPassword={MASK} host=db"),
    ("oauth clientSecret=abcXYZ123 ok", f"oauth clientSecret={MASK} ok"),
    ("cfg secretKey=K3yK3y region=eu", f"cfg secretKey={MASK} region=eu"),
    ("gpg passphrase=correct-horse", f"gpg passphrase={MASK}"),
    (
        "x api_key=A accessToken=B refreshToken=C privateKey=D DB_PASS=E",
        f"x api_key={MASK} accessToken={MASK} refreshToken={MASK} privateKey={MASK} DB_PASS={MASK}",
    ),
    ("env JSESSIONID=ABC123 dbPass=z DB.PWD=y", f"env JSESSIONID={MASK} dbPass={MASK} DB.PWD={MASK}"),
    ('login password="s3cr3t horse battery" user=bob', f'login password="{MASK}" user=bob'),
    ("login password='s3cr3t horse battery' user=bob", f"login password='{MASK}' user=bob"),
    ('login secret: "with \\" quote" ok', f'login secret: "{MASK}" ok'),
    ('body {"user":"bob","dbPassword":"a b c"}', f'body {{"user":"bob","dbPassword":"{MASK}"}}'),
    (
        'payload="{\\"user\\":\\"bob\\",\\"password\\":\\"x y\\"}" done',
        f'payload="{{\\"user\\":\\"bob\\",\\"password\\":\\"{MASK}\\"}}" done',
    ),
    ('payload={\\"token\\":\\"a\\\\\\"b c\\"} done', f'payload={{\\"token\\":\\"{MASK}\\"}} done'),
    ('cut {"password":"abc def', f'cut {{"password":"{MASK}"'),  # a quote never closed: to the end
    ("run mysql --password s3cr3t --host db", f"run mysql --password {MASK} --host db"),
    (
        'run tool --token abc --api-key "k e y" --client-secret=zzz',
        f'run tool --token {MASK} --api-key "{MASK}" --client-secret={MASK}',
    ),
    (PEM_LINE, MASK),
    ("MIIEpAIBAAKCAQEA7bqkXU4d4Z7n1hK2rQ8zR0b4z6K9==", MASK),
    (f"key dump follows\n{PEM_LINE}\n{PEM_LINE}", f"key dump follows\n{MASK}\n{MASK}"),
    ("go=%2Flogin%3Fpassword%3Dhunter2%26user%3Dbob", f"go=%2Flogin%3Fpassword%3D{MASK}%26user%3Dbob"),
    ("go=%2Flogin%3Fpwd%3Dp%40ss%26user%3Dbob", f"go=%2Flogin%3Fpwd%3D{MASK}%26user%3Dbob"),
    ("charge sk_live_51HqLyjWDarjtT1zdp7dc rk_test_abcdefghijklmnopqr", f"charge {MASK} {MASK}"),
    ("hook whsec_abcdefghijklmnopqrstuvwxyz12 ok", f"hook {MASK} ok"),
    # span attributes as OTLP KeyValue pairs and Jaeger tags (a quarantined span's record), Zipkin tags
    (
        '{"key":"http.request.header.authorization","value":{"stringValue":"s3cr3t"}},{"key":"a","value":1}',
        f'{{"key":"http.request.header.authorization","value":{{"stringValue":"{MASK}"}}}},{{"key":"a","value":1}}',
    ),
    (
        '{"key": "db.password", "value": {"stringValue": "a b"}}',
        f'{{"key": "db.password", "value": {{"stringValue": "{MASK}"}}}}',
    ),
    (
        '{"key":"http.request.header.cookie","value":{"arrayValue":{"values":[{"stringValue":"sid=1"}]}}}',
        f'{{"key":"http.request.header.cookie","value":{{"arrayValue":{{"values":[{{"stringValue":"{MASK}"}}]}}}}}}',
    ),
    # an arrayValue (how OpenTelemetry records an HTTP header): every value masked, as one masked string
    (
        '{"key": "http.request.header.authorization", "value": {"arrayValue": {"values": '
        '[{"stringValue": "Bearer a"}, {"stringValue": "Bearer b"}]}}}',
        '{"key": "http.request.header.authorization", "value": {"arrayValue": {"values": '
        f'[{{"stringValue":"{MASK}"}}]}}}}}}',
    ),
    (
        '{"key":"http.request.header.x-api-key","value":{"arrayValue":{"values":'
        '[{"stringValue":"k1"},{"stringValue":"k \\" 2"},{"stringValue":"k3"}]}}},{"key":"a","value":1}',
        '{"key":"http.request.header.x-api-key","value":{"arrayValue":{"values":'
        f'[{{"stringValue":"{MASK}"}}]}}}}}},{{"key":"a","value":1}}',
    ),
    (
        '{"key":"db.password","value":{"arrayValue":{"values":'
        '[{"stringValue":"p1"},{"intValue":"5"},{"boolValue":true},{"stringValue":"p2"}]}}}',
        f'{{"key":"db.password","value":{{"arrayValue":{{"values":[{{"stringValue":"{MASK}"}}]}}}}}}',
    ),
    (
        '{"key":"clientSecret","type":"string","value":"s3cr3t"}',
        f'{{"key":"clientSecret","type":"string","value":"{MASK}"}}',
    ),
    (
        '{"http.request.header.authorization":"Basic dTpw","http.method":"GET"}',
        f'{{"http.request.header.authorization":"{MASK}","http.method":"GET"}}',
    ),
    (
        '{"http.request.header.x-api-key":"k3y","http.method":"GET"}',
        f'{{"http.request.header.x-api-key":"{MASK}","http.method":"GET"}}',
    ),
    # the same attributes escaped inside a JSON string (a span logged as a message, a quarantined line)
    (
        'span={\\"key\\":\\"db.password\\",\\"value\\":{\\"stringValue\\":\\"s3\\\\\\"cr t\\"}},{\\"key\\":\\"a\\"}',
        f'span={{\\"key\\":\\"db.password\\",\\"value\\":{{\\"stringValue\\":\\"{MASK}\\"}}}},{{\\"key\\":\\"a\\"}}',
    ),
    (
        '{\\"key\\": \\"http.request.header.authorization\\", \\"value\\": {\\"arrayValue\\": {\\"values\\": '
        '[{\\"stringValue\\": \\"Bearer a\\"}, {\\"stringValue\\": \\"b\\"}]}}}',
        '{\\"key\\": \\"http.request.header.authorization\\", \\"value\\": {\\"arrayValue\\": {\\"values\\": '
        f'[{{\\"stringValue\\":\\"{MASK}\\"}}]}}}}}}',
    ),
    (
        '{\\"key\\":\\"clientSecret\\",\\"type\\":\\"string\\",\\"value\\":\\"s3cr3t\\"} after',
        f'{{\\"key\\":\\"clientSecret\\",\\"type\\":\\"string\\",\\"value\\":\\"{MASK}\\"}} after',
    ),
    # a token as a path segment after one named as a key
    ("GET /reset-password/8f3a9c2b7d1e4f60 200", f"GET /reset-password/{MASK} 200"),
    ("GET /api/v1/token/abcDEFghiJKLmnoPQRst/revoke", f"GET /api/v1/token/{MASK}/revoke"),
    # passwords in SQL (a span's db.statement, a logged query)
    ("ALTER USER bob IDENTIFIED BY s3cr3t;", f"ALTER USER bob IDENTIFIED BY {MASK};"),
    (
        "CREATE USER 'b'@'%' IDENTIFIED WITH mysql_native_password BY 'p w'",
        f"CREATE USER 'b'@'%' IDENTIFIED WITH mysql_native_password BY {MASK}",
    ),
    (
        "CREATE ROLE app WITH LOGIN PASSWORD 'p w' VALID UNTIL 'x'",
        f"CREATE ROLE app WITH LOGIN PASSWORD '{MASK}' VALID UNTIL 'x'",
    ),
    (
        '"db.statement":"ALTER ROLE app ENCRYPTED PASSWORD \'x\' "',
        f'"db.statement":"ALTER ROLE app ENCRYPTED PASSWORD \'{MASK}\' "',
    ),
]

#: Lines that hold no secret and stay as they are.
NEAR_MISSES = [
    "tests passed=3 tokens_used=5 max_tokens=100",
    "password_reset_requested user=bob",
    "secretary=alice bypass=true compass=north OLDPWD=/home/x passwords=3 secrets=2",
    "passwordless=true secret_count=4 token_ttl=30",
    "run tool --token-file /tmp/t --tokens 5 --secret-name db --password --verbose",
    "run mysql -p s3cr3t -p 8080",  # -p: a port, a profile or a path as often as a password
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # a commit id alone on a line: hex
    "e3b0c44298fc1c149afb4f1c8996fb92427ae41e4649b934ca495991b7852b855",  # a sha256
    "short base64 aGVsbG8gd29ybGQ= in a sentence",
    f"a line quoting a key body {PEM_LINE} among words",
    "/usr/local/lib/python3.12/site-packages/polars/dataframe/frame.py",
    "user passed the pass check; tokens=5",
    "pk_live_51HqLyjWDarjtT1zdp7dc is publishable",
    "%3Fpage%3D2%26sort%3Dname",
    '{"key":"http.request.header.accept","value":{"stringValue":"text/html"}}',
    '{"key":"http.request.header.accept","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}}',
    '{"key":"token_count","value":{"intValue":"5"}} {"fortunecookie":"yes"}',
    "password reset for bob; a user identified by email, a process identified by its pid",
    "GET /password/reset /v1/secret/data/app /v1/auth/token/lookup-self /run/secrets/token ok",
]


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor.from_config(SecretsConfig())


@pytest.mark.parametrize("line, expected", MASKED, ids=[line[:30] for line, _ in MASKED])
def test_the_form_is_masked(redactor, line, expected):
    assert redactor.redact(pl.Series([line])).to_list() == [expected]


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_the_near_miss_is_kept(redactor, line):
    assert redactor.redact(pl.Series([line])).to_list() == [line]


def _by_line(line: str) -> str:
    for rule in DEFAULT_RULES:
        line = re.sub(rule.pattern, re.sub(r"\$\{(\d+)\}", r"\\g<\1>", rule.replacement), line)
    return _mask_cards(line)


def test_polars_and_python_agree_on_the_forms_also_beside_non_ascii_text(redactor):
    """The one scan drops word boundaries (fast beside non-ASCII bytes); the rows it finds still get the exact rules."""
    rng = random.Random(3)
    pieces = [line for line, _ in MASKED] + NEAR_MISSES + ["zoë", "Grüße", "é4111111111111111", "٣ ok"]
    pieces += ["ſecret=x", "jürgen_password=x", "épassword=x", "id 4111111111111111é", "4111 1111 1111 111٣"]
    lines = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 3))) for _ in range(1500)]
    got = redactor.redact(pl.Series(lines)).to_list()
    assert got == [_by_line(line) for line in lines]
    assert sum(a != b for a, b in zip(got, lines)) > 500


def test_read_source_masks_key_bodies_escaped_json_and_flags_in_events_and_quarantine(tmp_path):
    """A loghub file whose key block arrives line by line (body lines quarantined) and a broken JSON line."""
    (tmp_path / "app.log").write_text(
        "2026-03-10 01:00:00,000 INFO  [main] c.s.App: deploy --password s3cr3tA dbPassword=s3cr3tB\n"
        "2026-03-10 01:00:01,000 INFO  [main] c.s.App: loaded -----BEGIN RSA PRIVATE KEY-----\n"
        f"{PEM_LINE}\n{PEM_LINE[::-1]}\n"
        "-----END RSA PRIVATE KEY-----\n"
        '2026-03-10 01:00:02,000 INFO  [main] c.s.App: body={\\"password\\":\\"s3cr3t C\\"}\n'
    )
    (tmp_path / "pay.log").write_text(
        '{"ts": 1773104400000, "msg": "ok clientSecret=s3cr3tD"}\n'
        '{"ts": 1773104401000, "msg": "req {\\"apiKey\\":\\"s3cr3t E\\"}", "cut\n'
        '{"ts": 1773104402000, "msg": "span {\\"key\\":\\"db.password\\",\\"value\\":'
        '{\\"stringValue\\":\\"s3cr3t F\\"}}", "cut\n'
    )
    loghub = SourceConfig(
        name="app",
        service="app",
        format="loghub",
        header="<Date> <Time> <Level> \\[<Thread>\\] <Component>: <Content>",
        paths=[str(tmp_path / "app.log")],
    )
    fields = {
        "timestamp": "ts",
        "level": "lvl",
        "message": "msg",
        "service": "svc",
        "host": "h",
        "trace_id": "t",
    }
    jsonl = SourceConfig(
        name="pay", service="payments", format="jsonl", paths=[str(tmp_path / "pay.log")], json_fields=fields
    )
    redactor = Redactor.from_config(SecretsConfig())
    secrets = ["s3cr3tA", "s3cr3tB", "s3cr3t C", "s3cr3tD", "s3cr3t E", "s3cr3t F", PEM_LINE, PEM_LINE[::-1]]
    seen_plain, seen_quarantined = [], 0
    for source in (loghub, jsonl):
        plain = read_source(source)
        result = read_source(source, redactor=redactor)
        seen_plain.append(str(plain.events.to_dicts()) + str(plain.quarantine.to_dicts()))
        stored = str(result.events.to_dicts()) + str(result.quarantine.to_dicts())
        assert not [secret for secret in secrets if secret in stored], stored
        assert not [secret.encode().hex() for secret in secrets if secret.encode().hex() in stored]
        seen_quarantined += result.quarantine.height
    assert seen_quarantined >= 5  # the body lines, the END line and the broken JSON lines
    assert all(secret in "".join(seen_plain) for secret in secrets)  # the control: they were there


def test_disabling_the_attribute_rule_keeps_every_form_of_the_attribute():
    """``disable: [attribute_secret]`` is the four attribute rules disabled: in arrays and escaped too."""
    lines = pl.Series([line for line, _ in MASKED if '"key' in line])
    forms = [
        "attribute_secret",
        "attribute_array_secret",
        "escaped_attribute_secret",
        "escaped_attribute_array_secret",
    ]
    kept = Redactor.from_config(SecretsConfig(disable=["attribute_secret"])).redact(lines)
    assert kept.to_list() == Redactor.from_config(SecretsConfig(disable=forms)).redact(lines).to_list()
    assert sum("s3cr3t" in line for line in kept) == 3  # plain, escaped and Jaeger values kept
    only_arrays = Redactor.from_config(SecretsConfig(disable=["attribute_array_secret"]))
    assert [rule.name for rule in only_arrays.rules if "attribute" in rule.name] == [
        "attribute_secret",
        "escaped_attribute_secret",
    ]


def test_a_service_name_read_from_the_line_is_redacted_like_its_message(tmp_path):
    """A JSON line names its own service (the jsonl default field): a token there is stored masked."""
    lines = [
        {"timestamp": f"2026-03-10T01:00:0{i}Z", "service": "gateway", "message": "ok"} for i in range(9)
    ]
    lines.append({"timestamp": "2026-03-10T01:00:09Z", "service": "gw?token=s3cr3tS", "message": "hi"})
    (tmp_path / "gw.log").write_text("".join(json.dumps(line) + "\n" for line in lines))
    source = SourceConfig(name="gw", format="jsonl", paths=[str(tmp_path / "gw.log")])
    assert "gw?token=s3cr3tS" in read_source(source).events["service"].to_list()  # the control
    result = read_source(source, redactor=Redactor.from_config(SecretsConfig()))
    assert sorted(set(result.events["service"].to_list())) == ["gateway", f"gw?token={MASK}"]
