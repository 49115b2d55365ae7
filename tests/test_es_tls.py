"""logrca against a cluster set up as ES 8+ sets one up: HTTPS with a certificate of the cluster's own
CA, and the ``elastic`` user's password in the URL. With ``LOGRCA_ES_CA_CERTS`` it works; without it,
one line that says why and what to set; a CA file that is not there fails on load."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from tls_support import PASSWORD, secured_node
from typer.testing import CliRunner

from logrca import PROJECT_ROOT
from logrca.cli import app
from logrca.pipelines.environment import DeploymentError, deployment_from_env

pytestmark = pytest.mark.es
PREFIX = "tls-test"


@pytest.fixture(scope="module")
def secured():
    """``(url with elastic:password, CA file)`` of a secured node, stopped after this module's tests."""
    with secured_node() as node:
        yield node


def test_with_the_ca_file_the_pipeline_and_the_cli_index_and_search(secured, monkeypatch, tmp_path):
    import dagster

    from logrca.assets.resources import LogrcaConfigResource
    from logrca.pipelines.definitions import build_resources
    from logrca.rca.search_index import index_runbooks

    url, ca = secured
    env = {"LOGRCA_ES_URL": url, "LOGRCA_ES_CA_CERTS": str(ca), "LOGRCA_INDEX_PREFIX": PREFIX}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    deployment = deployment_from_env()
    runbooks = LogrcaConfigResource(
        config_path=str(deployment.config_path), data_dir=str(tmp_path)
    ).runbooks()
    # the Definitions' resource, its URL (with the password) resolved from LOGRCA_ES_URL as in a run
    with dagster.build_resources({"elasticsearch": build_resources(deployment)["elasticsearch"]}) as built:
        client = built.elasticsearch.client()
        try:
            assert index_runbooks(client, prefix=PREFIX, runbooks=runbooks) == len(runbooks) > 0
            client.indices.refresh(index=f"{PREFIX}-knowledge")
        finally:
            client.close()
    status = CliRunner().invoke(app, ["es", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["status"] in ("green", "yellow")
    found = CliRunner().invoke(app, ["search", runbooks[0]["title"], "--json"], env=env)
    assert found.exit_code == 0, found.output
    assert runbooks[0]["id"] in found.stdout


@pytest.mark.parametrize("args", [["es", "status"], ["search", "x"], ["incident", "list"]])
def test_without_the_ca_file_a_command_says_why_in_one_line(secured, args):
    url, _ = secured
    done = CliRunner().invoke(app, args, env={"LOGRCA_ES_URL": url, "LOGRCA_ES_CA_CERTS": None})
    assert done.exit_code == 1, done.output
    assert done.output.splitlines() == [
        f"error: TLS handshake with Elasticsearch at {url.replace(PASSWORD, '***')} failed (certificate "
        "verify failed: unable to get local issuer certificate); set LOGRCA_ES_CA_CERTS to the PEM file "
        "of the CA that signed the cluster's certificate (ES 8+: config/certs/http_ca.crt)"
    ]
    assert PASSWORD not in done.output


def test_an_http_url_to_the_https_node_says_to_use_https_in_one_line(secured):
    """With the CA file set (it is for https only) and with none: the node hangs up on plain http."""
    url, ca = secured
    plain = url.replace("https://", "http://")
    for ca_certs in (str(ca), None):
        env = {"LOGRCA_ES_URL": plain, "LOGRCA_ES_CA_CERTS": ca_certs}
        done = CliRunner().invoke(app, ["es", "status"], env=env)
        assert done.exit_code == 1, done.output
        assert done.output.splitlines() == [
            f"error: Elasticsearch at {plain.replace(PASSWORD, '***')} is not reachable (the server closed "
            "the connection without an answer); does it serve https only? use https:// in LOGRCA_ES_URL"
        ]


def test_a_missing_ca_file_fails_on_load_in_one_line(tmp_path):
    missing = tmp_path / "ca.pem"
    done = subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "logrca"), "es", "status"],
        env={**os.environ, "LOGRCA_ES_URL": "https://127.0.0.1:9", "LOGRCA_ES_CA_CERTS": str(missing)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: LOGRCA_ES_CA_CERTS={str(missing)!r}: cannot read it (No such file or directory); "
        "expected a PEM file of CA certificates"
    ]


@pytest.mark.parametrize(
    ("kind", "said"), [("folder", "cannot read it (Is a directory)"), ("text", "no PEM certificate in it")]
)
def test_a_ca_path_that_is_no_pem_file_names_the_variable(tmp_path, kind, said):
    path = tmp_path / "ca"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_text("not a certificate\n")
    with pytest.raises(DeploymentError, match=r"^LOGRCA_ES_CA_CERTS=") as raised:
        deployment_from_env({"LOGRCA_ES_CA_CERTS": str(path)})
    assert said in str(raised.value) and str(path) in str(raised.value)
