"""Shared test fixtures: one Spark session, one MLflow store and one Prefect test server for the
run, and every root in a temporary folder.

The environment is pointed at a temporary folder before anything imports Prefect or MLflow, and
telemetry is off. Tests build their own `Settings` with the `make_settings` fixture so each test
writes its tables and exports under its own folder; every test shares the session's MLflow store
(a new SQLite store costs seconds of schema migrations) under a registered-model and experiment
name of its own, derived from its root, so no test sees another's versions, aliases or runs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP = Path(tempfile.mkdtemp(prefix="hydrawatch-tests-"))
os.environ.update(
    {
        "DO_NOT_TRACK": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(_SESSION_TMP / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "MLFLOW_TRACKING_URI": f"sqlite:///{_SESSION_TMP / 'mlflow' / 'mlflow.db'}",
        "HYDRAWATCH_LANDING": str(_SESSION_TMP / "landing"),
        "HYDRAWATCH_WAREHOUSE": str(_SESSION_TMP / "warehouse"),
        "HYDRAWATCH_EXPORTS": str(_SESSION_TMP / "exports"),
        "HYDRAWATCH_TRUTH": str(_SESSION_TMP / "truth"),
        "HYDRAWATCH_SPARK_MASTER": "local[2]",
        "HYDRAWATCH_SPARK_SHUFFLE_PARTITIONS": "2",
        "HYDRAWATCH_SPARK_UI": "false",
        "HYDRAWATCH_SPARK_DRIVER_MEMORY": "2g",
    }
)
(_SESSION_TMP / "mlflow").mkdir(parents=True, exist_ok=True)
os.environ.pop("PREFECT_API_URL", None)


SESSION_TRACKING_URI = os.environ["MLFLOW_TRACKING_URI"]


def registry_names(root: Path) -> dict[str, str]:
    """The registered-model and experiment names of the tests whose root is `root` in the
    session's MLflow store: the same root always gets the same names."""
    tag = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:12]
    return {"model_name": f"hw-model-{tag}", "mlflow_experiment": f"hw-exp-{tag}"}


