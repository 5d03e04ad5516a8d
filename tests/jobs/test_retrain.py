"""Retrain: point-in-time rows (no label leakage), deterministic fit, MLflow run and challenger."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hydrawatch.runtime import Runtime
from jobs.retrain import run_retrain
from models.inputs import training_frame
from models.train import train_on
from testkit.registry import client
from testkit.synthetic import FEATURE_NAMES, FEATURE_SET_VERSION, write_synthetic

START = dt.date(2026, 2, 1)
# The day before the last: the last day's features and the labels delivered after it are "future".
AS_OF = START + dt.timedelta(days=8)


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("retrain"))
    return settings, write_synthetic(spark, settings, START, days=10)


@pytest.fixture(scope="module")
def frame(spark, world):
    settings, _ = world
    return training_frame(Runtime(settings, spark=spark), AS_OF)


def test_training_rows_are_point_in_time(frame, world):
    _, w = world
    rows = frame.rows
    assert frame.feature_names == list(FEATURE_NAMES)
    assert frame.feature_set_version == FEATURE_SET_VERSION
    assert rows["account_id"].is_unique
    labelled = rows[rows["is_labelled"]]
    decided = w.labels.set_index("account_id")["decided_at"].dt.date
    # every labelled row's features were computed before the day of its decision
    assert (labelled["feature_date"] < labelled["account_id"].map(decided)).all()
    # positives are exactly the distillation decisions delivered by as_of
    assert (rows["feature_date"] <= AS_OF).all()
    delivered = w.labels[w.labels["delivery_date"] <= AS_OF]
    expected_pos = set(delivered.loc[delivered["label"] == "distillation", "account_id"])
    assert set(labelled.loc[labelled["label"] == 1, "account_id"]) == expected_pos
    # a label delivered after as_of does not exist for this run: its accounts are unlabelled
    late = set(w.labels.loc[w.labels["delivery_date"] > AS_OF, "account_id"])
    assert late and not late & set(labelled["account_id"])
    # unlabelled accounts never come from a cluster holding a labelled attacker
    unlabelled = rows[~rows["is_labelled"]]
    late_clusters = {a.rsplit("-", 1)[0] for a in late}
    atk = unlabelled.loc[unlabelled["account_id"].str.startswith("atk-"), "account_id"]
    assert {a.rsplit("-", 1)[0] for a in atk} <= late_clusters
    assert (unlabelled["label"] == 0).all()


def test_labels_for_accounts_never_seen_and_appeals_never_given_are_counted(
    spark, make_settings, tmp_path
):
    """A decision about an account with no feature row (never seen) and an appeal for a label
    that was never given are kept in bronze but cannot be trained on: the frame counts them
    (logged as `labels_without_features`) and is otherwise unchanged."""
    import pandas as pd

    from testkit.synthetic import write_labels

    settings = make_settings(tmp_path)
    write_synthetic(spark, settings, START, days=10)
    before = training_frame(Runtime(settings, spark=spark), AS_OF)
    decided = pd.Timestamp(START + dt.timedelta(days=4)) + pd.Timedelta(hours=9)
    ghosts = pd.DataFrame(
        {
            "account_id": ["ghost-never-seen", "ghost-appeal"],
            "decided_at": [decided, decided],
            "label": ["distillation", "benign"],
            "source": ["partner_report", "appeal"],
            "campaign_id": ["campaign_0", None],
            "delivery_date": [START + dt.timedelta(days=5)] * 2,
            "source_file": ["labels/date=2026-02-06/part-9.jsonl"] * 2,
        }
    )
    write_labels(spark, settings, ghosts, mode="append")
    after = training_frame(Runtime(settings, spark=spark), AS_OF)
    assert after.labels_without_features == before.labels_without_features + 2
    assert not {"ghost-never-seen", "ghost-appeal"} & set(after.rows["account_id"])
    pd.testing.assert_frame_equal(after.rows, before.rows)


def test_fit_is_deterministic(frame, world):
    settings, _ = world
    a, slices_a, grouping = train_on(frame, settings.target_precision, seed=5)
    b, slices_b, _ = train_on(frame, settings.target_precision, seed=5)
    assert grouping == "infra+coord"
    assert (slices_a == slices_b).all()
    assert a.bundle.booster_text == b.bundle.booster_text
    assert a.bundle.threshold == b.bundle.threshold
    assert a.bundle.calibration == b.bundle.calibration
    # no cluster straddles two slices
    rows = frame.rows.assign(slice=slices_a)
    assert rows.groupby("coord_cluster_id")["slice"].nunique().max() == 1


def test_run_retrain_logs_and_registers_a_challenger(spark, world):
    settings, _ = world
    result = run_retrain(Runtime(settings, spark=spark), AS_OF)
    mlf = client(settings)
    assert str(mlf.get_model_version_by_alias(settings.model_name, "challenger").version) == (
        result.version
    )
    run = mlf.get_run(result.run_id)
    assert run.data.params["as_of"] == AS_OF.isoformat()
    assert run.data.params["data_version.gold/account_features"] == "0"
    assert run.data.metrics["pr_auc"] > 0.9
    assert 0.0 <= result.threshold <= 1.0
    assert result.metrics["positives_calib"] > 0
    assert {"fpr_legit_solo_dev", "valid_fpr_legit_university_class"} <= set(result.metrics)
    artifacts = {f.path for f in mlf.list_artifacts(result.run_id, "plots")}
    assert {
        "plots/pr_curve.png",
        "plots/score_histograms.png",
        "plots/feature_importance.png",
        "plots/contribution_summary.png",
        "plots/calibration.png",
        "plots/recall_by_campaign.png",
    } <= artifacts
    tags = mlf.get_model_version(settings.model_name, result.version).tags
    assert tags["feature_names"] == ",".join(FEATURE_NAMES)
    assert float(tags["threshold"]) == pytest.approx(result.threshold)
    # The training tables are the run's dataset inputs, at the Delta versions it read.
    # (MLflow's Delta source leaves a version 0 out of its JSON: the name and digest carry it.)
    inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
    features = inputs["gold/account_features@v0"]
    assert (features.digest, features.source_type) == ("v0", "delta_table")
    assert json.loads(features.source)["path"].endswith("/gold/account_features")
    # The metrics are linked to the logged model; the version says what it is.
    logged = mlf.get_logged_model(tags["logged_model_uri"].removeprefix("models:/"))
    assert {m.key: m.value for m in logged.metrics}["pr_auc"] == run.data.metrics["pr_auc"]
    described = mlf.get_model_version(settings.model_name, result.version).description
    assert described.startswith(f"Trained as of {AS_OF} (seed ")
