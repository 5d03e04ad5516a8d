"""Fault suite, the registry as the promotion gate sees it: a challenger trained on another
feature set, a champion or challenger whose artifact files are gone. The gate refuses with one
line (also through `cli.main.main`), never compares models on different inputs, and a
broken champion does not block a sound challenger. Real MLflow (SQLite), Spark and Delta."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from cli.main import main
from hydrawatch.errors import PromotionRefused
from hydrawatch.runtime import Runtime
from jobs.promote import run_promote
from models.evaluation import period_metrics
from testkit.registry import alias_version, client, log_and_register
from testkit.synthetic import FEATURE_NAMES, FEATURE_SET_VERSION, write_synthetic

pytestmark = pytest.mark.faults

START = dt.date(2026, 2, 1)


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("registry-faults"))
    return settings, write_synthetic(spark, settings, START, days=10, late_cluster=False)


@pytest.fixture
def settings(world, make_settings, tmp_path):
    # A fresh registry per test over the shared (read-only) warehouse.
    shared, _ = world
    return make_settings(tmp_path, warehouse=shared.warehouse, truth=shared.truth)


def _register(settings, world, *, feature_set_version=FEATURE_SET_VERSION, names=FEATURE_NAMES):
    _, w = world
    truth = w.truth.set_index("account_id")["is_attacker"]
    y = w.features["account_id"].map(truth).astype(int).to_numpy()
    _, version = log_and_register(
        Runtime(settings),
        w.features[list(names)],
        y,
        feature_names=list(names),
        feature_set_version=feature_set_version,
    )
    return version


def _delete_artifacts(settings, version: str) -> None:
    mlf = client(settings)
    uri = mlf.get_model_version_download_uri(settings.model_name, version)
    location = Path(urlparse(uri).path)
    assert (location / "MLmodel").exists()
    shutil.rmtree(location)


def _promote_cli(monkeypatch, settings, *argv: str) -> tuple[int, list[str]]:
    for name, value in {
        "HYDRAWATCH_WAREHOUSE": settings.warehouse,
        "HYDRAWATCH_TRUTH": settings.truth,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "HYDRAWATCH_MODEL_NAME": settings.model_name,
        "HYDRAWATCH_MLFLOW_EXPERIMENT": settings.mlflow_experiment,
    }.items():
        monkeypatch.setenv(name, value)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    code = main(["promote", *argv])
    return code, [line for line in err.getvalue().splitlines() if line.strip()]


def test_challenger_on_another_feature_set_is_refused(
    spark, prefect_harness, world, settings, monkeypatch
):
    champion = _register(settings, world)
    run_promote(Runtime(settings), champion, force=True, reason="bootstrap")
    other_set = _register(settings, world, feature_set_version="fs-other-1")
    fewer = _register(settings, world, names=FEATURE_NAMES[:3])

    measured = period_metrics(Runtime(settings, spark=spark), [champion, other_set, fewer])
    assert measured.by_version[champion]["pr_auc"] > 0.9
    assert measured.by_version[other_set] == {} and measured.by_version[fewer] == {}
    assert "fs-other-1" in measured.reasons[other_set]
    assert "with 3 features; the table has" in measured.reasons[fewer]

    for version in (other_set, fewer):
        with pytest.raises(PromotionRefused, match=rf"cannot measure v{version}: v{version} was"):
            run_promote(Runtime(settings, spark=spark), version)
    code, lines = _promote_cli(monkeypatch, settings, "--version", other_set)
    assert code == 5  # a gate refused
    assert lines[-1].startswith(f"hydrawatch: cannot measure v{other_set}: ")
    assert "fs-other-1" in lines[-1]
    assert alias_version(settings, "champion") == champion


def test_missing_artifacts_refuse_the_challenger_but_not_a_replacement_of_the_champion(
    spark, world, settings
):
    broken_champion = _register(settings, world)
    run_promote(Runtime(settings), broken_champion, force=True, reason="bootstrap")
    _delete_artifacts(settings, broken_champion)
    broken_challenger = _register(settings, world)
    _delete_artifacts(settings, broken_challenger)

    with pytest.raises(PromotionRefused, match=rf"v{broken_challenger} cannot be loaded"):
        run_promote(Runtime(settings, spark=spark), broken_challenger)
    assert alias_version(settings, "champion") == broken_champion

    sound = _register(settings, world)
    result = run_promote(Runtime(settings, spark=spark), sound)
    # The broken champion cannot be measured: the sound challenger faces the absolute minimums.
    assert (result.from_version, result.to_version) == (broken_champion, sound)
    assert "gate passed (first_model" in result.gate
    assert alias_version(settings, "champion") == sound
