"""Stand-in jobs for the orchestration tests.

The flow tests check what the flows decide (order, skipping, stopping, retries, locks,
artifacts), so they inject jobs whose behaviour the test controls, including failures on a given
day. They are installed as `jobs.<module>` in `sys.modules` for one test only.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class IngestResult:
    delivery_date: object
    rows_in: int
    kept: int
    quarantined: int


@dataclass(frozen=True)
class ScoreResult:
    accounts_scored: int
    flagged: int
    new_clusters: int
    model_version: str


class StandIns:
    """Records every job call as (job, day); `fail[(job, day)]` is raised once per entry."""

    def __init__(self):
        self.calls: list[tuple[str, object]] = []
        self.fail: dict[tuple[str, object], list[BaseException]] = {}
        self.hooks: dict[str, object] = {}

    def _run(self, name, day, result):
        self.calls.append((name, day))
        if name in self.hooks:
            self.hooks[name](day)
        errors = self.fail.get((name, day))
        if errors:
            raise errors.pop(0)
        return result

    def modules(self) -> dict[str, types.ModuleType]:
        def mod(name, **fns):
            m = types.ModuleType(f"jobs.{name}")
            for key, fn in fns.items():
                setattr(m, key, fn)
            return m

        return {
            "ingest": mod(
                "ingest",
                run_ingest=lambda spark, s, d: self._run("ingest", d, IngestResult(d, 100, 97, 3)),
            ),
            "features": mod(
                "features",
                run_features=lambda spark, s, d: self._run("features", d, {"accounts": 40}),
            ),
            "score": mod(
                "score",
                run_score=lambda spark, s, d: self._run("score", d, ScoreResult(40, 5, 1, "3")),
            ),
            "publish": mod(
                "publish", run_publish=lambda spark, s, d: self._run("publish", d, {"rows": 5})
            ),
        }


@pytest.fixture
def stand_ins(monkeypatch):
    jobs = StandIns()
    for name, module in jobs.modules().items():
        monkeypatch.setitem(sys.modules, f"jobs.{name}", module)
    # No drift job in the stand-in set: the day flow skips drift when it is absent.
    monkeypatch.setitem(sys.modules, "jobs.drift", types.ModuleType("jobs.drift"))
    return jobs


@pytest.fixture
def read_artifact():
    """The markdown of the latest artifact with `key`, read back through the Prefect API."""

    def read(key: str, flow_run_id: str | None = None) -> str:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterFlowRunId,
            ArtifactFilterKey,
        )
        from prefect.client.schemas.sorting import ArtifactSort

        wanted = ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        if flow_run_id:
            wanted.flow_run_id = ArtifactFilterFlowRunId(any_=[flow_run_id])
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(
                artifact_filter=wanted,
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
        assert found, f"no artifact {key}"
        return found[0].data

    return read
