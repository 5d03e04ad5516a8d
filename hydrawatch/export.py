"""The export folder downstream systems read: one day's list plus a manifest, replaced whole.

Layout (contracts/outputs.md): `<exports>/suspicious_accounts/date=YYYY-MM-DD/` with
`suspicious_accounts.jsonl` and `manifest.json` (row_count, sha256 of the data file,
model_version, written_at, plus score_date, data_file, model_name).

What a reader can see, and why it never sees half a list (local filesystem):
1. The new day is written in full into a hidden sibling, `.date=D.tmp-<uuid>/`: the data file,
   then `manifest.json` last, each flushed and fsynced. Readers ignore folders not named `date=D`
   and folders without a manifest.
2. Swap: the old `date=D/` (if any) is renamed to `.date=D.old-<uuid>/`, the new folder is renamed
   to `date=D/`, then the old one is deleted. Each rename is atomic; between the two a reader finds
   no folder for the day (the day is briefly "not available", never partial), before it the old
   complete list, after it the new complete list. A reader that already opened the old file keeps
   reading it (POSIX unlinks do not cut open files).
3. A crash leaves at most hidden `.date=D.*` leftovers and, in the worst case, no `date=D/`;
   the next run for the day removes the leftovers and writes the day again.

Serialisation is deterministic (`json_line`: keys in column order, no spaces, UTF-8, floats as
Python's shortest round-trip repr, dates ISO), so the same rows give byte-identical files; only the
manifest's `written_at` differs between re-runs.

Object stores (s3a://, gs://, abfss://): not built. A URI exports root raises
`ExportTargetUnsupported`; on a cluster point HYDRAWATCH_EXPORTS at a mounted path. (The plan for
object stores: Hadoop FileSystem through the JVM, delete the old manifest first, write the data,
write the manifest last; renames there are copies and must not be relied on.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hydrawatch.errors import HydrawatchError

EXPORT_NAME = "suspicious_accounts"
DATA_FILE = "suspicious_accounts.jsonl"
MANIFEST_FILE = "manifest.json"


class ExportTargetUnsupported(HydrawatchError):
    """The exports root is a URI this module cannot write atomically yet."""


@dataclass(frozen=True)
class ExportResult:
    folder: str
    data_file: str
    manifest_file: str
    row_count: int
    sha256: str
    model_version: str
    written_at: str


def day_folder(exports_root: str, day: dt.date) -> str:
    return os.path.join(exports_root, EXPORT_NAME, f"date={day.isoformat()}")


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def json_line(row: Mapping) -> bytes:
    """One row as a canonical JSON line (keys in the row's order), newline-terminated."""
    text = json.dumps(_plain(row), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def write_export(
    exports_root: str,
    day: dt.date,
    rows: Iterable[Mapping],
    model_version: str,
    *,
    model_name: str | None = None,
    written_at: dt.datetime | None = None,
) -> ExportResult:
    """Write the day's folder from `rows` (streamed, in the given order) and swap it in whole."""
    if "://" in exports_root and not exports_root.startswith("file://"):
        raise ExportTargetUnsupported(
            f"exporting to {exports_root.split('://')[0]}:// is not built yet; set "
            "HYDRAWATCH_EXPORTS to a local or mounted folder"
        )
    root = exports_root.removeprefix("file://")
    parent = Path(root) / EXPORT_NAME
    parent.mkdir(parents=True, exist_ok=True)
    final = Path(day_folder(root, day))
    _remove_leftovers(parent, final.name)

    token = uuid.uuid4().hex
    tmp = parent / f".{final.name}.tmp-{token}"
    tmp.mkdir()
    try:
        digest = hashlib.sha256()
        count = 0
        with open(tmp / DATA_FILE, "wb") as out:
            for row in rows:
                line = json_line(row)
                digest.update(line)
                out.write(line)
                count += 1
            out.flush()
            os.fsync(out.fileno())
        # The one wall-clock value of the pipeline's outputs (the contract asks for it).
        when = (written_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        stamp = when.isoformat(timespec="seconds").replace("+00:00", "Z")
        manifest = {
            "score_date": day.isoformat(),
            "data_file": DATA_FILE,
            "row_count": count,
            "sha256": digest.hexdigest(),
            "model_name": model_name,
            "model_version": model_version,
            "written_at": stamp,
        }
        with open(tmp / MANIFEST_FILE, "wb") as out:
            out.write(json.dumps(manifest, indent=2).encode("utf-8") + b"\n")
            out.flush()
            os.fsync(out.fileno())
        _swap_in(tmp, final, parent, token)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(
        folder=str(final),
        data_file=str(final / DATA_FILE),
        manifest_file=str(final / MANIFEST_FILE),
        row_count=count,
        sha256=manifest["sha256"],
        model_version=model_version,
        written_at=stamp,
    )


def read_manifest(folder: str) -> dict | None:
    """The manifest of a day folder, or None when the folder is incomplete (reader rule)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _swap_in(tmp: Path, final: Path, parent: Path, token: str) -> None:
    old = parent / f".{final.name}.old-{token}"
    if final.exists():
        os.rename(final, old)
    os.rename(tmp, final)
    _fsync_dir(parent)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(parent: Path, name: str) -> None:
    for stale in parent.glob(f".{name}.*"):
        shutil.rmtree(stale, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
