"""The served deployments against a real Prefect server on localhost.

Starts `prefect server start` on a free port (its own PREFECT_HOME) with basic auth on, as
infra/k8s/prefect.yaml runs it (`PREFECT_SERVER_API_AUTH_STRING`; a request without the string
or with another is refused), serves the deployments with `hydrawatch serve` authenticating with
`PREFECT_API_AUTH_STRING`, and lets the server's scheduler create a run of the daily cron by
itself: the run processes the day before its scheduled day, waits for a delivery that never
comes, is late (an alert), then fails at its deadline with its artifact and a second alert at a
local receiver. The planted
credentials and secrets are then searched for in the run's parameters, logs and artifacts,
Prefect's database and the MLflow store. Both processes are always stopped. `prefect.yaml`
(the production path) is checked against the served deployments.
"""

from __future__ import annotations

import base64
import datetime as dt
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


def _serve(env: dict[str, str], err: Path) -> subprocess.Popen:
    """`hydrawatch serve` in its own session, its stderr kept in `err` for a failure's message."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(err, "w"),  # closed with the process (the child keeps it open)
        start_new_session=True,
    )


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


PLANTED = ("planted-password-4711", "planted-token-0815", "alertuser")


@pytest.mark.server
@pytest.mark.slow
def test_the_served_cron_runs_yesterday_by_itself_alerts_and_keeps_secrets_out(
    tmp_path, webhook_receiver, make_whsec
):
    """The server's scheduler creates a run of the daily cron by itself; the run processes the
    day before its scheduled day, waits for its delivery (never coming), fails at the deadline
    with its artifact and a signed alert at a local receiver; the planted credentials (the alert
    URL's user, password and token) and the secrets appear nowhere in the run's parameters, logs,
    artifacts or the MLflow store. Then a run whose process is killed is reported by the
    serving process: `day.crashed` at the receiver."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    auth = "hydrawatch:serve-test-auth-string"
    alert_secret = make_whsec(b"serve-test-alert-secret-32bytes!")
    webhook_secret = make_whsec(b"serve-test-hook-secret-32-bytes!")
    rx = webhook_receiver([alert_secret])
    user, password, token = PLANTED
    base = rx.url.replace("http://", f"http://{user}:{password}@")
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # The scheduler looks for due schedules every few seconds, not every minute.
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
        "HYDRAWATCH_LANDING": str(tmp_path / "landing"),
        "HYDRAWATCH_WAREHOUSE": str(tmp_path / "warehouse"),
        "HYDRAWATCH_EXPORTS": str(tmp_path / "exports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "HYDRAWATCH_DAILY_CRON": "* * * * *",
        # As an operator runs it (the suite keeps Prefect at WARNING): the progress lines too.
        "PREFECT_LOGGING_LEVEL": "INFO",
        "HYDRAWATCH_DELIVERY_POLL_SECONDS": "1",
        "HYDRAWATCH_DELIVERY_DEADLINE_SECONDS": "3",
        # Due a few seconds after yesterday ended: the waiting run is late before it fails.
        "HYDRAWATCH_DAILY_DUE_HOURS": "0.001",
        "HYDRAWATCH_ALERT_URL": f"{base}?token={token}",
        "HYDRAWATCH_ALERT_SECRET": alert_secret,
        "HYDRAWATCH_WEBHOOK_URL": f"https://{user}:{password}@hooks.example/in?token={token}",
        "HYDRAWATCH_WEBHOOK_SECRET": webhook_secret,
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
                token64 = base64.b64encode(credentials.encode()).decode()
                request.add_header("Authorization", f"Basic {token64}")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 401
        served = _serve(
            {**env, "PREFECT_API_URL": api, "PREFECT_API_AUTH_STRING": auth},
            tmp_path / "serve.err",
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
            assert [s.schedule.cron for s in deployment.schedules] == ["* * * * *"]

            # Nobody starts a run: the scheduler creates it, the served process runs it.
            ours = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
            run = None
            deadline = time.monotonic() + 300
            while run is None and time.monotonic() < deadline:
                assert served.poll() is None, (tmp_path / "serve.err").read_text()[-2000:]
                finished = [
                    r
                    for r in client.read_flow_runs(flow_run_filter=ours)
                    if r.state is not None and r.state.is_final()
                ]
                run = finished[0] if finished else None
                if run is None:
                    time.sleep(3)
            assert run is not None, "the cron never ran by itself"
            assert run.state.is_failed(), run.state
            assert run.parameters == {}
            day = run.expected_start_time.astimezone(dt.UTC).date() - dt.timedelta(days=1)
            mine = [a for a in client.read_artifacts() if a.flow_run_id == run.id and a.key]
            assert [a.key for a in mine] == [f"hydrawatch-day-{day}"]
            assert mine[0].data.startswith(
                f"# Hydrawatch day {day}: FAILED: the delivery for {day} was not complete after "
                "waiting 3s (usage_events: no folder yet; accounts: no folder yet)"
            )
            # The run's logs reach the API in batches: wait for its progress lines.
            deadline = time.monotonic() + 60
            logs: list = []
            while time.monotonic() < deadline:
                logs = client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
                )
                if any("waiting for the delivery" in log.message for log in logs):
                    break
                time.sleep(2)
            messages = "".join(log.message for log in logs)
            assert f"{day}: waiting for the delivery" in messages, messages[-2000:]
            stored = json.dumps(run.parameters) + "".join(a.data or "" for a in mine) + messages
        alerts = [json.loads(body) for body, _ in rx.accepted]
        assert [(a["type"], a["day"], a.get("exit_code")) for a in alerts] == [
            ("hydrawatch.day.late", str(day), None),
            ("hydrawatch.day.failed", str(day), 3),
        ]
        assert {a["flow_run_id"] for a in alerts} == {str(run.id)}
        assert alerts[0]["message"].startswith(f"{day} is past its due time and still waiting")
        # Nothing but the receiver ever holds the secrets: Prefect's API, its database, MLflow.
        secrets = [*PLANTED, alert_secret, webhook_secret]
        for secret in secrets:
            assert secret not in stored, secret
        for root in (tmp_path / "prefect-home", tmp_path / "warehouse"):
            for path in root.rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    assert not any(s.encode() in data for s in secrets), path
        mlflow_db = tmp_path / "mlflow.db"
        if mlflow_db.exists():
            assert not any(s.encode() in mlflow_db.read_bytes() for s in secrets)

        # A run whose process is killed: the runner of `serve` marks it Crashed and runs the
        # flow's on_crashed hook, which sends `day.crashed` (the run cannot report itself).
        _stop(served)
        served = _serve(
            {
                **env,
                "PREFECT_API_URL": api,
                "PREFECT_API_AUTH_STRING": auth,
                "HYDRAWATCH_DAILY_CRON": "0 0 1 1 *",
                "HYDRAWATCH_FAILPOINTS": "daily.before_lock",
            },
            tmp_path / "serve2.err",
        )
        with (
            temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth}),
            get_client(sync_client=True) as client,
        ):
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                assert served.poll() is None, (tmp_path / "serve2.err").read_text()[-2000:]
                schedules = client.read_deployment(deployment.id).schedules
                if [x.schedule.cron for x in schedules] == ["0 0 1 1 *"]:
                    break
                time.sleep(2)
            killed = client.create_flow_run_from_deployment(
                deployment.id, parameters={"run_date": str(day)}
            )
            deadline = time.monotonic() + 300
            state = None
            while time.monotonic() < deadline:
                state = client.read_flow_run(killed.id).state
                if state is not None and state.is_final():
                    break
                time.sleep(2)
            assert state is not None and state.is_crashed(), state
        deadline = time.monotonic() + 60
        crashed: list = []
        while not crashed and time.monotonic() < deadline:
            crashed = [
                json.loads(body)
                for body, _ in rx.accepted
                if json.loads(body)["type"] == "hydrawatch.day.crashed"
            ]
            time.sleep(1)
        assert [(a["day"], a["flow_run_id"]) for a in crashed] == [(str(day), str(killed.id))]
        assert crashed[0]["message"].startswith(f"the daily run for {day} crashed: ")
        assert "137" in crashed[0]["message"]
        assert not any(secret in crashed[0]["message"] for secret in secrets)
    finally:
        rx.close()
        if served is not None:
            _stop(served)
        _stop(server)
