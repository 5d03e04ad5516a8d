"""Issue 8: a tiny window end to end on a real standalone cluster equals the same run on local[2].

Set-up (module fixture `runs`; the phases' wall times are printed with `-s`):
- landing data for 2 days written here (a few hundred lines: 30 ordinary accounts and one hydra
  cluster of 8 synchronised accounts, 2 of them quiet on chain-of-thought so only the roll-up
  flags them; on day 2 a gzip file, a line delivered again, a day-1 event arriving late (day 1's
  features become dirty after day 1 was scored), a malformed line and a label);
- an MLflow tracking server on 127.0.0.1 (`mlflow server` from the venv, SQLite backend, the
  artifacts served by the server from a local folder), booting while the cluster starts. Two days
  hold no labelled campaigns to train on, so the champion is trained once here, on a synthetic
  frame over a few of the catalogue's features (label: high chain-of-thought and rubric shares),
  and registered into that server's registry;
- the cluster run: a subprocess configured by environment variables alone (the settings a
  deployment sets: HYDRAWATCH_SPARK_MASTER=spark://..., MLFLOW_TRACKING_URI=http://...) runs the
  jobs day by day (ingest, features, score, publish) on the standalone master of
  tests/integration/conftest.py (two 1-core workers); its export root is a `file://` URI in
  object-store mode, the Hadoop code path of s3a://;
- at the same time, the local run: the same jobs in this process on the session's local[2] Spark,
  with a plain-folder export root (rename swap).
Then bronze, silver, gold features, account_scores, flag_details and suspicious_accounts of the two
runs are equal value for value, and so are the export data files, byte for byte. The flows
(Prefect) are not part of this run: their own tests cover them, and they call these same jobs.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables

pytestmark = [pytest.mark.slow, pytest.mark.server]

DAYS = [dt.date(2026, 2, 9), dt.date(2026, 2, 10)]
ORDINARY = [f"acc-{i:02d}" for i in range(30)]
HYDRA = [f"hyd-{i}" for i in range(8)]
QUIET = {"hyd-6", "hyd-7"}  # synchronised with the cluster, but no chain-of-thought asks
COMPARED = [
    (tables.BRONZE_USAGE_EVENTS, ["event_id"]),
    (tables.BRONZE_ACCOUNTS, ["snapshot_date", "account_id"]),
    (tables.BRONZE_LABELS, ["account_id", "decided_at"]),
    (tables.BRONZE_QUARANTINE, ["delivery_date", "raw_line"]),
    (tables.SILVER_ACCOUNT_DAILY, ["event_date", "account_id"]),
    (tables.FEATURES_ACCOUNT, ["feature_date", "account_id"]),
    (tables.GOLD_ACCOUNT_SCORES, ["score_date", "account_id"]),
    (tables.FLAG_DETAILS, ["score_date", "account_id"]),
    (tables.GOLD_SUSPICIOUS_ACCOUNTS, ["score_date", "account_id"]),
]


# --- landing data ---------------------------------------------------------------------------


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _event(rng, n: int, account: str, ts: dt.datetime, template: str, **kw) -> dict:
    return {
        "event_id": f"ev-{n:05d}",
        "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "account_id": account,
        "org_id": kw.get("org_id"),
        "api_key_id": f"key-{account}",
        "surface": "api",
        "model": kw.get("model", "atlas-3"),
        "input_tokens": rng.randrange(50, 2000),
        "output_tokens": rng.randrange(50, 4000),
        "latency_ms": rng.randrange(200, 9000),
        "status": "ok" if rng.random() > 0.05 else "rate_limited",
        "client_ip": kw["ip"],
        "asn": kw["asn"],
        "ip_country": kw.get("country", "DE"),
        "user_agent": kw.get("user_agent", "sdk-py/1.2"),
        "prompt_template_hash": template,
        "system_prompt_hash": kw.get("system_prompt"),
        "task_category": kw.get("category", rng.choice(["coding", "chat", "data_analysis"])),
        "cot_elicitation": kw.get("cot", rng.random() < 0.05),
        "rubric_grading": kw.get("rubric", rng.random() < 0.03),
        "tool_count": rng.choice([0, 0, 1, 3]),
        "has_image": False,
        "turns": rng.randrange(1, 6),
    }


def write_landing(root: Path, seed: int = 5) -> dict:
    """Three days of landing files; returns what was planted (counts for sanity checks)."""
    rng = random.Random(seed)
    pool = [_hex(rng) for _ in range(60)]
    campaign = [_hex(rng) for _ in range(6)]
    campaign_prompt = _hex(rng)
    by_day: dict[dt.date, list] = {d: [] for d in DAYS}
    n = 0
    for day in DAYS:
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        for i, acc in enumerate(ORDINARY):
            for _ in range(rng.randrange(3, 10)):
                n += 1
                ts = midnight + dt.timedelta(seconds=rng.randrange(86_400), milliseconds=n % 997)
                ip = f"100.64.{i}.{rng.randrange(1, 250)}"
                by_day[day].append(
                    _event(rng, n, acc, ts, rng.choice(pool), ip=ip, asn=64500 + i % 7)
                )
        # The hydra cluster: the same (template, hour) waves, one /24, one ASN, scripted client.
        for j, acc in enumerate(HYDRA):
            for hour in (1, 2, 3, 13, 14):
                for k in range(4):
                    n += 1
                    ts = midnight + dt.timedelta(hours=hour, minutes=7 * k + j, seconds=n % 59)
                    by_day[day].append(
                        _event(
                            rng,
                            n,
                            acc,
                            ts,
                            campaign[(hour + k) % len(campaign)],
                            ip=f"203.0.113.{10 + j}",
                            asn=64999,
                            country="SG",
                            user_agent="python-requests/2.31",
                            system_prompt=campaign_prompt,
                            category="reasoning_math",
                            cot=acc not in QUIET,
                            rubric=acc not in QUIET,
                            model="atlas-3.5" if hour > 12 and day > DAYS[0] else "atlas-3",
                        )
                    )
    files: dict[tuple[str, dt.date], list[str]] = {}
    for day in DAYS:
        files[("usage_events", day)] = [json.dumps(e) for e in by_day[day]]
    # Imperfections the contract allows: a line delivered again the next day, an event arriving
    # a day late, a malformed line.
    files[("usage_events", DAYS[1])].append(files[("usage_events", DAYS[0])][3])
    late = files[("usage_events", DAYS[0])].pop(5)
    files[("usage_events", DAYS[1])].append(late)
    files[("usage_events", DAYS[1])].append('{"event_id": "broken", "ts": ')
    for day in DAYS:
        snapshot = [
            {
                "account_id": acc,
                "org_id": f"org-{i % 5}" if i % 3 else None,
                "created_at": "2025-06-01T10:00:00Z",
                "signup_channel": "self_serve",
                "verification": "card",
                "billing_country": "DE",
                "payment_fingerprint": f"pf-{acc}",
                "email_domain_hash": f"ed-{i % 9}",
                "plan": "build",
                "status": "active",
            }
            for i, acc in enumerate(ORDINARY)
        ] + [
            {
                "account_id": acc,
                "org_id": None,
                "created_at": "2026-02-01T03:00:00Z",
                "signup_channel": "education",
                "verification": "email",
                "billing_country": None,
                "payment_fingerprint": "pf-shared-card",
                "email_domain_hash": "ed-throwaway",
                "plan": "free",
                "status": "active",
            }
            for acc in HYDRA
        ]
        files[("accounts", day)] = [json.dumps(a) for a in snapshot]
    files[("labels", DAYS[1])] = [
        json.dumps(
            {
                "account_id": "hyd-0",
                "decided_at": "2026-02-10T09:30:00Z",
                "label": "distillation",
                "source": "analyst_review",
                "campaign_id": "camp-1",
            }
        )
    ]
    for (feed, day), lines in files.items():
        folder = root / feed / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        data = "".join(line + "\n" for line in lines).encode()
        if feed == "usage_events" and day == DAYS[1]:
            (folder / "part-000.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / "part-000.jsonl").write_bytes(data)
    (root / "model_releases.jsonl").write_text(
        '{"model":"atlas-3","released_at":"2025-10-01T17:00:00Z"}\n'
        '{"model":"atlas-3.5","released_at":"2026-02-08T17:00:00Z"}\n'
    )
    return {"usage_lines": sum(len(v) for (f, _), v in files.items() if f == "usage_events")}


# --- MLflow server and the champion ---------------------------------------------------------


# A few catalogue features the planted accounts differ on; scoring accepts a model over a subset
# of the table's feature columns, and a small model keeps the run short.
CHAMPION_FEATURES = [
    "cot_share_1d",
    "rubric_share_1d",
    "requests_1d",
    "top_template_share_1d",
    "coord_cluster_size",
    "shared_asn_max_accounts",
]


def register_champion(settings) -> str:
    """A champion trained on a synthetic frame (see the module doc), registered with the alias."""
    import numpy as np
    import pandas as pd

    from features.catalogue import FEATURE_SET_VERSION
    from testkit.registry import log_and_register

    rng = np.random.default_rng(11)
    n = 400
    frame = pd.DataFrame({name: rng.uniform(0, 1, n) for name in CHAMPION_FEATURES})
    frame["requests_1d"] *= 60
    frame["coord_cluster_size"] = rng.integers(1, 12, n)
    frame["shared_asn_max_accounts"] = rng.integers(0, 12, n)
    labels = (frame["cot_share_1d"] > 0.6) & (frame["rubric_share_1d"] > 0.5)
    _, version = log_and_register(
        Runtime(settings),
        frame,
        labels.astype(int),
        feature_names=CHAMPION_FEATURES,
        feature_set_version=FEATURE_SET_VERSION,
        alias="champion",
    )
    return version


# --- the two runs ---------------------------------------------------------------------------


def run_days(spark, settings, days) -> None:
    """The jobs day by day, in the order `hydrawatch backfill` runs them: each day whole before
    the next (day 2's late event makes day 1's features dirty after day 1 was scored)."""
    from jobs.features import run_features
    from jobs.ingest import run_ingest
    from jobs.publish import run_publish
    from jobs.score import run_score

    rt = Runtime(settings, spark=spark)
    for day in days:
        run_ingest(rt, day)
        run_features(rt, day)
        run_score(rt, day)
        run_publish(rt, day)


CLUSTER_RUN = textwrap.dedent(
    """
    import datetime as dt, importlib.util, sys
    from hydrawatch.settings import Settings
    from hydrawatch.spark import build_spark
    spec = importlib.util.spec_from_file_location("e2e", sys.argv[1])
    e2e = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(e2e)
    settings = Settings()
    spark = build_spark(settings, app_name="hydrawatch-e2e-cluster",
                        **{"spark.eventLog.compress": "false"})
    e2e.run_days(spark, settings, [dt.date.fromisoformat(d) for d in sys.argv[2:]])
    spark.stop()
    """
)


def start_cluster_run(master: str, root: Path, landing: Path, tracking_uri: str, model_name: str):
    """The cluster run in a subprocess, configured by environment variables alone."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HYDRAWATCH_", "PYSPARK_", "SPARK_")) and k != "PREFECT_API_URL"
    }
    env.update(
        {
            "HYDRAWATCH_SPARK_MASTER": master,
            "HYDRAWATCH_LANDING": str(landing),
            "HYDRAWATCH_WAREHOUSE": str(root / "warehouse"),
            "HYDRAWATCH_EXPORTS": f"file://{root / 'exports'}",
            "HYDRAWATCH_EXPORTS_ATOMIC_RENAME": "false",
            "HYDRAWATCH_TRUTH": str(root / "truth"),
            "HYDRAWATCH_SPARK_SHUFFLE_PARTITIONS": "2",
            "HYDRAWATCH_SPARK_UI": "false",
            "HYDRAWATCH_SPARK_DRIVER_MEMORY": "1g",
            # Plain-text event log: the test reads which master and executors ran the tasks.
            "HYDRAWATCH_SPARK_EVENT_LOG_DIR": str(root / "events"),
            "MLFLOW_TRACKING_URI": tracking_uri,
            "HYDRAWATCH_MODEL_NAME": model_name,
        }
    )
    with open(root / "run.log", "w") as log:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-c", CLUSTER_RUN, __file__, *(d.isoformat() for d in DAYS)],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def runs(spark, make_settings, mlflow_server, standalone_cluster, tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    landing = base / "landing"
    planted = write_landing(landing)
    tracking = mlflow_server.url()
    local = make_settings(base / "local", landing=str(landing), mlflow_tracking_uri=tracking)
    cluster_root = base / "cluster"
    cluster_root.mkdir()
    cluster = make_settings(
        cluster_root,
        landing=str(landing),
        exports=f"file://{cluster_root / 'exports'}",
        exports_atomic_rename=False,
        mlflow_tracking_uri=tracking,
        # The registry of the MLflow server is the two runs' one: the champion is local's.
        model_name=local.model_name,
        mlflow_experiment=local.mlflow_experiment,
    )
    times = {"mlflow server up": mlflow_server.up_after}
    t0 = time.monotonic()
    version = register_champion(local)
    times["champion"] = time.monotonic() - t0
    t0 = time.monotonic()
    child = start_cluster_run(standalone_cluster, cluster_root, landing, tracking, local.model_name)
    try:
        run_days(spark, local, DAYS)
        times["local run"] = time.monotonic() - t0
        code = child.wait(timeout=1200)
    finally:
        if child.poll() is None:
            child.kill()
    times["cluster run"] = time.monotonic() - t0
    print(f"\ne2e wall times (s): { {k: round(v or 0) for k, v in times.items()} }")
    log = (cluster_root / "run.log").read_text()
    assert code == 0, log[-4000:]
    return local, cluster, version, planted


