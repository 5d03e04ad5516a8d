"""The export folder downstream systems read: one day's list plus a manifest, replaced whole.

Layout (contracts/outputs.md): `<exports>/suspicious_accounts/date=YYYY-MM-DD/` with
`suspicious_accounts.jsonl` and `manifest.json` (row_count, sha256 of the data file,
model_version, written_at, plus score_date, data_file, model_name).

Reader rule (both modes): a folder without `manifest.json` is incomplete and ignored; names
starting with `.` are not days; a data file whose SHA-256 differs from its manifest's is being
rewritten (read again later). `read_day` applies the rule.

Two ways of writing, chosen by the exports root (`write_export(..., atomic_rename=)`); neither
needs Spark:

Local filesystem (a plain path or `file://`, `atomic_rename=True`, the default): rename swap.
1. The new day is written in full into a hidden sibling, `.date=D.tmp-<uuid>/`: the data file,
   then `manifest.json` last, each flushed and fsynced.
2. Swap: the old `date=D/` (if any) is renamed to `.date=D.old-<uuid>/`, the new folder is renamed
   to `date=D/`, then the old one is deleted. Each rename is atomic; between the two a reader finds
   no folder for the day (the day is briefly "not available", never partial), before it the old
   complete list, after it the new complete list. A reader that already opened the old file keeps
   reading it (POSIX unlinks do not cut open files).
3. A crash leaves at most hidden `.date=D.*` leftovers and, in the worst case, no `date=D/`;
   the next run for the day removes the leftovers and writes the day again.

Object stores (any other scheme pyarrow.fs serves: s3a:// and s3://, gs://, abfs://, hdfs://;
or a local root with `atomic_rename=False`, e.g. a bucket mounted with gcsfuse/s3fs, where a
rename is a copy): `hydrawatch.storage.files` (pyarrow.fs), never relying on a rename being
atomic.
1. Stage: the rows are streamed into `.date=D.tmp-<uuid>/suspicious_accounts.jsonl` beside the
   day (count and SHA-256 computed on the way). Nothing of the day changes yet, so a failure
   while the rows come from the executors leaves the previous list complete.
2. `date=D/manifest.json` is deleted: from here the day is incomplete and readers ignore it.
3. The staged file replaces `date=D/suspicious_accounts.jsonl` (delete, then the store's rename:
   a server-side copy on S3/GCS, byte for byte), and any other file in `date=D/` is removed.
4. `manifest.json` is written last: the day is complete again, with the new list.
5. The staging folder is deleted.
What a reader sees: the old complete list, then (between 2 and 4) no list for the day, then the
new complete list. A reader that read the old manifest before 2 and the data file after 3 gets
bytes whose SHA-256 is not the manifest's: the reader rule says read again. A crash between 2 and
4 leaves the day incomplete (ignored) until the next run of the day, which also removes the
staging leftovers. S3, GCS and ADLS Gen2 give read-after-write consistency for these objects.

Serialisation is deterministic (`json_line`: keys in column order, no spaces, UTF-8, floats as
Python's shortest round-trip repr, dates ISO), so the same rows give byte-identical files in
either mode; only the manifest's `written_at` differs between re-runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from hydrawatch.errors import HydrawatchError
from hydrawatch.failpoints import failpoint
from hydrawatch.storage import files

EXPORT_NAME = "suspicious_accounts"
DATA_FILE = "suspicious_accounts.jsonl"
MANIFEST_FILE = "manifest.json"
# Bytes written per call in object-store mode (a multipart upload's parts are larger anyway).
CHUNK_BYTES = 1 << 20


class ExportTargetUnsupported(HydrawatchError):
    """The exports root is a URI no filesystem serves."""


class ExportWriteFailed(HydrawatchError):
    """The object store refused a step of the export (the day is left incomplete, not partial)."""


@dataclass(frozen=True)
class ExportResult:
    folder: str
    data_file: str
    manifest_file: str
    row_count: int
    sha256: str
    model_version: str
    written_at: str


@dataclass(frozen=True)
class ExportDay:
    """A complete day as a reader sees it: the manifest and the data bytes it vouches for."""

    manifest: dict
    data: bytes


def day_folder(exports_root: str, day: dt.date) -> str:
    return os.path.join(exports_root, EXPORT_NAME, f"date={day.isoformat()}")


def uses_object_store(exports_root: str, atomic_rename: bool = True) -> bool:
    """True when the export takes the object-store steps (see the module doc)."""
    return not atomic_rename or ("://" in exports_root and not exports_root.startswith("file://"))


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


class _Digest:
    """Counts and hashes the lines on their way to the data file."""

    def __init__(self, rows: Iterable[Mapping]):
        self._rows = rows
        self.sha = hashlib.sha256()
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        for row in self._rows:
            line = json_line(row)
            self.sha.update(line)
            self.count += 1
            yield line


def _manifest(
    day: dt.date,
    digest: _Digest,
    model_name: str | None,
    model_version: str,
    written_at: dt.datetime | None,
) -> tuple[dict, bytes]:
    # The one wall-clock value of the pipeline's outputs (the contract asks for it).
    when = (written_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    manifest = {
        "score_date": day.isoformat(),
        "data_file": DATA_FILE,
        "row_count": digest.count,
        "sha256": digest.sha.hexdigest(),
        "model_name": model_name,
        "model_version": model_version,
        "written_at": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return manifest, json.dumps(manifest, indent=2).encode("utf-8") + b"\n"


def write_export(
    exports_root: str,
    day: dt.date,
    rows: Iterable[Mapping],
    model_version: str,
    *,
    model_name: str | None = None,
    written_at: dt.datetime | None = None,
    atomic_rename: bool = True,
) -> ExportResult:
    """Write the day's folder from `rows` (streamed, in the given order) and replace it whole.

    Local roots use the rename swap; other schemes (or `atomic_rename=False`) the object-store
    steps (module doc).
    """
    if uses_object_store(exports_root, atomic_rename):
        return _StoreExport(exports_root).write(day, rows, model_version, model_name, written_at)
    return _write_local(exports_root, day, rows, model_version, model_name, written_at)


def read_day(exports_root: str, day: dt.date) -> ExportDay | None:
    """The day as the reader rule sees it: None when incomplete (no manifest, or the data file's
    SHA-256 or line count is not the manifest's, i.e. being rewritten). Any root."""
    folder = day_folder(exports_root, day)
    try:
        raw_manifest = files.read_bytes(f"{folder}/{MANIFEST_FILE}")
        data = files.read_bytes(f"{folder}/{DATA_FILE}") if raw_manifest is not None else None
    except files.UnsupportedRoot as err:
        raise ExportTargetUnsupported(str(err)) from None
    if raw_manifest is None or data is None:
        return None
    manifest = json.loads(raw_manifest.decode("utf-8"))
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256") or data.count(
        b"\n"
    ) != manifest.get("row_count"):
        return None
    return ExportDay(manifest, data)


