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

Gathering (Spark, bounded rows to the driver) is here; drawing is `jobs/py` (pure).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from features.graph import account_items
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import files, tables
from models import champion
from models.publish_gate import JUMP_FACTOR, JUMP_HISTORY_DAYS, JUMP_MIN_COUNT

HISTORY_DAYS = 30
TOP_CLUSTERS = 3
MAX_NODES = 40  # members drawn per cluster (the flagged first)
TOP_REASONS = 15
DRIFT_HISTOGRAMS = 4
HISTOGRAM_SAMPLE = 5000
LINK_KINDS = ("ip_prefix", "payment", "email_domain", "system_prompt")


KIND_COLOURS = {
    "ip_prefix": "#d62728",
    "payment": "#9467bd",
    "system_prompt": "#1f77b4",
    "template": "#2ca02c",
    "email_domain": "#8c564b",
}
FLAGGED, NOT_FLAGGED = "#d62728", "#bbbbbb"


@dataclass(frozen=True)
class ClusterGraph:
    kind: str
    cluster_id: str
    nodes: list[tuple[str, bool]]  # (account_id, flagged)
    edges: list[tuple[str, str, tuple[str, ...]]]  # (a, b, kinds shared)


@dataclass(frozen=True)
class Histogram:
    feature: str
    psi: float
    day_values: list[float]
    reference_values: list[float]


@dataclass(frozen=True)
class ReportData:
    day: dt.date
    counts: pd.DataFrame  # score_date, flagged, model_version, published
    gate: tuple[float, int, int]  # jump factor, history days, minimum count
    clusters: list[ClusterGraph] = field(default_factory=list)
    reasons: pd.DataFrame = field(default_factory=pd.DataFrame)  # feature, accounts
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)  # delivery_date, reason, lines
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)  # feature, psi, bound, drifted
    histograms: list[Histogram] = field(default_factory=list)


@dataclass(frozen=True)
class ReportResult:
    day: dt.date
    path: str
    sections: tuple[str, ...]  # the sections that had data
    mlflow_run_id: str | None


def run_report(rt: Runtime, day: dt.date) -> ReportResult:
    warehouse = rt.warehouse
    scored = warehouse.day(tables.GOLD_ACCOUNT_SCORES, day)
    if scored is None or scored.limit(1).count() == 0:
        raise HydrawatchError(f"{day} is not scored: run `hydrawatch daily --date {day}` first")
    start = day - dt.timedelta(days=HISTORY_DAYS - 1)
    drift = _drift(rt, day)
    data = ReportData(
        day=day,
        counts=_counts(rt, start, day),
        gate=(JUMP_FACTOR, JUMP_HISTORY_DAYS, JUMP_MIN_COUNT),
        clusters=_clusters(rt, day),
        reasons=_reasons(rt, day),
        quarantine=_quarantine(rt, start, day),
        drift=drift,
        histograms=_histograms(rt, day, drift),
    )
    html = render(data)
    folder = f"{rt.settings.reports_uri}/date={day.isoformat()}"
    files.make_dirs(folder)
    path = f"{folder}/report.html"
    with files.write_stream(path) as out:
        out.write(html.encode("utf-8"))
    run_id = _log_to_mlflow(rt, day, html)
    return ReportResult(day, path, sections_with_data(data), run_id)


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


def _clusters(rt: Runtime, day: dt.date) -> list[ClusterGraph]:
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
        out.append(ClusterGraph(c["cluster_kind"], c["cluster_id"], nodes, edges))
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


