"""The record of every `champion` move (promote, forced promote, rollback).

Promise: each move is written twice, as an MLflow run in experiment `hydrawatch-registry`
(params: seq, action, from/to version, actor, reason, forced; metrics: the figures the decision
was based on; tag: the gate's one-line verdict) and as tags on the version that received the
alias (`champion.*`). `history(rt)` lists the runs in move order, which is what an engineer
reads (`mlflow ui`, experiment "hydrawatch-registry") and what `rollback` derives the previous
champion from. Wall-clock time and user name are written here on purpose: this is the audit.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import os
from dataclasses import dataclass

from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from models.registry import ensure_experiment

REGISTRY_EXPERIMENT = "hydrawatch-registry"
# Every gate decision (passed, refused, forced, dry run) with both models' figures and the
# thresholds; the move history above stays the champion's moves only.
GATE_EXPERIMENT = "hydrawatch-gate"
PROMOTE, FORCED, ROLLBACK = "promote", "forced_promote", "rollback"


@dataclass(frozen=True)
class Move:
    seq: int
    action: str
    from_version: str | None
    to_version: str
    actor: str
    at: str  # ISO 8601, UTC
    reason: str
    forced: bool
    gate: str
    run_id: str
    move_id: str = ""  # set by the caller before the alias moves; finds the record on a re-run


def actor() -> str:
    explicit = os.environ.get("HYDRAWATCH_ACTOR", "").strip()
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def history(rt: Runtime) -> list[Move]:
    mlf = rt.mlflow
    exp = mlf.get_experiment_by_name(REGISTRY_EXPERIMENT)
    if exp is None:
        return []
    runs = mlf.search_runs(
        [exp.experiment_id],
        filter_string=f"params.model_name = '{rt.settings.model_name}'",
        max_results=5000,
    )
    moves = []
    for run in runs:
        p = run.data.params
        moves.append(
            Move(
                seq=int(p["seq"]),
                action=p["action"],
                from_version=p.get("from_version") or None,
                to_version=p["to_version"],
                actor=p.get("actor", ""),
                at=p.get("at", ""),
                reason=p.get("reason", ""),
                forced=p.get("forced") == "True",
                gate=run.data.tags.get("gate", ""),
                run_id=run.info.run_id,
                move_id=p.get("move_id", ""),
            )
        )
    return sorted(moves, key=lambda m: m.seq)


def champion_stack(moves: list[Move]) -> list[str]:
    """The champions in order, the current last; a rollback pops the top."""
    stack: list[str] = []
    for move in moves:
        if move.action == ROLLBACK:
            if stack:
                stack.pop()
            if not stack or stack[-1] != move.to_version:
                stack.append(move.to_version)
        else:
            stack.append(move.to_version)
    return stack


def record_move(
    rt: Runtime,
    action: str,
    from_version: str | None,
    to_version: str,
    reason: str,
    forced: bool,
    metrics: dict[str, float],
    gate: str,
    move_id: str = "",
) -> Move:
    """Record a move (the run, then the version's tags). With a `move_id` it is idempotent: a
    run already recorded for that id is reused and only the tags are (re)written."""
    import mlflow

    settings = rt.settings
    mlf = rt.mlflow
    moves = history(rt)
    clean = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
    done = [m for m in moves if move_id and m.move_id == move_id]
    if done:
        # The process that recorded it died before the version's tags: finish those only.
        seq, who, when, run_id = done[0].seq, done[0].actor, done[0].at, done[0].run_id
    else:
        seq = len(moves) + 1
        who = actor()
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        experiment_id = ensure_experiment(rt, REGISTRY_EXPERIMENT)
        params = {
            "model_name": settings.model_name,
            "seq": seq,
            "action": action,
            "from_version": from_version or "",
            "to_version": to_version,
            "actor": who,
            "at": when,
            "reason": (reason or "")[:500],
            "forced": str(bool(forced)),
            "move_id": move_id,
        }
        with mlflow.start_run(
            experiment_id=experiment_id,
            run_name=f"{action}-v{from_version or 'none'}-to-v{to_version}",
        ) as run:
            # One batch: a run killed before it has no params and is not part of the history.
            mlflow.log_params(params)
            mlflow.set_tags({"gate": gate[:5000], "hydrawatch.kind": "registry_move"})
            if clean:
                mlflow.log_metrics(clean)
        run_id = run.info.run_id
    tags = {
        "champion.action": action,
        "champion.from_version": from_version or "",
        "champion.actor": who,
        "champion.at": when,
        "champion.reason": (reason or "")[:500],
        "champion.forced": str(bool(forced)),
        "champion.move_run_id": run_id,
        "champion.metrics": json.dumps(clean, sort_keys=True),
    }
    for key, value in tags.items():
        mlf.set_model_version_tag(settings.model_name, to_version, key, value)
    return Move(
        seq,
        action,
        from_version,
        to_version,
        who,
        when,
        reason or "",
        forced,
        gate,
        run_id,
        move_id,
    )


def record_gate(
    rt: Runtime,
    outcome: str,
    challenger: str,
    champion: str | None,
    verdict: str,
    figures: dict[str, float],
    thresholds: dict[str, float],
    reason: str = "",
) -> str:
    """One MLflow run per gate decision in experiment `hydrawatch-gate`: params (outcome, both
    versions, actor, reason, thresholds), metrics (both models' figures), the verdict as a tag.
    Returns the run id."""
    import mlflow

    experiment_id = ensure_experiment(rt, GATE_EXPERIMENT)
    clean = {k: float(v) for k, v in figures.items() if v is not None and math.isfinite(v)}
    params = {
        "model_name": rt.settings.model_name,
        "outcome": outcome,
        "challenger_version": challenger,
        "champion_version": champion or "",
        "actor": actor(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "reason": (reason or "")[:500],
        **{k: str(v) for k, v in thresholds.items()},
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"gate-{outcome}-v{challenger}"
    ) as run:
        mlflow.log_params(params)
        mlflow.set_tags({"gate": verdict[:5000], "hydrawatch.kind": "gate_decision"})
        if clean:
            mlflow.log_metrics(clean)
    return run.info.run_id


class NoPreviousChampion(HydrawatchError):
    """Rollback with no earlier champion in the history."""
