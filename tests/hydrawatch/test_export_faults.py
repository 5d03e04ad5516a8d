"""The export killed inside its write (a real process, os._exit at each fail point), watched by a
reader polling the day's folder the whole time: the reader never sees a data file without its
manifest, nor a manifest that does not match its data; the re-run writes the day whole, removes
the leftovers, and its data file is byte-identical to a clean export of the same rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hydrawatch.export import DATA_FILE, MANIFEST_FILE, read_day, write_export
from hydrawatch.failpoints import ENV, EXIT_STATUS

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
D = dt.date(2026, 2, 10)
ROWS = 20_000  # a data file of a few MB: the writer spends long enough in each state
WRITER = """
import datetime as dt, sys
from hydrawatch.export import write_export
root, version, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
write_export(root, dt.date(2026, 2, 10), ({"account_id": f"a{i:06d}", "score": 1 / (i + 2),
    "model_version": version, "reasons": [{"feature": "f", "value": i / 7}]} for i in range(n)),
    version, atomic_rename=len(sys.argv) <= 4)
"""


def rows(version: str, n: int = ROWS):
    return (
        {
            "account_id": f"a{i:06d}",
            "score": 1 / (i + 2),
            "model_version": version,
            "reasons": [{"feature": "f", "value": i / 7}],
        }
        for i in range(n)
    )


def _write_killed(root: str, version: str, point: str | None, env=None, store=False) -> int:
    env = dict(env or os.environ)
    env.pop(ENV, None)
    if point:
        env[ENV] = point
    args = [sys.executable, "-c", WRITER, root, version, str(ROWS)] + (["store"] if store else [])
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == (EXIT_STATUS if point else 0), done.stderr[-3000:]
    return done.returncode


class Reader(threading.Thread):
    """Polls `<root>/suspicious_accounts/date=D` as a strict reader until stopped.

    Each look opens the folder once and reads both files through that handle, so it sees one
    folder, not halves of two. A look whose folder was renamed away while it read (the swap
    retired it) is not counted: a reader following the rule reads again.
    """

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.folder = root / "suspicious_accounts" / f"date={D.isoformat()}"
        self.stop = threading.Event()
        self.seen: dict[str, int] = {}
        self.violations: list[str] = []

    def run(self):
        while not self.stop.is_set():
            what = self.look()
            if what is not None:
                self.seen[what] = self.seen.get(what, 0) + 1

    def look(self) -> str | None:
        try:
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return "absent"
        try:
            names = set(os.listdir(fd))
            manifest = _read(fd, MANIFEST_FILE)
            data = _read(fd, DATA_FILE)
            current = _same_folder(self.folder, fd)
            if not current:
                return None
            if manifest is None and data is None:
                return "absent"
            if manifest is None or data is None:
                self.violations.append(f"half a day visible: {sorted(names)}")
                return "violation"
            try:
                m = json.loads(manifest)
                matches = hashlib.sha256(data).hexdigest() == m["sha256"]
                matches = matches and data.count(b"\n") == m["row_count"]
            except (ValueError, KeyError) as err:
                self.violations.append(f"unreadable manifest: {err}")
                return "violation"
            if not matches:
                self.violations.append(f"manifest does not match data ({m['model_version']})")
                return "violation"
            return f"complete v{m['model_version']}"
        finally:
            os.close(fd)


def _read(fd: int, name: str) -> bytes | None:
    try:
        with open(name, "rb", opener=lambda path, flags: os.open(path, flags, dir_fd=fd)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _same_folder(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _hidden(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "suspicious_accounts").iterdir() if p.name[0] == ".")


def test_local_export_killed_at_each_point_never_shows_half_a_list(tmp_path):
    root = tmp_path / "exports"
    write_export(str(root), D, rows("1"), "1")
    reader = Reader(root)
    reader.start()
    try:
        states = {}
        for n, point in enumerate(("export.after_data", "export.before_swap", "export.mid_swap")):
            version = str(n + 2)
            _write_killed(str(root), version, point)
            states[point] = (read_day(str(root), D), _hidden(root))
            # The re-run of the day writes it whole and removes what the crash left.
            write_export(str(root), D, rows(version), version)
            assert _hidden(root) == []
            assert read_day(str(root), D).manifest["model_version"] == version
        # One more complete replacement by another process, still under the reader's eye.
        _write_killed(str(root), "5", None)
    finally:
        reader.stop.set()
        reader.join()

    # Killed before the swap: the previous complete list is what readers get.
    for point, before in (("export.after_data", "1"), ("export.before_swap", "2")):
        day, hidden = states[point]
        assert day.manifest["model_version"] == before
        assert [h.split(".tmp-")[0] for h in hidden] == [".date=2026-02-10"]
    # Killed between the two renames: no folder for the day (not available), never a partial one.
    day, hidden = states["export.mid_swap"]
    assert day is None
    assert sorted(h.rsplit("-", 1)[0] for h in hidden) == [
        ".date=2026-02-10.old",
        ".date=2026-02-10.tmp",
    ]

    assert reader.violations == []
    assert set(reader.seen) <= {"absent"} | {f"complete v{n}" for n in range(1, 6)}
    assert reader.seen.get("complete v1", 0) > 0 and reader.seen.get("complete v5", 0) > 0

    clean = write_export(str(tmp_path / "clean"), D, rows("5"), "5")
    final = read_day(str(root), D)
    assert final.data == Path(clean.data_file).read_bytes()
    assert {k: v for k, v in final.manifest.items() if k != "written_at"} == {
        k: v
        for k, v in json.loads(Path(clean.manifest_file).read_text()).items()
        if k != "written_at"
    }


@pytest.mark.slow
def test_object_store_export_killed_between_data_and_manifest(
    tmp_path, spark, make_settings, process_env
):
    root = tmp_path / "store"
    uri = f"file://{root}"
    write_export(uri, D, rows("1"), "1", atomic_rename=False)
    settings = make_settings(tmp_path)
    _write_killed(str(root), "2", "export.store_after_data", process_env(settings), store=True)
    # The crash left the new data file in the day's folder and no manifest: the reader rule
    # ignores the day (not available), it never reads it as a list.
    folder = root / "suspicious_accounts" / f"date={D.isoformat()}"
    assert sorted(os.listdir(folder)) == [DATA_FILE]
    assert read_day(uri, D) is None
    write_export(uri, D, rows("2"), "2", atomic_rename=False)
    clean = write_export(str(tmp_path / "clean"), D, rows("2"), "2")
    day = read_day(uri, D)
    assert day.manifest["model_version"] == "2"
    assert day.data == Path(clean.data_file).read_bytes()
    assert sorted(os.listdir(root / "suspicious_accounts")) == [f"date={D.isoformat()}"]
