"""The export folder downstream systems read: one day's list plus a manifest, replaced whole.

Layout (contracts/outputs.md): `<exports>/suspicious_accounts/date=YYYY-MM-DD/` with
`suspicious_accounts.jsonl` and `manifest.json` (row_count, sha256 of the data file,
model_version, written_at, plus score_date, data_file, model_name).

Reader rule (both modes): a folder without `manifest.json` is incomplete and ignored; names
starting with `.` are not days; a data file whose SHA-256 differs from its manifest's is being
rewritten (read again later). `read_day` applies the rule.

Two ways of writing, chosen by the exports root (`write_export(..., atomic_rename=)`):

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

Object stores (any other scheme Hadoop has a FileSystem for: s3a://, gs://, abfss://, hdfs://;
or a local root with `atomic_rename=False`, e.g. a bucket mounted with gcsfuse/s3fs, where a
rename is a copy): the Hadoop FileSystem of the Spark driver (`Path(uri).getFileSystem(conf)`),
never relying on a rename being atomic.
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

EXPORT_NAME = "suspicious_accounts"
DATA_FILE = "suspicious_accounts.jsonl"
MANIFEST_FILE = "manifest.json"
# Bytes sent to the JVM per call in object-store mode (each call is one Py4J round trip).
CHUNK_BYTES = 1 << 20


class ExportTargetUnsupported(HydrawatchError):
    """The exports root is a URI no Hadoop FileSystem of this Spark session can write."""


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
    """True when the export goes through Hadoop with object-store steps (see the module doc)."""
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
    spark=None,
    atomic_rename: bool = True,
) -> ExportResult:
    """Write the day's folder from `rows` (streamed, in the given order) and replace it whole.

    Local roots use the rename swap; other schemes (or `atomic_rename=False`) the object-store
    steps through the Hadoop FileSystem of `spark` (module doc).
    """
    if uses_object_store(exports_root, atomic_rename):
        if spark is None:
            raise ExportTargetUnsupported(
                f"exporting to {exports_root} goes through the Hadoop FileSystem of a Spark "
                "session, and none was given"
            )
        return _HadoopExport(spark, exports_root).write(
            day, rows, model_version, model_name, written_at
        )
    return _write_local(exports_root, day, rows, model_version, model_name, written_at)


def read_day(exports_root: str, day: dt.date, *, spark=None) -> ExportDay | None:
    """The day as the reader rule sees it: None when incomplete (no manifest, or the data file's
    SHA-256 or line count is not the manifest's, i.e. being rewritten)."""
    folder = day_folder(exports_root, day)
    if "://" in exports_root and (spark is not None or not exports_root.startswith("file://")):
        if spark is None:
            raise ExportTargetUnsupported(f"reading {exports_root} needs a Spark session")
        fs = _HadoopExport(spark, exports_root)
        raw_manifest = fs.read(f"{folder}/{MANIFEST_FILE}")
        data = fs.read(f"{folder}/{DATA_FILE}") if raw_manifest is not None else None
    else:
        local = Path(folder.removeprefix("file://"))
        raw_manifest = _read_local(local / MANIFEST_FILE)
        data = _read_local(local / DATA_FILE) if raw_manifest is not None else None
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


# --- object stores: Hadoop FileSystem, manifest deleted first and written last ------------------


class _HadoopExport:
    """The export's object-store steps on the driver's Hadoop FileSystem for `exports_root`."""

    def __init__(self, spark, exports_root: str):
        if "://" not in exports_root:
            # A local root forced into object-store mode: same Hadoop code path, file:// scheme.
            exports_root = "file://" + str(Path(exports_root).resolve())
        self.root = exports_root
        jvm = spark._jvm
        self._jvm = jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        conf = spark._jsc.hadoopConfiguration()
        try:
            fs = self._path(exports_root).getFileSystem(conf)
        except Exception as exc:  # Py4JJavaError: UnsupportedFileSystemException and the like
            scheme = exports_root.split("://", 1)[0]
            raise ExportTargetUnsupported(
                f"no Hadoop FileSystem for {scheme}:// in this Spark session "
                f"({_java_message(exc)}); add the store's connector jars (infra/README.md, "
                "infra/pom-s3a.xml) or set HYDRAWATCH_EXPORTS to a local folder"
            ) from None
        if fs.getUri().getScheme() == "file":
            # The checksummed local FileSystem adds hidden .crc side files to the day's folder;
            # the raw one writes exactly the two files the contract names.
            fs = jvm.org.apache.hadoop.fs.FileSystem.getLocal(conf).getRawFileSystem()
        self.fs = fs

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
        self._remove_leftovers(parent, name)
        stage = f"{parent}/.{name}.tmp-{uuid.uuid4().hex}"
        try:
            digest = _Digest(rows)
            self._stream(f"{stage}/{DATA_FILE}", digest)
            manifest, raw = _manifest(day, digest, model_name, model_version, written_at)
            # From here until the manifest is back the day is incomplete: readers ignore it.
            self._delete(manifest_file)
            self._delete(data_file)
            self.fs.mkdirs(self._path(folder))
            if not self.fs.rename(self._path(f"{stage}/{DATA_FILE}"), self._path(data_file)):
                raise ExportWriteFailed(
                    f"could not move the staged export to {data_file}; the day stays "
                    "incomplete until the next publish of the day"
                )
            for status in self.fs.listStatus(self._path(folder)):
                if status.getPath().getName() != DATA_FILE:
                    self.fs.delete(status.getPath(), True)
            failpoint("export.store_after_data")
            self._put(manifest_file, raw)
        finally:
            self._delete(stage)
        return ExportResult(
            folder=folder,
            data_file=data_file,
            manifest_file=manifest_file,
            row_count=manifest["row_count"],
            sha256=manifest["sha256"],
            model_version=model_version,
            written_at=manifest["written_at"],
        )

    def read(self, uri: str) -> bytes | None:
        path = self._path(uri)
        if not self.fs.exists(path):
            return None
        stream = self.fs.open(path)
        try:
            return bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()

    def _stream(self, uri: str, lines: Iterable[bytes]) -> None:
        out = self.fs.create(self._path(uri), True)
        try:
            buffer = bytearray()
            for line in lines:
                buffer += line
                if len(buffer) >= CHUNK_BYTES:
                    out.write(bytes(buffer))
                    buffer.clear()
            if buffer:
                out.write(bytes(buffer))
        except BaseException:
            # Abort where the store can (S3A: no object is created); the staging folder is
            # deleted by the caller either way, and the day was not touched yet.
            try:
                out.abort()
            except Exception:
                out.close()
            raise
        out.close()

    def _put(self, uri: str, data: bytes) -> None:
        out = self.fs.create(self._path(uri), True)
        try:
            out.write(data)
        finally:
            out.close()

    def _delete(self, uri: str) -> None:
        path = self._path(uri)
        if self.fs.exists(path):
            self.fs.delete(path, True)

    def _remove_leftovers(self, parent: str, name: str) -> None:
        found = self.fs.globStatus(self._path(f"{parent}/.{name}.*"))
        for status in found or []:
            self.fs.delete(status.getPath(), True)


def _java_message(exc: Exception) -> str:
    java = getattr(exc, "java_exception", None)
    text = java.toString() if java is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
