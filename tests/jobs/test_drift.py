"""The drift job against a real champion in MLflow and real Delta tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables

AS_OF = dt.date(2026, 2, 7)
DAY = dt.date(2026, 2, 10)


def test_shifted_feature_is_flagged_and_written(spark, make_settings, tmp_path):
    from jobs.drift import run_drift
    from testkit.registry import client, log_and_register

    settings = make_settings(tmp_path, drift_bins=4)
    rng = np.random.default_rng(3)
    n = 200
    train = pd.DataFrame({"f_stable": rng.normal(size=n), "f_shift": rng.normal(size=n)})
    labels = (train["f_shift"] > 0.8).astype(int)
    _, version = log_and_register(Runtime(settings), train, labels, alias="champion")
    client(settings).set_model_version_tag(settings.model_name, version, "as_of", str(AS_OF))

    def rows(day, shift):
        return [(f"a{i}", day, float(rng.normal()), float(rng.normal() + shift)) for i in range(n)]

    feats = rows(AS_OF - dt.timedelta(days=1), 0.0) + rows(AS_OF, 0.0) + rows(DAY, 3.0)
    (
        spark.createDataFrame(
            feats, "account_id string, feature_date date, f_stable double, f_shift double"
        )
        .write.format("delta")
        .save(tables.FEATURES_ACCOUNT.location(settings))
    )
    (
        spark.createDataFrame(
            [(DAY, f"a{i}", 0.9) for i in range(n)],
            "score_date date, account_id string, score double",
        )
        .write.format("delta")
        .save(tables.GOLD_ACCOUNT_SCORES.location(settings))
    )

    result = run_drift(Runtime(settings, spark=spark), DAY)

    assert result.status == "ok"
    assert result.model_version == version
    assert "f_shift" in result.drifted and "f_stable" not in result.drifted
    written = {
        r.feature: r
        for r in spark.read.format("delta").load(tables.DRIFT.location(settings)).collect()
    }
    assert set(written) == {"f_stable", "f_shift", "score"}
    assert written["f_shift"].drifted and written["f_shift"].psi > 1.0
    assert written["f_stable"].psi < 0.25
    assert (written["f_shift"].ref_rows, written["f_shift"].cur_rows) == (2 * n, n)
    assert written["score"].reference_end == AS_OF


def test_no_champion_is_reported_not_raised(spark, make_settings, tmp_path):
    from jobs.drift import run_drift

    result = run_drift(Runtime(make_settings(tmp_path), spark=spark), DAY)
    assert result.status == "skipped: no champion model"
