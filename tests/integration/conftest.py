"""Servers on localhost for the tests that run the pipeline past one machine: a real Spark
standalone cluster (one master and two workers, started from the installed pyspark's `spark-class`
launcher) and an S3 API server (moto) for object storage."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as r:
            return int(json.load(r).get("aliveworkers", 0))
    except OSError:
        return 0


@contextlib.contextmanager
def start_standalone(
    run_dir: Path,
    *,
    workers: int = 2,
    master_host: str = "127.0.0.1",
    worker_host: str = "127.0.0.1",
    extra_env: dict[str, str] | None = None,
):
    """A master and `workers` 1-core workers; yields (master URL, their processes). The web UIs
    bind SPARK_LOCAL_IP (127.0.0.1), the RPC the given hosts (any 127.x address here)."""
    import pyspark

    spark_home = os.path.dirname(pyspark.__file__)
    env = dict(
        os.environ,
        SPARK_HOME=spark_home,
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_DAEMON_MEMORY="512m",
        PYSPARK_PYTHON=sys.executable,
        **(extra_env or {}),
    )
    port, ui_port = free_port(), free_port()
    launcher = os.path.join(spark_home, "bin", "spark-class")
    logs = contextlib.ExitStack()

    def log(name: str):
        return logs.enter_context(open(run_dir / name, "w"))

    procs = [
        subprocess.Popen(
            [
                launcher,
                "org.apache.spark.deploy.master.Master",
                "--host",
                master_host,
                "--port",
                str(port),
                "--webui-port",
                str(ui_port),
            ],
            env=env,
            stdout=log("master.log"),
            stderr=subprocess.STDOUT,
        )
    ]
    master = f"spark://{master_host}:{port}"
    for i in range(1, workers + 1):
        procs.append(
            subprocess.Popen(
                [
                    launcher,
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    worker_host,
                    "--cores",
                    "1",
                    "--memory",
                    "1536m",
                    "--webui-port",
                    str(free_port()),
                    "--work-dir",
                    str(run_dir / f"work-{i}"),
                    master,
                ],
                env=env,
                stdout=log(f"worker-{i}.log"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        deadline = time.monotonic() + 120
        while _alive_workers(ui_port) < workers:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                tails = "\n".join(
                    (run_dir / f).read_text()[-2000:]
                    for f in os.listdir(run_dir)
                    if f.endswith(".log")
                )
                pytest.fail(f"standalone cluster did not start:\n{tails}")
            time.sleep(1)
        yield master, procs, ui_port
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """Yields the `spark://127.0.0.1:PORT` URL of a running master with two 1-core workers."""
    with start_standalone(tmp_path_factory.mktemp("spark-standalone")) as (master, _, _):
        yield master


@pytest.fixture(scope="session")
def standalone_factory():
    """`standalone_factory(run_dir, workers=, master_host=, worker_host=, extra_env=)`: a
    context manager starting another cluster, yielding (master URL, processes, UI port)."""
    return start_standalone


class MlflowServer:
    """A started `mlflow server` on 127.0.0.1 (SQLite backend, artifacts served from `root`);
    `url()` waits until it answers /health. `args` and `env` are added to its command line and
    environment (an app such as basic-auth and its settings)."""

    def __init__(self, root: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None):
        self.root = root
        self.port = free_port()
        self.log = open(root / "server.log", "w")  # noqa: SIM115 (closed by stop())
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{root / 'mlflow.db'}",
                "--artifacts-destination",
                str(root / "artifacts"),
                *args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # No job runner (it starts several consumer processes the registry does not need).
            env=dict(
                os.environ,
                MLFLOW_DISABLE_TELEMETRY="true",
                MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
                **(env or {}),
            ),
            start_new_session=True,  # its own process group: stop() ends the server's workers too
        )
        self.up_after: float | None = None

    def url(self) -> str:
        url = f"http://127.0.0.1:{self.port}"
        deadline = self.started + 300
        while self.up_after is None:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        self.up_after = time.monotonic() - self.started
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not start:\n{(self.root / 'server.log').read_text()}"
                )
            time.sleep(0.5)
        return url

    def stop(self) -> None:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        self.log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """Started before the standalone cluster (session scope, requested first) so both boot at once."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server_factory():
    """`mlflow_server_factory(root, args=(), env=None)`: another `MlflowServer` (stop() it)."""
    return MlflowServer


class S3Server:
    """A local S3 API server (moto, tests/integration/s3_server.py) on 127.0.0.1."""

    # Any key works with moto; they only ever reach the child processes' environment.
    CREDENTIALS: ClassVar[dict[str, str]] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }

    def __init__(self, endpoint: str, log: Path):
        self.endpoint = endpoint
        self.log = log

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.CREDENTIALS["AWS_REGION"],
        )

    def spark_conf_dir(self, folder: Path) -> Path:
        """A SPARK_CONF_DIR holding the shipped infra/conf/spark-defaults.s3a.conf, pointed at
        this server (endpoint, region, path-style access), as an operator would for MinIO."""
        shipped = Path(__file__).resolve().parents[2] / "infra" / "conf" / "spark-defaults.s3a.conf"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spark-defaults.conf").write_text(
            shipped.read_text()
            + f"spark.hadoop.fs.s3a.endpoint {self.endpoint}\n"
            + "spark.hadoop.fs.s3a.endpoint.region us-east-1\n"
            + "spark.hadoop.fs.s3a.path.style.access true\n"
        )
        return folder

    def requests(self, method: str, fragment: str, status: int) -> int:
        """How many requests the server answered with `status`, by method and path fragment."""
        return sum(
            f'"{method} ' in line and fragment in line and f'" {status} ' in line
            for line in self.log.read_text().splitlines()
        )


@contextlib.contextmanager
def _running_s3_server(run_dir: Path, *options: str):
    log = run_dir / "requests.log"
    port = free_port()
    script = Path(__file__).with_name("s3_server.py")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), *options], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the S3 server did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield S3Server(f"http://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A running S3 API server on a free localhost port, for the object-storage tests."""
    with _running_s3_server(tmp_path_factory.mktemp("s3-server")) as server:
        yield server


@pytest.fixture
def s3_server_losing_replies(tmp_path_factory):
    """An S3 API server that stores the first conditional PUT of each commit file
    (`_delta_log/`) and answers it 500, as if the reply had been lost."""
    run_dir = tmp_path_factory.mktemp("s3-server-faults")
    with _running_s3_server(run_dir, "--lose-first-reply-to", "/_delta_log/") as server:
        yield server


def pytest_collection_modifyitems(config, items):
    """Control runs (marked `control`) run only when asked for with `-m control`."""
    if "control" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a control run: `pytest -m control` runs it")
    for item in items:
        if item.get_closest_marker("control"):
            item.add_marker(skip)
