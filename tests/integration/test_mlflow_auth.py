"""MLflow's basic-auth app as infra/k8s/mlflow.yaml sets it up, on a real `mlflow server` here.

The server gets the manifest's own options (`--app-name basic-auth`, `--allowed-hosts`,
`--serve-artifacts`; on 127.0.0.1 with SQLite instead of the pod's address and PostgreSQL), its
`basic_auth.ini` is the manifest's ConfigMap completed by the manifest's init-container script,
and the admin password and CSRF key come from the environment as the Secrets give them. Then, as
infra/README.md says to: the admin creates the pipeline's user; the pipeline's user creates the
registered model and may change it; another user may neither read nor change it; a request
without credentials is refused, /health is open; the Host a pod sends (`mlflow:5000`) is let
through, another Host is not.
"""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.server]

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-password-for-the-test-9f3e"
PIPELINE = ("hydrawatch-pipeline", "pipeline-password-for-the-test-1c7a")
PERSON = ("analyst", "analyst-password-for-the-test-55b2")


def _manifest() -> list[dict]:
    return [d for d in yaml.safe_load_all((REPO / "infra/k8s/mlflow.yaml").read_text()) if d]


def _auth_config(root: Path) -> Path:
    """basic_auth.ini as the manifest's init container writes it, the auth DB a SQLite file."""
    docs = _manifest()
    site = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["basic_auth.ini"]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    script = pod["initContainers"][0]["command"][2].replace("/etc/", f"{root}/etc/")
    (root / "etc/mlflow-auth-site").mkdir(parents=True)
    (root / "etc/mlflow-auth").mkdir(parents=True)
    (root / "etc/mlflow-auth-site/basic_auth.ini").write_text(site)
    env = dict(os.environ, MLFLOW_AUTH_DATABASE_URI=f"sqlite:///{root / 'auth.db'}")
    subprocess.run(["sh", "-c", script], env=env, check=True)
    return root / "etc/mlflow-auth/basic_auth.ini"


def _server_options() -> list[str]:
    """The manifest's `mlflow server` options but where to listen and store."""
    pod = next(d for d in _manifest() if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[:2] == ["mlflow", "server"]
    placed = {"--host", "--port", "--backend-store-uri", "--artifacts-destination"}
    options, i = [], 2
    while i < len(command):
        flag = command[i]
        takes_value = i + 1 < len(command) and not command[i + 1].startswith("--")
        if flag not in placed:
            options += command[i : i + 1 + takes_value]
        i += 1 + takes_value
    return options


def _get(url: str, *, user: tuple[str, str] | None = None, host: str | None = None) -> int:
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _as(monkeypatch, user: tuple[str, str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])


def test_only_authenticated_users_and_only_owners_change_the_registry(
    tmp_path, mlflow_server_factory, monkeypatch
):
    import mlflow.server
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    options = _server_options()
    assert options[:2] == ["--app-name", "basic-auth"] and "--allowed-hosts" in options
    at = options.index("--allowed-hosts") + 1
    manifest_hosts = options[at]
    options[at] += ",127.0.0.1:*"  # this test's client on its random port
    server = mlflow_server_factory(
        tmp_path,
        args=tuple(options),
        env={
            "MLFLOW_AUTH_CONFIG_PATH": str(_auth_config(tmp_path)),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key-for-the-test",
        },
    )
    try:
        url = server.url()
        search = f"{url}/api/2.0/mlflow/registered-models/search"
        assert _get(f"{url}/health") == 200
        assert _get(search) == 401
        assert _get(search, user=("admin", "wrong-password")) == 401
        assert _get(search, user=("admin", ADMIN_PASSWORD)) == 200
        # the Host a pod sends passes the host check (then needs credentials); another does not
        assert "mlflow:5000" in manifest_hosts.split(",")
        assert _get(search, host="mlflow:5000") == 401
        assert _get(search, host="attacker.example") == 403

        _as(monkeypatch, ("admin", ADMIN_PASSWORD))
        admin = mlflow.server.get_app_client("basic-auth", tracking_uri=url)
        admin.create_user(*PIPELINE)
        admin.create_user(*PERSON)

        _as(monkeypatch, PIPELINE)
        pipeline = MlflowClient(tracking_uri=url, registry_uri=url)
        pipeline.create_registered_model("hydrawatch-account-classifier")
        pipeline.set_registered_model_tag("hydrawatch-account-classifier", "owner", "pipeline")

        _as(monkeypatch, PERSON)
        person = MlflowClient(tracking_uri=url, registry_uri=url)
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
            person.set_registered_model_tag("hydrawatch-account-classifier", "owner", "me")
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
            person.get_registered_model("hydrawatch-account-classifier")

        _as(monkeypatch, PIPELINE)
        tags = pipeline.get_registered_model("hydrawatch-account-classifier").tags
        assert tags == {"owner": "pipeline"}
    finally:
        server.stop()
    assert ADMIN_PASSWORD not in (tmp_path / "server.log").read_text()
