"""run_score against real MLflow (SQLite in tmp), real Delta tables and a real LightGBM pyfunc."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from hydrawatch.errors import DataQualityError, NoChampionModel
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.score import run_score
from models.champion import ModelFeatureMismatch
from testkit.registry import log_and_register

D = dt.date(2026, 2, 10)
# The synthetic feature rows carry no structural evidence (ages, networks): the structural flags
# are off here and tested with their inputs below and in tests/models/test_scoring.py.
FEATURES = ["cot_share", "template_repeat", "noise"]
FSV = "fs-test-1"


def _train_champion(settings, feature_set_version=FSV):
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "cot_share": rng.uniform(0, 1, n),
            "template_repeat": rng.uniform(0, 1, n),
            "noise": rng.normal(0, 1, n),
        }
    )
    labels = ((frame.cot_share > 0.7) & (frame.template_repeat > 0.5)).astype(int)
    return log_and_register(
        Runtime(settings),
        frame,
        labels,
        feature_names=FEATURES,
        feature_set_version=feature_set_version,
        alias="champion",
    )


def _feature_rows():
    """30 accounts: a coordination cluster c1 of 6 (4 clearly bad, 2 benign-looking), others."""
    rows = []
    for i in range(6):
        bad = i < 4
        rows.append((f"c1-{i}", 0.95 if bad else 0.1, 0.9 if bad else 0.1, 0.0, "c1", f"i{i}"))
    for i in range(24):
        rows.append((f"x{i:02d}", 0.05 * (i % 10), 0.2, 0.1, f"solo{i}", "big-cloud"))
    return rows


def _write_inputs(spark, settings, day=D, rows=None, extra_active=()):
    rows = rows if rows is not None else _feature_rows()
    feats = spark.createDataFrame(
        [(a, day, *f, FSV, infra, coord) for a, *f, coord, infra in rows],
        "account_id string, feature_date date, cot_share double, template_repeat double, "
        "noise double, feature_set_version string, infra_cluster_id string, "
        "coord_cluster_id string",
    )
    feats.write.format("delta").mode("overwrite").option(
        "replaceWhere", f"feature_date = DATE'{day}'"
    ).partitionBy("feature_date").save(tables.FEATURES_ACCOUNT.location(settings))
    # bronze: the accounts with an event that day (only the columns the job reads)
    active = [r[0] for r in rows[::2]] + list(extra_active)
    events = spark.createDataFrame(
        [(f"e-{a}", a, day) for a in active], "event_id string, account_id string, event_date date"
    )
    events.write.format("delta").mode("overwrite").option(
        "replaceWhere", f"event_date = DATE'{day}'"
    ).partitionBy("event_date").save(tables.BRONZE_USAGE_EVENTS.location(settings))


@pytest.fixture(scope="module")
def scored(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("score"), structure_flags=False)
    _, version = _train_champion(settings)
    _write_inputs(spark, settings)
    result = run_score(Runtime(settings, spark=spark), D)
    return settings, version, result


def test_scores_every_account_with_champion_version(spark, scored):
    settings, version, result = scored
    got = spark.read.format("delta").load(tables.GOLD_ACCOUNT_SCORES.location(settings))
    assert got.columns == [
        "score_date",
        "account_id",
        "score",
        "flagged",
        "model_name",
        "model_version",
    ]
    rows = {r.account_id: r for r in got.collect()}
    assert set(rows) == {r[0] for r in _feature_rows()}
    assert {(r.score_date, r.model_name, r.model_version) for r in rows.values()} == {
        (D, settings.model_name, version)
    }
    assert all(0.0 <= r.score <= 1.0 for r in rows.values())
    assert result.model_version == version and result.accounts_scored == 30
    # the clearly bad members score above the threshold; the look-alike benign ones do not
    assert all(rows[f"c1-{i}"].score >= result.threshold for i in range(4))
    assert all(rows[f"x{i:02d}"].score < result.threshold for i in range(24))
    assert all(not rows[f"x{i:02d}"].flagged for i in range(24))


def test_rollup_flags_rest_of_coordination_cluster_with_reason(spark, scored):
    settings, version, result = scored
    details = spark.read.format("delta").load(tables.FLAG_DETAILS.location(settings))
    got = {r.account_id: r for r in details.collect()}
    assert set(got) == {f"c1-{i}" for i in range(6)}
    assert result.flagged == 6 and result.flagged_by_score == 4 and result.flagged_by_cluster == 2
    member = got["c1-5"]
    assert member.flagged_by == "cluster" and member.cluster_id == "c1"
    assert member.rollup_reason == "member of flagged coordination cluster c1 (4 of 6 flagged)"
    assert member.reasons_text.endswith(member.rollup_reason)
    bad = got["c1-0"]
    assert bad.flagged_by == "score" and bad.model_version == version
    assert bad.threshold == result.threshold
    # reasons: positive contributions only, largest first, values are the feature values
    contribs = [r.contribution for r in bad.reasons]
    assert contribs == sorted(contribs, reverse=True) and all(c > 0 for c in contribs)
    values = {r.feature: r.value for r in bad.reasons}
    assert values.get("cot_share") == 0.95
    scores = spark.read.format("delta").load(tables.GOLD_ACCOUNT_SCORES.location(settings))
    assert scores.where(F.col("account_id") == "c1-5").first().flagged


def test_rerun_replaces_the_day(spark, scored):
    settings, _, first = scored
    again = run_score(Runtime(settings, spark=spark), D)
    assert (again.accounts_scored, again.flagged) == (first.accounts_scored, first.flagged)
    scores = spark.read.format("delta").load(tables.GOLD_ACCOUNT_SCORES.location(settings))
    assert scores.count() == 30


def test_active_account_without_features_stops_the_day(spark, scored, tmp_path):
    settings, _, _ = scored
    d2 = D + dt.timedelta(days=1)
    _write_inputs(spark, settings, day=d2, rows=_feature_rows()[:3], extra_active=("ghost",))
    with pytest.raises(DataQualityError, match=r"1 account\(s\) with events on 2026-02-11 .*ghost"):
        run_score(Runtime(settings, spark=spark), d2)


def test_no_champion_says_how_to_make_one(spark, make_settings, tmp_path):
    settings = make_settings(tmp_path, structure_flags=False)
    with pytest.raises(NoChampionModel) as err:
        run_score(Runtime(settings, spark=spark), D)
    msg = str(err.value)
    assert "\n" not in msg and "alias `champion`" in msg
    assert "`hydrawatch retrain --as-of D` then `hydrawatch promote`" in msg


def test_model_of_another_feature_set_is_refused(spark, make_settings, tmp_path):
    settings = make_settings(tmp_path, structure_flags=False)
    _train_champion(settings, feature_set_version="fs-old")
    _write_inputs(spark, settings)
    with pytest.raises(ModelFeatureMismatch, match="'fs-old' but the feature table holds"):
        run_score(Runtime(settings, spark=spark), D)
    from delta.tables import DeltaTable

    assert not DeltaTable.isDeltaTable(spark, tables.GOLD_ACCOUNT_SCORES.location(settings))


def test_structure_flags_a_young_cluster_on_a_proxy_network_the_score_misses(
    spark, make_settings, tmp_path
):
    """Five benign-looking young accounts of no organisation on five /24s over three ASNs are
    flagged by structure with the evidence as reason; a class of six young accounts of one
    organisation behind one campus /24 is not."""
    settings = make_settings(tmp_path)
    _train_champion(settings)
    hydra = [f"h{i}" for i in range(5)]
    klass = [f"k{i}" for i in range(6)]
    rows = [(a, D, 0.1, 0.1, 0.0, FSV, a, "hyd", 3.0, 0.4) for a in hydra]
    rows += [(a, D, 0.1, 0.1, 0.0, FSV, a, "cls", 10.0, 0.6) for a in klass]
    spark.createDataFrame(
        rows,
        "account_id string, feature_date date, cot_share double, template_repeat double, "
        "noise double, feature_set_version string, infra_cluster_id string, "
        "coord_cluster_id string, account_age_days double, coord_max_similarity double",
    ).write.format("delta").partitionBy("feature_date").save(
        tables.FEATURES_ACCOUNT.location(settings)
    )
    accounts = hydra + klass
    spark.createDataFrame(
        [(f"e-{a}", a, D) for a in accounts], "event_id string, account_id string, event_date date"
    ).write.format("delta").partitionBy("event_date").save(
        tables.BRONZE_USAGE_EVENTS.location(settings)
    )
    silver = [(a, D, 60.0 * i, [f"198.51.{i}.0/24"], [64500 + i % 3]) for i, a in enumerate(hydra)]
    silver += [(a, D, 0.0, ["192.0.2.0/24"], [64999]) for a in klass]
    spark.createDataFrame(
        silver,
        "account_id string, event_date date, first_t double, ip_prefixes array<string>, "
        "asns array<bigint>",
    ).write.format("delta").partitionBy("event_date").save(
        tables.SILVER_ACCOUNT_DAILY.location(settings)
    )
    spark.createDataFrame(
        [(a, None, D) for a in hydra] + [(a, "org-uni", D) for a in klass],
        "account_id string, org_id string, snapshot_date date",
    ).write.format("delta").partitionBy("snapshot_date").save(
        tables.BRONZE_ACCOUNTS.location(settings)
    )
    result = run_score(Runtime(settings, spark=spark), D)
    assert result.flagged_by_score == 0 and result.flagged == 5
    details = {
        r.account_id: r
        for r in spark.read.format("delta").load(tables.FLAG_DETAILS.location(settings)).collect()
    }
    assert set(details) == set(hydra)
    h = details["h2"]
    assert h.flagged_by == "structure" and h.cluster_id == "hyd" and h.cluster_size == 5
    assert h.rollup_reason == (
        "structure: coordination cluster hyd of 5 accounts, 100% created in the last 30 days "
        "(median age 3 days), 0% in its largest organisation, 5 IP prefixes over 3 ASNs from 5 "
        "active accounts, first requests of the day within 2 minutes (interquartile)"
    )
    assert h.reasons_text.endswith(h.rollup_reason)


def test_structure_without_silver_stops_the_day_with_the_command(spark, make_settings, tmp_path):
    from jobs.score import MissingInput

    settings = make_settings(tmp_path)
    _train_champion(settings)
    _write_inputs(spark, settings)
    with pytest.raises(MissingInput, match=r"structural flags for 2026-02-10 need silver"):
        run_score(Runtime(settings, spark=spark), D)


def _challenger(settings) -> str:
    """The version holding `challenger` in the module's registry (registered on first use)."""
    from testkit.registry import client

    held = client(settings).get_registered_model(settings.model_name).aliases.get("challenger")
    if held:
        return str(held)
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "cot_share": rng.uniform(0, 1, 400),
            "template_repeat": rng.uniform(0, 1, 400),
            "noise": rng.normal(0, 1, 400),
        }
    )
    _, version = log_and_register(
        Runtime(settings),
        frame,
        (frame.cot_share > 0.9).astype(int),  # a stricter model: fewer accounts
        feature_names=FEATURES,
        feature_set_version=FSV,
        alias="challenger",
    )
    return version


