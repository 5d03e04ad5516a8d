"""The model boundary: the feature contract, metadata parsed one way, and a registry that cannot
be reached is an error, never "no champion"."""

from __future__ import annotations

import pytest

from hydrawatch.errors import NoChampionModel
from hydrawatch.runtime import Runtime
from models import champion
from models.champion import ModelFeatureMismatch, RegistryUnavailable, check_model_matches
from models.registry import versions_tagged


def test_check_model_matches_refuses_other_feature_set():
    check_model_matches(["f1", "f2"], "v1", ["f1", "f2", "f3"], ["v1"], "model m v3")
    with pytest.raises(ModelFeatureMismatch, match=r"feature_set_version 'v0'.*'v1'"):
        check_model_matches(["f1"], "v0", ["f1"], ["v1"], "model m v3")
    with pytest.raises(ModelFeatureMismatch, match="missing from the feature table \\(f9\\)"):
        check_model_matches(["f1", "f9"], "v1", ["f1"], ["v1"], "model m v3")
    with pytest.raises(ModelFeatureMismatch, match="expected exactly one"):
        check_model_matches(["f1"], "v1", ["f1"], ["v1", "v2"], "model m v3")


def test_the_gate_compares_only_on_exactly_the_features_a_model_was_trained_on():
    assert (
        champion.contract_problem(["f1", "f2"], "v1", ["f1", "f2"], ["v1"], "v3", exact=True)
        is None
    )
    problem = champion.contract_problem(["f1"], "v1", ["f1", "f2"], ["v1"], "v3", exact=True)
    assert problem == "v3 was trained on feature set v1 with 1 features; the table has v1 with 2"


def test_metadata_is_parsed_from_the_version_tags():
    model = champion.ModelVersion(
        "m",
        "4",
        "run",
        ("champion",),
        {
            "threshold": "0.42",
            "feature_names": "f1,f2",
            "feature_set_version": "fs-1",
            "as_of": "2026-02-09",
        },
        alias="champion",
    )
    assert model.threshold == 0.42
    assert model.feature_names == ("f1", "f2")
    assert model.feature_set_version == "fs-1"
    assert str(model.as_of) == "2026-02-09"
    assert model.label == "model m version 4 (champion)"
    assert champion.ModelVersion("m", "5", None, ()).threshold is None


def test_no_champion_and_an_unreachable_registry_fail_differently(
    settings, make_settings, tmp_path, monkeypatch
):
    # An empty store: nobody holds the alias.
    assert champion.resolve(Runtime(settings), "champion") is None
    with pytest.raises(NoChampionModel, match="holds alias `champion`"):
        champion.resolve_champion(Runtime(settings))
    # A tracking server that does not answer is not "no champion".
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    down = make_settings(tmp_path / "down", mlflow_tracking_uri="http://127.0.0.1:9")
    try:
        with pytest.raises(RegistryUnavailable, match="cannot be asked") as err:
            champion.resolve(Runtime(down), "champion")
        # Nor "no version of these inputs yet" (retrain would register a second one), nor "no
        # training figures" (promote would record a decision without them).
        with pytest.raises(RegistryUnavailable, match="cannot be asked"):
            versions_tagged(Runtime(down), "hydrawatch.retrain_key", "k")
        # ... while a store that answers "no such model" is an empty list.
        assert versions_tagged(Runtime(settings), "hydrawatch.retrain_key", "k") == []
    finally:
        Runtime(settings).mlflow  # noqa: B018 - MLflow's process-wide URI back on a real store
    assert "\n" not in str(err.value)
