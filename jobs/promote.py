"""`hydrawatch promote` and `hydrawatch rollback`: move alias `champion` with care.

Promises:
- `run_promote` moves `champion` to the challenger (or to `version`) only if the gate of
  models/validation.py passes, both models measured on the same recent labelled period
  (`models.evaluation.period_metrics`); the first model needs the absolute minimums. A refusal
  raises `PromotionRefused` naming each failing metric and by how much. `force=True` with a
  reason skips the gate; the override is recorded.
- `run_rollback` moves `champion` back to the previous champion of the recorded history.
- Every move is recorded (models/moves.py): an MLflow run in experiment "hydrawatch-registry" and
  tags on the version that became champion.
Spark is needed only to measure the period; pass the session (flows do); without one, the job
builds it with `hydrawatch.spark.build_spark`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hydrawatch.errors import HydrawatchError, PromotionRefused
from hydrawatch.settings import Settings
from models import moves as mv
from models.registry import CHALLENGER, CHAMPION, alias_version, client, version_info
from models.validation import GateDecision, challenger_gate, first_model_gate


@dataclass(frozen=True)
class PromoteResult:
    action: str
    from_version: str | None
    to_version: str
    forced: bool
    gate: str
    move_run_id: str
    metrics: dict[str, float] = field(default_factory=dict)


def _training_metrics(settings: Settings, version: str) -> dict[str, float]:
    info = version_info(settings, version)
    if not info.run_id:
        return {}
    try:
        run = client(settings).get_run(info.run_id)
    except Exception:
        return {}
    keep = ("pr_auc", "recall_at_target_precision", "precision_at_threshold", "threshold")
    return {f"train_{k}": v for k, v in run.data.metrics.items() if k in keep}


def decide(
    spark, settings: Settings, target: str, champion: str | None, as_of: dt.date | None
) -> tuple[GateDecision, dict[str, float]]:
    """Measure target (and champion) on the same period and apply the gate."""
    from models.evaluation import period_metrics

    versions = [target] + ([champion] if champion else [])
    period = period_metrics(spark, settings, versions, as_of)
    if period.reasons.get(target):
        raise PromotionRefused(f"cannot measure v{target}: {period.reasons[target]}")
    ours = period.by_version[target]
    figures = {f"challenger_{k}": v for k, v in ours.items()}
    figures.update({"period_rows": float(period.rows), "period_positives": float(period.positives)})
    theirs = period.by_version.get(champion) if champion else None
    if theirs:
        figures.update({f"champion_{k}": v for k, v in theirs.items()})
        decision = challenger_gate(ours, theirs, champion)
    else:
        # No champion, or one that cannot be measured on today's features: absolute minimums.
        decision = first_model_gate(ours)
    period_note = f" on feature days {period.start}..{period.end} ({period.positives} positives)"
    return GateDecision(decision.checks, decision.mode + period_note), figures


def run_promote(
    settings: Settings,
    version: str | None = None,
    force: bool = False,
    reason: str | None = None,
    *,
    spark=None,
    as_of: dt.date | None = None,
) -> PromoteResult:
    if force and not (reason and reason.strip()):
        raise HydrawatchError("--force needs --reason: say why the gate is overridden")
    target = str(version) if version is not None else alias_version(settings, CHALLENGER)
    if target is None:
        raise HydrawatchError(
            f"no version of {settings.model_name} holds alias `challenger`: run `hydrawatch "
            "retrain` first, or name one with --version"
        )
    version_info(settings, target)  # a clear error for an unknown version
    champion = alias_version(settings, CHAMPION)
    if champion == target:
        raise HydrawatchError(f"v{target} already holds alias `champion`; nothing to move")

    figures = _training_metrics(settings, target)
    if force:
        gate = "gate overridden (--force): " + reason.strip()
        action = mv.FORCED
    else:
        if spark is None:
            from hydrawatch.spark import build_spark

            spark = build_spark(settings, app_name="hydrawatch-promote")
        decision, measured = decide(spark, settings, target, champion, as_of)
        figures.update(measured)
        if not decision.passed:
            raise PromotionRefused(f"v{target} not promoted: {decision.message()}")
        gate = decision.message()
        action = mv.PROMOTE

    client(settings).set_registered_model_alias(settings.model_name, CHAMPION, target)
    move = mv.record_move(settings, action, champion, target, reason or "", force, figures, gate)
    return PromoteResult(action, champion, target, force, gate, move.run_id, figures)


def run_rollback(settings: Settings, reason: str | None = None) -> PromoteResult:
    history = mv.history(settings)
    stack = mv.champion_stack(history)
    current = alias_version(settings, CHAMPION)
    if len(stack) < 2:
        raise mv.NoPreviousChampion(
            "no previous champion in the move history (experiment "
            f"{mv.REGISTRY_EXPERIMENT}); nothing to roll back to"
        )
    target = stack[-2]
    client(settings).set_registered_model_alias(settings.model_name, CHAMPION, target)
    figures = _training_metrics(settings, target)
    why = reason or f"rollback from v{current}"
    gate = f"rollback to the previous champion v{target} (gate not applied)"
    move = mv.record_move(settings, mv.ROLLBACK, current, target, why, False, figures, gate)
    return PromoteResult(mv.ROLLBACK, current, target, False, gate, move.run_id, figures)
