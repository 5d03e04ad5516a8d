"""Spark RPC authentication as infra/k8s/spark-standalone.yaml and prefect.yaml set it up, on a real
standalone cluster on this machine.

The `spark-defaults.conf` of the master, the worker and the driver are written by the manifests'
own init-container scripts (run here with `sh`, their paths moved under a temporary folder, the
secret in their environment as Kubernetes gives it). The master's RPC binds 127.0.0.2 and the
worker's 127.0.0.3 (the pods' addresses in the manifests), the web UIs SPARK_LOCAL_IP=127.0.0.1.
A driver with the secret runs a job on the executors; a driver with another secret is refused;
the secret is on no process's command line, executors included.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.server]

REPO = Path(__file__).resolve().parents[2]
SECRET = "spark-auth-secret-for-the-integration-test"
DRIVER = """
import os, sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(sys.argv[1]).appName("auth-probe")
         .config("spark.ui.enabled", "false").config("spark.driver.memory", "512m")
         .config("spark.executor.memory", "512m").getOrCreate())
total = spark.sparkContext.parallelize(range(100), 2).sum()
secret = os.environ["PROBE_SECRET"].encode()
on_command_lines = 0
for pid in os.listdir("/proc"):
    try:
        if pid.isdigit() and secret in open(f"/proc/{pid}/cmdline", "rb").read():
            on_command_lines += 1
    except OSError:
        pass
executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
print("RESULT", total, executors, on_command_lines, flush=True)
spark.stop()
"""


def _init_script(manifest: str, deployment: str) -> str:
    for doc in yaml.safe_load_all((REPO / "infra" / "k8s" / manifest).read_text()):
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == deployment:
            return doc["spec"]["template"]["spec"]["initContainers"][0]["command"][2]
    raise AssertionError(f"no {deployment} in {manifest}")


def _conf_dir(root: Path, manifest: str, deployment: str, secret: str) -> Path:
    """Run the deployment's init container script; returns the SPARK_CONF_DIR it wrote."""
    script = _init_script(manifest, deployment).replace("/etc/", f"{root}/etc/")
    for sub in ("etc/spark/conf", "etc/hydrawatch/spark", "etc/spark-site"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "etc/spark-site/spark-defaults.conf").write_text("spark.executor.cores 1\n")
    env = dict(os.environ, SPARK_AUTH_SECRET=secret, POD_IP="127.0.0.1")
    subprocess.run(["sh", "-c", script], env=env, check=True)
    conf = root / (
        "etc/hydrawatch/spark" if deployment == "hydrawatch-worker" else "etc/spark/conf"
    )
    assert "spark.authenticate true" in (conf / "spark-defaults.conf").read_text()
    return conf


def _driver(master: str, conf_dir: Path, secret: str, timeout: int):
    env = dict(os.environ, SPARK_CONF_DIR=str(conf_dir), PROBE_SECRET=secret)
    env.pop("SPARK_LOCAL_IP", None)
    return subprocess.run(
        [sys.executable, "-c", DRIVER, master],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _listens(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


def test_only_a_driver_with_the_shared_secret_runs_on_the_cluster(tmp_path, standalone_factory):
    # The worker's script writes the master's lines but spark.ui.killEnabled: the master's
    # spark-defaults.conf serves both daemons here (one SPARK_CONF_DIR for the processes).
    worker_conf = _conf_dir(tmp_path / "worker", "spark-standalone.yaml", "spark-worker", SECRET)
    daemon_conf = _conf_dir(tmp_path / "master", "spark-standalone.yaml", "spark-master", SECRET)
    master_lines = (daemon_conf / "spark-defaults.conf").read_text().splitlines()
    worker_lines = (worker_conf / "spark-defaults.conf").read_text().splitlines()
    assert set(master_lines) - set(worker_lines) == {"spark.ui.killEnabled false"}
    run_dir = tmp_path / "cluster"
    run_dir.mkdir()
    with standalone_factory(
        run_dir,
        workers=1,
        master_host="127.0.0.2",
        worker_host="127.0.0.3",
        extra_env={"SPARK_CONF_DIR": str(daemon_conf)},
    ) as (master, procs, ui_port):
        # the master's web UI on loopback 127.0.0.1 only, its RPC on its own address
        port = int(master.rsplit(":", 1)[1])
        assert _listens("127.0.0.1", ui_port) and not _listens("127.0.0.2", ui_port)
        assert _listens("127.0.0.2", port)

        good = _conf_dir(tmp_path / "driver", "prefect.yaml", "hydrawatch-worker", SECRET)
        ran = _driver(master, good, SECRET, timeout=300)
        assert ran.returncode == 0, ran.stderr[-3000:]
        result = next(line for line in ran.stdout.splitlines() if line.startswith("RESULT"))
        total, executors, on_command_lines = map(int, result.split()[1:])
        assert (total, executors) == (4950, 1)
        assert on_command_lines == 0  # master, worker, driver, executor: none shows it

        wrong = _conf_dir(tmp_path / "intruder", "prefect.yaml", "hydrawatch-worker", "guess")
        # its registration is refused until the application client gives up (about 100 s)
        refused = _driver(master, wrong, "guess", timeout=300)
        assert refused.returncode != 0 and "RESULT" not in refused.stdout
        assert "stopped SparkContext" in refused.stderr
        for proc in procs:
            assert proc.poll() is None  # the cluster is still up
    logs = "".join(p.read_text() for p in run_dir.glob("*.log"))
    assert SECRET not in logs
