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


CLEAN_LOAD = """
import json, sys
import pandas as pd
try:
    import models  # noqa: F401
    print(json.dumps({"repo_importable": True}))
    sys.exit(0)
except ModuleNotFoundError:
    pass
import mlflow
model = mlflow.pyfunc.load_model(sys.argv[1])
out = model.predict(pd.DataFrame(json.loads(sys.argv[2])))
print(json.dumps({"repo_importable": False, "scores": out["score"].round(6).tolist()}))
"""


def test_the_registered_model_loads_and_predicts_without_this_repository(settings, tmp_path):
    """A fresh virtual environment that sees the installed packages but not this repository
    (nor its editable install): the champion loads by alias and scores as it does here."""
    import json
    import site
    import subprocess
    import venv

    x, y = _frame(seed=2)
    log_and_register(Runtime(settings), x, y, feature_set_version="fs-test", alias="champion")
    uri = f"models:/{settings.model_name}@champion"
    batch = x.iloc[:5]
    here = mlflow.pyfunc.load_model(uri).predict(batch)["score"].round(6).tolist()

    clean = tmp_path / "clean-venv"
    venv.EnvBuilder(with_pip=False).create(clean)
    packages = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    [target] = clean.glob("lib/python*/site-packages")
    # A plain path line: the packages, without the editable install's .pth hook.
    (target / "packages.pth").write_text(packages + "\n")
    done = subprocess.run(
        [str(clean / "bin" / "python"), "-I", "-c", CLEAN_LOAD, uri, batch.to_json()],
        cwd=tmp_path,
        env={
            "MLFLOW_TRACKING_URI": settings.tracking_uri,
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == {"repo_importable": False, "scores": here}
    described = client(settings).get_registered_model(settings.model_name).description
    assert described.startswith("Hydrawatch account classifier")
