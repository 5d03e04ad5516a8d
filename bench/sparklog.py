"""Read a plain-text Spark event log: where the time went, per job and per stage.

`load(app)` parses one application's event log (a file, or a folder of `events_*` parts) into
jobs and stages: submission and completion times, the Python call site that started the job
(`collect at jobs/features.py:101`), the stages and tasks it ran and their summed executor run
and CPU time. The benches use it to say where a run spent its time without the Spark UI. Only
for the bench: the event log must be written uncompressed (`spark.eventLog.compress=false`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    stage_id: int
    name: str
    tasks: int
    submitted: float = 0.0  # epoch seconds
    completed: float = 0.0
    run_s: float = 0.0  # summed executor run time of its tasks
    cpu_s: float = 0.0  # summed executor CPU time of its tasks
    shuffle_read_mb: float = 0.0
    shuffle_write_mb: float = 0.0
    input_mb: float = 0.0
    spill_disk_mb: float = 0.0  # what its tasks spilled to disk (sorts, aggregations over memory)
    shuffle_write_records: int = 0

    @property
    def wall_s(self) -> float:
        return max(0.0, self.completed - self.submitted)


@dataclass
class Job:
    job_id: int
    call_site: str  # the Python call site, else Delta's job description, else the SQL query
    submitted: float
    completed: float = 0.0
    stage_ids: list[int] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return max(0.0, self.completed - self.submitted)


@dataclass
class AppLog:
    jobs: list[Job]
    stages: dict[int, Stage]
    start: float
    end: float

    def jobs_between(self, t0: float, t1: float) -> list[Job]:
        return [j for j in self.jobs if t0 <= j.submitted < t1]

    def stages_of(self, jobs: list[Job]) -> list[Stage]:
        ids = {s for j in jobs for s in j.stage_ids}
        return [self.stages[i] for i in sorted(ids) if i in self.stages]


def latest_app(event_log_dir: str) -> Path | None:
    apps = sorted(Path(event_log_dir).glob("*"), key=lambda p: p.stat().st_mtime)
    return apps[-1] if apps else None


def _short_site(site: str) -> str:
    # "collect at /work/main/jobs/features.py:101" -> "collect at jobs/features.py:101"
    head, _, where = site.partition(" at ")
    parts = where.split("/")
    for anchor in ("jobs", "features", "bench", "flows", "models", "hydrawatch"):
        if anchor in parts[:-1]:
            where = "/".join(parts[parts.index(anchor) :])
            break
    return f"{head} at {where}" if where else head


def load(app: Path) -> AppLog:
    files = sorted(app.rglob("events_*")) if app.is_dir() else [app]
    jobs: dict[int, Job] = {}
    stages: dict[int, Stage] = {}
    task_sums: dict[int, list[float]] = defaultdict(lambda: [0.0] * 7)
    sql_desc: dict[str, str] = {}
    start = end = 0.0
    for f in files:
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith('{"Event":"org.apache.spark.sql.execution.ui.SparkListenerSQLExec'):
                if "SQLExecutionStart" in line[:90]:
                    e = json.loads(line)
                    sql_desc[str(e["executionId"])] = e.get("description") or ""
                continue
            if not line.startswith('{"Event":"SparkListener'):
                continue
            kind = line[10 : line.index('"', 10)]
            if kind not in (
                "SparkListenerJobStart",
                "SparkListenerJobEnd",
                "SparkListenerStageSubmitted",
                "SparkListenerStageCompleted",
                "SparkListenerTaskEnd",
                "SparkListenerApplicationStart",
                "SparkListenerApplicationEnd",
            ):
                continue
            e = json.loads(line)
            if kind == "SparkListenerApplicationStart":
                start = e["Timestamp"] / 1000
            elif kind == "SparkListenerApplicationEnd":
                end = e["Timestamp"] / 1000
            elif kind == "SparkListenerJobStart":
                props = e.get("Properties") or {}
                site = _short_site(props.get("callSite.short") or "")
                desc = props.get("spark.job.description") or ""
                if not desc:
                    sql = sql_desc.get(props.get("spark.sql.execution.root.id") or "", "")
                    desc = sql_desc.get(props.get("spark.sql.execution.id") or "", sql)
                label = " | ".join(x for x in (site, desc[:80]) if x) or "?"
                jobs[e["Job ID"]] = Job(
                    e["Job ID"], label, e["Submission Time"] / 1000, 0.0, e["Stage IDs"]
                )
            elif kind == "SparkListenerJobEnd":
                if e["Job ID"] in jobs:
                    jobs[e["Job ID"]].completed = e["Completion Time"] / 1000
            elif kind in ("SparkListenerStageSubmitted", "SparkListenerStageCompleted"):
                info = e["Stage Info"]
                st = stages.setdefault(
                    info["Stage ID"],
                    Stage(info["Stage ID"], info["Stage Name"], info["Number of Tasks"]),
                )
                st.submitted = info.get("Submission Time", 0) / 1000 or st.submitted
                st.completed = info.get("Completion Time", 0) / 1000 or st.completed
            else:
                m = e.get("Task Metrics") or {}
                sums = task_sums[e["Stage ID"]]
                sums[0] += m.get("Executor Run Time", 0) / 1000
                sums[1] += m.get("Executor CPU Time", 0) / 1e9
                sums[2] += (m.get("Shuffle Read Metrics") or {}).get("Remote Bytes Read", 0) + (
                    m.get("Shuffle Read Metrics") or {}
                ).get("Local Bytes Read", 0)
                sums[3] += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
                sums[4] += (m.get("Input Metrics") or {}).get("Bytes Read", 0)
                sums[5] += m.get("Disk Bytes Spilled", 0)
                sums[6] += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Records Written", 0)
    for sid, (run, cpu, sr, sw, inp, spill, recs) in task_sums.items():
        if sid in stages:
            st = stages[sid]
            st.run_s, st.cpu_s = run, cpu
            st.shuffle_read_mb, st.shuffle_write_mb, st.input_mb = (
                sr / 2**20,
                sw / 2**20,
                inp / 2**20,
            )
            st.spill_disk_mb, st.shuffle_write_records = spill / 2**20, int(recs)
    ordered = sorted(jobs.values(), key=lambda j: j.job_id)
    if not end and ordered:
        end = max(j.completed for j in ordered)
    return AppLog(ordered, stages, start, end)


def by_call_site(jobs: list[Job]) -> list[tuple[str, int, float]]:
    """(call site, jobs, summed job wall seconds), most expensive first."""
    acc: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for j in jobs:
        acc[j.call_site][0] += 1
        acc[j.call_site][1] += j.wall_s
    return sorted(((k, int(v[0]), v[1]) for k, v in acc.items()), key=lambda r: -r[2])
