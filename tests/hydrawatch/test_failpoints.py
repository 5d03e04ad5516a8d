"""Fail points: a no-op unless named, a real kill (status 137, nothing after it runs) when named,
and every point listed in `POINTS` is placed in the code exactly once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hydrawatch.failpoints import ENV, EXIT_STATUS, POINTS, Crashed, failpoint, injected

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import atexit
from hydrawatch.failpoints import failpoint
atexit.register(lambda: print("atexit ran", flush=True))
for i in range(3):
    for name in ("a", "b"):
        print(f"before {name}{i}", flush=True)
        try:
            failpoint(name)
        finally:
            print(f"finally {name}{i}", flush=True)
"""

pytestmark = pytest.mark.faults


def _run(points: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if points is not None:
        env[ENV] = points
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_unnamed_points_do_nothing(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    failpoint("publish.after_table")
    monkeypatch.setenv(ENV, "something.else")
    failpoint("publish.after_table")
    done = _run(None)
    assert done.returncode == 0
    assert done.stdout.count("finally") == 6 and "atexit ran" in done.stdout


def test_a_named_point_kills_without_finally_or_atexit():
    done = _run("x, b")
    assert done.returncode == EXIT_STATUS
    # Nothing after the kill ran: not the finally of the point, not atexit.
    assert done.stdout.splitlines() == ["before a0", "finally a0", "before b0"]
    assert done.stderr.strip() == "hydrawatch: fail point b reached, killing the process"


def test_a_hit_count_picks_the_nth_pass():
    done = _run("a@3")
    assert done.returncode == EXIT_STATUS
    assert done.stdout.splitlines()[-1] == "before a2"
    assert done.stdout.count("finally a") == 2


def test_every_listed_point_is_placed_once_and_every_placed_point_is_listed():
    placed: dict[str, int] = {}
    for folder in ("hydrawatch", "jobs", "flows", "models", "features"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == "failpoints.py":  # its docstring shows an example call
                continue
            for name in re.findall(r"""failpoint\(\s*["']([^"']+)["']\s*\)""", path.read_text()):
                placed[name] = placed.get(name, 0) + 1
    assert placed == {name: 1 for name in POINTS}


def test_injected_points_raise_in_process_past_except_exception(monkeypatch):
    """`injected`: the named point raises `Crashed` (not caught by `except Exception`, `finally`
    runs) on the wanted pass; other points and the environment's list are untouched; outside
    the block nothing is armed."""
    monkeypatch.delenv(ENV, raising=False)
    passes, cleaned = [], []

    def job():
        for i in range(3):
            try:
                passes.append(i)
                failpoint("publish.after_table")
                failpoint("export.after_data")
            except Exception:  # what the code's own error handling would do
                passes.append("swallowed")
            finally:
                cleaned.append(i)

    with pytest.raises(Crashed) as crash, injected("export.after_data@2"):
        job()
    assert crash.value.point == "export.after_data"
    assert passes == [0, 1] and cleaned == [0, 1]

    passes.clear()
    with pytest.raises(Crashed), injected("publish.after_table"):
        job()
    assert passes == [0]
    job()  # nothing armed any more
    assert passes == [0, 0, 1, 2]
    with pytest.raises(ValueError, match="unknown fail point"), injected("no.such_point"):
        pass
