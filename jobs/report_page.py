"""The daily report's page: pandas and plain values in, one self-contained HTML string out.

Pure (no Spark, no I/O): `render(ReportData)` draws each chart with matplotlib (Agg) into a PNG
inside the page as a data URI; the page has no script, no stylesheet link and no image from
anywhere else, so it opens offline and sends nothing. Cluster graphs are laid out on a circle
(deterministic: members sorted, flagged first), edges coloured by the kind of item shared.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from dataclasses import dataclass, field

import pandas as pd

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
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for a, b, kinds in graph.edges:
        if a in at and b in at:
            # The strongest kind shared gives the colour (the dict's order: strongest first).
            strongest = next((k for k in KIND_COLOURS if k in kinds), None)
            colour = KIND_COLOURS.get(strongest, "#999999")
            width = 0.6 + 0.6 * len(kinds)
            xs, ys = zip(at[a], at[b], strict=True)
            ax.plot(xs, ys, color=colour, linewidth=width, alpha=0.6)
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
    ax.set_title(f"{graph.kind} cluster {graph.cluster_id}: {len(nodes)} accounts drawn")
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
