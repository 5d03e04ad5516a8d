"""Leave-one-campaign-out figures, from per-account-day flags and the simulator's truth (pandas).

What it promises:
- `campaign_figures(flags, truth, campaign, first_request)`: for one campaign, over the accounts
  with a request in the scored days: accounts, flagged (at least once), recall, the share flagged
  by structure alone, and `days_to_half`: days from the campaign's first request (or the first
  scored day, when it started before) to the first day on which half of its accounts active so
  far have been flagged (NaN: never in the window).
- `population_figures(flags, truth)`: flagged accounts, FPR per legitimate population, recall
  per campaign, and the overall precision, on the same active accounts.

`flags`: one row per (account_id, feature_date) scored and active that day, with `flagged`
(bool) and `flagged_by` ('score', 'cluster', 'structure' or None). `truth`: account_id,
population, campaign_id, is_attacker. Only the evaluation reads the truth; nothing here trains.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class CampaignFigures:
    campaign: str
    accounts: int
    flagged: int
    recall: float
    structure_share: float  # of its flagged accounts, the share flagged by structure alone
    start: dt.date | None  # first request, or the first scored day when it started earlier
    days_to_half: float


def _per_account(flags: pd.DataFrame) -> pd.DataFrame:
    f = flags.copy()
    f["flagged"] = f["flagged"].fillna(False).astype(bool)
    first = f[f["flagged"]].groupby("account_id")["feature_date"].min().rename("first_flag")
    by = (
        f[f["flagged"]]
        .sort_values(["account_id", "feature_date"])
        .groupby("account_id")["flagged_by"]
        .first()
        .rename("first_flagged_by")
    )
    acc = f.groupby("account_id").agg(
        flagged=("flagged", "max"), first_active=("feature_date", "min")
    )
    return acc.join(first).join(by).reset_index()


def campaign_figures(
    flags: pd.DataFrame,
    truth: pd.DataFrame,
    campaign: str,
    first_request: dt.date | None,
) -> CampaignFigures:
    acc = _per_account(flags).merge(
        truth[["account_id", "campaign_id"]], on="account_id", how="inner"
    )
    mine = acc[acc["campaign_id"] == campaign]
    n = len(mine)
    k = int(mine["flagged"].sum())
    structure = int((mine["first_flagged_by"] == "structure").sum())
    if n == 0:
        return CampaignFigures(campaign, 0, 0, math.nan, math.nan, None, math.nan)
    first_scored = flags["feature_date"].min()
    start = max(first_request, first_scored) if first_request else first_scored
    days_to_half = math.nan
    for day in sorted(flags["feature_date"].unique()):
        seen = mine[mine["first_active"] <= day]
        caught = seen["first_flag"].notna() & (seen["first_flag"] <= day)
        if len(seen) and caught.sum() * 2 >= len(seen):
            days_to_half = float((day - start).days)
            break
    return CampaignFigures(
        campaign=campaign,
        accounts=n,
        flagged=k,
        recall=k / n,
        structure_share=structure / k if k else 0.0,
        start=start,
        days_to_half=days_to_half,
    )


def population_figures(flags: pd.DataFrame, truth: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """(rows: group, name, accounts, flagged, rate; overall precision)."""
    acc = _per_account(flags).merge(truth, on="account_id", how="inner")
    attackers = acc["is_attacker"].astype(bool)
    name = acc["campaign_id"].where(attackers, acc["population"]).fillna("(none)")
    acc = acc.assign(group=attackers.map({True: "campaign", False: "legit_population"}), name=name)
    g = (
        acc.groupby(["group", "name"])
        .agg(accounts=("account_id", "size"), flagged=("flagged", "sum"))
        .reset_index()
    )
    g["flagged"] = g["flagged"].astype(int)
    g["rate"] = g["flagged"] / g["accounts"].clip(lower=1)
    tp = int(g.loc[g["group"] == "campaign", "flagged"].sum())
    fp = int(g.loc[g["group"] != "campaign", "flagged"].sum())
    precision = tp / (tp + fp) if tp + fp else math.nan
    return g.sort_values(["group", "name"]).reset_index(drop=True), precision
