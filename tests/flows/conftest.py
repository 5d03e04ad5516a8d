"""Stand-in jobs for the orchestration tests.

The flow tests check what the flows decide (order, skipping, stopping, retries, locks,
artifacts), so they put in jobs whose behaviour the test controls, including failures on a given
day. They replace the `run_<job>` functions of the real job modules for one test only, and return
the jobs' own typed results.
"""

from __future__ import annotations

import datetime as dt

import pytest


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

    def install(self, monkeypatch) -> None:
        from jobs import drift, features, ingest, publish, score

        def ingested(day):
            usage = ingest.FeedAudit("usage_events", "ok", lines=100, kept=97, quarantined=3)
            return ingest.IngestResult(day, {"usage_events": usage}, (), "ingest")

        def featured(day):
            return features.FeaturesResult(day, 1, (day,), (day,), (), 40, 1, 1)

        def scored(day):
            return score.ScoreResult(day, "m", "3", 0.5, 40, 5, 4, 1, "scores", "details")

        def published(day):
            return publish.PublishResult(day, "3", 5, "table", "export", "sha", 1, "off")

        def ranged(name, result, done):
            """A range job as the real ones behave: each day in order, stopping at the first
            expected failure (an unexpected one fails the whole range: the task retries it)."""
            from hydrawatch.errors import HydrawatchError

            def run(rt, start, end):
                results, day = [], start
                while day <= end:
                    try:
                        results.append(self._run(name, day, result(day)))
                    except HydrawatchError as err:
                        return done(results, day, err)
                    day = day + dt.timedelta(days=1)
                return done(results)

            return run

        stand_ins = {
            (ingest, "run_ingest_range"): ranged("ingest", ingested, ingest.IngestRange),
            (features, "run_features_range"): ranged("features", featured, features.FeaturesRange),
            (ingest, "run_ingest"): lambda rt, d: self._run("ingest", d, ingested(d)),
            (features, "run_features"): lambda rt, d: self._run("features", d, featured(d)),
            (score, "run_score"): lambda rt, d, m=None: self._run("score", d, scored(d)),
            (publish, "run_publish"): lambda rt, d, release=None: self._run(
                "publish", d, published(d)
            ),
            # Drift runs after a scored day; the stand-in reports it as skipped (no calls kept).
            (drift, "run_drift"): lambda rt, d, m=None: drift.DriftResult(d, "skipped: stand-in"),
        }
        for (module, name), fn in stand_ins.items():
            monkeypatch.setattr(module, name, fn)


@pytest.fixture
def stand_ins(monkeypatch):
    jobs = StandIns()
    jobs.install(monkeypatch)
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
