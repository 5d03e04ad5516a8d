"""The logged pyfunc honours the model contract: columns, score range, metadata, alias."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from hydrawatch.runtime import Runtime
from models.pyfunc import CONTRIB_PREFIX
from testkit.registry import client, log_and_register


def _frame(n=400, seed=1):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    x = pd.DataFrame(
        {
            "f_signal": y * 2.0 + rng.normal(0, 0.5, n),
            "f_weak": y * 0.5 + rng.normal(0, 1, n),
            "f_noise": rng.normal(0, 1, n),
        }
    )
    return x, y


def test_log_and_register_gives_a_loadable_contract_model(settings):
    x, y = _frame()
    uri, version = log_and_register(Runtime(settings), x, y, feature_set_version="fs-test")
    assert version == "1"
    assert uri == f"models:/{settings.model_name}/1"
    mlf = client(settings)
    assert str(mlf.get_model_version_by_alias(settings.model_name, "challenger").version) == "1"

    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@challenger")
    meta = model.metadata.metadata
    assert meta["feature_names"] == ["f_signal", "f_weak", "f_noise"]
    assert meta["feature_set_version"] == "fs-test"
    assert meta["target_precision"] == pytest.approx(0.99)
    assert 0.0 <= meta["threshold"] <= 1.0

    # extra columns (the key) are ignored; order of columns does not matter
    batch = x.iloc[:50][["f_noise", "f_weak", "f_signal"]].assign(account_id="a")
    out = model.predict(batch)
    assert list(out.columns) == ["score"] + [
        f"{CONTRIB_PREFIX}{f}" for f in ("f_signal", "f_weak", "f_noise")
    ]
    assert out["score"].between(0.0, 1.0).all()
    assert len(out) == 50
    # the signal feature carries the model: its contributions vary most
    assert out[f"{CONTRIB_PREFIX}f_signal"].std() > out[f"{CONTRIB_PREFIX}f_noise"].std()
    # higher signal -> higher score on average (the model learnt something)
    pos = out["score"][y[:50] == 1].mean()
    neg = out["score"][y[:50] == 0].mean()
    assert pos > neg + 0.3

    tags = mlf.get_model_version(settings.model_name, "1").tags
    assert float(tags["threshold"]) == pytest.approx(meta["threshold"])
    assert tags["feature_set_version"] == "fs-test"

    # a second registration is a new version, and the alias moves to it
    _, second = log_and_register(Runtime(settings), x, y, seed=3)
    assert second == "2"
    assert str(mlf.get_model_version_by_alias(settings.model_name, "challenger").version) == "2"
