"""Whatever Elasticsearch (or what stands at its URL) answers, a command says it in one line: no traceback."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading

import pytest
from typer.testing import CliRunner

from logrca.cli import app


class _Answer(http.server.BaseHTTPRequestHandler):
    """Every request gets the server's one answer: ``(status, content type, body)``."""

    def _answer(self) -> None:
        status, content_type, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def answering(status: int, content_type: str, body: bytes):
    """A real HTTP server on 127.0.0.1 that answers every request the same; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.answer = (status, content_type, body)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


UNAUTHENTICATED = json.dumps(
    {"error": {"type": "security_exception", "reason": "missing authentication credentials"}, "status": 401}
).encode()
COMMANDS = [
    ["search", "x"],
    ["search", "--lines", "x"],
    ["incident", "list"],
    ["incident", "show", "INC-1"],
    ["incident", "ack", "INC-1"],
    ["incident", "weekly"],
    ["eval", "incidents"],
    ["es", "prune-lines", "--older-than-days", "1"],
]


def run(args: list[str], url: str):
    """``logrca ARGS`` with LOGRCA_ES_URL=url (restored afterwards), stderr apart."""
    return CliRunner().invoke(app, args, env={"LOGRCA_ES_URL": url, "COLUMNS": "80"})


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_refused_credentials_are_one_line_naming_the_server_and_what_to_set(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # 'weekly' would write its review here
    with answering(401, "application/json", UNAUTHENTICATED) as url:
        done = run(args, url)
    assert done.exit_code == 1 and done.stdout == "", done.stdout
    assert done.stderr == (
        f"error: Elasticsearch at {url} did not accept the credentials (HTTP 401 security_exception: "
        "missing authentication credentials); set LOGRCA_ES_API_KEY (or user:password in the URL)\n"
    )


@pytest.mark.parametrize("status", [200, 404])
@pytest.mark.parametrize("args", COMMANDS[:5], ids=" ".join)
def test_a_web_server_that_is_not_elasticsearch_is_said_so(args, status):
    # a 404 page used to read as "no incidents" (exit 0) and "no incident ... in index"
    with answering(status, "text/html", b"<html><body>Not here</body></html>") as url:
        done = run(args, url)
    assert done.exit_code == 1 and done.stdout == "", done.stdout
    assert done.stderr == (
        f"error: the server at {url} is not Elasticsearch (HTTP {status} without the X-Elastic-Product "
        "header); check --es-url or LOGRCA_ES_URL\n"
    )


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_malformed_url_is_a_usage_error_in_one_line(args):
    done = run(args, "notaurl")
    assert done.exit_code == 2
    assert done.stderr == (
        "error: LOGRCA_ES_URL='notaurl' is not an Elasticsearch URL: expected http://HOST:PORT or "
        "https://HOST[:PORT], e.g. http://127.0.0.1:9200\n"
    )
    flag = CliRunner().invoke(app, [*args, "--es-url", "127.0.0.1:9200"])
    assert flag.exit_code == 2 and "Invalid value for '--es-url'" in flag.stderr
    assert "Traceback" not in flag.stderr


def test_eval_incidents_without_a_server_is_one_line(free_port):
    url = f"http://127.0.0.1:{free_port()}"
    done = run(["eval", "incidents"], url)
    assert done.exit_code == 1 and done.stdout == ""
    assert done.stderr == (
        f"error: Elasticsearch at {url} is not reachable (Connection refused); "
        "start it with 'logrca es start' or set LOGRCA_ES_URL\n"
    )
