"""The catalogue is the single list of gold feature columns, and docs/features.md matches it."""

from __future__ import annotations

import re
from pathlib import Path

from features.catalogue import (
    DEFAULTS,
    FEATURE_NAMES,
    FEATURES,
    render_markdown,
)
from features.gold import gold_columns

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_names_are_unique_identifiers_with_meaning_window_and_trait():
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    for f in FEATURES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f.name
        assert f.meaning and f.trait and f.window
        assert f.window in {"1d", "7d", "28d", "snapshot"}, f.window
    assert DEFAULTS["interarrival_cv_1d"] == -1.0
    assert DEFAULTS["infra_cluster_size"] == 1.0


def test_status_is_never_a_feature():
    # accounts.status is the enforcement outcome: a label leak.
    assert not any("status" in n or "suspend" in n for n in FEATURE_NAMES)


def test_gold_columns_are_keys_features_then_version_and_cluster_ids():
    cols = gold_columns()
    assert cols[:2] == ("account_id", "feature_date")
    assert cols[2:-3] == FEATURE_NAMES
    assert cols[-3:] == ("feature_set_version", "infra_cluster_id", "coord_cluster_id")


def test_docs_are_generated_from_the_catalogue():
    assert DOC.read_text() == render_markdown(), (
        "docs/features.md is stale: python -m features.catalogue > docs/features.md"
    )
    for name in FEATURE_NAMES:
        assert f"`{name}`" in DOC.read_text()


def test_gold_columns_carry_their_catalogue_comments_into_delta(
    spark, make_events, make_accounts, make_releases, tmp_path
):
    """The column comments reach the Delta table's schema, where `DESCRIBE TABLE` and other
    engines read them."""
    import datetime as dt

    from features.catalogue import column_comments
    from features.daily import account_daily
    from features.gold import GraphParams, gold_features

    day = dt.date(2026, 2, 10)
    silver = account_daily(
        make_events([{"account_id": "a1", "ts": "2026-02-10T08:00:00"}])
    ).localCheckpoint()
    gold, _ = gold_features(
        silver, make_accounts([{"account_id": "a1"}], day), make_releases([]), day, GraphParams()
    )
    where = str(tmp_path / "gold")
    gold.write.format("delta").save(where)
    described = {
        r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE TABLE delta.`{where}`").collect()
    }
    comments = column_comments()
    assert set(comments) == set(gold_columns())
    assert described["requests_7d"] == comments["requests_7d"]
    assert described["requests_7d"].endswith("(window: 7d)")
    assert described["infra_cluster_id"].startswith("shared-infrastructure component")
    assert all(described[c] for c in gold_columns())
