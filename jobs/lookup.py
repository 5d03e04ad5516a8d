"""Jobs: look at one published day (`hydrawatch show`) or one account (`hydrawatch explain`).

What they promise:
- Read only: gold/suspicious_accounts, gold/account_scores, gold/flag_details and
  gold/account_features, and the model version that scored the day (to explain an account it did
  not flag). Nothing personal is read or printed: no client IP, e-mail or payment column is
  selected, and organisation ids are the only account attributes shown.
- `run_show(rt, day, limit, offset)`: the day's published list ordered by score (then account),
  one page of it, with the counts per risk tier and the largest clusters.
- `run_explain(rt, account, day)`: the account's score and whether it was flagged (by score, by
  its cluster or by structure) with the threshold and model version; its top contributions with
  what each feature means (`features.catalogue`), from the day's flag details when flagged, else
  from the model that scored the day; its clusters with their members' status that day; the days
  it was flagged before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import functions as F

from features.catalogue import FEATURES
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from models import champion

MEANINGS = {f.name: f.meaning for f in FEATURES}
TOP_CONTRIBUTIONS = 5
MEMBERS_SHOWN = 10
CLUSTERS_SHOWN = 5
CLUSTER_COLUMNS = ("coord_cluster_id", "infra_cluster_id")


class NotFound(HydrawatchError):
    """The day or the account is not in the tables."""


@dataclass(frozen=True)
class ShowResult:
    day: dt.date
    total: int
    offset: int
    rows: tuple[dict, ...]  # account_id, org_id, score, risk_tier, flagged_by, cluster, reasons
    tiers: dict[str, int]
    clusters: tuple[tuple[str, str, int], ...]  # (kind, id, flagged members)


def run_show(rt: Runtime, day: dt.date, limit: int = 50, offset: int = 0) -> ShowResult:
    published = rt.warehouse.day(tables.GOLD_SUSPICIOUS_ACCOUNTS, day)
    total = 0 if published is None else published.count()
    if total == 0:
        raise NotFound(
            f"nothing published for {day}: run `hydrawatch daily --date {day}` (or publish it)"
        )
    ordered = published.orderBy(F.col("score").desc(), "account_id")
    page = ordered.limit(offset + limit).collect()[offset:]
    rows = tuple(
        {
            "account_id": r["account_id"],
            "org_id": r["org_id"],
            "score": float(r["score"]),
            "risk_tier": r["risk_tier"],
            "flagged_by": r["flagged_by"],
            "cluster": f"{r['cluster_kind'] or '-'} {r['cluster_id'] or '-'} "
            f"({r['cluster_size'] or 0})",
            "reasons": r["reasons_text"] or "",
        }
        for r in page
    )
    tiers = {
        r["risk_tier"]: int(r["count"]) for r in published.groupBy("risk_tier").count().collect()
    }
    clusters = (
        published.where(F.col("cluster_id").isNotNull())
        .groupBy("cluster_kind", "cluster_id")
        .count()
        .orderBy(F.col("count").desc(), "cluster_id")
        .limit(CLUSTERS_SHOWN)
        .collect()
    )
    return ShowResult(
        day,
        total,
        offset,
        rows,
        tiers,
        tuple((c["cluster_kind"], c["cluster_id"], int(c["count"])) for c in clusters),
    )


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float
    contribution: float
    meaning: str


@dataclass(frozen=True)
class ClusterView:
    kind: str  # "coordination" or "infrastructure"
    cluster_id: str
    members: int
    flagged: int
    shown: tuple[tuple[str, bool], ...]  # (account_id, flagged that day), flagged first


@dataclass(frozen=True)
class Explanation:
    account_id: str
    day: dt.date
    score: float
    flagged: bool
    flagged_by: str | None  # "score", "cluster", "structure", or None
    threshold: float | None
    model_version: str
    contributions: tuple[Contribution, ...]
    rollup_reason: str | None
    clusters: tuple[ClusterView, ...]
    flagged_days: tuple[dt.date, ...]  # every day the account was flagged, up to `day`


def run_explain(rt: Runtime, account_id: str, day: dt.date) -> Explanation:
    warehouse = rt.warehouse
    scores = warehouse.day(tables.GOLD_ACCOUNT_SCORES, day)
    if scores is None or scores.limit(1).count() == 0:
        raise NotFound(f"{day} is not scored: run `hydrawatch daily --date {day}` first")
    mine = scores.where(F.col("account_id") == account_id).collect()
    if not mine:
        raise NotFound(
            f"account {account_id} was not scored on {day} (no traffic in its feature window)"
        )
    row = mine[0]
    details = warehouse.day(tables.FLAG_DETAILS, day)
    detail = (
        details.where(F.col("account_id") == account_id).collect() if details is not None else []
    )
    features = warehouse.day(tables.FEATURES_ACCOUNT, day)
    if detail:
        d = detail[0]
        contributions = tuple(
            Contribution(
                r["feature"], r["value"], r["contribution"], MEANINGS.get(r["feature"], "")
            )
            for r in (d["reasons"] or [])[:TOP_CONTRIBUTIONS]
        )
        flagged_by, threshold, rollup = d["flagged_by"], d["threshold"], d["rollup_reason"]
    else:
        model = champion.version(rt, row["model_version"])
        contributions = _contributions(rt, model, features, account_id)
        flagged_by, threshold, rollup = None, model.threshold, None
    history = warehouse.read(tables.GOLD_ACCOUNT_SCORES).where(
        (F.col("account_id") == account_id) & F.col("flagged") & (F.col("score_date") <= day)
    )
    flagged_days = tuple(sorted(r["score_date"] for r in history.select("score_date").collect()))
    return Explanation(
        account_id,
        day,
        float(row["score"]),
        bool(row["flagged"]),
        flagged_by,
        float(threshold) if threshold is not None else None,
        str(row["model_version"]),
        contributions,
        rollup,
        _clusters(features, scores, account_id) if features is not None else (),
        flagged_days,
    )


def _contributions(rt, model, features, account_id) -> tuple[Contribution, ...]:
    """The model's top positive contributions for one unflagged account (scored on the driver:
    one row)."""
    if features is None:
        return ()
    one = features.where(F.col("account_id") == account_id).toPandas()
    if one.empty:
        return ()
    with champion.load(rt, model) as loaded:
        predicted = loaded.predict(one).iloc[0]
    found = [
        (name, float(one.iloc[0][name]), float(predicted[f"contrib__{name}"]))
        for name in model.feature_names
        if f"contrib__{name}" in predicted.index
    ]
    top = sorted((f for f in found if f[2] > 0), key=lambda f: (-f[2], f[0]))
    return tuple(Contribution(n, v, c, MEANINGS.get(n, "")) for n, v, c in top[:TOP_CONTRIBUTIONS])


def _clusters(features, scores, account_id) -> tuple[ClusterView, ...]:
    present = [c for c in CLUSTER_COLUMNS if c in features.columns]
    if not present:
        return ()
    own = features.where(F.col("account_id") == account_id).select(*present).collect()
    if not own:
        return ()
    out = []
    for column in present:
        cluster_id = own[0][column]
        if cluster_id is None:
            continue
        members = (
            features.where(F.col(column) == cluster_id)
            .select("account_id")
            .join(scores.select("account_id", "flagged"), "account_id", "left")
        )
        counts = members.agg(
            F.count(F.lit(1)).alias("members"),
            F.sum(F.col("flagged").cast("int")).alias("flagged"),
        ).first()
        listed = (
            members.orderBy(F.col("flagged").desc_nulls_last(), "account_id")
            .limit(MEMBERS_SHOWN)
            .collect()
        )
        out.append(
            ClusterView(
                "coordination" if column.startswith("coord") else "infrastructure",
                str(cluster_id),
                int(counts["members"]),
                int(counts["flagged"] or 0),
                tuple((m["account_id"], bool(m["flagged"])) for m in listed),
            )
        )
    return tuple(out)
