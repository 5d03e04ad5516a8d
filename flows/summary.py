"""The markdown summary a run leaves as a Prefect artifact (pure: results in, text out).

The headline answers what an operator asks about a day: rows in, quarantined, accounts scored,
flagged, new clusters, model version, drift, and where the tables and the MLflow run are. The
jobs' typed results are read by field path (`HEADLINE`: the fields those results have), so a job
can add fields without breaking the summary; every scalar field of every step is listed under
"Steps" as well. Result fields hold counts and identifiers only: nothing personal reaches an
artifact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from hydrawatch import webhook
from hydrawatch.settings import Settings
from hydrawatch.storage import tables

# headline line -> (step, field path in that step's result); "a.b" reads a mapping or nested
# result (e.g. the ingest result's per-feed audit).
HEADLINE: dict[str, tuple[str, str]] = {
    "rows in": ("ingest", "feeds.usage_events.lines"),
    "events kept": ("ingest", "feeds.usage_events.kept"),
    "duplicates": ("ingest", "feeds.usage_events.duplicates_within"),
    "quarantined": ("ingest", "feeds.usage_events.quarantined"),
    "late days touched": ("ingest", "touched_event_dates"),
    "accounts with features": ("features", "rows"),
    "earlier days recomputed": ("features", "dirty_days"),
    "accounts scored": ("score", "accounts_scored"),
    "flagged": ("score", "flagged"),
    "flagged by cluster": ("score", "flagged_by_cluster"),
    "new clusters": ("publish", "new_clusters"),
    "model version": ("score", "model_version"),
    "threshold": ("score", "threshold"),
    "published": ("publish", "rows"),
    "export": ("publish", "export_dir"),
    "MLflow run": ("retrain", "run_id"),
}

TABLES_BY_STEP = {
    "ingest": (tables.BRONZE_USAGE_EVENTS, tables.BRONZE_QUARANTINE, tables.INGEST_AUDIT),
    "features": (tables.FEATURES_ACCOUNT,),
    "score": (tables.GOLD_ACCOUNT_SCORES,),
    "retrain": (),
    "publish": (tables.GOLD_SUSPICIOUS_ACCOUNTS,),
    "drift": (tables.DRIFT,),
}


def as_fields(result: Any) -> dict[str, Any]:
    """A step result as {field: value}; dataclasses, mappings and plain objects."""
    if result is None:
        return {}
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    if isinstance(result, Mapping):
        return dict(result)
    return (
        {k: v for k, v in vars(result).items() if not k.startswith("_")}
        if hasattr(result, "__dict__")
        else {"result": result}
    )


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set) and len(value) > 8:
        return f"{len(value)} items"
    if isinstance(value, Mapping) and len(value) > 8:
        return f"{len(value)} entries"
    return str(value).replace("|", "\\|").replace("\n", " ")


def lookup(result: Any, path: str) -> Any:
    """The value at a dotted field path of a result, or None."""
    value = result
    for part in path.split("."):
        fields = as_fields(value) if not isinstance(value, Mapping) else value
        if part not in fields:
            return None
        value = fields[part]
    return value


def headline(results: Mapping[str, Any]) -> dict[str, Any]:
    """The headline values found in the step results (missing ones left out)."""
    out: dict[str, Any] = {}
    for label, (step, path) in HEADLINE.items():
        value = lookup(results.get(step), path)
        if value is not None:
            out[label] = value
    # Quarantine of every feed, not only usage events.
    feeds = lookup(results.get("ingest"), "feeds")
    if isinstance(feeds, Mapping):
        out["quarantined (all feeds)"] = sum(lookup(a, "quarantined") or 0 for a in feeds.values())
    return out


def flat_fields(result: Any, prefix: str = "") -> dict[str, Any]:
    """Scalar fields of a result, nested results flattened to `a.b` (lists and maps summarised)."""
    out: dict[str, Any] = {}
    for key, value in as_fields(result).items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(flat_fields(value, f"{name}."))
        elif isinstance(value, Mapping) and any(
            dataclasses.is_dataclass(v) for v in value.values()
        ):
            for sub, item in value.items():
                out.update(flat_fields(item, f"{name}.{sub}."))
        elif isinstance(value, list | tuple) and any(dataclasses.is_dataclass(v) for v in value):
            out[name] = f"{len(value)} items"
        else:
            out[name] = value
    return out


def day_markdown(
    day: dt.date,
    settings: Settings,
    results: Mapping[str, Any],
    skipped: list[str],
    error: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    status = f"FAILED: {error}" if error else "completed"
    lines = [f"# Hydrawatch day {day.isoformat()}: {status}", ""]
    head = headline(results)
    head.update(extra or {})
    if head:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in head.items()]
        lines.append("")
    if skipped:
        lines.append(f"Skipped (already done for the same inputs): {', '.join(skipped)}")
        lines.append("")
    for step, result in results.items():
        fields = flat_fields(result)
        if not fields:
            continue
        lines += [f"## {step}", "", "| field | value |", "|---|---|"]
        lines += [f"| {k} | {fmt(v)} |" for k, v in fields.items()]
        lines.append("")
    where = [
        f"- `{t.location(settings)}`" for step in results for t in TABLES_BY_STEP.get(step, ())
    ]
    if where:
        lines += ["## Where to look", "", *where]
        # A tracking URI can carry a user and password (an MLflow server behind basic auth).
        tracking = settings.tracking_uri
        tracking = webhook.redact_url(tracking) if "://" in tracking else tracking
        lines.append(f"- MLflow: `{tracking}` model `{settings.model_name}`")
    return "\n".join(lines) + "\n"


def artifact_key(kind: str, day: dt.date | None = None) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return f"hydrawatch-{kind}" + (f"-{day.isoformat()}" if day else "")


def cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3f}"  # NaN -> empty
    return str(value)


def evaluation_markdown(result: Any) -> str:
    """The evaluation report (jobs.evaluate.EvaluateResult) as a markdown table per group."""
    window = f"{result.start}..{result.as_of}" if result.start else f"up to {result.as_of}"
    lines = [
        f"# Hydrawatch evaluation {window}",
        "",
        f"Model version(s) {result.model_version}, flags from `{result.source}`, "
        f"MLflow run `{result.run_id}`.",
        "",
        "| overall | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {cell(v)} |" for k, v in result.overall.items()]
    lines += ["", *frame_markdown(result.report)]
    return "\n".join(lines) + "\n"


def frame_markdown(frame: Any) -> list[str]:
    """A pandas frame as markdown table lines."""
    return table_lines(list(frame.columns), [list(r) for r in frame.itertuples(index=False)])


def table_lines(header: list[str], rows: list[list[Any]]) -> list[str]:
    """Markdown table lines of `rows` under `header`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def shadow_markdown(result: Any) -> str:
    """A shadow run (jobs.shadow.ShadowResult) as markdown."""
    lines = [
        f"# Hydrawatch shadow: v{result.model_version} on {result.start}..{result.end}",
        "",
        f"Champion: v{result.champion_version or '-'}; nothing published, tables "
        f"`{result.scores_table}` and `{result.details_table}`.",
        "",
        *table_lines(
            ["day", "scored", "flagged", "by score", "by cluster"],
            [
                [
                    d.score_date,
                    d.accounts_scored,
                    d.flagged,
                    d.flagged_by_score,
                    d.flagged_by_cluster,
                ]
                for d in result.days
            ],
        ),
    ]
    return "\n".join(lines) + "\n"


