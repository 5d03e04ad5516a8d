"""Files under the roots, through pyarrow.fs: listings Spark agrees with, no Spark needed."""

from __future__ import annotations

import os

import pytest

from hydrawatch.storage import files


def test_a_listing_names_files_as_spark_does(tmp_path, spark):
    folder = tmp_path / "usage_events" / "date=2026-02-10"
    folder.mkdir(parents=True)
    (folder / "b.jsonl").write_text('{"x":1}\n{"x":2}\n')
    (folder / "a.jsonl").write_text('{"x":3}\n')
    (folder / "sub").mkdir()
    os.utime(folder / "a.jsonl", (1_700_000_000, 1_700_000_000))

    listed = files.list_files(str(folder))
    assert [f.name for f in listed] == ["a.jsonl", "b.jsonl"]  # sorted, files only
    assert [f.size for f in listed] == [8, 16]
    assert listed[0].mtime_ms == 1_700_000_000_000
    # The same strings Spark reports as each line's file, so per-file counts meet the listing.
    seen = {
        r.f
        for r in spark.read.text([f.uri for f in listed])
        .selectExpr("_metadata.file_path AS f")
        .collect()
    }
    assert seen == {f.uri for f in listed}
    assert files.list_files(str(tmp_path / "absent")) is None
    assert files.file_entry(str(folder / "a.jsonl")).uri == listed[0].uri
    assert files.file_entry(str(folder / "sub")) is None


def test_moves_deletes_and_a_failed_write_leaves_nothing(tmp_path):
    root = f"file://{tmp_path}"
    files.make_dirs(f"{root}/x/y")
    files.touch(f"{root}/x/y/empty.jsonl")
    with files.write_stream(f"{root}/x/data.txt") as out:
        out.write(b"hello")
    files.move(f"{root}/x/data.txt", f"{root}/x/y/moved.txt")
    assert files.names(f"{root}/x/y") == [("empty.jsonl", False), ("moved.txt", False)]
    assert files.read_bytes(f"{root}/x/y/moved.txt") == b"hello"
    assert files.read_bytes(f"{root}/x/data.txt") is None

    with pytest.raises(RuntimeError), files.write_stream(f"{root}/x/half.txt") as out:
        out.write(b"half")
        raise RuntimeError("the rows stopped coming")
    assert not (tmp_path / "x" / "half.txt").exists()

    files.delete(f"{root}/x")
    files.delete(f"{root}/x")  # nothing there is fine
    assert files.names(root) == []


def test_an_unknown_scheme_is_one_line():
    with pytest.raises(files.UnsupportedRoot, match="no filesystem for nosuchfs://") as err:
        files.list_files("nosuchfs://bucket/landing")
    assert "\n" not in str(err.value)