def _read(spark, settings, name):
    return spark.read.format("delta").load(name.location(settings))


def _event_log(root: Path) -> tuple[str | None, set[str], set[str]]:
    """(spark.master, executors added, executors that ran tasks) from the run's event log."""
    master, added, ran = None, set(), set()
    # Spark 4 writes rolling event logs: a folder per application holding `events_N_*` files.
    for log in sorted((root / "events").rglob("events_*")):
        for raw in log.read_text().splitlines():
            event = json.loads(raw)
            kind = event.get("Event")
            if kind == "SparkListenerEnvironmentUpdate":
                props = event["Spark Properties"]
                master = dict(props).get("spark.master")
            elif kind == "SparkListenerExecutorAdded":
                added.add(event["Executor ID"])
            elif kind == "SparkListenerTaskEnd":
                ran.add(event["Task Info"]["Executor ID"])
    return master, added, ran


def test_cluster_run_went_through_the_standalone_master(runs, standalone_cluster):
    _, cluster, *_ = runs
    master, added, ran = _event_log(Path(cluster.warehouse).parent)
    assert master == standalone_cluster
    assert len(added) == 2
    assert "driver" not in ran and len(ran) == 2  # every task ran on the two workers


@pytest.mark.parametrize(("name", "key"), COMPARED, ids=[t.name for t, _ in COMPARED])
def test_tables_equal_the_local_run(spark, runs, name, key):
    from pyspark.testing import assertDataFrameEqual

    local, cluster, *_ = runs
    expected = _read(spark, local, name)
    actual = _read(spark, cluster, name)
    assert actual.columns == expected.columns
    assert actual.count() == expected.count()
    assertDataFrameEqual(actual.orderBy(*key), expected.orderBy(*key), rtol=0, atol=0)