def read_manifest(folder: str) -> dict | None:
    """The manifest of a local day folder, or None when the folder is incomplete (reader rule)."""
    raw = _read_local(Path(folder) / MANIFEST_FILE)
    return None if raw is None else json.loads(raw.decode("utf-8"))


def _read_local(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


# --- local filesystem: write hidden, then atomic rename swap ------------------------------------


def _write_local(
    exports_root: str,
    day: dt.date,
    rows: Iterable[Mapping],
    model_version: str,
    model_name: str | None,
    written_at: dt.datetime | None,
) -> ExportResult:
    root = exports_root.removeprefix("file://")
    parent = Path(root) / EXPORT_NAME
    parent.mkdir(parents=True, exist_ok=True)
    final = Path(day_folder(root, day))
    _remove_leftovers(parent, final.name)

    token = uuid.uuid4().hex
    tmp = parent / f".{final.name}.tmp-{token}"
    tmp.mkdir()
    try:
        digest = _Digest(rows)
        with open(tmp / DATA_FILE, "wb") as out:
            for line in digest:
                out.write(line)
            out.flush()
            os.fsync(out.fileno())
        failpoint("export.after_data")
        manifest, raw = _manifest(day, digest, model_name, model_version, written_at)
        with open(tmp / MANIFEST_FILE, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        failpoint("export.before_swap")
        _swap_in(tmp, final, parent, token)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportResult(
        folder=str(final),
        data_file=str(final / DATA_FILE),
        manifest_file=str(final / MANIFEST_FILE),
        row_count=manifest["row_count"],
        sha256=manifest["sha256"],
        model_version=model_version,
        written_at=manifest["written_at"],
    )


def _swap_in(tmp: Path, final: Path, parent: Path, token: str) -> None:
    old = parent / f".{final.name}.old-{token}"
    if final.exists():
        os.rename(final, old)
        failpoint("export.mid_swap")
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


# --- object stores: manifest deleted first and written last -----------------------------------


class _StoreExport:
    """The export's object-store steps on the pyarrow filesystem of `exports_root`."""

    def __init__(self, exports_root: str):
        try:
            files.resolve(exports_root)
        except files.UnsupportedRoot as err:
            raise ExportTargetUnsupported(
                f"cannot export to {exports_root}: {err}; set HYDRAWATCH_EXPORTS to a local "
                "folder or a supported object-store URI"
            ) from None
        self.root = exports_root.rstrip("/")

    def write(
        self,
        day: dt.date,
        rows: Iterable[Mapping],
        model_version: str,
        model_name: str | None,
        written_at: dt.datetime | None,
    ) -> ExportResult:
        parent = f"{self.root}/{EXPORT_NAME}"
        name = f"date={day.isoformat()}"
        folder = f"{parent}/{name}"
        data_file, manifest_file = f"{folder}/{DATA_FILE}", f"{folder}/{MANIFEST_FILE}"
        for stale, _ in files.names(parent):
            if stale.startswith(f".{name}."):
                files.delete(f"{parent}/{stale}")
        stage = f"{parent}/.{name}.tmp-{uuid.uuid4().hex}"
        try:
            digest = _Digest(rows)
            files.make_dirs(stage)
            with files.write_stream(f"{stage}/{DATA_FILE}") as out:
                buffer = bytearray()
                for line in digest:
                    buffer += line
                    if len(buffer) >= CHUNK_BYTES:
                        out.write(bytes(buffer))
                        buffer.clear()
                if buffer:
                    out.write(bytes(buffer))
            manifest, raw = _manifest(day, digest, model_name, model_version, written_at)
            # From here until the manifest is back the day is incomplete: readers ignore it.
            files.delete(manifest_file)
            files.delete(data_file)
            files.make_dirs(folder)
            try:
                files.move(f"{stage}/{DATA_FILE}", data_file)
            except OSError as err:
                raise ExportWriteFailed(
                    f"could not move the staged export to {data_file} ({err}); the day stays "
                    "incomplete until the next publish of the day"
                ) from None
            for other, _ in files.names(folder):
                if other != DATA_FILE:
                    files.delete(f"{folder}/{other}")
            failpoint("export.store_after_data")
            with files.write_stream(manifest_file) as out:
                out.write(raw)
        finally:
            files.delete(stage)
        return ExportResult(
            folder=folder,
            data_file=data_file,
            manifest_file=manifest_file,
            row_count=manifest["row_count"],
            sha256=manifest["sha256"],
            model_version=model_version,
            written_at=manifest["written_at"],
        )
