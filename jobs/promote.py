"""`hydrawatch promote` and `hydrawatch rollback`: move alias `champion` with care.

Promises:
- `run_promote` moves `champion` to the challenger (or to `version`) only if the gate of
  models/validation.py passes, both models measured on the same recent labelled period
  (`models.evaluation.period_metrics`, `period_days` or `settings.gate_period_days`); the first
  model needs the absolute minimums (thresholds from the settings). A refusal raises
  `PromotionRefused` naming each failing metric and by how much. `force=True` with a reason
  skips the gate; `dry_run=True` decides and moves nothing. Every decision, passed, refused,
  forced or dry, is recorded in MLflow experiment `hydrawatch-gate` with both models' figures and
  the thresholds.
- `run_rollback` moves `champion` back to the previous champion of the recorded history.
- Every move is recorded (models/moves.py): an MLflow run in experiment "hydrawatch-registry" and
  tags on the version that became champion.
Spark is needed only to measure the period: `rt.spark` starts it then, not for a refusal of a
missing challenger or a forced move. Aliases are resolved through `models.champion`.

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

from hydrawatch.errors import HydrawatchError, PromotionRefused, UsageError
from hydrawatch.failpoints import failpoint
from hydrawatch.locks import check_fences, registry_lock
from hydrawatch.runtime import Runtime
from models import moves as mv
from models.champion import CHALLENGER, CHAMPION, absent, resolve, unavailable
from models.champion import version as model_version
from models.validation import GateDecision, GateThresholds, challenger_gate, first_model_gate

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


def _alias_version(rt: Runtime, alias: str) -> str | None:
    held = resolve(rt, alias)
    return held.version if held else None


def _training_metrics(rt: Runtime, version: str) -> dict[str, float]:
    info = model_version(rt, version)
    if not info.run_id:
        return {}
    try:
        run = rt.mlflow.get_run(info.run_id)
    except Exception as err:
        if absent(err):  # its training run was deleted: no training figures to record
            return {}
        raise unavailable(rt, err) from None
    keep = ("pr_auc", "recall_at_target_precision", "precision_at_threshold", "threshold")
    return {f"train_{k}": v for k, v in run.data.metrics.items() if k in keep}


def decide(
    rt: Runtime,
    target: str,
    champion: str | None,
    as_of: dt.date | None,
    period_days: int | None = None,
    thresholds: GateThresholds | None = None,
) -> tuple[GateDecision, dict[str, float]]:
    """Measure target (and champion) on the same period and apply the gate."""
    from models.evaluation import period_metrics

    t = thresholds or GateThresholds.from_settings(rt.settings)
    versions = [target] + ([champion] if champion else [])
    period = period_metrics(rt, versions, as_of, period_days)
    if period.reasons.get(target):
        raise PromotionRefused(f"cannot measure v{target}: {period.reasons[target]}")
    ours = period.by_version[target]
    figures = {f"challenger_{k}": v for k, v in ours.items()}
    figures.update({"period_rows": float(period.rows), "period_positives": float(period.positives)})
    theirs = period.by_version.get(champion) if champion else None
    if theirs:
        figures.update({f"champion_{k}": v for k, v in theirs.items()})
        decision = challenger_gate(ours, theirs, champion, t)
    else:
        # No champion, or one that cannot be measured on today's features: absolute minimums.
        decision = first_model_gate(ours, t)
    period_note = f" on feature days {period.start}..{period.end} ({period.positives} positives)"
    return GateDecision(decision.checks, decision.mode + period_note), figures


def run_promote(
    rt: Runtime,
    version: str | None = None,
    force: bool = False,
    reason: str | None = None,
    *,
    as_of: dt.date | None = None,
    period_days: int | None = None,
    dry_run: bool = False,
) -> PromoteResult:
    """Apply the gate and move `champion` when it passes (or when forced with a reason).

    Every decision is recorded in MLflow (`models.moves.record_gate`: both models' figures, the
    thresholds, the verdict), a refusal too, before it is raised. `dry_run`: decide and record,
    move nothing (action `dry_run`). Holds the registry lock: of two promotes at once, the second
    decides after the first has moved the alias and recorded the move.
    """
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason: say why the gate is overridden")
    if force and dry_run:
        raise UsageError("--dry-run applies the gate; --force skips it: choose one")
    with registry_lock(rt.settings, say=rt.say):
        return _promote(rt, version, force, reason, as_of, period_days, dry_run)


def _promote(
    rt: Runtime,
    version: str | None,
    force: bool,
    reason: str | None,
    as_of: dt.date | None,
    period_days: int | None,
    dry_run: bool,
) -> PromoteResult:
    settings = rt.settings
    target = str(version) if version is not None else _alias_version(rt, CHALLENGER)
    if target is None:
        raise HydrawatchError(
            f"no version of {settings.model_name} holds alias `challenger`: run `hydrawatch "
            "retrain` first, or name one with --version"
        )
    target_info = model_version(rt, target)  # a clear error for an unknown version
    champion = _alias_version(rt, CHAMPION)
    if champion == target and not dry_run:
        pending = target_info.tags.get(PENDING_TAG)
        if pending:
            return _complete(rt, target, json.loads(pending))
        raise HydrawatchError(f"v{target} already holds alias `champion`; nothing to move")

    thresholds = GateThresholds.from_settings(settings)
    figures = _training_metrics(rt, target)
    if force:
        gate = "gate overridden (--force): " + reason.strip()
        action = mv.FORCED
        mv.record_gate(
            rt, "forced", target, champion, gate, figures, thresholds.as_params(), reason or ""
        )
    else:
        decision, measured = decide(rt, target, champion, as_of, period_days, thresholds)
        figures.update(measured)
        gate = decision.message()
        outcome = ("dry_run_" if dry_run else "") + ("passed" if decision.passed else "refused")
        run_id = mv.record_gate(
            rt, outcome, target, champion, gate, figures, thresholds.as_params(), reason or ""
        )
        if dry_run:
            return PromoteResult("dry_run", champion, target, False, gate, run_id, figures)
        if not decision.passed:
            raise PromotionRefused(
                f"v{target} not promoted: {gate} (both models' figures in MLflow run {run_id}, "
                f"experiment {mv.GATE_EXPERIMENT})"
            )
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
    mlf = rt.mlflow
    mlf.set_model_version_tag(settings.model_name, target, PENDING_TAG, json.dumps(pending))
    check_fences()  # a holder whose registry lock lapsed must not move the alias
    mlf.set_registered_model_alias(settings.model_name, CHAMPION, target)
    failpoint("promote.after_alias")
    return _complete(rt, target, pending)


def _complete(rt: Runtime, target: str, pending: dict) -> PromoteResult:
    """Record the move `pending` describes (the alias has moved) and drop the pending tag."""
    figures = {k: float(v) for k, v in pending["figures"].items()}
    move = mv.record_move(
        rt,
        pending["action"],
        pending["from_version"],
        target,
        pending["reason"],
        pending["forced"],
        figures,
        pending["gate"],
        move_id=pending["move_id"],
    )
    rt.mlflow.delete_model_version_tag(rt.settings.model_name, target, PENDING_TAG)
    return PromoteResult(
        pending["action"],
        pending["from_version"],
        target,
        pending["forced"],
        pending["gate"],
        move.run_id,
        figures,
    )


def run_rollback(rt: Runtime, reason: str | None = None) -> PromoteResult:
    """Move `champion` back to the previous champion of the history, under the registry lock."""
    with registry_lock(rt.settings, say=rt.say):
        return _rollback(rt, reason)


def _rollback(rt: Runtime, reason: str | None) -> PromoteResult:
    history = mv.history(rt)
    stack = mv.champion_stack(history)
    current = _alias_version(rt, CHAMPION)
    if len(stack) < 2:
        raise mv.NoPreviousChampion(
            "no previous champion in the move history (experiment "
            f"{mv.REGISTRY_EXPERIMENT}); nothing to roll back to"
        )
    target = stack[-2]
    if current == target:
        # A rollback whose process died after moving the alias: this run records it.
        current = stack[-1]
    check_fences()
    rt.mlflow.set_registered_model_alias(rt.settings.model_name, CHAMPION, target)
    failpoint("rollback.after_alias")
    figures = _training_metrics(rt, target)
    why = reason or f"rollback from v{current}"
    gate = f"rollback to the previous champion v{target} (gate not applied)"
    move = mv.record_move(rt, mv.ROLLBACK, current, target, why, False, figures, gate)
    return PromoteResult(mv.ROLLBACK, current, target, False, gate, move.run_id, figures)