def test_the_window_flagged_the_cluster_and_used_the_served_champion(spark, runs):
    local, _, version, planted = runs
    bronze = _read(spark, local, tables.BRONZE_USAGE_EVENTS)
    # every planted line but the duplicate and the malformed one reached bronze
    assert bronze.count() == planted["usage_lines"] - 2
    flagged = {
        (r.score_date, r.account_id, r.flagged_by, r.model_version)
        for r in _read(spark, local, tables.FLAG_DETAILS).collect()
    }
    expected = {
        (day, acc, "cluster" if acc in QUIET else "score", version) for day in DAYS for acc in HYDRA
    }
    assert flagged == expected


def test_export_files_are_byte_identical(spark, runs):
    from hydrawatch.export import read_day

    local, cluster, version, *_ = runs
    for day in DAYS:
        here = read_day(local.exports_uri, day)
        there = read_day(cluster.exports_uri, day)
        assert here is not None and there is not None
        assert there.data == here.data
        assert there.manifest["sha256"] == here.manifest["sha256"]
        assert there.manifest["row_count"] == here.manifest["row_count"] == len(HYDRA)
        assert there.manifest["model_version"] == version


def test_every_table_reads_the_same_without_spark(spark, runs):
    """delta-rs (`deltalake`, no JVM) reads every table the run wrote, with Spark's row counts
    and columns; DuckDB queries one of them through Arrow (docs/architecture.md)."""
    import duckdb
    from deltalake import DeltaTable

    local, *_ = runs
    read = 0
    for table in tables.ALL:
        where = table.location(local)
        if not Path(where).exists():
            continue
        arrow = DeltaTable(where).to_pyarrow_table()
        expected = _read(spark, local, table)
        assert arrow.num_rows == expected.count(), table.name
        assert sorted(arrow.column_names) == sorted(expected.columns), table.name
        read += 1
    assert read >= 10
    scores = DeltaTable(tables.GOLD_ACCOUNT_SCORES.location(local)).to_pyarrow_table()
    con = duckdb.connect()
    con.register("scores", scores)
    flagged = con.execute("SELECT count(*) FROM scores WHERE flagged")
    expected_flagged = _read(spark, local, tables.GOLD_ACCOUNT_SCORES).where("flagged").count()
    assert flagged.fetchone()[0] == expected_flagged
