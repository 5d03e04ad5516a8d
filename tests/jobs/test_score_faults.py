"""Fault suite, the registry as scoring sees it: no champion, a champion whose artifact files are
gone, a champion trained on another feature list. Each ends in one `HydrawatchError` line
(also through `cli.main.main`: `hydrawatch: <reason>`, exit 2) and nothing is scored or
written. Real MLflow on SQLite, real LightGBM pyfuncs, real Delta tables."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest

from cli.main import main
from hydrawatch.errors import EXIT_STOPPED, HydrawatchError, NoChampionModel
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.score import run_score
from models.champion import ModelFeatureMismatch
from testkit.registry import client, log_and_register

pytestmark = pytest.mark.faults

D = dt.date(2026, 2, 10)
FSV = "fs-faults-1"
TABLE_FEATURES = ["cot_share", "template_repeat"]


@pytest.fixture
def settings(make_settings, tmp_path):
    # synthetic feature rows without structural evidence: the structural flags are off
    return make_settings(tmp_path, structure_flags=False)


def _register(settings, names, fsv=FSV) -> str:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({n: rng.uniform(0, 1, 200) for n in names})
    labels = (frame[names[0]] > 0.6).astype(int)
    _, version = log_and_register(
        Runtime(settings),
        frame,
        labels,
        feature_names=names,
        feature_set_version=fsv,
        alias="champion",
    )
    return version


def _write_day(spark, settings):
    """Eight accounts' features for D and their events: enough for a day that could be scored."""
    rows = [(f"a{i}", D, 0.1 * i, 0.5, FSV, f"i{i}", f"c{i}") for i in range(8)]
    spark.createDataFrame(
        rows,
        "account_id string, feature_date date, cot_share double, template_repeat double, "
        "feature_set_version string, infra_cluster_id string, coord_cluster_id string",
    ).write.format("delta").partitionBy("feature_date").save(
        tables.FEATURES_ACCOUNT.location(settings)
    )
    spark.createDataFrame(
        [(f"e{i}", f"a{i}", D) for i in range(8)],
        "event_id string, account_id string, event_date date",
    ).write.format("delta").partitionBy("event_date").save(
        tables.BRONZE_USAGE_EVENTS.location(settings)
    )


def _nothing_scored(spark, settings) -> bool:
    from delta.tables import DeltaTable

    return not any(
        DeltaTable.isDeltaTable(spark, t.location(settings))
        for t in (tables.GOLD_ACCOUNT_SCORES, tables.FLAG_DETAILS)
    )


def _delete_artifacts(settings, version: str) -> Path:
    """Remove the files of a registered version (what a lost artifact store looks like)."""
    mlf = client(settings)
    uri = mlf.get_model_version_download_uri(settings.model_name, version)
    location = Path(urlparse(uri).path)
    assert (location / "MLmodel").exists()
    shutil.rmtree(location)
    return location


def _cli(monkeypatch, settings, *argv: str) -> tuple[int, list[str]]:
    """Run `hydrawatch <argv>` in this process against `settings`' roots."""
    import io
    import sys

    for name, value in {
        "HYDRAWATCH_LANDING": settings.landing,
        "HYDRAWATCH_WAREHOUSE": settings.warehouse,
        "HYDRAWATCH_EXPORTS": settings.exports,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "HYDRAWATCH_MODEL_NAME": settings.model_name,
        "HYDRAWATCH_MLFLOW_EXPERIMENT": settings.mlflow_experiment,
        "HYDRAWATCH_DAY_LOCK": "file",
    }.items():
        monkeypatch.setenv(name, value)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    code = main(list(argv))
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def _score_cli(monkeypatch, settings):
    return _cli(
        monkeypatch, settings, "backfill", "--start", str(D), "--end", str(D), "--steps", "score"
    )


def test_no_champion_one_line_how_to_make_one(spark, prefect_harness, settings, monkeypatch):
    _write_day(spark, settings)
    with pytest.raises(NoChampionModel):
        run_score(Runtime(settings, spark=spark), D)
    code, lines = _score_cli(monkeypatch, settings)
    assert code == EXIT_STOPPED
    assert lines[-1].startswith(f"hydrawatch: backfill stopped at {D}: no version of model")
    assert "`hydrawatch retrain --as-of D` then `hydrawatch promote`" in lines[-1]
    assert _nothing_scored(spark, settings)


def test_champion_whose_artifact_files_are_gone_is_refused(
    spark, prefect_harness, settings, monkeypatch
):
    version = _register(settings, TABLE_FEATURES)
    _write_day(spark, settings)
    gone = _delete_artifacts(settings, version)
    with pytest.raises(HydrawatchError) as err:
        run_score(Runtime(settings, spark=spark), D)
    message = str(err.value)
    assert f"version {version} (champion) cannot be loaded" in message
    assert "hydrawatch rollback" in message and "\n" not in message
    code, lines = _score_cli(monkeypatch, settings)
    assert code == EXIT_STOPPED and f"version {version} (champion) cannot be loaded" in lines[-1]
    assert lines[-1].startswith("hydrawatch: ")
    assert _nothing_scored(spark, settings)
    assert not gone.exists()


def test_champion_trained_on_another_feature_list_never_scores(
    spark, prefect_harness, settings, monkeypatch
):
    # same feature_set_version, but a feature the table does not have
    _register(settings, [*TABLE_FEATURES, "gone_feature"])
    _write_day(spark, settings)
    with pytest.raises(ModelFeatureMismatch, match=r"needs features missing .*gone_feature"):
        run_score(Runtime(settings, spark=spark), D)
    code, lines = _score_cli(monkeypatch, settings)
    assert (
        code == EXIT_STOPPED
        and "gone_feature" in lines[-1]
        and lines[-1].startswith("hydrawatch: ")
    )
    assert "refusing to score with it" in lines[-1]
    assert _nothing_scored(spark, settings)
