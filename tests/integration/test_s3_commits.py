"""Delta commits on S3 from several drivers at once, against a local S3 API server.

Three separate processes, each its own Spark driver (`local[1]`, as every hydrawatch command and
flow run is), append 10 one-row commits each (50 in the slow tier, the size of
docs/reliability.md's figures) to one Delta table under an `s3a://` warehouse,
configured by the shipped `infra/conf/spark-defaults.s3a.conf` and the settings alone. With the
default log store (S3's conditional PUT, hydrawatch/objectstore.py) every commit is in the table's
history, at versions 0 to 30 (150) with no gap, every row is there, and the server's log shows that the
drivers did race for the same versions (conditional PUTs refused with 412).

The control runs the same with Delta's `S3SingleDriverLogStore` (the operator wrongly declaring a
single writer) and counts the commits lost; it is not part of the suite (`pytest -m control
tests/integration/test_s3_commits.py`), its figures are in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROCESSES = 3
COMMITS = 50
COMMITTER = Path(__file__).with_name("s3_committer.py")
COMMIT_FILE = re.compile(r"/_delta_log/(\d{20})\.json$")


@dataclass(frozen=True)
class Outcome:
    history: list[tuple[int, str, str | None]]  # (version, operation, userMetadata), by version
    rows: list[tuple[str, int]]  # (process, seq), sorted
    commit_files: list[int]  # versions of the _delta_log/N.json objects in the bucket
    refused_puts: int  # PUTs of commit files the server refused with 412 (a lost race)
    costs: list[dict]  # per driver: wall seconds of its commits, CPU seconds of its JVM, Python


def _expect(proc: subprocess.Popen, word: str, log: Path) -> str:
    """The first stdout line of `proc` that starts with `word` (other output is skipped)."""
    for line in proc.stdout:
        if line.startswith(word):
            return line
    proc.wait(timeout=60)
    pytest.fail(
        f"{log.stem} ended (exit {proc.returncode}) before `{word}`:\n{log.read_text()[-3000:]}"
    )


def run_committers(
    s3_server,
    process_env,
    make_settings,
    root: Path,
    bucket: str,
    processes: int = PROCESSES,
    commits: int = COMMITS,
    env: dict[str, str] | None = None,
) -> Outcome:
    """`processes` drivers append `commits` rows each to one table on the S3 server, all at
    once."""
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    settings = make_settings(root, warehouse=f"s3a://{bucket}/warehouse")
    table = f"{settings.warehouse_uri}/commits"
    child_env = {
        **process_env(settings),
        # Three JVMs on a shared 2-core machine: each as small as a driver gets.
        "HYDRAWATCH_SPARK_MASTER": "local[1]",
        "HYDRAWATCH_SPARK_SHUFFLE_PARTITIONS": "1",
        "HYDRAWATCH_SPARK_DRIVER_MEMORY": "1g",
        "SPARK_CONF_DIR": str(s3_server.spark_conf_dir(root / "spark-conf")),
        **s3_server.CREDENTIALS,
        **(env or {}),
    }
    procs: list[tuple[subprocess.Popen, Path]] = []
    try:
        for i in range(processes):
            log = root / f"p{i}.log"
            args = [sys.executable, str(COMMITTER), table, f"p{i}", str(commits)]
            with open(log, "w") as err:
                proc = subprocess.Popen(
                    [*args, "--create"] if i == 0 else args,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    env=child_env,
                    text=True,
                    start_new_session=True,
                )
            procs.append((proc, log))
        for proc, log in procs:
            _expect(proc, "ready", log)
        # Every driver is up (and the table created) before the first commit: they race.
        for proc, _ in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        costs = [
            json.loads(_expect(proc, "done ", log).removeprefix("done ")) for proc, log in procs
        ]
        first, first_log = procs[0]
        first.stdin.write("report\n")
        first.stdin.flush()
        report = json.loads(_expect(first, "report ", first_log).removeprefix("report "))
        for proc, log in procs:
            proc.stdin.close()
            assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    prefix = "warehouse/commits/_delta_log/"
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]
    return Outcome(
        history=sorted((v, op, meta) for v, op, meta in report["history"]),
        rows=sorted((p, s) for p, s in report["rows"]),
        commit_files=sorted(int(m.group(1)) for k in keys if (m := COMMIT_FILE.search("/" + k))),
        refused_puts=s3_server.requests("PUT", f"/{bucket}/{prefix}", 412),
        costs=costs,
    )


def _figures(out: Outcome) -> str:
    wall = max(c["seconds"] for c in out.costs)
    cpu = sum(c["jvm_cpu_seconds"] + c["python_cpu_seconds"] for c in out.costs)
    return (
        f"{len(out.rows)} commits in {wall:.0f} s, drivers' CPU {cpu:.0f} s, "
        f"{out.refused_puts} conditional PUTs refused"
    )


def _tags(processes: int = PROCESSES, commits: int = COMMITS) -> list[str]:
    return sorted(f"p{i}/{seq}" for i in range(processes) for seq in range(commits))


def _rows(processes: int = PROCESSES, commits: int = COMMITS) -> list[tuple[str, int]]:
    return sorted((f"p{i}", seq) for i in range(processes) for seq in range(commits))


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize(
    "commits",
    # The full size of docs/reliability.md's figures, in the slow tier (CI runs it; a smaller
    # copy in the default tier would only repeat it).
    [pytest.param(COMMITS, id=f"{PROCESSES}x{COMMITS}")],
)
def test_three_drivers_commit_to_one_s3_table_and_nothing_is_lost(
    s3_server, process_env, make_settings, tmp_path, commits
):
    out = run_committers(
        s3_server,
        process_env,
        make_settings,
        tmp_path,
        f"hydrawatch-commits-{commits}",
        commits=commits,
    )

    total = PROCESSES * commits
    # The table's own history: the create, then one version per commit, no gap, none twice.
    assert [version for version, _, _ in out.history] == list(range(total + 1))
    assert out.history[0][1] == "CREATE TABLE"
    assert {op for _, op, _ in out.history[1:]} == {"WRITE"}
    assert sorted(meta for _, _, meta in out.history[1:]) == _tags(commits=commits)
    # Every row, once.
    assert out.rows == _rows(commits=commits)
    # The bucket holds exactly those commit files (read without Delta).
    assert out.commit_files == list(range(total + 1))
    # The drivers did race for the same versions: S3 refused the losers' conditional PUTs, and
    # Delta committed them again at a later version.
    assert out.refused_puts > 0
    print(_figures(out))


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_commit_whose_reply_is_lost_is_known_as_stored_and_not_made_twice(
    s3_server_losing_replies, process_env, make_settings, tmp_path
):
    """S3 stores a commit and the reply is lost: the client's retry of the PUT finds the object
    there (412). The log store reads the commit id it wrote into the object's metadata back and
    reports success; taken for a lost race, Delta would commit the same row again."""
    server = s3_server_losing_replies
    out = run_committers(
        server, process_env, make_settings, tmp_path, "hydrawatch-lost-replies", 1, 5
    )
    assert [version for version, _, _ in out.history] == list(range(6))
    assert sorted(meta for _, _, meta in out.history[1:]) == _tags(1, 5)
    assert out.rows == _rows(1, 5)
    assert out.commit_files == list(range(6))
    # Every commit file (the create's too) was stored, answered 500, and retried into a 412.
    assert server.requests("PUT", "/_delta_log/", 500) == 6
    assert out.refused_puts == 6


@pytest.mark.control
@pytest.mark.server
@pytest.mark.timeout(3600)
def test_control_single_driver_log_store_loses_commits(
    s3_server, process_env, make_settings, tmp_path, capsys
):
    """Delta's S3SingleDriverLogStore, three drivers: commits that every driver saw succeed are
    missing from the table. Runs `HYDRAWATCH_CONTROL_RUNS` times (3 by default)."""
    figures = []
    for run in range(int(os.environ.get("HYDRAWATCH_CONTROL_RUNS", "3"))):
        out = run_committers(
            s3_server,
            process_env,
            make_settings,
            tmp_path / f"run-{run}",
            f"hydrawatch-control-{run}",
            env={"HYDRAWATCH_S3_LOG_STORE": "single-driver", "HYDRAWATCH_SINGLE_WRITER": "true"},
        )
        kept = {meta for _, _, meta in out.history[1:]}
        assert kept <= set(_tags())
        lost = len(_tags()) - len(kept)
        # A lost commit's row is gone with it: the data file is there, no version adds it.
        assert len(_tags()) - len(out.rows) == lost
        figures.append(lost)
        with capsys.disabled():
            print(
                f"\ncontrol run {run}: {lost} of {len(_tags())} commits lost; "
                f"history versions 0-{out.history[-1][0]}, {len(out.rows)} rows, "
                f"{out.refused_puts} PUTs refused"
            )
    assert sum(figures) > 0, "the single-driver log store lost nothing in these runs"
