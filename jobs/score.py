"""Job: score one day with the champion model -> gold/account_scores and gold/flag_details.

What it promises (issue 6, contracts/outputs.md):
- The alias `champion` is resolved ONCE per run (`models.champion`; by the daily flow, which
  passes it in, or here); that version is recorded with every row. No champion ->
  `NoChampionModel`, saying how to make one. A version that records no threshold is refused.
- The day is scored by `models.day_scoring.score_day` into the published tables (its promises:
  the feature contract checked first, every active account scored, scoring on the executors,
  roll-up and structural flags); re-running a day replaces exactly that day's partitions.
"""

from __future__ import annotations

import datetime as dt

from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from models import champion
from models.champion import ModelVersion
from models.day_scoring import MissingInput, ScoreResult, score_day

__all__ = ["MissingInput", "ScoreResult", "run_score"]


def run_score(rt: Runtime, score_date: dt.date, model: ModelVersion | None = None) -> ScoreResult:
    """Score `score_date` with the champion and write the day's scores and flag details.

    `model`: the champion as the calling flow resolved it for the run (resolved here otherwise).
    """
    model = model or champion.resolve_champion(rt)
    if model.threshold is None:
        raise HydrawatchError(
            f"{model.label} records no threshold; it was not logged by `hydrawatch retrain`: "
            "promote another version"
        )
    warehouse = rt.warehouse
    if not warehouse.exists(tables.FEATURES_ACCOUNT):
        raise MissingInput(
            f"the feature table does not exist at {warehouse.location(tables.FEATURES_ACCOUNT)}; "
            "run `hydrawatch backfill --steps features` first"
        )
    with champion.load(rt, model) as loaded:
        return score_day(warehouse, score_date, loaded)
