"""The promotion gate: named thresholds and the decision, as code (docs/model.md lists them).

Promise: `first_model_gate(metrics, thresholds)` passes a model only when every absolute minimum
holds; `challenger_gate(challenger, champion, version, thresholds)` passes a challenger only when
it is not worse than the champion by more than the named tolerance on any gated metric, both
measured on the same recent labelled period (`models.evaluation.period_metrics`). Where the
champion cannot be measured on a metric (NaN: no labelled distillation account in the period),
the challenger must meet that metric's absolute minimum instead: a metric is never dropped. A
metric that cannot be measured on the challenger fails. `GateDecision.message()` is one line
naming each failing metric, its value, the bound and by how much it missed.

The thresholds are settings (`GateThresholds.from_settings`: `HYDRAWATCH_GATE_MIN_*`,
`HYDRAWATCH_GATE_TOLERANCE_*`); the defaults are below. All rates are at the model's own stored
threshold; negatives are population-weighted (labelled benign accounts plus the unlabelled sample
standing for all unlabelled accounts).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hydrawatch.settings import Settings

# --- the first model: absolute minimums ------------------------------------------------------
MIN_PR_AUC = 0.90
MIN_RECALL_AT_THRESHOLD = 0.80
# Unlabelled accounts count as negatives, and unlabelled campaign accounts are among them: a model
# that catches them is charged with false positives (docs/model.md, "The gate"). The bounds leave
# room for that; the challenger-vs-champion tolerances below stay tight.
MIN_PRECISION_AT_THRESHOLD = 0.90
MAX_FPR_AT_THRESHOLD = 0.01

# --- challenger against champion: how much worse it may be ----------------------------------
PR_AUC_TOLERANCE = 0.01
RECALL_TOLERANCE = 0.02
PRECISION_TOLERANCE = 0.01
FPR_TOLERANCE = 0.001

# metric -> direction; "min": higher is better.
DIRECTIONS = {
    "pr_auc": "min",
    "recall_at_threshold": "min",
    "precision_at_threshold": "min",
    "fpr_at_threshold": "max",
}


@dataclass(frozen=True)
class GateThresholds:
    """metric -> (absolute bound, tolerance against the champion)."""

    min_pr_auc: float = MIN_PR_AUC
    min_recall_at_threshold: float = MIN_RECALL_AT_THRESHOLD
    min_precision_at_threshold: float = MIN_PRECISION_AT_THRESHOLD
    max_fpr_at_threshold: float = MAX_FPR_AT_THRESHOLD
    tolerance_pr_auc: float = PR_AUC_TOLERANCE
    tolerance_recall_at_threshold: float = RECALL_TOLERANCE
    tolerance_precision_at_threshold: float = PRECISION_TOLERANCE
    tolerance_fpr_at_threshold: float = FPR_TOLERANCE

    @classmethod
    def from_settings(cls, settings: Settings) -> GateThresholds:
        """The defaults above, each overridden by its setting when that is set."""
        given = {
            "min_pr_auc": settings.gate_min_pr_auc,
            "min_recall_at_threshold": settings.gate_min_recall,
            "min_precision_at_threshold": settings.gate_min_precision,
            "max_fpr_at_threshold": settings.gate_max_fpr,
            "tolerance_pr_auc": settings.gate_tolerance_pr_auc,
            "tolerance_recall_at_threshold": settings.gate_tolerance_recall,
            "tolerance_precision_at_threshold": settings.gate_tolerance_precision,
            "tolerance_fpr_at_threshold": settings.gate_tolerance_fpr,
        }
        return cls(**{k: v for k, v in given.items() if v is not None})

    def bound(self, metric: str) -> float:
        prefix = "max" if DIRECTIONS[metric] == "max" else "min"
        return getattr(self, f"{prefix}_{metric}")

    def tolerance(self, metric: str) -> float:
        return getattr(self, f"tolerance_{metric}")

    def as_params(self) -> dict[str, float]:
        return {f"gate_{k}": v for k, v in asdict(self).items()}


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


def first_model_gate(
    metrics: dict[str, float], thresholds: GateThresholds | None = None
) -> GateDecision:
    t = thresholds or GateThresholds()
    checks = tuple(
        Check(m, float(metrics.get(m, float("nan"))), t.bound(m), direction, "minimum")
        for m, direction in DIRECTIONS.items()
    )
    return GateDecision(checks, "first_model")


def challenger_gate(
    challenger: dict[str, float],
    champion: dict[str, float],
    champion_version: str,
    thresholds: GateThresholds | None = None,
) -> GateDecision:
    t = thresholds or GateThresholds()
    checks = []
    for m, direction in DIRECTIONS.items():
        value = float(challenger.get(m, float("nan")))
        ref = float(champion.get(m, float("nan")))
        if math.isnan(ref):
            # Nothing to be worse than on this metric: the absolute minimum holds instead.
            against = f"minimum: champion v{champion_version} cannot be measured on it"
            checks.append(Check(m, value, t.bound(m), direction, against))
            continue
        tol = t.tolerance(m)
        bound = ref - tol if direction == "min" else ref + tol
        against = f"champion v{champion_version} has {ref:.4f}, tolerance {tol}"
        checks.append(Check(m, value, bound, direction, against))
    return GateDecision(tuple(checks), "against_champion")
