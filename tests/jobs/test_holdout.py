"""Leave-one-campaign-out on a synthetic world whose held-out campaign looks legitimate by score.

The synthetic world (tests/testkit/synthetic.py) is given what the structural flags read: account
ages, a day's IP prefixes and ASNs (silver) and organisations (the accounts snapshot). Campaign
`camp-1` is then made to look like a university class on every model feature, so only its
structure (young accounts, no organisation, a proxy network) can catch it, as a style no label
shows; the university classes are young too but sit behind one campus /24 as one organisation.
"""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest

from hydrawatch.runtime import Runtime
from hydrawatch.storage.tables import BRONZE_ACCOUNTS, FEATURES_ACCOUNT, SILVER_ACCOUNT_DAILY
from jobs.holdout import run_holdout
from testkit.registry import client
from testkit.synthetic import write_synthetic

START = dt.date(2026, 2, 1)
DAYS = 10
AS_OF = START + dt.timedelta(days=6)


def _augment(spark, settings, w):
    f = w.features.copy()
    truth = w.truth.set_index("account_id")
    pop = f["account_id"].map(truth["population"])
    camp = f["account_id"].map(truth["campaign_id"])
    rng = np.random.default_rng(3)
    hidden = (camp == "camp-1").to_numpy()
    # camp-1 has a university class's profile on every model feature (synchronised, no
    # chain-of-thought, young): a style the labels of camp-0 and camp-2 do not show
    f.loc[hidden, "f_sync"] = rng.normal(0.8, 0.15, hidden.sum())
    f.loc[hidden, "f_cot"] = rng.normal(0.15, 0.12, hidden.sum())
    f.loc[hidden, "f_volume"] = rng.normal(1.0, 0.5, hidden.sum())
    attacker = camp.notna().to_numpy()
    uni = (pop == "university_class").to_numpy()
    # the classes are as young as the campaigns: age alone tells the model nothing
    f["account_age_days"] = np.where(attacker | uni, 6.0, 400.0)
    f["coord_max_similarity"] = np.where(attacker | uni, 0.5, 0.0)
    f["requests_1d"] = 3.0
    cols = [c for c in f.columns if c not in ("account_id", "feature_date")]
    schema = "account_id string, feature_date date, " + ", ".join(
        f"{c} {'string' if f[c].dtype == object else 'double'}" for c in cols
    )
    # the synthetic gold is replaced by a wider one (a new table, not a schema change)
    shutil.rmtree(FEATURES_ACCOUNT.location(settings))
    spark.createDataFrame(f[["account_id", "feature_date", *cols]], schema).write.format(
        "delta"
    ).partitionBy("feature_date").save(FEATURES_ACCOUNT.location(settings))
    # silver: a campaign account sends from its own /24 on one of four proxy ASNs; a class from
    # its campus /24 on the university's ASN; everyone else from a home /24 of their own
    idx = f.groupby("account_id").ngroup()
    prefixes, asns = [], []
    for a, p, i in zip(f["account_id"], pop, idx, strict=True):
        if p == "university_class":
            prefixes.append([f"campus-{a[4]}"])
            asns.append([9])
        elif p.startswith("campaign"):
            prefixes.append([f"proxy-{i}"])
            asns.append([100 + i % 4])
        else:
            prefixes.append([f"home-{i}"])
            asns.append([200 + i % 50])
    silver = f[["account_id", "feature_date"]].rename(columns={"feature_date": "event_date"})
    silver = silver.assign(first_t=0.0, ip_prefixes=prefixes, asns=asns)
    spark.createDataFrame(
        silver,
        "account_id string, event_date date, first_t double, ip_prefixes array<string>, "
        "asns array<bigint>",
    ).write.format("delta").mode("overwrite").partitionBy("event_date").save(
        SILVER_ACCOUNT_DAILY.location(settings)
    )
    snap = w.truth[["account_id"]].assign(
        org_id=np.where(w.truth["population"] == "university_class", "org-uni", None),
        snapshot_date=START,
    )
    spark.createDataFrame(
        snap, "account_id string, org_id string, snapshot_date date"
    ).write.format("delta").mode("overwrite").partitionBy("snapshot_date").save(
        BRONZE_ACCOUNTS.location(settings)
    )


@pytest.fixture(scope="module")
def world(spark, make_settings, tmp_path_factory):
    # unlabelled accounts two days old are negatives: the held-out campaign's accounts among them
    settings = make_settings(tmp_path_factory.mktemp("holdout"), train_label_maturity_days=2)
    w = write_synthetic(spark, settings, START, days=DAYS, class_size=40)
    _augment(spark, settings, w)
    return settings, w


def test_structure_catches_the_held_out_campaign_no_label_shows(spark, world):
    settings, w = world
    end = START + dt.timedelta(days=DAYS - 1)
    result = run_holdout(Runtime(settings, spark=spark), AS_OF, end, ["camp-1"], seed=3)
    t = result.campaigns.set_index("held_out")
    assert list(t.index) == ["(none)", "camp-1"]
    row = t.loc["camp-1"]
    active = w.features[w.features["feature_date"] > AS_OF]["account_id"]
    camp1 = set(w.truth.loc[w.truth["campaign_id"] == "camp-1", "account_id"])
    assert row["accounts"] == len(camp1 & set(active))
    assert row["recall"] == 1.0
    assert row["structure_share"] > 0.5  # its members' scores alone would not flag them
    assert row["days_to_half"] == 0.0  # the first scored day
    # a noisy synthetic model flags a solo developer or two by score; never the class
    assert row["precision"] > 0.95 and row["worst_legit_fpr"] < 0.02
    pops = result.populations
    uni = pops[(pops["held_out"] == "camp-1") & (pops["name"] == "university_class")]
    assert int(uni["flagged"].iloc[0]) == 0 and int(uni["accounts"].iloc[0]) == 40
    run = client(settings).get_run(result.run_id)
    assert run.data.tags["hydrawatch.kind"] == "holdout"
    assert run.data.metrics["camp-1.recall"] == 1.0


def test_without_structure_the_held_out_campaign_is_missed(spark, world):
    settings, _ = world
    off = settings.model_copy(update={"structure_flags": False})
    end = START + dt.timedelta(days=DAYS - 1)
    result = run_holdout(Runtime(off, spark=spark), AS_OF, end, ["camp-1"], seed=3)
    row = result.campaigns.set_index("held_out").loc["camp-1"]
    assert row["recall"] < 0.2 and row["structure_share"] == 0.0


def test_unknown_campaign_and_empty_window_are_one_line_errors(spark, world):
    from hydrawatch.errors import HydrawatchError

    settings, _ = world
    rt = Runtime(settings, spark=spark)
    with pytest.raises(HydrawatchError, match=r"unknown campaign.*camp-9.*camp-0, camp-1, camp-2"):
        run_holdout(rt, AS_OF, None, ["camp-9"])
    with pytest.raises(HydrawatchError, match="no feature day after"):
        run_holdout(rt, START + dt.timedelta(days=DAYS - 1), None, ["camp-1"])
