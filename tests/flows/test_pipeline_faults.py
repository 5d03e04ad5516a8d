"""The pipeline under crashes and concurrent runs, on a real simulated window.

One prepared world per module: two simulated days (the tiny preset with a tenth of its accounts:
every population and campaign, every landing imperfection, ~3k events a day), day 1 run end to
end with a champion trained on its features, then day 2 run step by step, each step twice, with a
copy of the warehouse and exports kept before each step; the end state is the clean run every
case is compared with (every Delta table on full content, the export's data file byte for byte,
its manifest but for `written_at`).

- Crash inside a step: the step runs from the copy taken before it and crashes at a named fail
  point (hydrawatch/failpoints.py), in this process (`failpoints.injected`: between these points
  and the job's return nothing durable is cleaned up, so a kill would leave the same state; see
  `_run_chain`); the fail points of one step are chained (each run also recovers from the
  previous crash). Then the day is re-run from that step on and must equal the clean run. A
  reader polls the export folder meanwhile: no half list may ever be visible.
- A crash between two steps of the daily flow: the `hydrawatch backfill` command killed for real
  (`os._exit(137)`; in process the flow's `finally` would record the progress a kill loses),
  then the same backfill re-run: it runs what was not recorded as done, and equals the clean
  run.
- Re-runs: each of the day's steps run twice on the same inputs leaves identical tables and a
  byte-identical export (only the manifest's `written_at` differs).
- Concurrency: `hydrawatch daily` twice for day 2 and `hydrawatch backfill` of day 1, three real
  processes at once in file-lock mode: one day-2 run writes, the other stops with one line, the
  backfill writes day 1 beside it; no row is lost or doubled.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual
from standardwebhooks import Webhook, WebhookVerificationError

from hydrawatch import failpoints
from hydrawatch.errors import EXIT_LOCKED
from hydrawatch.export import DATA_FILE, MANIFEST_FILE, read_day
from hydrawatch.failpoints import EXIT_STATUS
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
D1 = dt.date(2026, 2, 1)
D2 = D1 + dt.timedelta(days=1)
SEED = 7
SECRET = "whsec_" + base64.b64encode(b"faults-webhook-secret-of-32-byte").decode()
STEPS = ("ingest", "features", "score", "publish")
COMMIT = re.compile(r"^\d{20}\.json$")  # a Delta commit file


def job(step: str):
    """The real `run_<step>` of the daily steps."""
    from jobs import features, ingest, publish, score

    return {
        "ingest": ingest.run_ingest,
        "features": features.run_features,
        "score": score.run_score,
        "publish": publish.run_publish,
    }[step]


# Fail points per step, in the order a run reaches them; one process per point.
CHAINS = {
    "ingest": ("ingest.after_usage_events", "ingest.before_audit"),
    "features": ("features.after_silver", "features.before_record"),
    "score": ("score.after_scores",),
    "publish": ("publish.after_table", "export.after_data", "publish.before_webhook"),
}
# Bookkeeping columns that legitimately differ between a clean run and a crashed-then-re-run one:
# Delta versions read (a crash adds commits), wall-clock audit times, run ids, and paths under
# each case's own roots (normalised, not dropped).
VOLATILE = {
    # Which run recorded a day depends on the order concurrent runs took it: day 1 is computed
    # by its own backfill or recomputed by day 2's run (late data), the same rows either way.
    tables.FEATURES_RUNS.name: ("bronze_version", "computed_for"),
    tables.PUBLICATIONS.name: ("written_at",),
    tables.WEBHOOK_DELIVERIES.name: ("delivered_at",),
    tables.FLOW_PROGRESS.name: ("flow_run_id",),
}
# Written only by the flows (the clean run calls the jobs directly).
FLOW_ONLY = {tables.FLOW_PROGRESS.name, tables.DRIFT.name}


class Receiver:
    """A webhook receiver on 127.0.0.1 that checks signatures and keeps what it accepted."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    Webhook(SECRET).verify(body, dict(self.headers), json_parse=False)
                    ok = True
                except WebhookVerificationError:
                    ok = False
                if ok:
                    outer.received.append((self.headers.get("webhook-id"), json.loads(body)))
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/queue"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_root(self, exports: str) -> list[tuple[str, dict]]:
        return [(d, b) for d, b in self.received if b["export_folder"].startswith(exports)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class World:
    root: Path
    settings: object  # the clean run's settings (landing and MLflow are shared, read-only)
    snapshots: dict[str, Path]  # step -> copy of warehouse + exports taken before it
    receiver: Receiver
    champion: str
    # step -> (tables after its first run, after its second run, the two day-2 exports)
    reruns: dict[str, tuple] = field(default_factory=dict)

    def case(self, before: str, where: Path):
        """Settings of a fresh copy of the state before step `before`."""
        where.mkdir(parents=True, exist_ok=True)
        for part in ("warehouse", "exports"):
            src = self.snapshots[before] / part
            if src.exists():
                shutil.copytree(src, where / part)
        return self.settings.model_copy(
            update={"warehouse": str(where / "warehouse"), "exports": str(where / "exports")}
        )


def micro_config():
    """The tiny preset with about a tenth of its accounts (every population and campaign kept)."""
    import dataclasses

    from simulator.config import config_for

    tiny = config_for("tiny")
    populations = dataclasses.replace(
        tiny.populations,
        solo_dev=120,
        product_app=4,
        release_switcher_app=2,
        enterprise_batch=1,
        enterprise_batch_rate=150,
        research_eval_teams=1,
        research_eval_team_size=4,
        university_classes=1,
        university_class_size=8,
        reseller_marketplace=1,
        reseller_marketplace_rate=100,
    )
    campaigns = tuple(dataclasses.replace(c, slots=max(4, c.slots // 10)) for c in tiny.campaigns)
    return config_for("tiny", populations=populations, campaigns=campaigns)


def _snapshot(settings, dest: Path) -> Path:
    for part, src in (("warehouse", settings.warehouse), ("exports", settings.exports)):
        if Path(src).exists():
            shutil.copytree(src, dest / part)
    return dest


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    from features.catalogue import FEATURE_SET_VERSION
    from jobs.simulate import run_simulate
    from models import scoring
    from testkit.registry import log_and_register

    root = tmp_path_factory.mktemp("faults-world")
    receiver = Receiver()
    settings = make_settings(
        root / "clean", webhook_url=receiver.url, webhook_secret=SECRET, day_lock="file"
    )
    run_simulate(Runtime(settings, spark=spark), D1, 2, "tiny", SEED, config=micro_config())
    for step in ("ingest", "features"):
        job(step)(Runtime(settings, spark=spark), D1)
    # A champion trained on day 1's features against the simulator's truth: the feature set
    # of the catalogue, so scoring accepts it; deterministic for a seed.
    feats = spark.read.format("delta").load(tables.FEATURES_ACCOUNT.location(settings))
    truth = spark.read.format("delta").load(f"{settings.truth_uri}/accounts")
    names = scoring.feature_columns(feats.columns)
    rows = (
        feats.join(truth.select("account_id", "is_attacker"), "account_id")
        .toPandas()
        .sort_values("account_id")
    )
    _, champion = log_and_register(
        Runtime(settings),
        rows[names],
        rows["is_attacker"].astype(int),
        feature_names=names,
        feature_set_version=FEATURE_SET_VERSION,
        alias="champion",
    )
    for step in ("score", "publish"):
        job(step)(Runtime(settings, spark=spark), D1)
    world = World(root, settings, {}, receiver, champion)
    for step in STEPS:
        world.snapshots[step] = _snapshot(settings, root / f"before-{step}")
        # Each step twice on the same inputs: the re-run test reads what both runs left (the
        # Delta version of every table after each run, read back by time travel, and the export).
        runs = []
        for _ in range(2):
            job(step)(Runtime(settings, spark=spark), D2)
            runs.append((_versions(settings), read_day(settings.exports, D2)))
        world.reruns[step] = runs
    yield world
    receiver.close()


# --- comparing a case with the clean run ---------------------------------------------------------


def _tables(settings) -> set[str]:
    base = Path(settings.warehouse)
    return {str(p.parent.relative_to(base)) for p in base.rglob("_delta_log")}


def _versions(settings) -> dict[str, int]:
    """The latest Delta version of every table, from the commit files (no Spark)."""
    base = Path(settings.warehouse)
    return {
        name: max(
            int(p.stem) for p in (base / name / "_delta_log").iterdir() if COMMIT.match(p.name)
        )
        for name in _tables(settings)
    }


def _frame(spark, settings, name: str, version: int | None = None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.load(f"{settings.warehouse_uri}/{name}")
    df = df.drop(*VOLATILE.get(name, ()))
    # Day 1's rows of a case were copied from the clean run, so they name the clean root: every
    # root is normalised, not just this one's.
    for col in ("export_folder", "export_path"):
        if col in df.columns:
            df = df.withColumn(
                col, F.regexp_replace(col, r"^.*/(suspicious_accounts/)", "<exports>/$1")
            )
    return df


# The clean run's tables, read once (the clean root is not written after the world is built):
# (warehouse, table) -> (schema, rows).
_CLEAN: dict[tuple[str, str], tuple] = {}


def _clean_table(spark, clean, name: str) -> tuple:
    key = (clean.warehouse, name)
    if key not in _CLEAN:
        df = _frame(spark, clean, name)
        _CLEAN[key] = (df.schema, df.collect())
    return _CLEAN[key]


def assert_same_state(spark, clean, case, extra_ok=FLOW_ONLY):
    """Every table of the clean run equal on full content; the export byte-identical."""
    mine, theirs = _tables(case), _tables(clean)
    assert theirs <= mine and mine - theirs <= set(extra_ok), (mine, theirs)
    for name in sorted(theirs):
        if name in extra_ok:
            continue
        schema, rows = _clean_table(spark, clean, name)
        ours = _frame(spark, case, name)
        # What assertDataFrameEqual checks on two DataFrames: the schema, then the rows.
        assertSchemaEqual(ours.schema, schema)
        assertDataFrameEqual(ours, rows)
    for day in (D1, D2):
        ours, ref = read_day(case.exports, day), read_day(clean.exports, day)
        assert ours is not None and ref is not None
        assert ours.data == ref.data
        strip = lambda m: {k: v for k, v in m.items() if k != "written_at"}  # noqa: E731
        assert strip(ours.manifest) == strip(ref.manifest)
    leftovers = [p.name for p in (Path(case.exports) / "suspicious_accounts").iterdir()]
    assert sorted(leftovers) == [f"date={D1}", f"date={D2}"]


class ExportWatch(threading.Thread):
    """Polls the export folder of day 2 as a reader would; records anything half-written."""

    def __init__(self, exports: str):
        super().__init__(daemon=True)
        self.folder = Path(exports) / "suspicious_accounts" / f"date={D2}"
        self.stop = threading.Event()
        self.looks = 0
        self.violations: list[str] = []

    def run(self):
        while not self.stop.is_set():
            self.looks += 1
            try:
                fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                time.sleep(0.001)
                continue
            try:
                manifest, data = _read_at(fd, MANIFEST_FILE), _read_at(fd, DATA_FILE)
                if os.stat(self.folder).st_ino != os.fstat(fd).st_ino:
                    continue  # swapped out while read: a reader reads again
                if (manifest is None) != (data is None):
                    self.violations.append("a data file without its manifest, or the reverse")
                elif manifest is not None:
                    m = json.loads(manifest)
                    if hashlib.sha256(data).hexdigest() != m["sha256"]:
                        self.violations.append("a manifest that does not match its data")
            except FileNotFoundError:
                continue
            finally:
                os.close(fd)


def _read_at(fd: int, name: str) -> bytes | None:
    try:
        with open(name, "rb", opener=lambda p, f: os.open(p, f, dir_fd=fd)) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _process(settings, process_env, args, failpoint=None, **env) -> subprocess.Popen:
    full = {**process_env(settings, failpoint), **env}
    # Output to files, not pipes, and a session of its own: a process killed at a fail point
    # leaves its children (the embedded Prefect server) alive, holding any pipe open for ever.
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=full,
        stdout=(out := tempfile.TemporaryFile(mode="w+")),  # noqa: SIM115 closed by _finish
        stderr=(err := tempfile.TemporaryFile(mode="w+")),  # noqa: SIM115
        text=True,
        start_new_session=True,
    )
    proc.logs = (out, err)
    return proc


def _finish(proc: subprocess.Popen, timeout=1200) -> tuple[int, str, str]:
    """Exit status and output of `proc`; whatever it left running is killed."""
    try:
        code = proc.wait(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    texts = []
    for f in proc.logs:
        f.seek(0)
        texts.append(f.read())
        f.close()
    return code, *texts


# --- crash inside each step ----------------------------------------------------------------------


def _run_chain(world, step: str, where: Path, spark) -> dict:
    """Copy the state before `step`, then run the step once per fail point of it, each crashed.

    In process (`failpoints.injected`): between these points and the job's return only cached
    frames, the session's Spark settings and the model's temporary folder are cleaned up on the
    way out, nothing durable, so a kill would leave the same tables and export (the export's
    hidden folder, which a kill leaves and the in-process crash removes, is killed for real in
    tests/hydrawatch/test_export_faults.py)."""
    case = world.case(step, where)
    watch = ExportWatch(case.exports)
    watch.start()
    out = {"case": case, "crashes": [], "left": {}}
    try:
        for point in CHAINS[step]:
            try:
                with failpoints.injected(point):
                    job(step)(Runtime(case, spark=spark), D2)
            except failpoints.Crashed as crash:
                out["crashes"].append(crash.point)
                out["left"][point] = _what_is_left(point, case, world)
            else:
                out["crashes"].append(f"{point} never reached")
                break
    finally:
        watch.stop.set()
        watch.join()
    out["watch"] = (watch.looks, watch.violations)
    return out


def _what_is_left(point: str, case, world) -> dict:
    """What a crash at `point` left in the export folder and the receiver (read without Spark)."""
    day_folder = Path(case.exports) / "suspicious_accounts" / f"date={D2}"
    seen = read_day(case.exports, D2)
    return {
        "export": None if seen is None else seen.data == read_day(world.settings.exports, D2).data,
        "folder": day_folder.exists(),
        "webhooks": len(world.receiver.for_root(case.exports)),
    }


def test_each_step_crashed_at_each_fail_point_then_rerun_equals_the_clean_run(
    world, spark, tmp_path
):
    chains = {step: _run_chain(world, step, tmp_path / step, spark) for step in CHAINS}

    for step, chain in chains.items():
        assert chain["crashes"] == list(CHAINS[step])
        looks, violations = chain["watch"]
        assert violations == [] and looks > 0
        _check_crash_left(step, chain["left"], spark, chain["case"])
        # The re-run of the day, from the step that died on: equal to the clean run.
        for rerun in STEPS[STEPS.index(step) :]:
            job(rerun)(Runtime(chain["case"], spark=spark), D2)
        assert_same_state(spark, world.settings, chain["case"])
    # Killed before the webhook: the re-run sent it once, like the clean run did.
    sent = world.receiver.for_root(chains["publish"]["case"].exports)
    assert [(d.rsplit("_", 1)[0], b["model_version"]) for d, b in sent] == [
        (f"hw_{D2}_r1", world.champion)
    ]


def _check_crash_left(step: str, left: dict, spark, case) -> None:
    """What each crash left, as docs/reliability.md says."""
    day = F.lit(D2)

    def rows(name, column):
        df = spark.read.format("delta").load(name.location(case))
        return df.where(F.col(column) == day).count()

    if step == "ingest":
        # Neither crash reached the audit row, the day's completion mark: publish would refuse
        # the day until ingest is re-run.
        assert rows(tables.INGEST_AUDIT, "delivery_date") == 0
    elif step == "features":
        assert rows(tables.FEATURES_RUNS, "day") == 0
    elif step == "score":
        assert rows(tables.FLAG_DETAILS, "score_date") == 0
    else:
        nothing = {"export": None, "folder": False, "webhooks": 0}
        # After the table, and between the data file and the manifest: no folder for the day.
        assert left["publish.after_table"] == nothing
        assert left["export.after_data"] == nothing
        # Before the webhook: the export is complete and final; nothing was sent.
        assert left["publish.before_webhook"] == {"export": True, "folder": True, "webhooks": 0}


# --- crash between two steps of the flow, resumed by the same command ----------------------------


def test_backfill_killed_between_steps_resumes_to_the_clean_run(
    world, spark, tmp_path, process_env, prefect_harness
):
    from flows.pipeline import backfill_flow
    from flows.progress import completed

    case = world.case("score", tmp_path)
    args = ["-m", "cli.main", "backfill", "--start", str(D2), "--end", str(D2)]
    args += ["--steps", "score,publish"]
    proc = _process(
        case,
        process_env,
        args,
        "backfill.after_day_step@1",
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_API_URL=prefect_harness,
    )
    code, out, err = _finish(proc)
    assert code == EXIT_STATUS, (out + err)[-3000:]
    # Killed after score, before publish and before the day's progress was recorded.
    assert (D2, "score") not in completed(Runtime(case, spark=spark).warehouse)
    assert read_day(case.exports, D2) is None

    result = backfill_flow(D2, D2, ["score", "publish"], rt=Runtime(case, spark=spark))
    assert [d.ran for d in result.days] == [["score", "publish"]]
    assert_same_state(spark, world.settings, case)
    again = backfill_flow(D2, D2, ["score", "publish"], rt=Runtime(case, spark=spark))
    assert [d.skipped for d in again.days] == [["score", "publish"]]


# --- re-running every step twice -----------------------------------------------------------------


def test_every_step_run_twice_leaves_identical_tables_and_export(world, spark):
    settings = world.settings
    for step, ((tables_1, export_1), (tables_2, export_2)) in world.reruns.items():
        assert sorted(tables_1) == sorted(tables_2), step
        for name in tables_1:
            # A table the second run did not commit to is the same snapshot (Delta); one it
            # did commit to must hold the same content as after the first run.
            if tables_2[name] != tables_1[name]:
                assertDataFrameEqual(
                    _frame(spark, settings, name, tables_2[name]),
                    _frame(spark, settings, name, tables_1[name]),
                )
        if step == "publish":
            assert export_2.data == export_1.data and export_1.manifest["row_count"] > 0
            changed = {k for k in export_1.manifest if export_1.manifest[k] != export_2.manifest[k]}
            assert changed <= {"written_at"}
        else:
            assert export_1 is None and export_2 is None
    # The webhook went out once for the day although publish ran twice.
    sent = world.receiver.for_root(world.settings.exports)
    assert [(d.rsplit("_", 1)[0], b["model_version"]) for d, b in sent] == [
        (f"hw_{D1}_r1", world.champion),
        (f"hw_{D2}_r1", world.champion),
    ]


# --- concurrent runs -----------------------------------------------------------------------------


def _printed(proc: subprocess.Popen) -> str:
    """What `proc` has printed so far, read without moving the offset its writes share."""
    fd = proc.logs[0].fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def _wait_for(proc: subprocess.Popen, what: str, ready) -> None:
    deadline = time.monotonic() + 1200
    while not ready():
        assert proc.poll() is None, f"{what}: the process ended first ({proc.returncode})"
        assert time.monotonic() < deadline, f"{what}: never happened"
        time.sleep(0.2)


def test_two_daily_runs_of_one_day_and_a_backfill_beside_them(
    world, spark, tmp_path, process_env, prefect_harness
):
    """Three real processes, file locks: a `backfill` of day 1, and once its features are done a
    `daily` for day 2 beside it; once that holds day 2, a second `daily` for day 2 (no waiting
    allowed) starts and must stop with one line. Day 2's features rewrite day 1 when late data
    made it dirty, so that step also holds day 1's lock: it waits for the backfill (still scoring
    and publishing day 1) instead of interleaving with it.

    The daily run starts after the backfill's features because the other order is a different,
    equally valid end state: day 2's ingest lands day 1's late events, and a day-1 run that reads
    them scores day 1 with them, where the clean run (day 1, then day 2) scored it without."""
    from delta.tables import DeltaTable

    case = world.case("ingest", tmp_path)
    daily = ["-m", "cli.main", "daily", "--date", str(D2)]
    backfill = ["-m", "cli.main", "backfill", "--start", str(D1), "--end", str(D1)]

    def start(name, args, **env):
        home = str(tmp_path / f"prefect-{name}")
        # The session's Prefect server, not a temporary one per process; the day locks stay
        # file locks (HYDRAWATCH_DAY_LOCK=file from the case's settings).
        return _process(
            case, process_env, args, PREFECT_HOME=home, PREFECT_API_URL=prefect_harness, **env
        )

    beside = start("backfill", backfill)
    _wait_for(beside, "day 1's features", lambda: f"{D1} features: done" in _printed(beside))
    first = start("daily-a", daily)
    lock = Path(case.warehouse) / "_locks" / f"day={D2}.lock"
    _wait_for(first, "the first daily run took its day", lambda: lock.exists() and lock.read_text())
    second = start("daily-b", daily, HYDRAWATCH_DAY_LOCK_WAIT_SECONDS="0")
    done = {"daily-b": _finish(second), "daily-a": _finish(first), "backfill": _finish(beside)}

    assert done["daily-a"][0] == 0, done["daily-a"][2][-3000:]
    assert done["backfill"][0] == 0, done["backfill"][2][-3000:]
    code, _, err = done["daily-b"]
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == EXIT_LOCKED, err[-3000:]
    assert lines[-1].startswith(f"hydrawatch: day {D2} is being written by another run (pid ")
    assert "run again when it has finished" in lines[-1]

    # Only one run wrote day 2: one MERGE of its delivery on top of the copied history (where
    # day 1's delivery created the table).
    history = DeltaTable.forPath(spark, tables.BRONZE_USAGE_EVENTS.location(case)).history()
    assert history.where(F.col("operation") == "MERGE").count() == 2  # day 1 again, day 2
    assert_same_state(spark, world.settings, case)
