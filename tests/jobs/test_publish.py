"""run_publish on real Delta tables: contract table, export + manifest, re-runs, DQ gate, webhook
against a real local HTTP server, and no personal data in anything published."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from hydrawatch import webhook
from hydrawatch.errors import DataQualityError
from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.publish import JUMP_MIN_COUNT, hold_back_reason, run_publish

D = dt.date(2026, 2, 10)
SECRET = "publish-test-secret"
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


class Receiver:
    """Real HTTP server on 127.0.0.1 that accepts only correctly signed bodies."""

    def __init__(self):
        self.received: list[tuple[bytes, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = webhook.verify(body, SECRET, self.headers.get(webhook.SIGNATURE_HEADER))
                if ok:
                    outer.received.append((body, dict(self.headers)))
                self.send_response(200 if ok else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/queue"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _save(df, path, part=None, mode="overwrite"):
    w = df.write.format("delta").mode(mode)
    (w.partitionBy(part) if part else w).save(path)


def _inputs(spark, settings, day=D, audit_status="ok", quarantined=0):
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
        spark.createDataFrame([(*d, 0.7, *m) for d in details], DETAILS_SCHEMA),
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
def published(spark, make_settings, tmp_path_factory):
    rx = Receiver()
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
    assert first.webhook == "sent" and len(rx.received) == 1
    body, headers = rx.received[0]
    payload = json.loads(body)
    assert payload["row_count"] == 3 and payload["sha256"] == first.export_sha256
    assert payload["model_version"] == "3" and payload["export_folder"] == first.export_dir
    assert headers[webhook.DELIVERY_HEADER] == "2026-02-10/3"
    assert SECRET not in body.decode()
    data_file = Path(first.export_dir) / "suspicious_accounts.jsonl"
    before = data_file.read_bytes()

    again = run_publish(Runtime(settings, spark=spark), D)
    assert again.webhook == "already sent" and len(rx.received) == 1
    assert data_file.read_bytes() == before and again.export_sha256 == first.export_sha256
    deliveries = spark.read.format("delta").load(tables.WEBHOOK_DELIVERIES.location(settings))
    assert deliveries.count() == 1
    assert SECRET not in json.dumps([r.asDict() for r in deliveries.collect()], default=str)
    table = spark.read.format("delta").load(tables.GOLD_SUSPICIOUS_ACCOUNTS.location(settings))
    assert table.count() == 3


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
    bodies = "".join(body.decode() + json.dumps(headers) for body, headers in rx.received)
    assert bodies and export_text
    published_text = _tables_as_text(spark, settings, written) + export_text + bodies
    for column in ("client_ip", "payment_fingerprint", "email_domain_hash", "email"):
        assert not any(column in c for c in table.columns)
    for secret_value in (*CLIENT_IPS, *PAYMENT, *EMAIL):
        assert secret_value not in published_text


@pytest.mark.faults
def test_webhook_secret_is_never_logged_printed_or_stored(
    spark, make_settings, tmp_path, caplog, capfd
):
    """A publish with the secret set: no log record, no output on the process's stdout/stderr
    (the JVM's included), no table and no exported file holds it; the receiver checked it."""
    import logging

    rx = Receiver()
    try:
        settings = make_settings(tmp_path, webhook_url=rx.url, webhook_secret=SECRET)
        _inputs(spark, settings)
        caplog.set_level(logging.DEBUG)
        result = run_publish(Runtime(settings, spark=spark), D)
    finally:
        rx.close()
    assert result.webhook == "sent" and len(rx.received) == 1  # signed with the secret
    out, err = capfd.readouterr()
    assert SECRET not in caplog.text + out + err
    written = (tables.GOLD_SUSPICIOUS_ACCOUNTS, tables.PUBLICATIONS, tables.WEBHOOK_DELIVERIES)
    stored = _tables_as_text(spark, settings, written)
    stored += "".join(p.read_text() for p in Path(result.export_dir).iterdir())
    stored += "".join(body.decode() + json.dumps(headers) for body, headers in rx.received)
    assert SECRET not in stored
    # nor anywhere under the warehouse and export roots, Delta logs and checkpoints included
    for root in (settings.warehouse, settings.exports):
        for path in Path(root).rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


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
    assert hold_back_reason(ok, 3, [], 0.05) is None
    assert "no ingest audit for accounts" in hold_back_reason(
        {"usage_events": ok["usage_events"]}, 3, [], 0.05
    )
    high = {**ok, "usage_events": {"status": "ok", "lines": 100, "quarantined": 9}}
    assert "9 of 100 usage lines quarantined (9.0% > 5.0%)" in hold_back_reason(high, 3, [], 0.05)
    history = [20, 25, 30, 10, 20, 40, 15]  # median 20
    assert hold_back_reason(ok, 60, history, 0.05) is None  # exactly 3x: allowed
    assert "61 accounts flagged, more than 3x the median 20 of the last 7" in hold_back_reason(
        ok, 61, history, 0.05
    )
    # small numbers never trip the jump rule
    assert hold_back_reason(ok, JUMP_MIN_COUNT - 1, [1, 1, 1], 0.05) is None
    assert hold_back_reason(ok, JUMP_MIN_COUNT, [1, 1, 1], 0.05) is not None


@pytest.mark.slow
def test_scored_then_published_end_to_end(spark, make_settings, tmp_path):
    """A real champion scores a day, publish lists exactly the flagged accounts."""
    import numpy as np
    import pandas as pd

    from jobs.score import run_score
    from testkit.registry import log_and_register

    settings = make_settings(tmp_path)
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
