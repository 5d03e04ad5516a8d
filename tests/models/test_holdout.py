"""Leave-one-campaign-out figures on hand-worked account-days."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from models.holdout import campaign_figures, population_figures

D = [dt.date(2026, 2, 7) + dt.timedelta(days=i) for i in range(4)]
TRUTH = pd.DataFrame(
    [
        ("c1", "campaign_x", "cmp-x", True),
        ("c2", "campaign_x", "cmp-x", True),
        ("c3", "campaign_x", "cmp-x", True),
        ("c4", "campaign_x", "cmp-x", True),
        ("y1", "campaign_y", "cmp-y", True),
        ("s1", "solo_dev", None, False),
        ("s2", "solo_dev", None, False),
        ("u1", "university_class", None, False),
    ],
    columns=["account_id", "population", "campaign_id", "is_attacker"],
)


def _flags(rows):
    return pd.DataFrame(rows, columns=["account_id", "feature_date", "flagged", "flagged_by"])


def test_campaign_recall_and_days_to_half_from_first_request():
    flags = _flags(
        [
            # day 0: c1, c2 active, none flagged; day 1: c3 joins, c1 flagged by structure;
            # day 2: c2 flagged by score -> 2 of the 3 seen so far: half reached on day 2
            ("c1", D[0], False, None),
            ("c2", D[0], False, None),
            ("c1", D[1], True, "structure"),
            ("c3", D[1], False, None),
            ("c2", D[2], True, "score"),
            ("c4", D[3], False, None),
            ("s1", D[0], False, None),
        ]
    )
    # the campaign's first request was two days before the first scored day: timed from D[0]
    fig = campaign_figures(flags, TRUTH, "cmp-x", D[0] - dt.timedelta(days=2))
    assert (fig.accounts, fig.flagged) == (4, 2)
    assert fig.recall == 0.5 and fig.structure_share == 0.5
    assert fig.start == D[0] and fig.days_to_half == 2.0
    # a campaign that starts inside the window is timed from its first request
    late = campaign_figures(flags, TRUTH, "cmp-x", D[1])
    assert late.days_to_half == 1.0


def test_campaign_never_half_flagged_and_absent_campaign():
    flags = _flags([("c1", D[0], False, None), ("c2", D[1], True, "cluster")])
    fig = campaign_figures(flags, TRUTH, "cmp-x", None)
    assert fig.recall == 0.5 and fig.days_to_half == 1.0
    none = campaign_figures(_flags([("c1", D[0], False, None)]), TRUTH, "cmp-x", None)
    assert none.recall == 0.0 and math.isnan(none.days_to_half)
    absent = campaign_figures(flags, TRUTH, "cmp-y", None)
    assert absent.accounts == 0 and math.isnan(absent.recall)


def test_population_rates_and_precision():
    flags = _flags(
        [
            ("c1", D[0], True, "score"),
            ("c2", D[0], False, None),
            ("y1", D[0], True, "structure"),
            ("s1", D[0], True, "score"),
            ("s1", D[1], False, None),
            ("s2", D[0], False, None),
            ("u1", D[0], False, None),
        ]
    )
    groups, precision = population_figures(flags, TRUTH)
    rate = {(g, n): r for g, n, r in groups[["group", "name", "rate"]].itertuples(index=False)}
    assert rate[("campaign", "cmp-x")] == 0.5 and rate[("campaign", "cmp-y")] == 1.0
    assert rate[("legit_population", "solo_dev")] == 0.5
    assert rate[("legit_population", "university_class")] == 0.0
    assert precision == pytest.approx(2 / 3)
