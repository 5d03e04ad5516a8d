"""Promotion gate, forced promotion, rollback and the recorded history of champion moves."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hydrawatch.errors import HydrawatchError, PromotionRefused
from hydrawatch.runtime import Runtime
from jobs.promote import run_promote, run_rollback
from models.moves import history
from testkit.registry import alias_version, client, log_and_register
from testkit.synthetic import FEATURE_NAMES, FEATURE_SET_VERSION, write_synthetic

START = dt.date(2026, 2, 1)


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("promote-data")
    settings = make_settings(root)
    # every campaign cluster labelled inside the window: the gate period has no unknown attacker
    return settings, write_synthetic(spark, settings, START, days=10, late_cluster=False)


@pytest.fixture
def settings(world, make_settings, tmp_path):
    # A fresh registry per test over the shared (read-only) warehouse.
    shared, _ = world
    return make_settings(tmp_path, warehouse=shared.warehouse, truth=shared.truth)


def _register(settings, world, good: bool, seed: int) -> str:
    _, w = world
    truth = w.truth.set_index("account_id")["is_attacker"]
    x = w.features[list(FEATURE_NAMES)]
    y = w.features["account_id"].map(truth).astype(int).to_numpy()
    if not good:
        y = np.random.default_rng(seed).permutation(y)
    _, version = log_and_register(
        Runtime(settings), x, y, feature_set_version=FEATURE_SET_VERSION, seed=seed
    )
    return version


def test_first_model_needs_the_minimums(spark, world, settings, monkeypatch):
    monkeypatch.setenv("HYDRAWATCH_ACTOR", "alice")
    bad = _register(settings, world, good=False, seed=1)
    with pytest.raises(PromotionRefused, match=r"first_model.*pr_auc 0\.\d+ is 0\.\d+ below"):
        run_promote(Runtime(settings, spark=spark))
    assert alias_version(settings, "champion") is None
    assert history(Runtime(settings)) == []

    good = _register(settings, world, good=True, seed=2)
    result = run_promote(Runtime(settings, spark=spark))
    assert (result.action, result.from_version, result.to_version) == ("promote", None, good)
    assert alias_version(settings, "champion") == good != bad
    [move] = history(Runtime(settings))
    assert (move.actor, move.action, move.to_version, move.forced) == (
        "alice",
        "promote",
        good,
        False,
    )
    assert "gate passed (first_model" in move.gate
    run = client(settings).get_run(move.run_id)
    assert run.data.metrics["challenger_pr_auc"] >= 0.9
    tags = client(settings).get_model_version(settings.model_name, good).tags
    assert tags["champion.actor"] == "alice"
    assert tags["champion.move_run_id"] == move.run_id


def test_worse_challenger_refused_forced_and_rolled_back(spark, world, settings, monkeypatch):
    monkeypatch.setenv("HYDRAWATCH_ACTOR", "bob")
    good = _register(settings, world, good=True, seed=3)
    run_promote(Runtime(settings), good, force=True, reason="bootstrap the registry")
    bad = _register(settings, world, good=False, seed=4)

    dry = run_promote(Runtime(settings, spark=spark), dry_run=True, period_days=10)
    assert (dry.action, dry.from_version, dry.to_version) == ("dry_run", good, bad)
    assert dry.gate.startswith("gate failed (against_champion on feature days 2026-02-01..")
    assert alias_version(settings, "champion") == good  # a dry run moves nothing

    with pytest.raises(PromotionRefused, match=rf"against_champion.*champion v{good} has"):
        run_promote(Runtime(settings, spark=spark))
    assert alias_version(settings, "champion") == good
    # Every decision is on record with both models' figures and the thresholds.
    gate_runs = client(settings).search_runs(
        [client(settings).get_experiment_by_name("hydrawatch-gate").experiment_id],
        filter_string=f"params.model_name = '{settings.model_name}'",
        order_by=["attributes.start_time ASC"],
    )
    assert [r.data.params["outcome"] for r in gate_runs] == [
        "forced",
        "dry_run_refused",
        "refused",
    ]
    refused = gate_runs[-1]
    assert refused.data.params["challenger_version"] == bad
    assert refused.data.params["champion_version"] == good
    assert refused.data.params["gate_min_pr_auc"] == "0.9"
    assert refused.data.params["gate_tolerance_fpr_at_threshold"] == "0.001"
    figures = refused.data.metrics
    assert figures["champion_pr_auc"] > figures["challenger_pr_auc"]
    assert refused.data.tags["gate"].startswith("gate failed (against_champion")

    with pytest.raises(HydrawatchError, match="--reason"):
        run_promote(Runtime(settings), force=True, reason=" ")
    forced = run_promote(Runtime(settings), force=True, reason="incident 42: old model misfires")
    assert (forced.action, forced.from_version, forced.to_version) == ("forced_promote", good, bad)
    assert alias_version(settings, "champion") == bad

    back = run_rollback(Runtime(settings))
    assert (back.from_version, back.to_version) == (bad, good)
    assert alias_version(settings, "champion") == good
    moves = history(Runtime(settings))
    assert [(m.action, m.from_version, m.to_version, m.forced) for m in moves] == [
        ("forced_promote", None, good, True),
        ("forced_promote", good, bad, True),
        ("rollback", bad, good, False),
    ]
    assert moves[1].reason == "incident 42: old model misfires"
    assert {m.actor for m in moves} == {"bob"}
    tags = client(settings).get_model_version(settings.model_name, bad).tags
    assert tags["champion.forced"] == "True"
    assert tags["champion.reason"] == "incident 42: old model misfires"
    # nothing before the first champion to roll back to
    with pytest.raises(HydrawatchError, match="no previous champion"):
        run_rollback(Runtime(settings))
