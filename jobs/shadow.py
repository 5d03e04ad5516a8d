"""Job: shadow scoring. What a model that is not the champion would have flagged, day by day.

`run_shadow(rt, start, end, version)` scores each feature day of `start`..`end` with the version
holding alias `challenger` (or `version`) exactly as the daily score step does (the same model
boundary, roll-up and structural flags) into gold/shadow_scores and gold/shadow_flag_details,
keyed by (score_date, account_id, model_version). It never touches the published tables
(gold/account_scores, gold/flag_details, gold/suspicious_accounts), the exports or the webhook.
Re-running replaces exactly that version's rows of those days. `hydrawatch compare` reads them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hydrawatch.errors import HydrawatchError, UsageError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from models import champion
from models.day_scoring import SHADOW, MissingInput, ScoreResult, score_day


@dataclass(frozen=True)
class ShadowResult:
    start: dt.date
    end: dt.date
    model_name: str
    model_version: str
    champion_version: str | None
    days: tuple[ScoreResult, ...]
    scores_table: str
    details_table: str


def run_shadow(
    rt: Runtime, start: dt.date, end: dt.date, version: str | None = None
) -> ShadowResult:
    if end < start:
        raise UsageError(f"--end {end} is before --start {start}")
    model = champion.named_or_alias(rt, version, champion.CHALLENGER)
    held = champion.resolve(rt, champion.CHAMPION)
    if model.threshold is None:
        raise HydrawatchError(f"{model.label} records no threshold; it cannot score")
    warehouse = rt.warehouse
    if not warehouse.exists(tables.FEATURES_ACCOUNT):
        raise MissingInput(
            f"the feature table does not exist at {warehouse.location(tables.FEATURES_ACCOUNT)}; "
            "run `hydrawatch backfill --steps ingest,features` first"
        )
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    results = []
    with champion.load(rt, model) as loaded:
        for day in days:
            results.append(score_day(warehouse, day, loaded, SHADOW))
            rt.say(f"{day} shadow v{model.version}: {results[-1].flagged} flagged")
    return ShadowResult(
        start,
        end,
        model.name,
        model.version,
        held.version if held else None,
        tuple(results),
        warehouse.location(SHADOW.scores),
        warehouse.location(SHADOW.details),
    )
