"""Export folder: manifest written last with count and sha256, deterministic bytes, whole swap."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest

from hydrawatch import export
from hydrawatch.export import ExportTargetUnsupported, read_manifest, write_export

D = dt.date(2026, 2, 10)
ROWS = [
    {
        "score_date": D,
        "account_id": "a1",
        "score": 0.97,
        "reasons": [{"feature": "cot_share", "value": 0.5, "contribution": 1.25}],
        "org_id": None,
    },
    {"score_date": D, "account_id": "ü2", "score": 1 / 3, "reasons": [], "org_id": "o"},
]
WHEN = dt.datetime(2026, 2, 11, 6, 0, tzinfo=dt.UTC)


def test_manifest_matches_data_file(tmp_path):
    res = write_export(str(tmp_path), D, ROWS, "7", model_name="m", written_at=WHEN)
    folder = tmp_path / "suspicious_accounts" / "date=2026-02-10"
    assert res.folder == str(folder)
    data = (folder / "suspicious_accounts.jsonl").read_bytes()
    manifest = read_manifest(str(folder))
    assert manifest == {
        "score_date": "2026-02-10",
        "data_file": "suspicious_accounts.jsonl",
        "row_count": 2,
        "sha256": hashlib.sha256(data).hexdigest(),
        "model_name": "m",
        "model_version": "7",
        "written_at": "2026-02-11T06:00:00Z",
    }
    lines = data.decode("utf-8").splitlines()
    assert json.loads(lines[0])["reasons"][0] == {
        "feature": "cot_share",
        "value": 0.5,
        "contribution": 1.25,
    }
    assert lines[1] == (
        '{"score_date":"2026-02-10","account_id":"ü2","score":0.3333333333333333,'
        '"reasons":[],"org_id":"o"}'
    )
    assert sorted(os.listdir(tmp_path / "suspicious_accounts")) == ["date=2026-02-10"]


def test_rerun_is_byte_identical_and_replaces_the_folder_whole(tmp_path):
    first = write_export(str(tmp_path), D, ROWS, "7", written_at=WHEN)
    before = Path(first.data_file).read_bytes()
    Path(first.folder, "stray.txt").write_text("from an older layout")
    second = write_export(str(tmp_path), D, ROWS, "7")
    assert Path(second.data_file).read_bytes() == before
    assert second.sha256 == first.sha256
    assert sorted(os.listdir(second.folder)) == ["manifest.json", "suspicious_accounts.jsonl"]
    third = write_export(str(tmp_path), D, ROWS[:1], "8")
    assert read_manifest(third.folder)["row_count"] == 1
    assert read_manifest(third.folder)["model_version"] == "8"


def test_failure_while_writing_keeps_the_previous_day_complete(tmp_path):
    write_export(str(tmp_path), D, ROWS, "7", written_at=WHEN)

    def broken_rows():
        yield ROWS[0]
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        write_export(str(tmp_path), D, broken_rows(), "8")
    folder = export.day_folder(str(tmp_path), D)
    assert read_manifest(folder)["model_version"] == "7"
    assert read_manifest(folder)["row_count"] == 2
    assert sorted(os.listdir(tmp_path / "suspicious_accounts")) == ["date=2026-02-10"]


def test_leftovers_of_a_crashed_swap_are_cleaned(tmp_path):
    parent = tmp_path / "suspicious_accounts"
    (parent / ".date=2026-02-10.tmp-dead").mkdir(parents=True)
    (parent / ".date=2026-02-10.tmp-dead" / "suspicious_accounts.jsonl").write_text("half")
    write_export(str(tmp_path), D, ROWS, "7", written_at=WHEN)
    assert sorted(os.listdir(parent)) == ["date=2026-02-10"]


def test_folder_without_manifest_reads_as_incomplete(tmp_path):
    (tmp_path / "x").mkdir()
    assert read_manifest(str(tmp_path / "x")) is None


def test_object_store_root_is_refused_clearly():
    with pytest.raises(ExportTargetUnsupported, match="s3a:// is not built yet"):
        write_export("s3a://bucket/exports", D, ROWS, "7")
