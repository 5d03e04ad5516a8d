"""Evaluation report against the truth: per campaign and per legitimate population figures."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from hydrawatch.runtime import Runtime
from hydrawatch.storage.tables import GOLD_ACCOUNT_SCORES
from jobs.evaluate import run_evaluate
from testkit.registry import client, log_and_register
from testkit.synthetic import FEATURE_NAMES, FEATURE_SET_VERSION, write_synthetic

START = dt.date(2026, 2, 1)


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("evaluate"))
    return settings, write_synthetic(spark, settings, START, days=6)


def test_report_from_account_scores(spark, world):
    settings, w = world
    f = w.features
    camp0 = set(w.truth.loc[w.truth["campaign_id"] == "camp-0", "account_id"])
    flag_day = START + dt.timedelta(days=3)
    scores = f[["account_id", "feature_date"]].rename(columns={"feature_date": "score_date"})
    scores["flagged"] = scores["account_id"].isin(camp0) & (scores["score_date"] >= flag_day)
    scores.loc[
        (scores["account_id"] == "usr-0001") & (scores["score_date"] == flag_day), "flagged"
    ] = True
    scores["score"] = scores["flagged"].astype(float)
    scores["model_name"] = settings.model_name
    scores["model_version"] = "7"
    spark.createDataFrame(
        scores,
        "account_id string, score_date date, flagged boolean, score double, "
        "model_name string, model_version string",
    ).write.format("delta").partitionBy("score_date").save(GOLD_ACCOUNT_SCORES.location(settings))

    result = run_evaluate(Runtime(settings, spark=spark), w.last_day)
    assert (result.source, result.model_version) == ("account_scores", "7")
    rep = result.report.set_index(["group", "name"])
    assert rep.loc[("campaign", "camp-0"), "recall"] == 1.0
    assert rep.loc[("campaign", "camp-1"), "recall"] == 0.0
    first_activity = f[f["account_id"].isin(camp0)]["feature_date"].min()
    assert rep.loc[("campaign", "camp-0"), "days_to_first_flag"] == (flag_day - first_activity).days
    solo = (w.truth["population"] == "solo_dev").sum()
    assert rep.loc[("legit_population", "solo_dev"), "fpr"] == pytest.approx(1 / solo)
    assert rep.loc[("legit_population", "university_class"), "fpr"] == 0.0
    assert result.overall["precision"] == pytest.approx(len(camp0) / (len(camp0) + 1))
    run = client(settings).get_run(result.run_id)
    assert run.data.metrics["campaign.camp-0.recall"] == 1.0
    assert run.data.params["source"] == "account_scores"


def test_report_by_scoring_features_with_a_version(spark, world):
    settings, w = world
    truth = w.truth.set_index("account_id")["is_attacker"]
    y = w.features["account_id"].map(truth).astype(int)
    _, version = log_and_register(
        Runtime(settings),
        w.features[list(FEATURE_NAMES)],
        y,
        feature_set_version=FEATURE_SET_VERSION,
    )
    result = run_evaluate(Runtime(settings, spark=spark), w.last_day, version=version)
    assert (result.source, result.model_version) == ("features", version)
    assert result.overall["recall"] >= 0.9
    assert result.overall["fpr"] <= 0.05
    assert set(result.report["group"]) == {"campaign", "legit_population"}
    # Logged with the model: the report's run hangs under the version's training run.
    mlf = client(settings)
    trained_by = mlf.get_model_version(settings.model_name, version).run_id
    assert mlf.get_run(result.run_id).data.tags["mlflow.parentRunId"] == trained_by
    # Only accounts scored in the window count.
    assert result.report["accounts"].sum() == w.features["account_id"].nunique()


def test_accounts_count_on_the_days_they_sent_traffic(spark):
    from pyspark.testing import assertDataFrameEqual

    from jobs.evaluate import active_days

    d1, d2 = START, START + dt.timedelta(days=1)
    features = spark.createDataFrame(
        [("a", d1, 3.0), ("a", d2, 0.0), ("b", d1, 0.0), ("c", d2, 1.0)],
        "account_id string, feature_date date, requests_1d double",
    )
    expected = spark.createDataFrame([("a", d1), ("c", d2)], "account_id string, score_date date")
    assertDataFrameEqual(active_days(features), expected)


def test_labels_stand_in_for_the_truth_on_real_data(spark):
    """As of a day: the latest decision known then (an appeal overturns; a decision delivered
    later is not known yet); distillation accounts under their label's campaign or (unnamed)."""
    from jobs.evaluate import labels_as_truth

    t = dt.datetime
    labels = spark.createDataFrame(
        [
            (
                "a1",
                t(2026, 2, 2, 9),
                "distillation",
                "analyst_review",
                "camp-x",
                dt.date(2026, 2, 2),
            ),
            ("a2", t(2026, 2, 2, 9), "distillation", "partner_report", None, dt.date(2026, 2, 2)),
            (
                "a3",
                t(2026, 2, 2, 9),
                "distillation",
                "analyst_review",
                "camp-x",
                dt.date(2026, 2, 2),
            ),
            ("a3", t(2026, 2, 3, 9), "benign", "appeal", None, dt.date(2026, 2, 3)),
            (
                "a4",
                t(2026, 2, 5, 9),
                "distillation",
                "analyst_review",
                "camp-y",
                dt.date(2026, 2, 5),
            ),
        ],
        "account_id string, decided_at timestamp, label string, source string, "
        "campaign_id string, delivery_date date",
    ).withColumn("source_file", F.lit("f.jsonl"))
    got = {
        r.account_id: (r.population, r.campaign_id, r.is_attacker)
        for r in labels_as_truth(labels, dt.date(2026, 2, 4)).collect()
    }
    assert got == {
        "a1": (None, "camp-x", True),
        "a2": (None, "(unnamed)", True),
        "a3": ("labelled benign", None, False),
    }


def test_without_a_truth_table_the_report_is_judged_by_the_labels(
    spark, world, make_settings, tmp_path
):
    """The same warehouse (its gold/account_scores written by the first test of the module)
    with no truth root: the labels known as of the last day judge the flags."""
    settings, w = world
    real = make_settings(tmp_path, warehouse=settings.warehouse, truth=str(tmp_path / "none"))
    result = run_evaluate(Runtime(real, spark=spark), w.last_day)
    assert result.judged_by == "labels"
    groups = set(result.report["group"])
    assert groups <= {"campaign", "legit_population"} and "campaign" in groups
    assert client(real).get_run(result.run_id).data.params["judged_by"] == "labels"
