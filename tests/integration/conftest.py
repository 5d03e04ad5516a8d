"""A real Spark standalone cluster on localhost: one master and two workers, started from the
installed pyspark's `spark-class` launcher, for the tests that run the pipeline past one machine."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


@pytest.fixture(scope="session")
def standalone_cluster(tmp_path_factory):
    """Yields the `spark://127.0.0.1:PORT` URL of a running master with two 1-core workers."""
    import pyspark

    spark_home = os.path.dirname(pyspark.__file__)
    run_dir: Path = tmp_path_factory.mktemp("spark-standalone")
    env = dict(
        os.environ,
        SPARK_HOME=spark_home,
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_DAEMON_MEMORY="512m",
        PYSPARK_PYTHON=sys.executable,
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
                "127.0.0.1",
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
    master = f"spark://127.0.0.1:{port}"
    for i in (1, 2):
        procs.append(
            subprocess.Popen(
                [
                    launcher,
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
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
        while _alive_workers(ui_port) < 2:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                tails = "\n".join(
                    (run_dir / f).read_text()[-2000:]
                    for f in os.listdir(run_dir)
                    if f.endswith(".log")
                )
                pytest.fail(f"standalone cluster did not start:\n{tails}")
            time.sleep(1)
        yield master
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()
