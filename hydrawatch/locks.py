"""One writer per day, and one writer of the model registry.

`day_lock(settings, day)` is held around everything a run writes for one day, so two runs for the
same day cannot interleave. The second run says why it waits, waits up to
`settings.day_lock_wait_seconds`, and then stops with `ConcurrentRun` naming the day.
`registry_lock(settings)` is held by retrain, promote and rollback around what they read and
change in the registry (aliases, the move history), so two of them at once cannot both win.

Two implementations, chosen by `settings.day_lock`:
- `prefect`: a Prefect global concurrency limit of one slot named `hydrawatch-day-YYYY-MM-DD`,
  created on first use. Works across machines sharing a Prefect server; a holder that dies loses
  its slot when its lease expires. Needs a Prefect server (`PREFECT_API_URL`): in embedded mode
  every process runs its own temporary server whose leases the others cannot see.
- `file`: an OS lock (`flock`) on `<warehouse>/_locks/day=YYYY-MM-DD.lock`. The kernel releases it
  when the holder dies. Local warehouse only, one machine only.
`auto` picks `prefect` when `PREFECT_API_URL` is set, else `file`.

Fencing. A holder can outlive its lock: a Prefect lease lapses while a long Spark call cannot be
interrupted, and a new holder starts. Every acquisition therefore bumps the target's epoch in
`<warehouse>/_locks/<target>.epoch`, and the holder checks, before each warehouse commit and each
alias move, that the epoch is still its own (`check_fences`; `LockLost` when it is not); Delta
commits carry the epoch in their `userMetadata` (`commit_note`), so the table's history says
which holder wrote each version. The check and the commit are two steps: the fence closes the
window to one commit, not to nothing (Delta has no commit conditional on a foreign record).

The two kinds never see each other, so a warehouse has one: the first lock any run takes records
its mode in `<warehouse>/_locks/mode.json`, and a process whose mode differs refuses to take a
lock (and so to write) with one line saying what to set (`LockModeMismatch`). Changing a
warehouse's mode is a person's act: stop every run, then delete that file.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hydrawatch.errors import ConcurrentRun, HydrawatchError, UsageError
from hydrawatch.settings import Settings, _is_uri

Say = Callable[[str], None]


class LockLost(HydrawatchError):
    """Another holder took this run's lock (its lease lapsed): the run must write nothing more."""

    exit_code = ConcurrentRun.exit_code


# The Prefect lease is renewed in the background while held; this is how long a dead holder
# keeps the day blocked.
PREFECT_LEASE_SECONDS = 300.0


def lock_mode(settings: Settings) -> str:
    if settings.day_lock != "auto":
        return settings.day_lock
    return "prefect" if settings.prefect_api_url else "file"


class LockModeMismatch(UsageError):
    """This process would lock in another mode than the warehouse's recorded one."""


MODE_RECORD = "_locks/mode.json"


