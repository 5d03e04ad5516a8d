"""Retrain killed at each of its fail points (a real process, os._exit), then re-run: exactly one
model version per retrain key, holding `challenger`, equal to a clean run's; the dead runs are
closed (KILLED, or FINISHED when everything had been logged)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hydrawatch.failpoints import EXIT_STATUS
from hydrawatch.runtime import Runtime
from jobs.retrain import KEY_TAG, run_retrain
from models import champion
from models.registry import ensure_experiment
from testkit.registry import client
from testkit.synthetic import FEATURE_NAMES, write_synthetic

pytestmark = [pytest.mark.faults, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
START = dt.date(2026, 2, 1)
AS_OF = START + dt.timedelta(days=8)
# In the order a retrain reaches them; each process also recovers from the previous crash.
POINTS = ("retrain.after_run_start", "registry.after_log_model", "registry.after_register")
RETRAIN = f"""
import datetime as dt
from hydrawatch.runtime import Runtime
from jobs.retrain import run_retrain
run_retrain(Runtime.from_environment(), dt.date({AS_OF.year}, {AS_OF.month}, {AS_OF.day}))
"""


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("retrain-faults"))
    return settings, write_synthetic(spark, settings, START, days=10)


def _versions(settings):
    """Every version of the model, with its aliases (a search does not return them)."""
    mlf = client(settings)
    found = mlf.search_model_versions(f"name = '{settings.model_name}'")
    return [
        mlf.get_model_version(settings.model_name, str(v))
        for v in sorted(int(v.version) for v in found)
    ]


def test_a_retrain_killed_anywhere_then_rerun_registers_one_version(
    spark, world, make_settings, tmp_path, process_env
):
    shared, w = world
    settings = make_settings(tmp_path / "crashed", warehouse=shared.warehouse, truth=shared.truth)
    for point in POINTS:
        done = subprocess.run(
            [sys.executable, "-c", RETRAIN],
            cwd=REPO,
            env=process_env(settings, point),
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == EXIT_STATUS, done.stderr[-3000:]
        assert f"fail point {point} reached" in done.stderr
    # The last crash came after the registration: one version, no alias yet.
    [registered] = _versions(settings)
    assert not registered.aliases

    rerun = run_retrain(Runtime(settings, spark=spark), AS_OF)
    again = run_retrain(Runtime(settings, spark=spark), AS_OF)
    assert rerun.reused and rerun.version == str(registered.version)
    assert again == rerun
    [version] = _versions(settings)
    assert version.aliases == ["challenger"]

    mlf = client(settings)
    runs = mlf.search_runs(
        [ensure_experiment(Runtime(settings))], order_by=["attributes.start_time ASC"]
    )
    # Crash 1 and 2 died before registering (closed as KILLED by the next attempt); crash 3
    # had logged everything and registered (closed as FINISHED by the re-run that reused it).
    assert [r.info.status for r in runs] == ["KILLED", "KILLED", "FINISHED"]
    assert {r.data.tags[KEY_TAG] for r in runs} == {version.tags[KEY_TAG]}
    assert runs[-1].info.run_id == rerun.run_id == version.run_id

    clean_settings = make_settings(
        tmp_path / "clean", warehouse=shared.warehouse, truth=shared.truth
    )
    clean = run_retrain(Runtime(clean_settings, spark=spark), AS_OF)
    assert not clean.reused
    assert clean.threshold == rerun.threshold
    assert clean.feature_set_version == rerun.feature_set_version
    assert clean.rows == rerun.rows
    assert {k: clean.metrics[k] for k in rerun.metrics} == rerun.metrics
    frame = w.features[list(FEATURE_NAMES)].astype("float64").head(200)
    predictions = []
    for s, version in ((settings, rerun.version), (clean_settings, clean.version)):
        rt = Runtime(s)
        with champion.load(rt, champion.version(rt, version)) as loaded:
            predictions.append(loaded.predict(frame))
    pd.testing.assert_frame_equal(*predictions)


RACE = (
    RETRAIN.replace(
        "run_retrain(Runtime.from_environment(),", "done = run_retrain(Runtime.from_environment(),"
    )
    + 'print("version", done.version, "reused", done.reused)\n'
)


def test_two_retrains_at_once_register_one_version(world, make_settings, tmp_path, process_env):
    """Two real processes retrain the same inputs at once: the registry lock serialises them,
    the second finds the first's version by its retrain key and registers nothing."""
    shared, _ = world
    settings = make_settings(tmp_path / "race", warehouse=shared.warehouse, truth=shared.truth)
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE],
            cwd=REPO,
            env=process_env(settings),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in racers]
    assert all(p.returncode == 0 for p in racers), [err[-2000:] for _, err in outs]
    said = sorted(out.strip().splitlines()[-1] for out, _ in outs)
    [registered] = _versions(settings)
    assert said == [
        f"version {registered.version} reused False",
        f"version {registered.version} reused True",
    ]
    assert registered.aliases == ["challenger"]