def _make_settings(root: Path, **overrides):
    """Settings whose every root lives under `root` (a test's tmp_path); MLflow: the session's
    store, under names of the root's own (`registry_names`)."""
    from hydrawatch.settings import Settings

    values = {
        "landing": str(root / "landing"),
        "warehouse": str(root / "warehouse"),
        "exports": str(root / "exports"),
        "truth": str(root / "truth"),
        "reports": str(root / "reports"),
        "mlflow_tracking_uri": SESSION_TRACKING_URI,
        **registry_names(root),
        "spark_master": "local[2]",
        "spark_shuffle_partitions": 2,
        "spark_ui": False,
        "spark_driver_memory": "2g",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def spark():
    """The one SparkSession of the test run (local[2], UI off, 2 shuffle partitions)."""
    from hydrawatch.spark import build_spark

    session = build_spark(
        _make_settings(_SESSION_TMP / "spark-session"), app_name="hydrawatch-tests"
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def make_settings():
    """`make_settings(root, **overrides)`: Settings with every root under `root`."""
    return _make_settings


@pytest.fixture
def settings(tmp_path):
    return _make_settings(tmp_path)


# A usage event that passes every check of the landing contract, fields in contract order.
_USAGE_EVENT = {
    "event_id": "evt-1",
    "ts": "2026-02-10T13:45:12.345Z",
    "account_id": "acc-1",
    "org_id": "org-1",
    "api_key_id": "key-1",
    "surface": "api",
    "model": "atlas-3",
    "input_tokens": 120,
    "output_tokens": 300,
    "latency_ms": 850,
    "status": "ok",
    "client_ip": "203.0.113.7",
    "asn": 64500,
    "ip_country": "DE",
    "user_agent": "sdk-py/1.2",
    "prompt_template_hash": "0123456789abcdef",
    "system_prompt_hash": None,
    "task_category": "coding",
    "cot_elicitation": False,
    "rubric_grading": False,
    "tool_count": 0,
    "has_image": False,
    "turns": 1,
}


def _usage_event(event_id: str = "evt-1", ts: str = "2026-02-10T13:45:12.345Z", **overrides):
    return {**_USAGE_EVENT, "event_id": event_id, "ts": ts, **overrides}


@pytest.fixture(scope="session")
def usage_event():
    """`usage_event(event_id, ts, **overrides)`: a usage event (JSON form) that passes every
    check of the landing contract. The one sample event of the suite: tests override the fields
    their expectations depend on (conftest modules are not importable under importlib)."""
    return _usage_event


@pytest.fixture(scope="session")
def prefect_harness():
    """The session's temporary Prefect API (Prefect's own test harness), started once; yields
    its URL, which a test's child processes get as PREFECT_API_URL instead of each starting a
    temporary server of its own (embedded mode)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


def _settings_env(settings, failpoints: str | None = None) -> dict[str, str]:
    """The environment under which a new process builds the same `Settings` as `settings`."""
    from hydrawatch.locks import lock_mode

    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRAWATCH_FAILPOINTS")}
    env.update(
        {
            "HYDRAWATCH_LANDING": settings.landing,
            "HYDRAWATCH_WAREHOUSE": settings.warehouse,
            "HYDRAWATCH_EXPORTS": settings.exports,
            "HYDRAWATCH_TRUTH": settings.truth,
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "HYDRAWATCH_MODEL_NAME": settings.model_name,
            "HYDRAWATCH_MLFLOW_EXPERIMENT": settings.mlflow_experiment,
            "HYDRAWATCH_SPARK_MASTER": "local[2]",
            "HYDRAWATCH_SPARK_SHUFFLE_PARTITIONS": str(settings.spark_shuffle_partitions),
            "HYDRAWATCH_SPARK_UI": "false",
            # A second JVM beside the test's own: keep it small, and quick to start (the C1
            # compiler only: these processes live a minute, C2 would cost more than it saves).
            "HYDRAWATCH_SPARK_DRIVER_MEMORY": "1g",
            "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            # The test process's own mode, resolved: a child handed PREFECT_API_URL would
            # otherwise take Prefect locks beside the parent's file locks (refused since the
            # warehouse records its mode).
            "HYDRAWATCH_DAY_LOCK": lock_mode(settings),
            "HYDRAWATCH_DAY_LOCK_WAIT_SECONDS": str(settings.day_lock_wait_seconds),
        }
    )
    if settings.webhook_url:
        env["HYDRAWATCH_WEBHOOK_URL"] = str(settings.webhook_url)
        env["HYDRAWATCH_WEBHOOK_SECRET"] = settings.webhook_secret.get_secret_value()
        env["HYDRAWATCH_WEBHOOK_KEY_ID"] = settings.webhook_key_id
    if failpoints:
        env["HYDRAWATCH_FAILPOINTS"] = failpoints
    return env


@pytest.fixture(scope="session")
def process_env():
    """`process_env(settings, failpoints=None)`: the environment of a separate process (a crash
    or concurrency test's second process) that builds the same Settings; with `failpoints`, the
    named fail points (hydrawatch/failpoints.py) kill it."""
    return _settings_env


class _WebhookReceiver:
    """A Standard Webhooks receiver: a real HTTP server thread on 127.0.0.1.

    Its verifier is written from the specification (https://www.standardwebhooks.com/, "Verifying
    webhook authenticity" and "Verifying signatures"), not from hydrawatch.webhook: each secret is
    `whsec_` + base64 of the key; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`;
    `webhook-signature` is a space-delimited list of `v1,<base64 HMAC-SHA256>`, any one of which
    may match (compared in constant time); a timestamp more than `TOLERANCE_S` from the
    receiver's clock is refused; an id already processed is a replay and is not processed again.

    POST `/hooks`: 204 when accepted (`accepted` holds body and headers), 401 for a missing,
    stale or wrong signature, 200 without processing for a replay (a sender re-sending an
    announcement it could not record must not be told it failed). `fail_first` posts are
    answered `fail_status` before any check. Any path in `redirects` answers its status with a
    `Location` of `/hooks`. Every request, of any method and path, is kept in `requests`; every
    verdict in `verdicts`.
    """

    TOLERANCE_S = 300

    def __init__(
        self, secrets, *, fail_first=0, fail_status=503, retry_after=None, redirects=None, now=None
    ):
        import base64
        import http.server
        import threading
        import time

        self.keys = [base64.b64decode(s.removeprefix("whsec_")) for s in secrets]
        self.fail_first, self.fail_status, self.retry_after = fail_first, fail_status, retry_after
        self.redirects = dict(redirects or {})
        self.now = now or time.time
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.accepted: list[tuple[bytes, dict]] = []
        self.verdicts: list[str] = []
        self.processed_ids: set[str] = set()
        self.posts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = self.path.split("?")[0]
                outer.requests.append((self.command, path, headers, body))
                if path in outer.redirects:
                    self.send_response(outer.redirects[path])
                    self.send_header("Location", "/hooks")
                    self.end_headers()
                    return
                if self.command != "POST" or path != "/hooks":
                    self.send_response(404)
                    self.end_headers()
                    return
                outer.posts += 1
                if outer.posts <= outer.fail_first:
                    self.send_response(outer.fail_status)
                    if outer.retry_after is not None:
                        self.send_header("Retry-After", str(outer.retry_after))
                    self.end_headers()
                    return
                verdict = outer.verify(headers, body)
                outer.verdicts.append(verdict)
                if verdict == "ok":
                    outer.accepted.append((body, headers))
                self.send_response({"ok": 204, "replay": 200}.get(verdict, 401))
                self.end_headers()

            do_POST = do_GET = do_PUT = _any

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.url = self.base + "/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verify(self, headers: dict, body: bytes) -> str:
        """ "ok", or why the delivery is refused: missing headers, stale timestamp, bad
        signature, replay."""
        import base64
        import binascii
        import hashlib
        import hmac

        msg_id = headers.get("webhook-id")
        timestamp = headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature")
        if not (msg_id and timestamp and signatures):
            return "missing headers"
        try:
            sent_at = int(timestamp)
        except ValueError:
            return "bad timestamp"
        if abs(self.now() - sent_at) > self.TOLERANCE_S:
            return "stale timestamp"
        content = f"{msg_id}.{timestamp}.".encode() + body
        expected = [hmac.new(key, content, hashlib.sha256).digest() for key in self.keys]
        matched = False
        for entry in signatures.split(" "):
            version, _, value = entry.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
            matched = matched or any(hmac.compare_digest(given, e) for e in expected)
        if not matched:
            return "bad signature"
        if msg_id in self.processed_ids:
            return "replay"
        self.processed_ids.add(msg_id)
        return "ok"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def whsec(key: bytes) -> str:
    """A Standard Webhooks secret for `key` (tests only: real ones are random)."""
    import base64

    return "whsec_" + base64.b64encode(key).decode()


@pytest.fixture(scope="session")
def webhook_receiver():
    """`webhook_receiver(secrets, **options)`: a Standard Webhooks receiver on 127.0.0.1 whose
    verifier is written from the specification (see `_WebhookReceiver`); a context manager."""
    return _WebhookReceiver


@pytest.fixture(scope="session")
def make_whsec():
    """`make_whsec(key_bytes)`: the `whsec_<base64>` form of a test key."""
    return whsec
