"""run_publish on real Delta tables: contract table, export + manifest, re-runs, DQ gate, webhook
against a real local HTTP server, and no personal data in anything published."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from hydrawatch.errors import EXIT_GATE, DataQualityError, PublicationHeld, UsageError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from hydrawatch.webhook import WebhookError
from jobs.publish import Release, run_publish
from models import publish_gate
from models.publish_gate import JUMP_MIN_COUNT, hold_back_reason, jump_reason

D = dt.date(2026, 2, 10)
KEY = b"publish-test-secret-key-32-bytes"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
CLIENT_IPS = ("203.0.113.7", "2001:db8:1:2::9")
PAYMENT = ("pay-fp-0001", "pay-fp-0002")
EMAIL = ("mail-dom-aaaa", "mail-dom-bbbb")
DETAILS_SCHEMA = (
    "score_date date, account_id string, score double, flagged_by string, cluster_kind string, "
    "cluster_id string, cluster_size bigint, cluster_flagged bigint, "
    "reasons array<struct<feature:string,value:double,contribution:double>>, "
    "reasons_text string, rollup_reason string, threshold double, model_name string, "
    "model_version string"
)


def _save(df, path, part=None, mode="overwrite"):
    w = df.write.format("delta").mode(mode)
    (w.partitionBy(part) if part else w).save(path)


def _inputs(spark, settings, day=D, audit_status="ok", quarantined=0, flagged=("a1", "a2", "a3")):
    """A scored day as the score job leaves it, plus the bronze rows with personal data."""
    m = ("m", "3")
    scores = [
        ("a1", 0.97, True),
        ("a2", 0.75, True),
        ("a3", 0.20, True),  # flagged by cluster roll-up
        ("a4", 0.10, False),
    ]
    _save(
        spark.createDataFrame(
            [(day, a, s, f, *m) for a, s, f in scores]
            + [(day - dt.timedelta(days=2), "a1", 0.95, True, *m)],
            "score_date date, account_id string, score double, flagged boolean, "
            "model_name string, model_version string",
        ),
        tables.GOLD_ACCOUNT_SCORES.location(settings),
        "score_date",
    )
    reasons = [("cot_share", 0.9, 2.5), ("template_repeat", 0.8, 1.0)]
    details = [
        (day, "a1", 0.97, "score", "coordination", "c1", 3, 2, reasons, "cot = 0.9", None),
        (day, "a2", 0.75, "score", "coordination", "c1", 3, 2, reasons[1:], "tmpl", None),
        (day, "a3", 0.20, "cluster", "coordination", "c1", 3, 2, [], "member of ...", "rolled"),
    ]
    _save(
        spark.createDataFrame([(*d, 0.7, *m) for d in details if d[1] in flagged], DETAILS_SCHEMA),
        tables.FLAG_DETAILS.location(settings),
        "score_date",
    )
    _save(
        spark.createDataFrame(
            [
                ("a1", "org-1", PAYMENT[0], EMAIL[0], day),
                ("a2", None, PAYMENT[1], EMAIL[1], day),
                ("a3", "org-1", PAYMENT[0], EMAIL[0], day),
                ("a4", "org-2", None, None, day),
            ],
            "account_id string, org_id string, payment_fingerprint string, "
            "email_domain_hash string, snapshot_date date",
        ),
        tables.BRONZE_ACCOUNTS.location(settings),
        "snapshot_date",
    )
    _save(
        spark.createDataFrame(
            [("e1", "a1", CLIENT_IPS[0], day), ("e2", "a2", CLIENT_IPS[1], day)],
            "event_id string, account_id string, client_ip string, event_date date",
        ),
        tables.BRONZE_USAGE_EVENTS.location(settings),
        "event_date",
    )
    _save(
        spark.createDataFrame(
            [(day, "usage_events", audit_status, 1000, quarantined), (day, "accounts", "ok", 4, 0)],
            "delivery_date date, feed string, status string, lines bigint, quarantined bigint",
        ),
        tables.INGEST_AUDIT.location(settings),
    )


@pytest.fixture(scope="module")
def published(spark, make_settings, tmp_path_factory, webhook_receiver):
    rx = webhook_receiver([SECRET])
    settings = make_settings(
        tmp_path_factory.mktemp("publish"), webhook_url=rx.url, webhook_secret=SECRET
    )
    _inputs(spark, settings)
    first = run_publish(Runtime(settings, spark=spark), D)
    yield settings, first, rx
    rx.close()


def test_table_has_contract_columns_and_values(spark, published):
    settings, result, _ = published
    got = spark.read.format("delta").load(tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    contract = [
        "score_date",
        "account_id",
        "org_id",
        "score",
        "risk_tier",
        "cluster_id",
        "cluster_size",
        "reasons",
        "model_version",
        "threshold",
        "first_flagged_date",
    ]
    assert got.columns[: len(contract)] == contract
    rows = {r.account_id: r for r in got.collect()}
    assert set(rows) == {"a1", "a2", "a3"} and result.rows == 3 and result.new_clusters == 1
    assert (rows["a1"].org_id, rows["a2"].org_id) == ("org-1", None)
    assert [rows[a].risk_tier for a in ("a1", "a2", "a3")] == ["critical", "high", "medium"]
    assert rows["a1"].first_flagged_date == D - dt.timedelta(days=2)
    assert rows["a3"].first_flagged_date == D
    assert [(r.feature, r.value, r.contribution) for r in rows["a1"].reasons] == [
        ("cot_share", 0.9, 2.5),
        ("template_repeat", 0.8, 1.0),
    ]
    assert {
        (r.cluster_id, r.cluster_size, r.model_version, r.threshold) for r in rows.values()
    } == {("c1", 3, "3", 0.7)}


def test_export_matches_table_and_manifest(spark, published):
    settings, result, _ = published
    folder = Path(settings.exports_uri) / "suspicious_accounts" / "date=2026-02-10"
    assert result.export_dir == str(folder)
    data = (folder / "suspicious_accounts.jsonl").read_bytes()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_count"] == 3 and manifest["model_version"] == "3"
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == result.export_sha256
    assert manifest["written_at"].endswith("Z")
    lines = [json.loads(x) for x in data.decode().splitlines()]
    assert [x["account_id"] for x in lines] == ["a1", "a2", "a3"]  # score descending
    table = spark.read.format("delta").load(tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    assert set(lines[0]) == set(table.columns)
    assert lines[0]["reasons"][0] == {"feature": "cot_share", "value": 0.9, "contribution": 2.5}
    assert lines[0]["first_flagged_date"] == "2026-02-08"


def test_webhook_signed_pointer_sent_once_and_rerun_is_byte_identical(spark, published):
    settings, first, rx = published
    assert first.webhook == "sent" and rx.verdicts == ["ok"] and len(rx.accepted) == 1
    body, headers = rx.accepted[0]
    payload = json.loads(body)
    assert payload["type"] == "suspicious_accounts.published"
    assert payload["row_count"] == 3 and payload["sha256"] == first.export_sha256
    assert payload["model_version"] == "3" and payload["export_folder"] == first.export_dir
    assert headers["webhook-id"] == f"hw_2026-02-10_r1_{first.export_sha256[:32]}"
    assert headers["hydrawatch-key-ids"] == "k1"
    assert SECRET not in body.decode()
    data_file = Path(first.export_dir) / "suspicious_accounts.jsonl"
    before = data_file.read_bytes()

    again = run_publish(Runtime(settings, spark=spark), D)
    assert again.webhook == "already sent" and len(rx.requests) == 1
    assert data_file.read_bytes() == before and again.export_sha256 == first.export_sha256
    deliveries = spark.read.format("delta").load(tables.WEBHOOK_DELIVERIES.location(settings))
    rows = deliveries.collect()
    assert [(r.score_date, r.sha256, r.webhook_id, r.key_ids, r.status_code) for r in rows] == [
        (D, first.export_sha256, headers["webhook-id"], "k1", 204)
    ]
    assert SECRET not in json.dumps([r.asDict() for r in rows], default=str)
    table = spark.read.format("delta").load(tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    assert table.count() == 3


def test_new_content_for_a_day_is_announced_again_and_the_same_content_is_not(
    spark, make_settings, tmp_path, webhook_receiver
):
    """Keyed on the export's SHA-256: A, A, B, B, A -> announced A, B, A (the last A after a
    rollback, say: receivers last heard of B). A table written before webhook_id existed (one
    old row for the day, another content) is extended, and counts as revision 1."""
    with webhook_receiver([SECRET]) as rx:
        settings = make_settings(tmp_path, webhook_url=rx.url, webhook_secret=SECRET)
        path = tables.WEBHOOK_DELIVERIES.location(settings)
        old_schema = (
            "score_date date, model_version string, url_host string, export_path string, "
            "row_count bigint, sha256 string, status_code int, attempts int, "
            "delivered_at timestamp"
        )
        old_row = (D, "2", "http://old", "/x", 9, "f" * 64, 200, 1, dt.datetime(2020, 1, 1))
        spark.createDataFrame([old_row], old_schema).write.format("delta").save(path)

        _inputs(spark, settings)
        content_a = run_publish(Runtime(settings, spark=spark), D)
        repeat_a = run_publish(Runtime(settings, spark=spark), D)
        _inputs(spark, settings, flagged=("a1", "a2"))
        content_b = run_publish(Runtime(settings, spark=spark), D)
        repeat_b = run_publish(Runtime(settings, spark=spark), D)
        _inputs(spark, settings)
        back_to_a = run_publish(Runtime(settings, spark=spark), D)
    runs = [content_a, repeat_a, content_b, repeat_b, back_to_a]
    assert [r.webhook for r in runs] == ["sent", "already sent", "sent", "already sent", "sent"]
    sha_a, sha_b = content_a.export_sha256, content_b.export_sha256
    assert sha_a != sha_b and back_to_a.export_sha256 == sha_a
    assert [r.rows for r in runs] == [3, 3, 2, 2, 3]
    ids = [h["webhook-id"] for _, h in rx.accepted]
    assert ids == [
        f"hw_2026-02-10_r2_{sha_a[:32]}",
        f"hw_2026-02-10_r3_{sha_b[:32]}",
        f"hw_2026-02-10_r4_{sha_a[:32]}",
    ]
    assert [json.loads(b)["row_count"] for b, _ in rx.accepted] == [3, 2, 3]
    assert rx.verdicts == ["ok", "ok", "ok"] and len(rx.requests) == 3
    rows = spark.read.format("delta").load(path).orderBy("delivered_at").collect()
    assert [(r.sha256, r.webhook_id) for r in rows] == [("f" * 64, None)] + [
        (json.loads(b)["sha256"], h["webhook-id"]) for b, h in rx.accepted
    ]


def test_a_redirecting_receiver_is_not_recorded_as_delivered(
    spark, make_settings, tmp_path, webhook_receiver
):
    from delta.tables import DeltaTable

    with webhook_receiver([SECRET], redirects={"/moved": 301}) as rx:
        settings = make_settings(tmp_path, webhook_url=rx.base + "/moved", webhook_secret=SECRET)
        _inputs(spark, settings)
        with pytest.raises(WebhookError, match=r"redirect \(HTTP 301 to http://127\.0\.0\.1:"):
            run_publish(Runtime(settings, spark=spark), D)
    assert [(m, p) for m, p, _, _ in rx.requests] == [("POST", "/moved")] and rx.accepted == []
    assert not DeltaTable.isDeltaTable(spark, tables.WEBHOOK_DELIVERIES.location(settings))
    # the export itself is final; a re-run with the right address announces it
    with webhook_receiver([SECRET]) as rx:
        fixed = make_settings(tmp_path, webhook_url=rx.url, webhook_secret=SECRET)
        assert run_publish(Runtime(fixed, spark=spark), D).webhook == "sent"
    assert rx.verdicts == ["ok"]


def _tables_as_text(spark, settings, names) -> str:
    out = []
    for name in names:
        df = spark.read.format("delta").load(name.location(settings))
        out += [r.j for r in df.select(F.to_json(F.struct("*")).alias("j")).collect()]
    return "\n".join(out)


@pytest.mark.faults
def test_nothing_personal_is_published(spark, published):
    settings, result, rx = published
    table = spark.read.format("delta").load(tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    written = (
        tables.GOLD_SUSPICIOUS_ACCOUNTS,
        tables.GOLD_ACCOUNT_SCORES,
        tables.PUBLICATIONS,
        tables.WEBHOOK_DELIVERIES,
    )
    export_text = "".join(p.read_text() for p in Path(result.export_dir).iterdir())
    bodies = "".join(body.decode() + json.dumps(headers) for body, headers in rx.accepted)
    assert bodies and export_text
    published_text = _tables_as_text(spark, settings, written) + export_text + bodies
    for column in ("client_ip", "payment_fingerprint", "email_domain_hash", "email"):
        assert not any(column in c for c in table.columns)
    for secret_value in (*CLIENT_IPS, *PAYMENT, *EMAIL):
        assert secret_value not in published_text


@pytest.mark.faults
def test_webhook_secret_is_never_logged_printed_or_stored(
    spark, make_settings, tmp_path, caplog, capfd, webhook_receiver
):
    """A publish with the secret set: no log record, no output on the process's stdout/stderr
    (the JVM's included), no table and no exported file holds it; the receiver checked it."""
    import logging

    with webhook_receiver([SECRET]) as rx:
        settings = make_settings(tmp_path, webhook_url=rx.url, webhook_secret=SECRET)
        _inputs(spark, settings)
        caplog.set_level(logging.DEBUG)
        result = run_publish(Runtime(settings, spark=spark), D)
    assert result.webhook == "sent" and rx.verdicts == ["ok"]  # signed with the secret
    forms = (SECRET, SECRET.removeprefix("whsec_"), KEY.decode())  # whsec, base64, raw key
    out, err = capfd.readouterr()
    assert not any(f in caplog.text + out + err for f in forms)
    written = (tables.GOLD_SUSPICIOUS_ACCOUNTS, tables.PUBLICATIONS, tables.WEBHOOK_DELIVERIES)
    stored = _tables_as_text(spark, settings, written)
    stored += "".join(p.read_text() for p in Path(result.export_dir).iterdir())
    stored += "".join(body.decode() + json.dumps(headers) for body, headers in rx.accepted)
    assert not any(f in stored for f in forms)
    # nor anywhere under the warehouse and export roots, Delta logs and checkpoints included
    for root in (settings.warehouse, settings.exports):
        for path in Path(root).rglob("*"):
            if path.is_file():
                assert not any(f.encode() in path.read_bytes() for f in forms), path


def test_gate_holds_back_a_day_whose_ingest_failed(spark, make_settings, tmp_path):
    settings = make_settings(tmp_path)
    _inputs(spark, settings, audit_status="empty")
    with pytest.raises(DataQualityError, match="held back, nothing published: ingest of usage"):
        run_publish(Runtime(settings, spark=spark), D)
    from delta.tables import DeltaTable

    assert not DeltaTable.isDeltaTable(spark, tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    assert not (Path(settings.exports_uri) / "suspicious_accounts" / "date=2026-02-10").exists()


def test_hold_back_rules():
    ok = {
        "usage_events": {"status": "ok", "lines": 100, "quarantined": 1},
        "accounts": {"status": "ok", "lines": 5, "quarantined": 0},
    }
    assert hold_back_reason(ok, 0.05) is None
    assert "no ingest audit for accounts" in hold_back_reason(
        {"usage_events": ok["usage_events"]}, 0.05
    )
    high = {**ok, "usage_events": {"status": "ok", "lines": 100, "quarantined": 9}}
    assert "9 of 100 usage lines quarantined (9.0% > 5.0%)" in hold_back_reason(high, 0.05)
    history = [20, 25, 30, 10, 20, 40, 15]  # median 20
    assert jump_reason(60, history) is None  # exactly 3x: allowed
    assert "61 accounts flagged, more than 3x the median 20 of the last 7" in jump_reason(
        61, history
    )
    assert jump_reason(61, []) is None  # no history: nothing to jump from
    # small numbers never trip the jump rule
    assert jump_reason(JUMP_MIN_COUNT - 1, [1, 1, 1]) is None
    assert jump_reason(JUMP_MIN_COUNT, [1, 1, 1]) is not None


def test_a_jump_is_held_until_a_person_releases_it(spark, make_settings, tmp_path, monkeypatch):
    """The jump gate holds the day (exit code 5, nothing exported); a release with a reason
    publishes it, and meta/publications says who released it and why."""
    monkeypatch.setattr(publish_gate, "JUMP_MIN_COUNT", 2)
    monkeypatch.setattr(publish_gate, "JUMP_FACTOR", 2.0)
    settings = make_settings(tmp_path)
    rt = Runtime(settings, spark=spark)
    before = D - dt.timedelta(days=1)
    _inputs(spark, settings, day=before, flagged=("a1",))
    assert run_publish(rt, before).rows == 1
    _inputs(spark, settings)  # D: 3 flagged > 2 x the median 1

    with pytest.raises(PublicationHeld) as held:
        run_publish(rt, D)
    assert held.value.exit_code == EXIT_GATE
    assert str(held.value) == (
        "2026-02-10 held back, nothing published: 3 accounts flagged, more than 2x the median 1 "
        "of the last 1 published days; review the model and the day's inputs; to publish it "
        'anyway run `hydrawatch publish --date 2026-02-10 --accept-jump --reason "..."`'
    )
    assert not (Path(settings.exports_uri) / "suspicious_accounts" / "date=2026-02-10").exists()
    with pytest.raises(UsageError, match="--accept-jump needs --reason"):
        Release("ana", "  ")

    done = run_publish(rt, D, Release("ana", " wave confirmed by the abuse team "))
    assert done.rows == 3 and done.released.startswith("3 accounts flagged, more than 2x")
    pubs = spark.read.format("delta").load(tables.PUBLICATIONS.location(settings)).collect()
    got = {r.score_date: (r.row_count, r.released_by, r.release_reason) for r in pubs}
    assert got == {before: (1, None, None), D: (3, "ana", "wave confirmed by the abuse team")}


@pytest.mark.slow
def test_scored_then_published_end_to_end(spark, make_settings, tmp_path):
    """A real champion scores a day, publish lists exactly the flagged accounts."""
    import numpy as np
    import pandas as pd

    from jobs.score import run_score
    from testkit.registry import log_and_register

    settings = make_settings(tmp_path, structure_flags=False)
    rng = np.random.default_rng(5)
    train = pd.DataFrame({"cot_share": rng.uniform(0, 1, 300), "noise": rng.normal(0, 1, 300)})
    _, version = log_and_register(
        Runtime(settings),
        train,
        (train.cot_share > 0.6).astype(int),
        feature_names=["cot_share", "noise"],
        feature_set_version="fs-e2e",
        alias="champion",
    )
    accounts = [(f"a{i}", 0.95 if i < 3 else 0.05, 0.0, f"coord{i}", f"infra{i}") for i in range(8)]
    _save(
        spark.createDataFrame(
            [(a, D, c, n, "fs-e2e", i, k) for a, c, n, k, i in accounts],
            "account_id string, feature_date date, cot_share double, noise double, "
            "feature_set_version string, infra_cluster_id string, coord_cluster_id string",
        ),
        tables.FEATURES_ACCOUNT.location(settings),
        "feature_date",
    )
    _inputs(spark, settings)  # bronze, audit (and a scored day that run_score replaces)
    scored = run_score(Runtime(settings, spark=spark), D)
    published = run_publish(Runtime(settings, spark=spark), D)
    assert (scored.accounts_scored, scored.flagged, published.rows) == (8, 3, 3)
    table = spark.read.format("delta").load(tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    rows = table.orderBy("account_id").collect()
    assert [r.account_id for r in rows] == ["a0", "a1", "a2"]
    assert {r.model_version for r in rows} == {version}
    assert all(r.reasons and r.reasons[0].feature == "cot_share" for r in rows)
    manifest = json.loads((Path(published.export_dir) / "manifest.json").read_text())
    assert manifest["row_count"] == 3 and manifest["model_version"] == version


def test_show_pages_the_day_and_explain_says_why_without_personal_data(
    spark, published, monkeypatch, capsys
):
    from cli.main import main
    from jobs.lookup import MEANINGS, NotFound, run_explain, run_show

    settings, _, _ = published
    rt = Runtime(settings, spark=spark)
    page = run_show(rt, D, limit=2)
    assert page.total == 3 and [r["account_id"] for r in page.rows] == ["a1", "a2"]
    assert [r["account_id"] for r in run_show(rt, D, limit=2, offset=2).rows] == ["a3"]
    assert sum(page.tiers.values()) == 3
    assert page.clusters == (("coordination", "c1", 3),)

    a1 = run_explain(rt, "a1", D)
    assert (a1.flagged, a1.flagged_by, a1.model_version) == (True, "score", "3")
    assert [(c.feature, c.value, c.contribution) for c in a1.contributions] == [
        ("cot_share", 0.9, 2.5),
        ("template_repeat", 0.8, 1.0),
    ]
    assert a1.contributions[0].meaning == MEANINGS.get("cot_share", "")
    assert a1.flagged_days == (D - dt.timedelta(days=2), D)  # its history of flags
    a3 = run_explain(rt, "a3", D)
    assert (a3.flagged_by, a3.rollup_reason, a3.contributions) == ("cluster", "rolled", ())
    with pytest.raises(NotFound, match="account nobody was not scored on 2026-02-10"):
        run_explain(rt, "nobody", D)
    with pytest.raises(NotFound, match="nothing published for 2026-03-12"):
        run_show(rt, D + dt.timedelta(days=30))

    # At the terminal: the same, and nothing personal.
    for name, value in {
        "HYDRAWATCH_WAREHOUSE": settings.warehouse,
        "HYDRAWATCH_EXPORTS": settings.exports,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["show", "--date", str(D)]) == 0
    assert main(["explain", "a1", "--date", str(D)]) == 0
    printed = capsys.readouterr().out
    assert "published 2026-02-10: 3 accounts" in printed and "FLAGGED by score" in printed
    for personal in (*CLIENT_IPS, *PAYMENT, *EMAIL):
        assert personal not in printed
