"""The promotion gate: named thresholds and the decision, as code (docs/model.md lists them).

Promise: `first_model_gate(metrics)` passes a model only when every absolute minimum holds;
`challenger_gate(challenger, champion)` passes a challenger only when it is not worse than the
champion by more than the named tolerance on any gated metric, both measured on the same recent
labelled period (`models.evaluation.period_metrics`). A metric that cannot be measured (NaN: no
labelled distillation account in the period) fails. `GateDecision.message()` is one line naming
each failing metric, its value, the bound and by how much it missed.

All rates are at the model's own stored threshold; negatives are population-weighted (labelled
benign accounts plus the unlabelled sample standing for all unlabelled accounts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# --- the first model: absolute minimums ------------------------------------------------------
MIN_PR_AUC = 0.90
MIN_RECALL_AT_THRESHOLD = 0.80
# Unlabelled accounts count as negatives, and unlabelled campaign accounts are among them: a model
# that catches them is charged with false positives. On the simulated 14-day window of seed 11 the
# first model's 6 "false positives" of the period were all unlabelled campaign accounts (truth),
# and its precision measured this way was 0.934 while its true precision was 1.0. The bounds leave
# room for that; the challenger-vs-champion tolerances below stay tight.
MIN_PRECISION_AT_THRESHOLD = 0.90
MAX_FPR_AT_THRESHOLD = 0.01

# --- challenger against champion: how much worse it may be ----------------------------------
PR_AUC_TOLERANCE = 0.01
RECALL_TOLERANCE = 0.02
PRECISION_TOLERANCE = 0.01
FPR_TOLERANCE = 0.001

# metric -> (direction, absolute bound, tolerance); "min": higher is better.
GATED = {
    "pr_auc": ("min", MIN_PR_AUC, PR_AUC_TOLERANCE),
    "recall_at_threshold": ("min", MIN_RECALL_AT_THRESHOLD, RECALL_TOLERANCE),
    "precision_at_threshold": ("min", MIN_PRECISION_AT_THRESHOLD, PRECISION_TOLERANCE),
    "fpr_at_threshold": ("max", MAX_FPR_AT_THRESHOLD, FPR_TOLERANCE),
}


@dataclass(frozen=True)
class Check:
    metric: str
    value: float
    bound: float
    direction: str  # "min" (value must be >= bound) or "max" (value must be <= bound)
    against: str  # "minimum" or "champion v<N>"

    @property
    def passed(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return self.value >= self.bound if self.direction == "min" else self.value <= self.bound

    @property
    def shortfall(self) -> float:
        if self.value is None or math.isnan(self.value):
            return float("nan")
        return self.bound - self.value if self.direction == "min" else self.value - self.bound

    def describe(self) -> str:
        if self.value is None or math.isnan(self.value):
            return f"{self.metric} cannot be measured on the period (no labelled positives?)"
        word = "below" if self.direction == "min" else "above"
        return (
            f"{self.metric} {self.value:.4f} is {self.shortfall:.4f} {word} the bound "
            f"{self.bound:.4f} ({self.against})"
        )


@dataclass(frozen=True)
class GateDecision:
    checks: tuple[Check, ...]
    mode: str  # "first_model" or "against_champion"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def message(self) -> str:
        if self.passed:
            return f"gate passed ({self.mode}): " + ", ".join(
                f"{c.metric}={c.value:.4f}" for c in self.checks
            )
        return f"gate failed ({self.mode}): " + "; ".join(c.describe() for c in self.failures)


def first_model_gate(metrics: dict[str, float]) -> GateDecision:
    checks = tuple(
        Check(m, float(metrics.get(m, float("nan"))), bound, direction, "minimum")
        for m, (direction, bound, _) in GATED.items()
    )
    return GateDecision(checks, "first_model")


def challenger_gate(
    challenger: dict[str, float], champion: dict[str, float], champion_version: str
) -> GateDecision:
    checks = []
    for m, (direction, _, tol) in GATED.items():
        ref = float(champion.get(m, float("nan")))
        if math.isnan(ref):
            # The champion cannot be measured on this metric: nothing to be worse than.
            continue
        bound = ref - tol if direction == "min" else ref + tol
        checks.append(
            Check(
                m,
                float(challenger.get(m, float("nan"))),
                bound,
                direction,
                f"champion v{champion_version} has {ref:.4f}, tolerance {tol}",
            )
        )
    return GateDecision(tuple(checks), "against_champion")
