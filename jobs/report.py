"""Job: the daily report (`hydrawatch report --date D`): one self-contained HTML page of a day.

What it promises:
- Sections: flagged and published counts over the `HISTORY_DAYS` days up to D, with model
  changes marked and the publish jump gate's band; the day's largest clusters drawn as graphs
  (accounts linked by the kinds of items they share: IP prefix, ASN, payment, e-mail domain,
  system prompt, user agent, script template; flagged members coloured); the reasons behind the
  day's flags by frequency; quarantine reasons over time; drift (PSI per feature against its
  bound, and the day's histograms of the drifted features against their reference window).
- No personal data: shared items are counted by kind on the executors, never collected; the page
  names accounts by their pseudonymous ids only. No network: the charts are PNG images inside the
  page (matplotlib), there is no script and no external link.
- Every section that has no data for the day says so instead of failing (a day without drift
  report, a warehouse without quarantine).
- Written to `<reports>/date=D/report.html` (replacing an earlier one) and logged as an MLflow
  artifact (`reports/<D>/report.html`) of the training run of the model that scored the day.

Gathering (Spark, bounded rows to the driver) is here; drawing is `jobs/report_page.py` (pure).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.graph import account_items
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import files, tables
from jobs import report_page
from jobs.publish import JUMP_FACTOR, JUMP_HISTORY_DAYS, JUMP_MIN_COUNT
from models import champion

HISTORY_DAYS = 30
TOP_CLUSTERS = 3
MAX_NODES = 40  # members drawn per cluster (the flagged first)
TOP_REASONS = 15
DRIFT_HISTOGRAMS = 4
HISTOGRAM_SAMPLE = 5000
LINK_KINDS = ("ip_prefix", "payment", "email_domain", "system_prompt")


@dataclass(frozen=True)
class ReportResult:
    day: dt.date
    path: str
    sections: tuple[str, ...]  # the sections that had data
    mlflow_run_id: str | None


def run_report(rt: Runtime, day: dt.date) -> ReportResult:
    warehouse = rt.warehouse
    if warehouse.day(tables.GOLD_ACCOUNT_SCORES, day) is None:
        raise HydrawatchError(f"{day} is not scored: run `hydrawatch daily --date {day}` first")
    start = day - dt.timedelta(days=HISTORY_DAYS - 1)
    data = report_page.ReportData(
        day=day,
        counts=_counts(rt, start, day),
        gate=(JUMP_FACTOR, JUMP_HISTORY_DAYS, JUMP_MIN_COUNT),
        clusters=_clusters(rt, day),
        reasons=_reasons(rt, day),
        quarantine=_quarantine(rt, start, day),
        drift=_drift(rt, day),
        histograms=_histograms(rt, day),
    )
    html = report_page.render(data)
    folder = f"{rt.settings.reports_uri}/date={day.isoformat()}"
    files.make_dirs(folder)
    path = f"{folder}/report.html"
    with files.write_stream(path) as out:
        out.write(html.encode("utf-8"))
    run_id = _log_to_mlflow(rt, day, html)
    return ReportResult(day, path, report_page.sections_with_data(data), run_id)


def _counts(rt: Runtime, start: dt.date, day: dt.date) -> pd.DataFrame:
    """score_date, flagged, model_version (the day's, comma-joined if several), published."""
    warehouse = rt.warehouse
    scores = warehouse.read(tables.GOLD_ACCOUNT_SCORES).where(
        F.col("score_date").between(start, day)
    )
    per_day = (
        scores.groupBy("score_date")
        .agg(
            F.sum(F.col("flagged").cast("int")).alias("flagged"),
            F.concat_ws(",", F.sort_array(F.collect_set("model_version"))).alias("model_version"),
        )
        .toPandas()
    )
    published = warehouse.read_if_exists(tables.PUBLICATIONS)
    if published is not None:
        rows = (
            published.where(F.col("score_date").between(start, day))
            .select("score_date", F.col("row_count").alias("published"))
            .toPandas()
        )
        per_day = per_day.merge(rows, on="score_date", how="left")
    else:
        per_day["published"] = pd.NA
    return per_day.sort_values("score_date").reset_index(drop=True)


def _clusters(rt: Runtime, day: dt.date) -> list[report_page.ClusterGraph]:
    warehouse = rt.warehouse
    details = warehouse.day(tables.FLAG_DETAILS, day)
    features = warehouse.day(tables.FEATURES_ACCOUNT, day)
    if details is None or features is None:
        return []
    top = (
        details.where(F.col("cluster_id").isNotNull())
        .groupBy("cluster_kind", "cluster_id")
        .count()
        .orderBy(F.col("count").desc(), "cluster_id")
        .limit(TOP_CLUSTERS)
        .collect()
    )
    scores = warehouse.day(tables.GOLD_ACCOUNT_SCORES, day).select("account_id", "flagged")
    silver = warehouse.read_if_exists(tables.SILVER_ACCOUNT_DAILY)
    snapshot = warehouse.latest_snapshot(day)
    out = []
    for c in top:
        column = "coord_cluster_id" if c["cluster_kind"] == "coordination" else "infra_cluster_id"
        if column not in features.columns:
            continue
        members = (
            features.where(F.col(column) == c["cluster_id"])
            .select("account_id")
            .join(scores, "account_id", "left")
            .orderBy(F.col("flagged").desc_nulls_last(), "account_id")
            .limit(MAX_NODES)
        )
        nodes = [(r["account_id"], bool(r["flagged"])) for r in members.collect()]
        edges = (
            _shared_kinds(silver, snapshot, day, [n for n, _ in nodes])
            if silver is not None and snapshot is not None
            else []
        )
        out.append(report_page.ClusterGraph(c["cluster_kind"], c["cluster_id"], nodes, edges))
    return out


def _shared_kinds(
    silver: DataFrame, snapshot: DataFrame, day: dt.date, accounts: list[str]
) -> list[tuple[str, str, tuple[str, ...]]]:
    """(account a, account b, kinds of items they share) among `accounts`. The items themselves
    (IP prefixes, payment fingerprints, ...) stay on the executors."""
    mine = F.col("account_id").isin(accounts)
    items = account_items(silver.where(mine), snapshot.where(mine), day)
    templates = (
        silver.where(mine & (F.col("event_date") == F.lit(day)))
        .select(
            "account_id",
            F.lit("template").alias("kind"),
            F.explode(F.map_keys("template_counts")).alias("item"),
        )
        .distinct()
    )
    # ASNs and user agents are shared by whole clouds and SDKs: not links worth drawing.
    both = items.where(F.col("kind").isin(list(LINK_KINDS))).unionByName(templates)
    a, b = both.alias("a"), both.alias("b")
    pairs = (
        a.join(b, (F.col("a.kind") == F.col("b.kind")) & (F.col("a.item") == F.col("b.item")))
        .where(F.col("a.account_id") < F.col("b.account_id"))
        .groupBy(F.col("a.account_id").alias("x"), F.col("b.account_id").alias("y"))
        .agg(F.sort_array(F.collect_set(F.col("a.kind"))).alias("kinds"))
        .collect()
    )
    return [(r["x"], r["y"], tuple(r["kinds"])) for r in pairs]


def _reasons(rt: Runtime, day: dt.date) -> pd.DataFrame:
    details = rt.warehouse.day(tables.FLAG_DETAILS, day)
    if details is None:
        return pd.DataFrame(columns=["feature", "accounts"])
    return (
        details.select("account_id", F.explode("reasons").alias("r"))
        .groupBy(F.col("r.feature").alias("feature"))
        .agg(F.count_distinct("account_id").alias("accounts"))
        .orderBy(F.col("accounts").desc(), "feature")
        .limit(TOP_REASONS)
        .toPandas()
    )


def _quarantine(rt: Runtime, start: dt.date, day: dt.date) -> pd.DataFrame:
    quarantine = rt.warehouse.read_if_exists(tables.BRONZE_QUARANTINE)
    if quarantine is None:
        return pd.DataFrame(columns=["delivery_date", "reason", "lines"])
    return (
        quarantine.where(F.col("delivery_date").between(start, day))
        .groupBy("delivery_date", "reason")
        .agg(F.count(F.lit(1)).alias("lines"))
        .orderBy("delivery_date", "reason")
        .toPandas()
    )


def _drift(rt: Runtime, day: dt.date) -> pd.DataFrame:
    report = rt.warehouse.day(tables.DRIFT, day)
    if report is None:
        return pd.DataFrame(columns=["feature", "psi", "bound", "drifted"])
    return (
        report.select("feature", "psi", "bound", "drifted", "reference_start", "reference_end")
        .orderBy(F.col("psi").desc(), "feature")
        .toPandas()
    )


def _histograms(rt: Runtime, day: dt.date) -> list[report_page.Histogram]:
    warehouse = rt.warehouse
    report = warehouse.day(tables.DRIFT, day)
    features = warehouse.read_if_exists(tables.FEATURES_ACCOUNT)
    if report is None or features is None:
        return []
    drifted = (
        report.where(F.col("drifted") & F.col("feature").isin(list(features.columns)))
        .orderBy(F.col("psi").desc(), "feature")
        .limit(DRIFT_HISTOGRAMS)
        .collect()
    )
    out = []
    for r in drifted:
        name = r["feature"]
        window = F.col("feature_date").between(r["reference_start"], r["reference_end"])

        def sample(where, name=name):
            rows = features.where(where).select(F.col(name).cast("double").alias("v"))
            return [x["v"] for x in rows.limit(HISTOGRAM_SAMPLE).collect() if x["v"] is not None]

        out.append(
            report_page.Histogram(
                name,
                float(r["psi"]),
                sample(F.col("feature_date") == F.lit(day)),
                sample(window),
            )
        )
    return out


def _log_to_mlflow(rt: Runtime, day: dt.date, html: str) -> str | None:
    """Beside the training run of the model that scored the day (None when it has none)."""
    import tempfile
    from pathlib import Path

    versions = (
        rt.warehouse.day(tables.GOLD_ACCOUNT_SCORES, day)
        .select("model_version")
        .distinct()
        .limit(2)
        .collect()
    )
    if len(versions) != 1:
        return None
    run_id = champion.version(rt, str(versions[0]["model_version"])).run_id
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "report.html"
        local.write_text(html, encoding="utf-8")
        rt.mlflow.log_artifact(run_id, str(local), f"reports/{day.isoformat()}")
    return run_id
