"""The served deployments against a real Prefect server on localhost.

Starts `prefect server start` on a free port (its own PREFECT_HOME) with basic auth on, as
infra/k8s/prefect.yaml runs it (`PREFECT_SERVER_API_AUTH_STRING`; a request without the string
or with another is refused), serves the deployments with `hydrawatch serve` authenticating with
`PREFECT_API_AUTH_STRING`, checks the daily deployment's cron schedule, runs it for a day whose landing
delivery is missing, and reads the flow run's state and its artifact back through the API. Both
processes are always stopped.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"prefect server at {url} not healthy after {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def test_prefect_yaml_declares_the_served_deployments(make_settings, tmp_path):
    """The production file and `hydrawatch serve` deploy the same flows under the same names,
    the daily one on the default cron with one run at a time, and no parameters."""
    import importlib

    import yaml

    from flows.serve import deployments

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    declared = {}
    for d in spec["deployments"]:
        path, name = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
        declared[f"{flow.name}/{d['name']}"] = d
        assert d["work_pool"]["name"] == "hydrawatch" and "parameters" not in d
    settings = make_settings(tmp_path)
    served = {f"{d.flow_name}/{d.name}" for d in deployments(settings)}
    assert set(declared) == served
    daily = declared["hydrawatch-daily/daily"]
    assert daily["schedules"] == [{"cron": settings.daily_cron, "timezone": "UTC"}]
    assert daily["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


@pytest.mark.server
@pytest.mark.slow
def test_served_daily_deployment_runs_and_leaves_its_artifact(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    auth = "hydrawatch:serve-test-auth-string"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "HYDRAWATCH_LANDING": str(tmp_path / "landing"),
        "HYDRAWATCH_WAREHOUSE": str(tmp_path / "warehouse"),
        "HYDRAWATCH_EXPORTS": str(tmp_path / "exports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "HYDRAWATCH_DAILY_CRON": "15 23 * * *",
    }
    env.pop("PREFECT_API_URL", None)
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "PREFECT_SERVER_API_AUTH_STRING": auth},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    served = None
    try:
        _wait_healthy(api, server, 240)
        for credentials in (None, "hydrawatch:a-guess"):
            request = urllib.request.Request(f"{api}/flows/filter", data=b"{}", method="POST")
            if credentials:
                token = base64.b64encode(credentials.encode()).decode()
                request.add_header("Authorization", f"Basic {token}")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 401
        served = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve"],
            env={**env, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": auth},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "serve.err", "w"),  # noqa: SIM115 - closed with the process
            start_new_session=True,
        )
        with (
            temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth}),
            get_client(sync_client=True) as client,
        ):
            deadline = time.monotonic() + 240
            deployment = None
            while deployment is None and time.monotonic() < deadline:
                assert served.poll() is None, (tmp_path / "serve.err").read_text()[-2000:]
                try:
                    deployment = client.read_deployment_by_name("hydrawatch-daily/daily")
                except Exception:
                    time.sleep(2)
            assert deployment is not None, "the daily deployment was never registered"
            crons = [s.schedule.cron for s in deployment.schedules]
            assert crons == ["15 23 * * *"]

            run = run_deployment(
                "hydrawatch-daily/daily",
                parameters={"run_date": "2026-02-05", "steps": ["ingest"]},
                timeout=300,
            )
            state = client.read_flow_run(run.id).state
            assert state.is_failed(), state
            artifacts = client.read_artifacts()
            # Prefect adds its own unkeyed result artifacts; ours is the keyed day summary.
            mine = [a for a in artifacts if a.flow_run_id == run.id and a.key]
            assert [a.key for a in mine] == ["hydrawatch-day-2026-02-05"]
            assert "# Hydrawatch day 2026-02-05: FAILED: no " in mine[0].data
            assert "delivery for 2026-02-05" in mine[0].data
    finally:
        if served is not None:
            _stop(served)
        _stop(server)
