"""Deployments of the pipeline, served by `hydrawatch serve` (Prefect's `serve`).

`daily` runs `hydrawatch-daily` on `settings.daily_cron` (UTC) with no run date: the flow takes
the run's scheduled start day, so a late or re-run scheduled run still processes its own day.
`backfill`, `retrain` and `promote` are served without a schedule, to run from the UI or
`prefect deployment run 'hydrawatch-backfill/backfill' -p start=... -p end=...`.

Served against Prefect's embedded mode by default, or the server in `PREFECT_API_URL`. The
serving process runs each flow run in a subprocess with its own environment, so the
`HYDRAWATCH_*` settings of the serving shell apply to the runs.
"""

from __future__ import annotations

from hydrawatch.settings import Settings

DAILY_DEPLOYMENT = "daily"


def deployments(settings: Settings) -> list:
    from prefect.schedules import Cron

    from flows import pipeline

    tags = ["hydrawatch"]
    return [
        pipeline.daily_flow.to_deployment(
            name=DAILY_DEPLOYMENT,
            schedules=[Cron(settings.daily_cron, timezone="UTC")],
            description="ingest, features, score, publish and drift for the scheduled day (UTC)",
            tags=tags,
        ),
        pipeline.maintain_flow.to_deployment(
            name="maintain",
            schedules=[Cron(settings.maintain_cron, timezone="UTC")],
            description="compact recent partitions, vacuum within retention",
            tags=tags,
        ),
        pipeline.backfill_flow.to_deployment(name="backfill", tags=tags),
        pipeline.retrain_flow.to_deployment(name="retrain", tags=tags),
        pipeline.promote_flow.to_deployment(name="promote", tags=tags),
    ]


def serve(settings: Settings, limit: int | None = None) -> None:
    """Register the deployments and run their scheduled and triggered runs until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(settings), limit=limit)
