"""Shared test setup: paths to the shared data, and a real Elasticsearch on 127.0.0.1 for the `es` tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from logrca import PROJECT_ROOT

SHARED_DATA = Path(os.environ.get("LOGRCA_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
TEST_ES_PORT = int(os.environ.get("LOGRCA_TEST_ES_PORT", "9250"))


@pytest.fixture(scope="session", autouse=True)
def example_logs() -> Path:
    """The bundled example's logs (git ignores them): generated once per session, byte for byte
    reproducible, so tests that use the default config see what ``scripts/demo.sh`` produces."""
    example = PROJECT_ROOT / "examples" / "shop"
    subprocess.run(
        [sys.executable, str(example / "generate.py"), str(example / "logs")], check=True, capture_output=True
    )
    return example / "logs"


@pytest.fixture()
def instance(tmp_path, monkeypatch):
    """A real Dagster instance in a temporary DAGSTER_HOME with the project's dagster.yaml."""
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as real_instance:
        yield real_instance


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout (read-only)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}; set LOGRCA_SHARED_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def es_url() -> str:
    """URL of a real Elasticsearch: LOGRCA_TEST_ES_URL if set, else one started here on 127.0.0.1."""
    if url := os.environ.get("LOGRCA_TEST_ES_URL"):
        yield url
        return
    from logrca.es_server import LocalServer, start, status, stop

    server = LocalServer(port=TEST_ES_PORT)
    already_running = status(server) is not None
    url = start(server, log=lambda message: None)
    yield url
    if not already_running and not os.environ.get("LOGRCA_TEST_KEEP_ES"):
        stop(server, log=lambda message: None)


@pytest.fixture()
def es_client(es_url):
    """An official Elasticsearch client on the test server; indices made by a test use its own prefix."""
    from logrca.rca.search_index import connect as make_client

    client = make_client(es_url)
    yield client
    client.close()


@pytest.fixture()
def index_prefix(request, es_client) -> str:
    """A per-test index prefix; the test's indices are deleted afterwards."""
    prefix = "test-" + request.node.name.lower().replace("[", "-").replace("]", "").replace("_", "-")[:60]
    yield prefix
    es_client.indices.delete(
        index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True, expand_wildcards="all"
    )
    import contextlib

    from elasticsearch import ApiError

    with contextlib.suppress(ApiError):  # the log lines' data streams; a minimal server has no such API
        es_client.indices.delete_data_stream(name=f"{prefix}*")


@pytest.fixture()
def free_port():
    """A function that returns a TCP port free on 127.0.0.1 right now (for servers a test starts)."""

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    return pick
