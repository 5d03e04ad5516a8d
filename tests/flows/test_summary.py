"""The markdown of the maintain and shadow artifacts, on hand-made results."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from flows.summary import maintain_markdown, shadow_markdown


def test_maintain_and_shadow_tables():
    upkeep = SimpleNamespace(
        table="gold/account_scores",
        files_before=12,
        files_after=3,
        bytes_before=2_500_000,
        bytes_after=1_000_000,
        retention_hours=170,
        pinned_versions=(0, 4),
    )
    maintained = SimpleNamespace(tables=[upkeep], files_before=12, files_after=3)
    assert maintain_markdown(maintained).splitlines()[-1] == (
        "| gold/account_scores | 12 | 3 | 2.50 | 1.00 | 170 | v0, v4 |"
    )
    day = SimpleNamespace(
        score_date=dt.date(2026, 2, 10),
        accounts_scored=30,
        flagged=6,
        flagged_by_score=4,
        flagged_by_cluster=2,
    )
    shadowed = SimpleNamespace(
        model_version="5",
        start=day.score_date,
        end=day.score_date,
        champion_version=None,
        scores_table="s",
        details_table="d",
        days=[day],
    )
    lines = shadow_markdown(shadowed).splitlines()
    assert lines[0] == "# Hydrawatch shadow: v5 on 2026-02-10..2026-02-10"
    assert lines[2].startswith("Champion: v-; nothing published")
    assert lines[-1] == "| 2026-02-10 | 30 | 6 | 4 | 2 |"
