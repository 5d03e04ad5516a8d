"""Export folder: manifest written last with count and sha256, deterministic bytes, whole swap.

Object-store mode is exercised on this machine through the same Hadoop FileSystem code path as
s3a:// or gs://: a `file://` root with `atomic_rename=False` (no rename is relied on)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest

from hydrawatch import export
from hydrawatch.export import (
    ExportTargetUnsupported,
    json_line,
    read_day,
    read_manifest,
    uses_object_store,
    write_export,
)

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


def test_an_s3a_root_is_the_same_bucket_for_pyarrow():
    import pyarrow.fs as pafs

    from hydrawatch.storage import files

    # Spark's s3a:// names the bucket pyarrow's S3 filesystem reads (no Spark, no JVM).
    root = files.resolve("s3a://bucket/exports?region=eu-west-1")
    assert isinstance(root.fs, pafs.S3FileSystem)
    assert root.path == "bucket/exports"
    assert files.uri_of("s3a://bucket/exports", "bucket/exports/x") == "s3a://bucket/exports/x"


def test_mode_follows_the_scheme_and_the_setting():
    assert not uses_object_store("/data/exports")
    assert not uses_object_store("file:///data/exports")
    assert uses_object_store("s3a://bucket/exports")
    assert uses_object_store("gs://bucket/exports")
    assert uses_object_store("abfss://c@acct.dfs.core.windows.net/exports")
    assert uses_object_store("/data/exports", atomic_rename=False)
    assert uses_object_store("file:///data/exports", atomic_rename=False)


# --- object-store mode (pyarrow.fs, here on a file:// root) --------------------------------------


def _store(tmp_path: Path) -> str:
    return "file://" + str(tmp_path / "store")


def _object_store(root: str, rows, version: str, **kw):
    return write_export(root, D, rows, version, atomic_rename=False, **kw)


def test_object_store_bytes_equal_the_local_export(tmp_path):
    local = write_export(str(tmp_path / "local"), D, ROWS, "7", model_name="m", written_at=WHEN)
    root = _store(tmp_path)
    remote = _object_store(root, ROWS, "7", model_name="m", written_at=WHEN)
    folder = tmp_path / "store" / "suspicious_accounts" / "date=2026-02-10"
    assert remote.folder == f"{root}/suspicious_accounts/date=2026-02-10"
    assert remote.data_file == f"{remote.folder}/suspicious_accounts.jsonl"
    assert (folder / "suspicious_accounts.jsonl").read_bytes() == Path(local.data_file).read_bytes()
    assert (folder / "manifest.json").read_bytes() == Path(local.manifest_file).read_bytes()
    assert (remote.row_count, remote.sha256) == (local.row_count, local.sha256)
    # Exactly the contract's two files: no .crc side files, no staging folder left beside it.
    assert sorted(os.listdir(folder)) == ["manifest.json", "suspicious_accounts.jsonl"]
    assert sorted(os.listdir(folder.parent)) == ["date=2026-02-10"]
    seen = read_day(root, D)
    assert seen is not None
    assert seen.manifest["sha256"] == hashlib.sha256(seen.data).hexdigest() == local.sha256
    assert seen.manifest["row_count"] == 2


def test_object_store_mode_for_a_plain_local_root(tmp_path):
    res = write_export(str(tmp_path), D, ROWS, "7", atomic_rename=False)
    assert res.folder == f"{tmp_path}/suspicious_accounts/date=2026-02-10"
    assert (
        read_manifest(str(tmp_path / "suspicious_accounts" / "date=2026-02-10"))["row_count"] == 2
    )


def test_object_store_rerun_replaces_the_day_and_removes_stale_files(tmp_path):
    root = _store(tmp_path)
    first = _object_store(root, ROWS, "7", written_at=WHEN)
    folder = tmp_path / "store" / "suspicious_accounts" / "date=2026-02-10"
    before = (folder / "suspicious_accounts.jsonl").read_bytes()
    (folder / "stray.txt").write_text("from an older layout")
    (folder / "old-part").mkdir()
    (folder / "old-part" / "x").write_text("x")
    second = _object_store(root, ROWS, "7")
    assert (folder / "suspicious_accounts.jsonl").read_bytes() == before
    assert second.sha256 == first.sha256
    assert sorted(os.listdir(folder)) == ["manifest.json", "suspicious_accounts.jsonl"]
    third = _object_store(root, ROWS[:1], "8")
    seen = read_day(root, D)
    assert seen.manifest["row_count"] == 1 and seen.manifest["model_version"] == "8"
    assert seen.data == json_line(ROWS[0])
    assert third.sha256 == hashlib.sha256(json_line(ROWS[0])).hexdigest()


def test_object_store_reader_keeps_the_old_list_while_rows_stream(tmp_path):
    root = _store(tmp_path)
    _object_store(root, ROWS, "7", written_at=WHEN)
    seen_mid_stream = []

    def rows():
        yield ROWS[0]
        # The rows come from the executors while the driver writes: the day must not change.
        seen_mid_stream.append(read_day(root, D))
        yield ROWS[1]

    _object_store(root, rows(), "8")
    assert seen_mid_stream[0] is not None
    assert seen_mid_stream[0].manifest["model_version"] == "7"
    assert read_day(root, D).manifest["model_version"] == "8"


def test_object_store_failure_while_streaming_keeps_the_previous_day(tmp_path):
    root = _store(tmp_path)
    _object_store(root, ROWS, "7", written_at=WHEN)

    def broken_rows():
        yield ROWS[0]
        raise RuntimeError("executor lost")

    with pytest.raises(RuntimeError, match="executor lost"):
        _object_store(root, broken_rows(), "8")
    seen = read_day(root, D)
    assert seen.manifest["model_version"] == "7" and seen.manifest["row_count"] == 2
    assert sorted(os.listdir(tmp_path / "store" / "suspicious_accounts")) == ["date=2026-02-10"]


def test_object_store_crash_leftovers_are_cleaned_by_the_next_run(tmp_path):
    root = _store(tmp_path)
    parent = tmp_path / "store" / "suspicious_accounts"
    (parent / ".date=2026-02-10.tmp-dead").mkdir(parents=True)
    (parent / ".date=2026-02-10.tmp-dead" / "suspicious_accounts.jsonl").write_text("half")
    # A crash between the manifest's delete and its rewrite: data file, no manifest.
    (parent / "date=2026-02-10").mkdir()
    (parent / "date=2026-02-10" / "suspicious_accounts.jsonl").write_bytes(json_line(ROWS[0]))
    assert read_day(root, D) is None
    _object_store(root, ROWS, "7", written_at=WHEN)
    assert sorted(os.listdir(parent)) == ["date=2026-02-10"]
    assert read_day(root, D).manifest["row_count"] == 2


def test_reader_rule_no_manifest_or_foreign_data_is_not_a_day(tmp_path):
    root = _store(tmp_path)
    _object_store(root, ROWS, "7", written_at=WHEN)
    folder = tmp_path / "store" / "suspicious_accounts" / "date=2026-02-10"
    # A reader that read the old manifest while the data file was replaced: sha differs.
    (folder / "suspicious_accounts.jsonl").write_bytes(json_line(ROWS[1]))
    assert read_day(root, D) is None
    (folder / "manifest.json").unlink()
    assert read_day(root, D) is None
    assert read_day(str(tmp_path / "store"), D) is None  # the local reader applies the same rule
    assert read_day(root, D + dt.timedelta(days=1)) is None


def test_local_reader_sees_a_complete_local_day(tmp_path):
    res = write_export(str(tmp_path), D, ROWS, "7", written_at=WHEN)
    seen = read_day(str(tmp_path), D)
    assert seen.data == Path(res.data_file).read_bytes()
    assert seen.manifest == read_manifest(res.folder)


def test_scheme_without_a_filesystem_is_refused_in_one_line():
    with pytest.raises(ExportTargetUnsupported, match=r"no filesystem for nosuchfs://") as e:
        write_export("nosuchfs://bucket/exports", D, ROWS, "7")
    assert "\n" not in str(e.value)
