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

Crash safety: before the alias moves, the decision (action, previous champion, reason, gate,
figures, a move id) is written as the tag `champion.pending_move` on the target version; the
record is written after the alias, then the tag is removed. A process killed between the two
leaves the alias moved and the tag in place: the next `promote` of that version finds it and
completes the record (idempotently, by move id) instead of refusing with "already champion". A
rollback re-run after a crash converges by itself: its target comes from the recorded history.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

from hydrawatch.errors import HydrawatchError, PromotionRefused
from hydrawatch.failpoints import failpoint
from hydrawatch.settings import Settings
from models import moves as mv
from models.registry import CHALLENGER, CHAMPION, alias_version, client, version_info
from models.validation import GateDecision, challenger_gate, first_model_gate

PENDING_TAG = "champion.pending_move"


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
        pending = version_info(settings, target).tags.get(PENDING_TAG)
        if pending:
            return _complete(settings, target, json.loads(pending))
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

    pending = {
        "move_id": uuid.uuid4().hex,
        "action": action,
        "from_version": champion,
        "reason": reason or "",
        "forced": force,
        "gate": gate[:2000],
        "figures": figures,
    }
    mlf = client(settings)
    mlf.set_model_version_tag(settings.model_name, target, PENDING_TAG, json.dumps(pending))
    mlf.set_registered_model_alias(settings.model_name, CHAMPION, target)
    failpoint("promote.after_alias")
    return _complete(settings, target, pending)


def _complete(settings: Settings, target: str, pending: dict) -> PromoteResult:
    """Record the move `pending` describes (the alias has moved) and drop the pending tag."""
    figures = {k: float(v) for k, v in pending["figures"].items()}
    move = mv.record_move(
        settings,
        pending["action"],
        pending["from_version"],
        target,
        pending["reason"],
        pending["forced"],
        figures,
        pending["gate"],
        move_id=pending["move_id"],
    )
    client(settings).delete_model_version_tag(settings.model_name, target, PENDING_TAG)
    return PromoteResult(
        pending["action"],
        pending["from_version"],
        target,
        pending["forced"],
        pending["gate"],
        move.run_id,
        figures,
    )


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
    if current == target:
        # A rollback whose process died after moving the alias: this run records it.
        current = stack[-1]
    client(settings).set_registered_model_alias(settings.model_name, CHAMPION, target)
    failpoint("rollback.after_alias")
    figures = _training_metrics(settings, target)
    why = reason or f"rollback from v{current}"
    gate = f"rollback to the previous champion v{target} (gate not applied)"
    move = mv.record_move(settings, mv.ROLLBACK, current, target, why, False, figures, gate)
    return PromoteResult(mv.ROLLBACK, current, target, False, gate, move.run_id, figures)
