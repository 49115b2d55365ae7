"""A real Elasticsearch node set up as ES 8+ sets up a cluster: security on, HTTPS with a certificate
signed by a CA of its own (made here with ``cryptography``), a password for the ``elastic`` user."""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from logrca.es_server import ElasticsearchServerError, LocalServer, fetch, launch, node_environment, stop

#: The ``elastic`` user's password (``bootstrap.password`` in the node's keystore).
PASSWORD = "tls-Test-pw"
#: What turns security and HTTPS on; the files are in the node's config folder (``certs/``).
TLS_SETTINGS = {
    "xpack.security.enabled": "true",
    "xpack.security.http.ssl.enabled": "true",
    "xpack.security.http.ssl.key": "certs/node.key",
    "xpack.security.http.ssl.certificate": "certs/node.crt",
    "xpack.security.http.ssl.certificate_authorities": "certs/ca.crt",
}


def _quiet(message: str) -> None:
    pass


def _certificate(subject: str, key, issuer: x509.Name, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement"), False
        )
        usage |= {"encipher_only": False, "decipher_only": False}
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = (
            builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(folder: Path) -> Path:
    """A CA (``ca.crt``) and the node's certificate for 127.0.0.1 and localhost it signed (``node.crt``,
    ``node.key``) in ``folder``; returns the CA file, what a client trusts."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, node_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "logrca test CA")])
    ca = _certificate("logrca test CA", ca_key, ca_name, ca_key, ca=True)
    node = _certificate("127.0.0.1", node_key, ca_name, ca_key, ca=False)
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "node.crt").write_bytes(node.public_bytes(serialization.Encoding.PEM))
    (folder / "node.key").write_bytes(
        node_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "ca.crt"


def _free_port() -> int:
    """A port free on 127.0.0.1 whose transport port (port + 100) is free too; never 9200 or 9250."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port > 65435 or port in (9200, 9250):
            continue
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port + 100))
            return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def _healthy(url: str, ca: Path) -> bool:
    request = urllib.request.Request(
        f"{url}/_cluster/health",
        headers={"Authorization": "Basic " + base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()},
    )
    try:
        context = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(request, context=context, timeout=2) as answer:
            return json.loads(answer.read()).get("status") in ("yellow", "green")
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def secured_node(*, timeout: float = 75.0) -> Iterator[tuple[str, Path]]:
    """Start the node on a free port and yield ``(url with elastic:password, CA file)``; the node is
    stopped and its folder deleted afterwards, also when the test (or the start) fails.

    The distribution is the one ``logrca es start`` fetched (``.cache/elasticsearch``).
    """
    server = LocalServer(port=_free_port())
    shutil.rmtree(server.state_dir, ignore_errors=True)
    try:
        home = fetch(server, log=_quiet)
        config = server.state_dir / "config"
        shutil.copytree(home / "config", config)
        ca = make_certificates(config / "certs")
        subprocess.run(
            [str(home / "bin" / "elasticsearch-keystore"), "add", "-x", "-f", "bootstrap.password"],
            input=PASSWORD,
            env=node_environment(server),
            check=True,
            capture_output=True,
            text=True,
        )
        logs = launch(server, settings=TLS_SETTINGS, log=_quiet)
        url = f"https://127.0.0.1:{server.port}"
        deadline = time.monotonic() + timeout
        while not _healthy(url, ca):
            if time.monotonic() > deadline:
                log = logs / f"logrca-{server.port}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
                raise ElasticsearchServerError(f"the TLS node is not healthy after {timeout:.0f}s:\n{tail}")
            time.sleep(0.5)
        yield f"https://elastic:{PASSWORD}@127.0.0.1:{server.port}", ca
    finally:
        stop(server, log=_quiet)
        shutil.rmtree(server.state_dir, ignore_errors=True)