def test_shadow_scores_a_challenger_beside_and_publishes_nothing(spark, scored):
    """The challenger's day goes to the shadow tables only, under its own version; a re-run and
    the champion's shadow of the same day replace exactly their own rows."""
    from delta.tables import DeltaTable

    from jobs.shadow import run_shadow

    settings, champion_version, published = scored
    challenger = _challenger(settings)

    def versions():
        return {
            t.name: DeltaTable.forPath(spark, t.location(settings)).history(1).first().version
            for t in (tables.GOLD_ACCOUNT_SCORES, tables.FLAG_DETAILS)
        }

    before = versions()
    rt = Runtime(settings, spark=spark)
    first = run_shadow(rt, D, D)
    again = run_shadow(rt, D, D)
    beside = run_shadow(rt, D, D, version=champion_version)
    assert versions() == before  # the published tables were not written
    assert (first.model_version, first.champion_version) == (challenger, champion_version)
    assert [d.accounts_scored for d in first.days] == [30]
    assert again.days[0].flagged == first.days[0].flagged
    shadow = spark.read.format("delta").load(tables.SHADOW_SCORES.location(settings))
    per_version = {
        r.model_version: r["count"] for r in shadow.groupBy("model_version").count().collect()
    }
    assert per_version == {challenger: 30, champion_version: 30}
    # The champion's shadow of the day is what the published day holds.
    shadow_details = spark.read.format("delta").load(tables.SHADOW_FLAG_DETAILS.location(settings))
    mine = {
        r.account_id
        for r in shadow_details.where(f"model_version = '{champion_version}'").collect()
    }
    live = {
        r.account_id
        for r in spark.read.format("delta").load(tables.FLAG_DETAILS.location(settings)).collect()
    }
    assert mine == live and beside.days[0].flagged == published.flagged
    theirs = shadow_details.where(f"model_version = '{challenger}'").count()
    assert theirs == first.days[0].flagged


