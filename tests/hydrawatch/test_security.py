"""Fault suite, security: the local servers listen on localhost only; secrets come only from the
environment and are never shown.

- The Spark driver this project builds (`hydrawatch.spark.build_spark`, local master) opens its
  RPC, block manager and web UI ports on 127.0.0.1 only: checked on the real JVM's listening
  sockets (from /proc), the web UI in a separate process with the UI on, as `hydrawatch demo`
  runs it.
- Every command the README and docs tell an operator to start a server with (Prefect, MLflow,
  Spark standalone) binds 127.0.0.1, and the servers Prefect starts by itself (embedded mode,
  `hydrawatch serve`) default to localhost.
- The webhook secret is read from the environment into a `SecretStr` and never appears in the
  settings' text.
(What publish sends and stores is scanned in tests/jobs/test_publish.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# At module level: the probe flow's annotations name it, and Prefect resolves them here.
from hydrawatch.settings import Settings

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1"}


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` listens on, from /proc (Linux)."""
    import ipaddress

    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table, width in (("tcp", 4), ("tcp6", 16)):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            raw = bytes.fromhex(addr_hex)
            # /proc prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            address = ipaddress.ip_address(raw)
            # an IPv4 address on a dual-stack socket shows as ::ffff:a.b.c.d
            address = getattr(address, "ipv4_mapped", None) or address
            found.add((str(address), int(port_hex, 16)))
    return found


def _jvm_pid(spark) -> int:
    return spark.sparkContext._gateway.proc.pid


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_local_spark_driver_listens_on_loopback_only(spark):
    addresses = listening_addresses(_jvm_pid(spark))
    assert addresses, "the driver JVM listens on no port at all?"
    assert {a for a, _ in addresses} <= LOOPBACK, addresses


UI_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.hydrawatch.test_security import _jvm_pid, listening_addresses
from hydrawatch.settings import Settings
from hydrawatch.spark import build_spark
spark = build_spark(Settings(spark_master="local[1]", spark_ui=True, spark_driver_memory="1g"))
ui = spark.sparkContext.uiWebUrl
print(json.dumps({"ui": ui, "listening": sorted(listening_addresses(_jvm_pid(spark)))}))
spark.stop()
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_spark_web_ui_of_a_local_run_listens_on_loopback_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", UI_PROBE, str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["ui"] and "127.0.0.1" in probe["ui"]
    ui_port = int(probe["ui"].rsplit(":", 1)[1])
    listening = {tuple(x) for x in probe["listening"]}
    assert ui_port in {port for _, port in listening}
    assert {a for a, _ in listening} <= LOOPBACK, listening


# A server start as a command (in a code block, a shell script or a string): the command, then
# its options or the end of the line; prose that only names the server is not a command.
SERVER_COMMANDS = re.compile(
    r"(prefect server start|mlflow (?:server|ui)|deploy\.master\.Master|deploy\.worker\.Worker)"
    r"(\s+--|\s*$)"
)
LOCAL_DOCS = ("README.md", "docs/*.md", "infra/README.md", "infra/*.sh", "flows/*.py", "bench/*.md")


def test_every_server_start_the_docs_and_code_give_binds_localhost():
    seen = 0
    for pattern in LOCAL_DOCS:
        for path in sorted(REPO.glob(pattern)):
            text = path.read_text()
            # shell line continuations: a command and its options form one logical line
            for line in text.replace("\\\n", " ").splitlines():
                if not SERVER_COMMANDS.search(line):
                    continue
                seen += 1
                host = re.search(r"--host[ =\"',]+([^\s\"',`]+)", line)
                assert host and host.group(1) == "127.0.0.1", f"{path.name}: {line.strip()}"
    assert seen >= 4  # prefect and mlflow in the docs, the Spark master and workers in infra/


def test_servers_prefect_starts_itself_default_to_localhost():
    from prefect.settings import get_current_settings

    current = get_current_settings()
    # embedded mode's temporary API server and `hydrawatch serve`'s runner webserver
    assert current.server.api.host == "127.0.0.1"
    assert current.runner.server.host in ("localhost", "127.0.0.1")


def test_webhook_secret_only_from_the_environment_and_never_shown(monkeypatch):
    secret = "whsec_ZW52LW9ubHktc2VjcmV0LTVlMWYtb2YtMzItYnl0ZXM="  # 32 bytes
    previous = "whsec_cHJldmlvdXMtc2VjcmV0LWR1cmluZy1yb3RhdGlvbg=="  # 32 bytes
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_URL", "https://user:pw@hooks.example/q?token=t")
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_KEY_ID", "k2")
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_PREVIOUS_SECRET", previous)
    monkeypatch.setenv("HYDRAWATCH_WEBHOOK_PREVIOUS_KEY_ID", "k1")
    settings = Settings()
    assert settings.webhook_secret.get_secret_value() == secret
    assert settings.webhook_previous_secret.get_secret_value() == previous
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(vars(settings))):
        for value in (secret, previous, secret[6:], previous[6:]):
            assert value not in text
    # no secret in the code base's defaults
    assert Settings.model_fields["webhook_secret"].default is None
    assert Settings.model_fields["webhook_previous_secret"].default is None


def test_webhook_secrets_never_reach_prefects_database(prefect_harness):
    """The flows take the settings as a parameter: Prefect stores flow-run parameters in its
    database. A run on a real (harness) API server keeps the masked form only."""
    import asyncio

    from prefect import flow, task
    from prefect.client.orchestration import get_client

    secret = "whsec_cHJlZmVjdC1tdXN0LW5ldmVyLXNlZS10aGlzLWtleQ=="
    settings = Settings(
        webhook_url="https://hooks.example/q", webhook_secret=secret, webhook_key_id="k7"
    )

    @task
    def step(settings: Settings) -> str:
        return settings.webhook_key_id

    @flow(name="secret-probe")
    def probe(settings: Settings) -> str:
        return step(settings)

    state = probe(settings, return_state=True)
    assert state.is_completed()

    async def stored() -> str:
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
            tasks = await client.read_task_runs()
            return json.dumps(run.parameters, default=str) + "".join(
                t.model_dump_json() for t in tasks
            )

    text = asyncio.run(stored())
    assert "k7" in text  # the settings were stored...
    assert secret not in text and secret[6:] not in text  # ...with the secret masked
