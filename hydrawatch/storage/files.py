"""Files under the landing, exports and truth roots, through `pyarrow.fs` (no Spark, no JVM).

Any root is a local path, a `file://` URI or an object-store URI pyarrow has a filesystem for
(`s3://`, `gs://`, `abfs://`, `hdfs://`). `s3a://` (what Spark's Hadoop connector reads) is the
same bucket for pyarrow's S3 filesystem; pyarrow takes its S3 credentials, region and endpoint
from the usual AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, ...) or from query
options of the URI.

What it promises:
- `list_files(folder)`: the files directly in a folder, sorted by name, with size and
  modification time; None when the folder does not exist. A listing costs no Spark session.
  An entry's `uri` is the form Spark reports for the same file (`file:/abs/path`,
  `s3a://bucket/key`), so counts keyed by Spark's `_metadata.file_path` meet the listing.
- The few operations the jobs need on those roots: `delete`, `move`, `make_dirs`, `touch`,
  `read_bytes`, `write_stream`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hydrawatch.errors import HydrawatchError

# Spark's Hadoop scheme -> the scheme pyarrow knows the same store by.
_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3"}


class UnsupportedRoot(HydrawatchError):
    """A root URI no pyarrow filesystem serves."""


@dataclass(frozen=True)
class FileEntry:
    uri: str  # as Spark names the file (`_metadata.file_path`): file:/abs/path, s3a://b/k
    name: str
    size: int
    mtime_ms: int  # modification time, milliseconds since the epoch


@dataclass(frozen=True)
class Root:
    """A filesystem and a path on it, from a root or file URI."""

    fs: object  # pyarrow.fs.FileSystem
    path: str


def _split(uri: str) -> tuple[str, str]:
    if "://" not in uri:
        return "", uri
    scheme, rest = uri.split("://", 1)
    return scheme, rest


def resolve(uri: str) -> Root:
    """The pyarrow filesystem and path of `uri` (UnsupportedRoot for an unknown scheme)."""
    import pyarrow.fs as pafs

    scheme, rest = _split(uri)
    if not scheme or scheme == "file":
        return Root(pafs.LocalFileSystem(), str(Path(rest).resolve()))
    try:
        fs, path = pafs.FileSystem.from_uri(f"{_SCHEME_ALIASES.get(scheme, scheme)}://{rest}")
    except Exception as err:  # ArrowInvalid: unrecognised scheme; OSError: no such store
        raise UnsupportedRoot(
            f"no filesystem for {scheme}:// ({' '.join(str(err).split())[:200]}); use a local "
            "folder or an object-store URI pyarrow serves (s3a:// and s3://, gs://, abfs://)"
        ) from None
    return Root(fs, path)


def uri_of(root_uri: str, path: str) -> str:
    """The URI Spark (Hadoop) names the file at `path` of `root_uri`'s filesystem by."""
    scheme, _ = _split(root_uri)
    if not scheme or scheme == "file":
        return f"file:{path}"
    return f"{scheme}://{path}"


def _info(root: Root, path: str):
    import pyarrow.fs as pafs

    info = root.fs.get_file_info(path)
    return None if info.type == pafs.FileType.NotFound else info


def list_files(folder: str) -> list[FileEntry] | None:
    """The files directly in `folder` (not sub-folders), sorted by name; None if it is absent."""
    import pyarrow.fs as pafs

    root = resolve(folder)
    info = _info(root, root.path)
    if info is None or info.type != pafs.FileType.Directory:
        return None
    found = root.fs.get_file_info(pafs.FileSelector(root.path, recursive=False))
    entries = [
        FileEntry(
            uri=uri_of(folder, i.path),
            name=i.base_name,
            size=int(i.size or 0),
            mtime_ms=int(i.mtime_ns or 0) // 1_000_000,
        )
        for i in found
        if i.type == pafs.FileType.File
    ]
    return sorted(entries, key=lambda e: e.name)


def file_entry(uri: str) -> FileEntry | None:
    """The file at `uri`, or None when there is no file there."""
    import pyarrow.fs as pafs

    root = resolve(uri)
    info = _info(root, root.path)
    if info is None or info.type != pafs.FileType.File:
        return None
    return FileEntry(
        uri_of(uri, info.path),
        info.base_name,
        int(info.size or 0),
        int(info.mtime_ns or 0) // 1_000_000,
    )


def delete(uri: str) -> None:
    """Remove the file or folder at `uri` (nothing there is fine)."""
    import pyarrow.fs as pafs

    root = resolve(uri)
    info = _info(root, root.path)
    if info is None:
        return
    if info.type == pafs.FileType.Directory:
        root.fs.delete_dir(root.path)
    else:
        root.fs.delete_file(root.path)


def make_dirs(uri: str) -> None:
    root = resolve(uri)
    root.fs.create_dir(root.path, recursive=True)


def move(src: str, dst: str) -> None:
    """Rename a file (on an object store: a server-side copy, then a delete)."""
    a, b = resolve(src), resolve(dst)
    a.fs.move(a.path, b.path)


def touch(uri: str) -> None:
    """An empty file at `uri`."""
    root = resolve(uri)
    with root.fs.open_output_stream(root.path):
        pass


def read_bytes(uri: str) -> bytes | None:
    """The file's bytes, or None when there is no file at `uri`."""
    root = resolve(uri)
    if _info(root, root.path) is None:
        return None
    with root.fs.open_input_stream(root.path) as stream:
        return stream.read()


def names(folder: str) -> list[tuple[str, bool]]:
    """(name, is_folder) of everything directly in `folder`; [] when it is absent."""
    import pyarrow.fs as pafs

    root = resolve(folder)
    info = _info(root, root.path)
    if info is None or info.type != pafs.FileType.Directory:
        return []
    found = root.fs.get_file_info(pafs.FileSelector(root.path, recursive=False))
    return sorted((i.base_name, i.type == pafs.FileType.Directory) for i in found)


@contextlib.contextmanager
def write_stream(uri: str) -> Iterator[object]:
    """An output stream to a new file at `uri`; a failure inside leaves no file behind."""
    root = resolve(uri)
    stream = root.fs.open_output_stream(root.path)
    try:
        yield stream
    except BaseException:
        with contextlib.suppress(Exception):
            stream.close()
        with contextlib.suppress(Exception):
            root.fs.delete_file(root.path)
        raise
    stream.close()