def maintain_markdown(result: Any) -> str:
    """A maintenance run (jobs.maintain.MaintainResult) as markdown."""
    header = ["table", "files before", "files after", "MB before", "MB after", "retention (h)"]
    rows = [
        [
            t.table,
            t.files_before,
            t.files_after,
            f"{t.bytes_before / 1e6:.2f}",
            f"{t.bytes_after / 1e6:.2f}",
            t.retention_hours,
            ", ".join(f"v{v}" for v in t.pinned_versions) or "-",
        ]
        for t in result.tables
    ]
    lines = [
        "# Hydrawatch maintain",
        "",
        f"Active files {result.files_before} -> {result.files_after}.",
        "",
        *table_lines([*header, "pinned"], rows),
    ]
    return "\n".join(lines) + "\n"


def holdout_markdown(result: Any) -> str:
    """The leave-one-campaign-out table (jobs.holdout.HoldoutResult) as markdown."""
    lines = [
        f"# Hydrawatch leave-one-campaign-out, trained as of {result.as_of}, scored "
        f"{result.as_of}+1..{result.end}",
        "",
        f"Training seed {result.seed}, MLflow run `{result.run_id}`.",
        "",
        *frame_markdown(result.campaigns),
    ]
    return "\n".join(lines) + "\n"