def _histograms(rt: Runtime, day: dt.date, drift: pd.DataFrame) -> list[Histogram]:
    """The day's values of the most drifted features against their reference window."""
    features = rt.warehouse.read_if_exists(tables.FEATURES_ACCOUNT)
    if drift.empty or features is None:
        return []
    drifted = drift[drift["drifted"] & drift["feature"].isin(features.columns)]
    out = []
    for r in drifted.head(DRIFT_HISTOGRAMS).itertuples():
        name = r.feature
        window = F.col("feature_date").between(r.reference_start, r.reference_end)

        def sample(where, name=name):
            rows = features.where(where).select(F.col(name).cast("double").alias("v"))
            return [x["v"] for x in rows.limit(HISTOGRAM_SAMPLE).collect() if x["v"] is not None]

        out.append(
            Histogram(
                name, float(r.psi), sample(F.col("feature_date") == F.lit(day)), sample(window)
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


# --- drawing (pure) ------------------------------------------------------------------------


def sections_with_data(data: ReportData) -> tuple[str, ...]:
    present = {
        "counts": not data.counts.empty,
        "clusters": bool(data.clusters),
        "reasons": not data.reasons.empty,
        "quarantine": not data.quarantine.empty,
        "drift": not data.drift.empty,
    }
    return tuple(k for k, v in present.items() if v)


def gate_band(published: list[float], factor: float, history: int, minimum: int) -> list[float]:
    """Per day: the most that day could publish without the jump gate holding it (NaN without
    history). Pure: `factor` x the median of the up to `history` published days before it, and
    never below `minimum`."""
    out = []
    for i in range(len(published)):
        before = [p for p in published[max(0, i - history) : i] if not math.isnan(p)]
        if not before:
            out.append(float("nan"))
            continue
        ordered = sorted(before)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        out.append(max(factor * median, float(minimum)))
    return out


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{encoded}">'


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _counts_chart(data: ReportData) -> str:
    plt = _plt()
    c = data.counts
    days = [str(d) for d in c["score_date"]]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(days, c["flagged"].astype(float), marker="o", label="flagged")
    published = pd.to_numeric(c.get("published"), errors="coerce").astype(float).tolist()
    ax.plot(days, published, marker="s", label="published")
    band = gate_band(published, *data.gate)
    below = [b if not math.isnan(b) else 0 for b in band]
    ax.fill_between(days, 0, below, alpha=0.12, label="below the jump gate")
    versions = c["model_version"].tolist()
    for i in range(1, len(versions)):
        if versions[i] != versions[i - 1]:
            ax.axvline(days[i], color="grey", linestyle=":")
            ax.text(days[i], ax.get_ylim()[1] * 0.95, f"v{versions[i]}", fontsize=8)
    ax.set(ylabel="accounts", title=f"flagged and published, {days[0]} .. {days[-1]}")
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def _cluster_chart(graph: ClusterGraph) -> str:
    plt = _plt()
    nodes = graph.nodes
    n = max(len(nodes), 1)
    at = {
        a: (math.cos(2 * math.pi * i / n), math.sin(2 * math.pi * i / n))
        for i, (a, _) in enumerate(nodes)
    }
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    # A coordination cluster of 40 accounts all sharing templates is a complete graph: faint
    # edges keep the members (and who is flagged) readable through it.
    alpha = 0.6 if len(graph.edges) <= 150 else 0.12
    for a, b, kinds in graph.edges:
        if a in at and b in at:
            # The strongest kind shared gives the colour (the dict's order: strongest first).
            strongest = next((k for k in KIND_COLOURS if k in kinds), None)
            colour = KIND_COLOURS.get(strongest, "#999999")
            width = 0.6 + 0.6 * len(kinds)
            xs, ys = zip(at[a], at[b], strict=True)
            ax.plot(xs, ys, color=colour, linewidth=width, alpha=alpha)
    for a, flagged in nodes:
        x, y = at[a]
        ax.scatter([x], [y], s=120, color=FLAGGED if flagged else NOT_FLAGGED, zorder=3)
        if len(nodes) <= 25:
            ax.annotate(a, (x, y), fontsize=6, xytext=(4, 4), textcoords="offset points")
    handles = [
        plt.Line2D([], [], color=colour, label=kind) for kind, colour in KIND_COLOURS.items()
    ]
    handles += [
        plt.Line2D([], [], marker="o", linestyle="", color=FLAGGED, label="flagged"),
        plt.Line2D([], [], marker="o", linestyle="", color=NOT_FLAGGED, label="not flagged"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    # Two lines: one line of kind, id and count is wider than the drawing and was cut off.
    ax.set_title(
        f"{graph.kind} cluster {graph.cluster_id}\n{len(nodes)} accounts drawn", fontsize=10
    )
    ax.set_axis_off()
    ax.set_aspect("equal")
    fig.tight_layout()
    return _png(fig)


def _bar_chart(labels: list[str], values: list[float], title: str, xlabel: str, bound=None) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color="#1f77b4")
    if bound is not None:
        ax.axvline(bound, color="#d62728", linestyle="--", label=f"bound {bound:g}")
        ax.legend(fontsize=8)
    ax.set(title=title, xlabel=xlabel)
    fig.tight_layout()
    return _png(fig)


def _quarantine_chart(q: pd.DataFrame) -> str:
    plt = _plt()
    table = q.pivot_table(
        index="delivery_date", columns="reason", values="lines", aggfunc="sum", fill_value=0
    )
    fig, ax = plt.subplots(figsize=(9, 3.5))
    bottom = [0.0] * len(table)
    days = [str(d) for d in table.index]
    for reason in table.columns:
        values = table[reason].astype(float).tolist()
        ax.bar(days, values, bottom=bottom, label=str(reason))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set(ylabel="lines", title="quarantined lines by reason")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def _histogram_chart(h: Histogram) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.hist(h.reference_values, bins=20, density=True, alpha=0.5, label="reference")
    ax.hist(h.day_values, bins=20, density=True, alpha=0.5, label="the day")
    ax.set_title(f"{h.feature} (PSI {h.psi:.2f})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
    "h2{border-bottom:1px solid #ddd;padding-bottom:.2em}"
    "img{max-width:100%;display:block;margin:.5em 0}"
    ".none{color:#777;font-style:italic}"
    ".row{display:flex;flex-wrap:wrap;gap:1em}"
)


def render(data: ReportData) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Hydrawatch {data.day}</title><style>{STYLE}</style></head><body>",
        f"<h1>Hydrawatch daily report: {data.day}</h1>",
        "<p>Pseudonymous account ids only: no IP address, e-mail or payment data.</p>",
        "<h2>Flagged and published</h2>",
    ]
    parts.append(
        _counts_chart(data) if not data.counts.empty else '<p class="none">no scored days</p>'
    )
    parts.append("<h2>Largest clusters of the day</h2>")
    if data.clusters:
        parts.append('<div class="row">')
        parts += [_cluster_chart(g) for g in data.clusters]
        parts.append("</div>")
    else:
        parts.append('<p class="none">no flagged cluster on this day</p>')
    parts.append("<h2>Reasons behind the flags</h2>")
    if not data.reasons.empty:
        parts.append(
            _bar_chart(
                [e(str(f)) for f in data.reasons["feature"]],
                data.reasons["accounts"].astype(float).tolist(),
                "features among the top reasons of flagged accounts",
                "accounts",
            )
        )
    else:
        parts.append('<p class="none">no flagged account on this day</p>')
    parts.append("<h2>Quarantine</h2>")
    if not data.quarantine.empty:
        parts.append(_quarantine_chart(data.quarantine))
    else:
        parts.append('<p class="none">no quarantined line in the window</p>')
    parts.append("<h2>Drift</h2>")
    if not data.drift.empty:
        bound = float(data.drift["bound"].iloc[0])
        top = data.drift.head(20)
        parts.append(
            _bar_chart(
                [e(str(f)) for f in top["feature"]],
                top["psi"].astype(float).tolist(),
                "population stability index (top 20)",
                "PSI",
                bound,
            )
        )
        if data.histograms:
            parts.append('<div class="row">')
            parts += [_histogram_chart(h) for h in data.histograms]
            parts.append("</div>")
    else:
        parts.append('<p class="none">no drift report for this day</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
