"""`hydrawatch evaluate --holdout-campaign C --as-of D [--end E]`: leave one campaign out.

What it promises: for each campaign C asked (every campaign of the simulator's truth with
`all`), a model is trained as `hydrawatch retrain --as-of D` would train it, except that every
label of C's accounts is ignored (`models.inputs.training_frame(unlabel=...)`: C's accounts are
unlabelled, so once mature they may even be sampled as negatives, as a style nobody has labelled
yet would be). The feature days after D up to E are then scored the way the daily score job
scores them: the model's threshold, the cluster roll-up and the structural flags
(`models.scoring`), which need no label. Reported per held-out campaign: its recall over its
accounts active in the scored days, the share of those flagged by structure alone, days from its
first request (or the first scored day) until half its active accounts are flagged, precision
over every flagged account, and the worst legitimate population's false-positive rate; with the
campaigns still labelled, their recall (no loss on labelled styles). One row `(none)` is the
model trained on every label, for comparison.

Nothing is registered and no table is written: the figures are logged to one MLflow run
(`hydrawatch.kind = holdout`) with the table as `holdout/campaigns.csv` and the per-population
rates as `holdout/populations.csv`. Needs the simulator's truth and features for D..E.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.clusters import cluster_evidence, org_sizes
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from models import scoring
from models.evaluation import ACTIVE_FEATURE
from models.holdout import campaign_figures, population_figures
from models.inputs import current_labels, read_truth, training_frame
from models.registry import ensure_experiment
from models.scoring import StructureRule
from models.train import train_on

ALL_LABELS = "(none)"  # the row of the model trained on every label


@dataclass(frozen=True)
class HoldoutResult:
    run_id: str
    as_of: dt.date
    end: dt.date
    seed: int
    campaigns: pd.DataFrame  # one row per held-out campaign (and ALL_LABELS)
    populations: pd.DataFrame  # held_out, group, name, accounts, flagged, rate


def _scored_days(rt: Runtime, as_of: dt.date, end: dt.date) -> DataFrame:
    gold = rt.warehouse.read(tables.FEATURES_ACCOUNT)
    days = gold.where(
        (F.col("feature_date") > F.lit(as_of)) & (F.col("feature_date") <= F.lit(end))
    )
    if days.select("feature_date").distinct().count() != (end - as_of).days:
        raise HydrawatchError(
            f"the holdout scores every day after {as_of} up to {end}, and some have no features: "
            f"run `hydrawatch backfill --start {as_of + dt.timedelta(days=1)} --end {end} "
            "--steps ingest,features`"
        )
    return days


def _structure(rt: Runtime, days: DataFrame, as_of: dt.date, end: dt.date):
    """(clusters flagged on structure over the scored days or None when the flags are off,
    org sizes as pandas: the roll-up's organisation guard holds either way, as in the score job)."""
    wh = rt.warehouse
    snapshot = wh.latest_snapshot(end)
    if snapshot is None:
        raise HydrawatchError(f"no accounts snapshot on or before {end}: run the ingest first")
    orgs = snapshot.select("account_id", "org_id")
    if not rt.settings.structure_flags:
        return None, org_sizes(orgs).toPandas()
    silver = wh.read(tables.SILVER_ACCOUNT_DAILY).where(
        (F.col("event_date") > F.lit(as_of)) & (F.col("event_date") <= F.lit(end))
    )
    evidence = cluster_evidence(days, silver, orgs)
    rule = StructureRule.from_settings(rt.settings)
    return scoring.structure_flags(evidence, rule).localCheckpoint(), org_sizes(orgs).toPandas()


def _first_requests(rt: Runtime, truth: DataFrame) -> dict[str, dt.date]:
    silver = rt.warehouse.read(tables.SILVER_ACCOUNT_DAILY)
    rows = (
        silver.groupBy("account_id")
        .agg(F.min("event_date").alias("first"))
        .join(truth.where(F.col("is_attacker")).select("account_id", "campaign_id"), "account_id")
        .groupBy("campaign_id")
        .agg(F.min("first").alias("first"))
        .collect()
    )
    return {r["campaign_id"]: r["first"] for r in rows}


def _labelled_campaigns(rt: Runtime, truth: DataFrame, as_of: dt.date) -> dict[str, int]:
    """Labelled accounts per campaign that a retrain as of `as_of` sees."""
    labels = current_labels(rt.warehouse.read(tables.BRONZE_LABELS), as_of)
    rows = (
        labels.select("account_id")
        .distinct()
        .join(truth.where(F.col("is_attacker")).select("account_id", "campaign_id"), "account_id")
        .groupBy("campaign_id")
        .count()
        .collect()
    )
    return {r["campaign_id"]: int(r["count"]) for r in rows}


def _flags(
    rt: Runtime, frame_pdf: pd.DataFrame, scored: pd.DataFrame, threshold: float, structure
) -> pd.DataFrame:
    """The roll-up of one model's scores: (account_id, feature_date, flagged, flagged_by) of the
    active account-days."""
    spark = rt.spark
    base = frame_pdf[["account_id", "feature_date", "infra_cluster_id", "coord_cluster_id"]].copy()
    base["flagged_by_score"] = scored["score"].to_numpy() >= threshold
    # An account counts on the days it sent traffic (jobs/evaluate.py's rule); a feature table
    # without the day's request count counts every row.
    if ACTIVE_FEATURE in frame_pdf:
        base["_active"] = frame_pdf[ACTIVE_FEATURE].to_numpy() > 0
    else:
        base["_active"] = True
    clusters, orgs = structure
    if orgs is not None:
        base = base.merge(orgs, on="account_id", how="left")
        base["org_accounts"] = base["org_accounts"].fillna(0).astype("int64")
    sdf = spark.createDataFrame(base)
    rule = StructureRule.from_settings(rt.settings)
    rolled = scoring.cluster_rollup(sdf, structure=clusters, rule=rule)
    out = rolled.where(F.col("_active")).select(
        "account_id", "feature_date", "flagged", "flagged_by"
    )
    return out.toPandas()


def run_holdout(
    rt: Runtime,
    as_of: dt.date,
    end: dt.date | None = None,
    campaigns: list[str] | None = None,
    seed: int | None = None,
) -> HoldoutResult:
    import mlflow

    settings, wh = rt.settings, rt.warehouse
    seed = settings.train_seed if seed is None else seed
    truth, truth_version = read_truth(wh)
    if truth is None:
        raise HydrawatchError(
            f"no truth table at {settings.truth_uri}/accounts: the holdout needs the simulator's "
            "truth (run `hydrawatch simulate`)"
        )
    if end is None:
        end = wh.read(tables.FEATURES_ACCOUNT).agg(F.max("feature_date")).first()[0]
    if end is None or end <= as_of:
        raise HydrawatchError(f"no feature day after {as_of} to score: give --end after --as-of")
    known = sorted(
        r["campaign_id"]
        for r in truth.where(F.col("is_attacker")).select("campaign_id").distinct().collect()
    )
    asked = known if not campaigns or campaigns == ["all"] else campaigns
    unknown = [c for c in asked if c not in known]
    if unknown:
        raise HydrawatchError(
            f"unknown campaign(s) {', '.join(unknown)}; the truth holds {', '.join(known)}"
        )

    days = _scored_days(rt, as_of, end)
    structure = _structure(rt, days, as_of, end)
    truth_pdf = truth.select("account_id", "population", "campaign_id", "is_attacker").toPandas()
    first = _first_requests(rt, truth)
    labelled = _labelled_campaigns(rt, truth, as_of)

    rows, pops = [], []
    frame_pdf = None
    for held_out in [ALL_LABELS, *asked]:
        unlabel = (
            None
            if held_out == ALL_LABELS
            else truth.where(F.col("campaign_id") == held_out).select("account_id")
        )
        frame = training_frame(rt, as_of, seed=seed, unlabel=unlabel)
        if frame_pdf is None:
            frame_pdf = days.select(
                "account_id",
                "feature_date",
                "infra_cluster_id",
                "coord_cluster_id",
                *[
                    F.col(n).cast("double").alias(n)
                    for n in dict.fromkeys([*frame.feature_names, ACTIVE_FEATURE])
                    if n in days.columns
                ],
            ).toPandas()
        fit, _, _ = train_on(
            frame, settings.target_precision, seed, min_threshold=settings.train_min_threshold
        )
        scored = fit.score(frame_pdf)
        flags = _flags(rt, frame_pdf, scored, fit.bundle.threshold, structure)
        groups, precision = population_figures(flags, truth_pdf)
        legit = groups[groups["group"] == "legit_population"]
        worst = legit.sort_values("rate", ascending=False).head(1)
        others = groups[(groups["group"] == "campaign") & (groups["name"] != held_out)]
        row = {
            "held_out": held_out,
            "labelled_accounts": labelled.get(held_out, 0) if held_out != ALL_LABELS else None,
            "threshold": fit.bundle.threshold,
            "precision": precision,
            "worst_legit_fpr": float(worst["rate"].iloc[0]) if len(worst) else 0.0,
            "worst_legit_population": str(worst["name"].iloc[0]) if len(worst) else "",
            "legit_flagged": int(legit["flagged"].sum()),
            "min_other_recall": float(others["rate"].min()) if len(others) else math.nan,
        }
        if held_out != ALL_LABELS:
            c = campaign_figures(flags, truth_pdf, held_out, first.get(held_out))
            row.update(
                accounts=c.accounts,
                flagged=c.flagged,
                recall=c.recall,
                structure_share=c.structure_share,
                days_to_half=c.days_to_half,
            )
        rows.append(row)
        pops.append(groups.assign(held_out=held_out))

    table = pd.DataFrame(rows)
    populations = pd.concat(pops, ignore_index=True)
    experiment_id = ensure_experiment(rt)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"holdout-{as_of.isoformat()}"
    ) as run:
        mlflow.set_tags({"hydrawatch.kind": "holdout", "as_of": as_of.isoformat()})
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "end": end.isoformat(),
                "seed": seed,
                "campaigns": ",".join(asked),
                "structure_flags": settings.structure_flags,
                "data_version.truth/accounts": truth_version,
            }
        )
        metrics = {}
        for r in rows:
            for m in ("recall", "precision", "worst_legit_fpr", "days_to_half", "min_other_recall"):
                v = r.get(m)
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    metrics[f"{r['held_out']}.{m}".replace("(", "").replace(")", "")] = float(v)
        mlflow.log_metrics(metrics)
        mlflow.log_text(table.to_csv(index=False), "holdout/campaigns.csv")
        mlflow.log_text(populations.to_csv(index=False), "holdout/populations.csv")
        mlflow.log_text(json.dumps(rows, default=str), "holdout/campaigns.json")
    return HoldoutResult(run.info.run_id, as_of, end, seed, table, populations)