def check_lock_mode(settings: Settings) -> str:
    """The warehouse's lock mode, recorded by the first process that locks it; raises
    `LockModeMismatch` when this process's mode differs. Returns the mode."""
    from hydrawatch.storage import files

    mode = lock_mode(settings)
    where = f"{settings.warehouse_uri}/{MODE_RECORD}"
    recorded = files.read_bytes(where)
    if recorded is None:
        files.make_dirs(f"{settings.warehouse_uri}/_locks")
        record = {
            "mode": mode,
            "host": socket.gethostname(),
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        with files.write_stream(where) as stream:
            stream.write(json.dumps(record).encode())
        return mode
    try:
        theirs = json.loads(recorded)
        their_mode = theirs["mode"]
    except (ValueError, KeyError, TypeError):
        raise LockModeMismatch(
            f"{where} is not a lock-mode record; stop every run, delete it and run again"
        ) from None
    if their_mode == mode:
        return mode
    fix = (
        "set PREFECT_API_URL to the Prefect server its other runs use (or HYDRAWATCH_DAY_LOCK=prefect)"
        if their_mode == "prefect"
        else "unset PREFECT_API_URL or set HYDRAWATCH_DAY_LOCK=file"
    )
    raise LockModeMismatch(
        f"this warehouse's runs lock with {their_mode} locks (recorded in {where} by "
        f"{theirs.get('host', '?')} on {theirs.get('since', '?')}), this process would take "
        f"{mode} locks and could write beside them: {fix}; to change the warehouse's mode, stop "
        "every run and delete that file"
    )


def limit_name(day: dt.date) -> str:
    return f"hydrawatch-day-{day.isoformat()}"


REGISTRY_LIMIT = "hydrawatch-registry"


@dataclass(frozen=True)
class Fence:
    """The epoch this process acquired a lock at, and where the current epoch is recorded."""

    record: str  # the epoch file's URI
    epoch: int
    what: str  # "day 2026-02-10", "the registry"

    def check(self) -> None:
        current = _read_epoch(self.record)
        if current != self.epoch:
            raise LockLost(
                f"the lock of {self.what} was taken over by another run (epoch {current}, this "
                f"run acquired {self.epoch}): this run's lease lapsed while it ran, so it writes "
                "nothing more; run it again"
            )


# The fences of the locks this context holds (a backfill holds one per day). A context variable,
# not a global: threads and Prefect task runs see the locks of the context they were started in.
_FENCES: contextvars.ContextVar[tuple[Fence, ...]] = contextvars.ContextVar(
    "hydrawatch_fences", default=()
)


def held_fences() -> tuple[Fence, ...]:
    return _FENCES.get()


def check_fences() -> None:
    """Raise `LockLost` when any lock this context holds has a newer holder."""
    for fence in _FENCES.get():
        fence.check()


def commit_note() -> str:
    """What a commit made under the held locks records in Delta's `userMetadata`."""
    return "; ".join(f"hydrawatch lock {f.what} epoch {f.epoch}" for f in _FENCES.get())


def _read_epoch(record: str) -> int:
    from hydrawatch.storage import files

    data = files.read_bytes(record)
    try:
        return int((data or b"0").decode().strip() or 0)
    except ValueError:
        return -1


def _bump_epoch(settings: Settings, target: _Target) -> Fence:
    """Called with the lock held: the next epoch of the target, recorded."""
    from hydrawatch.storage import files

    record = f"{settings.warehouse_uri}/_locks/{target.file_name.removesuffix('.lock')}.epoch"
    epoch = max(_read_epoch(record), 0) + 1
    files.make_dirs(f"{settings.warehouse_uri}/_locks")
    with files.write_stream(record) as stream:
        stream.write(str(epoch).encode())
    return Fence(record, epoch, target.what)


@contextlib.contextmanager
def _fenced(settings: Settings, target: _Target) -> Iterator[Fence]:
    fence = _bump_epoch(settings, target)
    token = _FENCES.set((*_FENCES.get(), fence))
    try:
        yield fence
    finally:
        _FENCES.reset(token)


@dataclass(frozen=True)
class _Target:
    """What a lock guards: its file name, its Prefect limit and how a waiting run names it."""

    file_name: str
    limit: str
    busy: str  # "day 2026-02-01 is being written by another run"
    what: str  # "day 2026-02-01"


@contextlib.contextmanager
def day_lock(
    settings: Settings,
    day: dt.date,
    say: Say | None = None,
    wait_seconds: float | None = None,
) -> Iterator[str]:
    """Hold the lock for `day`; yields a one-line description of the lock held."""
    target = _Target(
        f"day={day.isoformat()}.lock",
        limit_name(day),
        f"day {day} is being written by another run",
        f"day {day}",
    )
    with _held(settings, target, say, wait_seconds) as held:
        yield held


@contextlib.contextmanager
def registry_lock(
    settings: Settings, say: Say | None = None, wait_seconds: float | None = None
) -> Iterator[str]:
    """Hold the model registry's lock (retrain, promote, rollback)."""
    target = _Target(
        "registry.lock",
        REGISTRY_LIMIT,
        f"the registry of {settings.model_name} is being changed by another run (retrain, "
        "promote or rollback)",
        f"the registry of {settings.model_name}",
    )
    with _held(settings, target, say, wait_seconds) as held:
        yield held


@contextlib.contextmanager
def _held(
    settings: Settings, target: _Target, say: Say | None, wait_seconds: float | None
) -> Iterator[str]:
    wait = settings.day_lock_wait_seconds if wait_seconds is None else wait_seconds
    say = say or (lambda _msg: None)
    if lock_mode(settings) == "file" and _is_uri(settings.warehouse):
        raise HydrawatchError(
            f"the file lock needs a local warehouse, not {settings.warehouse}; "
            "set PREFECT_API_URL to a Prefect server (HYDRAWATCH_DAY_LOCK=prefect)"
        )
    if check_lock_mode(settings) == "prefect":
        with _prefect_lock(target, wait, say) as held, _fenced(settings, target):
            yield held
    else:
        with _file_lock(settings, target, wait, say) as held, _fenced(settings, target):
            yield held


@contextlib.contextmanager
def _file_lock(settings: Settings, target: _Target, wait: float, say: Say) -> Iterator[str]:
    path = Path(settings.warehouse_uri) / "_locks" / target.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_flock(fd):
            holder = _read_holder(path)
            say(f"{target.busy} ({holder}); waiting up to {wait:.0f}s for it to finish")
            deadline = time.monotonic() + wait
            while not _try_flock(fd):
                if time.monotonic() >= deadline:
                    raise ConcurrentRun(
                        f"{target.busy} ({holder}); waited {wait:.0f}s, run again when it has "
                        f"finished (lock file {path})"
                    )
                time.sleep(0.5)
        # Who holds it, for the message a second run prints (wall clock only for people).
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield f"file lock {path}"
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _read_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError):
        return "holder unknown"


@contextlib.contextmanager
def _prefect_lock(target: _Target, wait: float, say: Say) -> Iterator[str]:
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    name = target.limit
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1)
        busy = client.read_global_concurrency_limit_by_name(name).active_slots > 0
    if busy:
        say(
            f"{target.busy} (Prefect concurrency limit {name} is taken); waiting up to "
            f"{wait:.0f}s for it to finish"
        )
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                concurrency(
                    name,
                    occupy=1,
                    # A timeout of 0 would fail even on a free slot: allow one short attempt.
                    timeout_seconds=max(wait, 1.0),
                    lease_duration=PREFECT_LEASE_SECONDS,
                    strict=True,
                )
            )
        except TimeoutError:
            raise ConcurrentRun(
                f"{target.busy} (Prefect concurrency limit {name}); waited {wait:.0f}s, run "
                "again when it has finished"
            ) from None
        yield f"Prefect concurrency limit {name}"
