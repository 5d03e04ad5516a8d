"""The daily report on a small hand-built warehouse: every section drawn, nothing personal and
nothing from the network in the page, logged beside the model's run; then opened in headless
Chromium (Debian's package) behind a recording proxy: no request leaves, no console error, the
page renders."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import io
import math
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from hydrawatch.runtime import Runtime
from hydrawatch.storage import tables
from jobs.report import gate_band, run_report
from testkit.registry import client, log_and_register

D = dt.date(2026, 2, 14)
DAYS = [D - dt.timedelta(days=i) for i in range(9, -1, -1)]
ACCOUNTS = [f"a{i:02d}" for i in range(20)]
CLUSTER = ACCOUNTS[:6]
PERSONAL = ("198.51.100.0/24", "pay-fp-77", "mail-h-77", "203.0.113.99")


def _save(spark, rows, schema, table, settings, partition=None):
    writer = spark.createDataFrame(rows, schema).write.format("delta").mode("overwrite")
    (writer.partitionBy(partition) if partition else writer).save(table.location(settings))


@pytest.fixture(scope="module")
def warehouse(spark, make_settings, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("report"))
    rt = Runtime(settings)
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"f1": rng.uniform(0, 1, 200), "f2": rng.normal(0, 1, 200)})
    for seed in (1, 2):  # versions 1 and 2: the model changes on D-2
        log_and_register(rt, x, (x.f1 > 0.5).astype(int), seed=seed)
    version = lambda d: "1" if d < D - dt.timedelta(days=2) else "2"  # noqa: E731
    flagged = lambda d, a: a in CLUSTER[: 2 + DAYS.index(d) % 4]  # noqa: E731
    _save(
        spark,
        [(d, a, 0.9 if flagged(d, a) else 0.1, flagged(d, a), "m", version(d)) for d in DAYS for a in ACCOUNTS],
        "score_date date, account_id string, score double, flagged boolean, model_name string, "
        "model_version string",
        tables.GOLD_ACCOUNT_SCORES, settings, "score_date",
    )  # fmt: skip
    _save(
        spark,
        [(d, version(d), 2 + DAYS.index(d) % 4, "sha", "f", "t", None, None) for d in DAYS],
        "score_date date, model_version string, row_count bigint, sha256 string, "
        "export_folder string, written_at string, released_by string, release_reason string",
        tables.PUBLICATIONS, settings,
    )  # fmt: skip
    reasons = [("requests_1d", 900.0, 1.5), ("cot_share", 0.9, 0.7)]
    _save(
        spark,
        [(D, a, 0.9, "score", "coordination", "c1", 6, 5, reasons, "r", None, 0.5, "m", "2") for a in CLUSTER[:5]],
        "score_date date, account_id string, score double, flagged_by string, cluster_kind string, "
        "cluster_id string, cluster_size bigint, cluster_flagged bigint, "
        "reasons array<struct<feature:string,value:double,contribution:double>>, "
        "reasons_text string, rollup_reason string, threshold double, model_name string, "
        "model_version string",
        tables.FLAG_DETAILS, settings, "score_date",
    )  # fmt: skip
    _save(
        spark,
        [(a, d, "c1" if a in CLUSTER else f"solo-{a}", f"i-{a}", float(rng.poisson(900 if d == D and a in CLUSTER else 30))) for d in DAYS for a in ACCOUNTS],
        "account_id string, feature_date date, coord_cluster_id string, infra_cluster_id string, "
        "requests_1d double",
        tables.FEATURES_ACCOUNT, settings, "feature_date",
    )  # fmt: skip
    _save(
        spark,
        [(a, D, [PERSONAL[0]] if a in CLUSTER else [f"10.{i}.0.0/24"], [64500], ["sdk"], ["sp-1"] if a in CLUSTER[:3] else [], {"t1": 5} if a in CLUSTER else {f"t-{a}": 1}) for i, a in enumerate(ACCOUNTS)],
        "account_id string, event_date date, ip_prefixes array<string>, asns array<bigint>, "
        "user_agents array<string>, system_prompts array<string>, template_counts map<string,bigint>",
        tables.SILVER_ACCOUNT_DAILY, settings, "event_date",
    )  # fmt: skip
    _save(
        spark,
        [(a, D, "org-1", PERSONAL[1] if a in CLUSTER[:2] else None, PERSONAL[2]) for a in ACCOUNTS],
        "account_id string, snapshot_date date, org_id string, payment_fingerprint string, "
        "email_domain_hash string",
        tables.BRONZE_ACCOUNTS, settings, "snapshot_date",
    )  # fmt: skip
    _save(
        spark,
        [(d, "bad_json" if i % 2 else "schema", f'{{"client_ip": "{PERSONAL[3]}"}}') for d in DAYS for i in range(DAYS.index(d) % 3 + 1)],
        "delivery_date date, reason string, raw_line string",
        tables.BRONZE_QUARANTINE, settings, "delivery_date",
    )  # fmt: skip
    ref_start, ref_end = DAYS[0], D - dt.timedelta(days=1)
    _save(
        spark,
        [(D, f, psi, psi > 0.25, 0.25, 100, 20, "2", ref_start, ref_end) for f, psi in (("requests_1d", 2.4), ("cot_share", 0.05), ("score", 0.3))],
        "score_date date, feature string, psi double, drifted boolean, bound double, "
        "ref_rows bigint, cur_rows bigint, model_version string, reference_start date, "
        "reference_end date",
        tables.DRIFT, settings, "score_date",
    )  # fmt: skip
    result = run_report(Runtime(settings, spark=spark), D)
    return settings, result


def test_the_jump_gate_band_by_hand():
    nan = float("nan")
    band = gate_band([10, 20, nan, 30, 40], factor=3.0, history=2, minimum=50)
    assert math.isnan(band[0])
    # max(3 x the median of the up to 2 published days before, 50); the gap is skipped
    assert band[1:] == [50.0, 50.0, 60.0, 90.0]


def test_every_section_is_drawn_without_personal_data_or_network(warehouse):
    settings, result = warehouse
    assert result.sections == ("counts", "clusters", "reasons", "quarantine", "drift")
    page = Path(result.path).read_text()
    assert result.path == f"{settings.reports_uri}/date=2026-02-14/report.html"
    assert not re.search(r"https?://|<script|<link|@import|url\(", page)
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # counts, 1 cluster, reasons, quarantine, PSI bars, 1 drifted histogram
    assert len(sources) == 6
    from PIL import Image

    for src in sources:
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert image.width >= 300 and image.height >= 150
    for personal in PERSONAL:
        assert personal not in page
    files = {
        f.path for f in client(settings).list_artifacts(result.mlflow_run_id, "reports/2026-02-14")
    }
    assert files == {"reports/2026-02-14/report.html"}


class _Proxy(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def _any(self):
        type(self).seen.append(f"{self.command} {self.path}")
        self.send_response(502)
        self.end_headers()

    do_GET = do_POST = do_CONNECT = do_HEAD = _any

    def log_message(self, *args):
        pass


def test_the_page_renders_in_headless_chromium_offline(warehouse, tmp_path):
    from PIL import Image

    if shutil.which("chromium") is None:
        # CI installs Debian's chromium (.ci/run) and requires it; elsewhere it may be missing.
        if os.environ.get("HYDRAWATCH_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed: apt-get install chromium")
        pytest.skip("needs Debian's chromium: apt-get install chromium")

    _, result = warehouse
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    shot = tmp_path / "report.png"
    try:
        done = subprocess.run(
            [
                "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
                "--proxy-bypass-list=<-loopback>",
                "--enable-logging=stderr", "--v=0",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1200,4000", f"--screenshot={shot}",
                f"file://{result.path}",
            ],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        proxy.shutdown()
    assert done.returncode == 0, done.stderr[-3000:]
    # The page asked for nothing. Chromium's own services (network time, component updates)
    # call Google's hosts whatever the page: those are the browser's, not the page's.
    browser = re.compile(
        r"^\w+ (https?://)?[^/]*(google\.com|googleapis\.com|gvt1\.com|gstatic\.com)"
    )
    assert [r for r in _Proxy.seen if not browser.match(r)] == [], _Proxy.seen
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == []
    image = Image.open(shot).convert("L")
    dark = sum(1 for p in image.getdata() if p < 200)
    assert dark > 50_000  # charts drawn, not a blank page
