"""Fetch, start, stop and probe a local single-node Elasticsearch for development and tests.

The server is Elasticsearch's ``integ-test-zip`` distribution from Maven Central (server and
modules). :func:`start` runs it with security off: plain HTTP, no login (a test turns security and
TLS on through :func:`launch`'s ``settings``). It is fetched with Maven into ``.cache/elasticsearch``
(git ignores it) and run with a small heap on 127.0.0.1. Users with their own cluster never need
this module: they set ``LOGRCA_ES_URL`` (and ``LOGRCA_ES_API_KEY``) instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from logrca import PROJECT_ROOT

ES_VERSION = os.environ.get("LOGRCA_ES_VERSION", "9.2.4")
ES_COORDINATE = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
DEFAULT_PORT = 9200
JVM_DIR = Path("/usr/lib/jvm")
#: Elasticsearch refuses to run as root; as root, logrca runs it as this system user (created once).
SERVICE_USER = os.environ.get("LOGRCA_ES_USER", "logrca-es")


class ElasticsearchServerError(RuntimeError):
    """The local server could not be fetched, started or stopped; the message says why."""


@dataclass(frozen=True)
class LocalServer:
    """Where one local server lives: its install, data and log folders, and port."""

    port: int = DEFAULT_PORT
    version: str = ES_VERSION
    cache_dir: Path = PROJECT_ROOT / ".cache"

    @property
    def install_dir(self) -> Path:
        return self.cache_dir / "elasticsearch" / f"elasticsearch-{self.version}"

    @property
    def state_dir(self) -> Path:
        return self.cache_dir / "elasticsearch" / f"node-{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "es.pid"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def find_java_home(min_major: int) -> Path:
    """Return a JDK home whose major version is at least ``min_major``.

    ``ES_JAVA_HOME`` and ``JAVA_HOME`` are tried first, then every JDK in ``/usr/lib/jvm``.
    """
    candidates = [Path(p) for p in (os.environ.get("ES_JAVA_HOME"), os.environ.get("JAVA_HOME")) if p]
    if JVM_DIR.is_dir():
        candidates += sorted(JVM_DIR.iterdir(), reverse=True)
    for home in candidates:
        release = home / "release"
        if not (home / "bin" / "java").exists() or not release.exists():
            continue
        for line in release.read_text(errors="replace").splitlines():
            if line.startswith("JAVA_VERSION="):
                major = int(line.split("=", 1)[1].strip('"').split(".")[0])
                if major >= min_major:
                    return home
    raise ElasticsearchServerError(
        f"Elasticsearch {ES_VERSION} needs a JDK {min_major}+; none found in ES_JAVA_HOME, JAVA_HOME or {JVM_DIR}"
    )


def fetch(server: LocalServer, *, log=print) -> Path:
    """Download (with Maven) and unpack the server distribution unless it is already there."""
    if (server.install_dir / "bin" / "elasticsearch").exists():
        return server.install_dir
    if shutil.which("mvn") is None:
        raise ElasticsearchServerError(
            "Maven ('mvn') is needed to fetch Elasticsearch; install it or set LOGRCA_ES_URL"
        )
    download_dir = server.cache_dir / "elasticsearch" / "download"
    download_dir.mkdir(parents=True, exist_ok=True)
    coordinate = ES_COORDINATE.format(version=server.version)
    log(f"fetching {coordinate} with Maven ...")
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact={coordinate}",
            f"-DoutputDirectory={download_dir}",
        ],
        capture_output=True,
        text=True,
        cwd=download_dir,
    )
    archive = download_dir / f"elasticsearch-{server.version}.zip"
    if result.returncode != 0 or not archive.exists():
        raise ElasticsearchServerError(
            f"Maven could not fetch {coordinate}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    log(f"unpacking {archive.name} ...")
    staging = server.install_dir.with_name(server.install_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(staging)
    inner = staging / f"elasticsearch-{server.version}"
    for path in (inner / "bin").iterdir():
        path.chmod(0o755)
    inner.rename(server.install_dir)
    shutil.rmtree(staging, ignore_errors=True)
    return server.install_dir


def _http_json(url: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def status(server: LocalServer) -> dict | None:
    """Cluster health of the server on ``server.port``, or None when nothing answers there."""
    return _http_json(f"{server.url}/_cluster/health")


def _running_pid(server: LocalServer) -> int | None:
    try:
        pid = int(server.pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _service_user_prefix(paths: list[Path]) -> list[str]:
    """As root: make sure the service user exists and owns ``paths``; return the ``runuser`` prefix."""
    if os.geteuid() != 0:
        return []
    if subprocess.run(["id", "-u", SERVICE_USER], capture_output=True).returncode != 0:
        created = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            capture_output=True,
            text=True,
        )
        if created.returncode != 0:
            raise ElasticsearchServerError(
                f"Elasticsearch cannot run as root and the user {SERVICE_USER!r} could not be created: {created.stderr}"
            )
    for path in paths:
        subprocess.run(["chown", "-R", f"{SERVICE_USER}:", str(path)], check=True)
    return ["runuser", "-u", SERVICE_USER, "--"]


def node_environment(server: LocalServer, *, heap: str = "512m") -> dict:
    """The environment of the node's programs (the server, ``bin/elasticsearch-keystore``): its JDK,
    heap, config folder (``state_dir/config``) and temporary folder."""
    java_home = find_java_home(21 if server.version.split(".")[0] >= "9" else 17)
    env = dict(
        os.environ,
        ES_JAVA_HOME=str(java_home),
        ES_JAVA_OPTS=f"-Xms{heap} -Xmx{heap}",
        ES_PATH_CONF=str(server.state_dir / "config"),
        ES_TMPDIR=str(server.state_dir / "tmp"),
    )
    env.pop("JAVA_HOME", None)
    return env


def launch(
    server: LocalServer, *, heap: str = "512m", settings: Mapping[str, str] | None = None, log=print
) -> Path:
    """Fork the node (fetched first if needed) with logrca's settings, ``settings`` over them; return
    its logs folder without waiting (:func:`start` waits until it is healthy).

    The node's config folder is the distribution's, copied once: a caller may put files in it first
    (certificates, a keystore: a test turns security and TLS on through ``settings``).
    """
    home = fetch(server, log=log)
    env = node_environment(server, heap=heap)
    data_dir, logs_dir = server.state_dir / "data", server.state_dir / "logs"
    config_dir = Path(env["ES_PATH_CONF"])
    for folder in (data_dir, logs_dir, Path(env["ES_TMPDIR"])):
        folder.mkdir(parents=True, exist_ok=True)
    if not config_dir.exists():
        shutil.copytree(home / "config", config_dir)
    defaults = {
        "discovery.type": "single-node",
        "network.host": "127.0.0.1",
        "http.port": str(server.port),
        "transport.port": str(server.port + 100),
        "path.data": str(data_dir),
        "path.logs": str(logs_dir),
        "cluster.name": f"logrca-{server.port}",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        # The distribution carries the security module; turning it off explicitly also stops the
        # first start from writing TLS and password settings into the config folder.
        "xpack.security.enabled": "false",
        # Tests clean up their indices by prefix (test-*), which needs wildcard deletes.
        "action.destructive_requires_name": "false",
    }
    server.pid_file.unlink(missing_ok=True)
    args = _service_user_prefix([server.state_dir])
    args += [str(home / "bin" / "elasticsearch"), "-d", "-p", str(server.pid_file)]
    args += [f"-E{key}={value}" for key, value in {**defaults, **(settings or {})}.items()]
    java = Path(env["ES_JAVA_HOME"]).name
    log(f"starting Elasticsearch {server.version} on {server.url} (Java {java}, heap {heap}) ...")
    result = subprocess.run(args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise ElasticsearchServerError(
            f"Elasticsearch did not start (exit {result.returncode}):\n{result.stderr[-3000:]}"
        )
    return logs_dir


def start(server: LocalServer, *, heap: str = "512m", timeout: float = 180.0, log=print) -> str:
    """Start the server (fetching it first if needed) and wait until the cluster is yellow or green.

    Returns the URL. Starting a server that is already up is a no-op.
    """
    if (health := status(server)) is not None:
        log(f"Elasticsearch already answers at {server.url} (status {health.get('status')})")
        return server.url
    logs_dir = launch(server, heap=heap, log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = status(server)
        if health is not None and health.get("status") in ("yellow", "green"):
            log(f"Elasticsearch is up at {server.url}")
            return server.url
        time.sleep(1.0)
    raise ElasticsearchServerError(
        f"Elasticsearch did not become healthy within {timeout:.0f}s; see {logs_dir}"
    )


def stop(server: LocalServer, *, timeout: float = 60.0, log=print) -> bool:
    """Stop the server started by :func:`start`. Returns False when none was running."""
    pid = _running_pid(server)
    if pid is None:
        log(f"no Elasticsearch started by logrca runs on port {server.port}")
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            server.pid_file.unlink(missing_ok=True)
            log(f"Elasticsearch on port {server.port} stopped")
            return True
        time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    server.pid_file.unlink(missing_ok=True)
    log(f"Elasticsearch on port {server.port} killed after {timeout:.0f}s")
    return True
