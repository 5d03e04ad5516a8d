"""Pure pieces of the evaluation and the gate: summarise, thresholds, gate messages."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from models.evaluation import summarise
from models.metrics import choose_threshold, rates_at
from models.validation import GateThresholds, challenger_gate, first_model_gate


def test_summarise_per_group_and_overall():
    groups = pd.DataFrame(
        [
            ("campaign", "c1", 10, 9, 2.0),
            ("campaign", "c2", 10, 5, 4.0),
            ("legit_population", "class", 20, 1, None),
            ("legit_population", "solo", 80, 0, None),
        ],
        columns=["group", "name", "accounts", "flagged", "days_to_first_flag"],
    )
    report, overall = summarise(groups)
    rep = report.set_index("name")
    assert rep.loc["c1", "recall"] == 0.9
    assert rep.loc["c1", "precision"] == pytest.approx(9 / 10)
    assert rep.loc["class", "fpr"] == 0.05
    assert math.isnan(rep.loc["class", "recall"])
    assert overall == pytest.approx(
        {
            "precision": 14 / 15,
            "recall": 0.7,
            "fpr": 0.01,
            "flagged": 15,
            "attackers": 20,
            "legit": 100,
        }
    )


def test_choose_threshold_takes_the_most_recall_at_the_target():
    y = np.array([1, 1, 1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1])
    choice = choose_threshold(y, s, 0.99)
    # the three top rows are flagged; the threshold sits halfway to the next score (0.6)
    assert (choice.recall, choice.reached_target) == (0.75, True)
    assert choice.threshold == pytest.approx(0.65)
    assert rates_at(y, s, choice.threshold)["precision"] == 1.0
    # a lower target reaches further down, past the first negative
    assert choose_threshold(y, s, 0.8).threshold == pytest.approx(0.45)
    assert rates_at(y, s, 0.45)["fpr"] == pytest.approx(1 / 3)
    # the lowest score of all is its own threshold: there is nothing below to split with
    assert choose_threshold(np.array([1, 1]), np.array([0.9, 0.2]), 0.99).threshold == 0.2
    never = choose_threshold(np.array([0, 1]), np.array([0.9, 0.1]), 0.99)
    assert not never.reached_target


def test_the_threshold_is_never_below_its_floor():
    # Every positive scores 0.006 or more, every negative 0: the best cut is halfway, 0.003.
    y = np.array([1, 1, 1, 0, 0, 0])
    s = np.array([0.9, 0.2, 0.006, 0.0, 0.0, 0.0])
    assert choose_threshold(y, s, 0.99).threshold == pytest.approx(0.003)
    raised = choose_threshold(y, s, 0.99, min_threshold=0.1)
    # At the floor two of the three positives are flagged, no negative: it still reaches 0.99.
    assert (raised.threshold, raised.floored, raised.reached_target) == (0.1, True, True)
    assert raised.recall == pytest.approx(2 / 3)
    assert raised.precision == 1.0
    # Above every score nothing is flagged: no precision, the target is not reached.
    empty = choose_threshold(y, s, 0.99, min_threshold=0.95)
    assert (empty.recall, empty.reached_target, empty.floored) == (0.0, False, True)
    # A cut already above the floor is left as it was.
    kept = choose_threshold(y, np.array([0.9, 0.8, 0.7, 0.0, 0.0, 0.0]), 0.99, min_threshold=0.1)
    assert (kept.threshold, kept.floored) == (0.35, False)


def test_gate_messages_name_the_metric_and_the_gap():
    good = {
        "pr_auc": 0.95,
        "recall_at_threshold": 0.9,
        "precision_at_threshold": 0.99,
        "fpr_at_threshold": 0.001,
    }
    assert first_model_gate(good).passed
    weak = dict(good, pr_auc=0.7)
    decision = first_model_gate(weak)
    assert not decision.passed
    assert "pr_auc 0.7000 is 0.2000 below the bound 0.9000 (minimum)" in decision.message()
    worse = dict(good, fpr_at_threshold=0.004)
    message = challenger_gate(worse, good, "3").message()
    assert "fpr_at_threshold 0.0040 is 0.0020 above the bound 0.0020" in message
    assert "champion v3 has 0.0010" in message
    assert challenger_gate(dict(good, recall_at_threshold=0.885), good, "3").passed
    assert not first_model_gate(dict(good, recall_at_threshold=float("nan"))).passed


def test_a_metric_the_champion_cannot_be_measured_on_falls_back_to_its_floor(
    make_settings, tmp_path
):
    good = {
        "pr_auc": 0.95,
        "recall_at_threshold": 0.9,
        "precision_at_threshold": 0.99,
        "fpr_at_threshold": 0.001,
    }
    unmeasured = dict(good, recall_at_threshold=float("nan"))
    # The challenger's recall 0.70 is far below the floor 0.80: refused, not waved through.
    decision = challenger_gate(dict(good, recall_at_threshold=0.70), unmeasured, "3")
    assert not decision.passed
    assert decision.message() == (
        "gate failed (against_champion): recall_at_threshold 0.7000 is 0.1000 below the bound "
        "0.8000 (minimum: champion v3 cannot be measured on it)"
    )
    assert challenger_gate(dict(good, recall_at_threshold=0.81), unmeasured, "3").passed
    # The thresholds are settings; unset ones keep their defaults.
    settings = make_settings(tmp_path, gate_min_recall=0.85, gate_tolerance_fpr=0.0005)
    t = GateThresholds.from_settings(settings)
    assert (t.min_recall_at_threshold, t.tolerance_fpr_at_threshold) == (0.85, 0.0005)
    assert (t.min_pr_auc, t.tolerance_recall_at_threshold) == (0.90, 0.02)
    assert not challenger_gate(dict(good, recall_at_threshold=0.81), unmeasured, "3", t).passed
    assert not challenger_gate(dict(good, fpr_at_threshold=0.0016), good, "3", t).passed


def test_label_figures_count_an_account_on_the_days_it_sent_traffic(spark):
    """compare's labelled rows: a labelled account scored on a day without requests (banned and
    silent, still in gold for four weeks) is not counted that day."""
    from models.evaluation import labelled_active

    d1, d2 = dt.date(2026, 2, 10), dt.date(2026, 2, 11)
    rows = spark.createDataFrame(
        [("a", d1, True), ("a", d2, False), ("b", d1, False), ("u", d1, True)],
        "account_id string, score_date date, flagged_a boolean",
    )
    features = spark.createDataFrame(
        [("a", d1, 3.0), ("a", d2, 0.0), ("b", d1, 1.0), ("u", d1, 2.0)],
        "account_id string, feature_date date, requests_1d double",
    )
    labels = spark.createDataFrame([("a", 1), ("b", 0)], "account_id string, label int")
    got = sorted(
        (r.account_id, r.score_date, r.label)
        for r in labelled_active(rows, features, labels).collect()
    )
    assert got == [("a", d1, 1), ("b", d1, 0)]