def test_compare_puts_champion_and_challenger_side_by_side(spark, scored):
    """Counts per day add up, the label figures match the flags, the run is in MLflow with its
    report and plots; nothing published is written."""
    from jobs.compare import run_compare
    from testkit.registry import client

    settings, champion_version, published = scored
    challenger = _challenger(settings)
    decided = dt.datetime(2026, 2, 9, 12)
    labels = [(f"c1-{i}", decided, "distillation", "analyst_review") for i in range(4)]
    labels += [("c1-5", decided, "benign", "analyst_review"), ("x00", decided, "benign", "appeal")]
    spark.createDataFrame(
        [(*row, D, None, "f.jsonl") for row in labels],
        "account_id string, decided_at timestamp, label string, source string, "
        "delivery_date date, campaign_id string, source_file string",
    ).write.format("delta").mode("overwrite").save(tables.BRONZE_LABELS.location(settings))

    result = run_compare(Runtime(settings, spark=spark), D, D)
    [day] = result.days
    assert (result.version_a, result.version_b) == (champion_version, challenger)
    assert day.scored == 30
    assert day.flagged_a == published.flagged
    assert day.both + day.only_a == day.flagged_a and day.both + day.only_b == day.flagged_b
    a = result.figures["a"]
    # the champion flags all of c1 (4 by score, 2 rolled up): c1-5 benign is its one wrong flag
    assert (a.labelled_rows, a.positives) == (6, 4)
    assert a.precision.value == 4 / 5 and a.recall.value == 1.0
    assert set(result.populations["proxy"]) <= {"signup_channel", "plan"}
    assert len(result.only_a) == day.only_a and len(result.only_b) == day.only_b
    run = client(settings).get_run(result.run_id)
    assert run.data.params["version_a"] == champion_version
    assert run.data.metrics["precision_a"] == 4 / 5
    files = {f.path for f in client(settings).list_artifacts(result.run_id)}
    assert {"compare.md", "pr_and_calibration.png", "flag_rate_by_day.png"} <= files
