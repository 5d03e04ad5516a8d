"""Promote killed after moving `champion` and before recording the move (a real process,
os._exit): the re-run completes the record once, the history and rollback stay right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hydrawatch.errors import HydrawatchError
from hydrawatch.failpoints import EXIT_STATUS
from hydrawatch.runtime import Runtime
from jobs.promote import PENDING_TAG, run_promote, run_rollback
from models.moves import FORCED, ROLLBACK, history
from testkit.registry import alias_version, log_and_register, version_info

pytestmark = pytest.mark.faults

REPO = Path(__file__).resolve().parents[2]
PROMOTE = """
import sys
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from jobs.promote import run_promote, run_rollback
if sys.argv[1] == "rollback":
    run_rollback(Runtime(Settings()))
else:
    run_promote(Runtime(Settings()), sys.argv[1], force=True, reason="crash test")
"""


def _killed(settings, process_env, arg: str, point: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROMOTE, arg],
        cwd=REPO,
        env=process_env(settings, point),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == EXIT_STATUS, done.stderr[-3000:]
    assert f"fail point {point} reached" in done.stderr


def _register(settings, seed: int) -> str:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"f1": rng.uniform(0, 1, 200), "f2": rng.normal(0, 1, 200)})
    _, version = log_and_register(Runtime(settings), x, (x.f1 > 0.5).astype(int), seed=seed)
    return version


def test_promote_killed_after_the_alias_is_completed_by_the_rerun(settings, process_env):
    first, second = _register(settings, 1), _register(settings, 2)
    run_promote(Runtime(settings), first, force=True, reason="first champion")

    _killed(settings, process_env, second, "promote.after_alias")
    # What the crash left: the alias moved, the move not recorded, the decision kept as a tag.
    assert alias_version(settings, "champion") == second
    assert [m.to_version for m in history(Runtime(settings))] == [first]
    assert PENDING_TAG in version_info(settings, second).tags

    completed = run_promote(Runtime(settings), second, force=True, reason="crash test")
    assert (completed.action, completed.from_version, completed.to_version) == (
        FORCED,
        first,
        second,
    )
    moves = history(Runtime(settings))
    assert [(m.seq, m.from_version, m.to_version) for m in moves] == [
        (1, None, first),
        (2, first, second),
    ]
    assert moves[1].reason == "crash test" and moves[1].run_id == completed.move_run_id
    tags = version_info(settings, second).tags
    assert PENDING_TAG not in tags and tags["champion.move_run_id"] == completed.move_run_id

    # Re-running once more is the ordinary refusal, and the history does not grow.
    with pytest.raises(HydrawatchError, match="already holds alias `champion`"):
        run_promote(Runtime(settings), second, force=True, reason="crash test")
    assert len(history(Runtime(settings))) == 2

    # A rollback killed after moving the alias back: its re-run records it with the right
    # versions (its target comes from the history, not from the alias).
    _killed(settings, process_env, "rollback", "rollback.after_alias")
    assert alias_version(settings, "champion") == first and len(history(Runtime(settings))) == 2
    back = run_rollback(Runtime(settings))
    assert (back.action, back.from_version, back.to_version) == (ROLLBACK, second, first)
    assert alias_version(settings, "champion") == first
    assert [m.action for m in history(Runtime(settings))] == [FORCED, FORCED, ROLLBACK]


RACE = """
import sys
from hydrawatch.errors import HydrawatchError
from hydrawatch.runtime import Runtime
from hydrawatch.settings import Settings
from jobs.promote import run_promote
try:
    done = run_promote(Runtime(Settings()), sys.argv[1], force=True, reason="race " + sys.argv[2])
    print("moved", done.from_version, done.to_version)
except HydrawatchError as err:
    print("refused", err)
"""


def test_two_promotes_at_once_one_wins_and_the_history_stays_right(
    make_settings, tmp_path, process_env
):
    """Two real processes promote the same version while a third holds the registry lock; once
    it is released, one moves the alias and records move 2, the other finds it done."""
    from hydrawatch.locks import registry_lock

    settings = make_settings(tmp_path, day_lock="file")
    first, second = _register(settings, 3), _register(settings, 4)
    run_promote(Runtime(settings), first, force=True, reason="first champion")
    with registry_lock(settings):
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", RACE, second, name],
                cwd=REPO,
                env=process_env(settings),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        lock = Path(settings.warehouse_uri) / "_locks" / "registry.lock"
        assert lock.exists()
    outs = [p.communicate(timeout=300) for p in racers]
    said = sorted(out.strip().splitlines()[-1] for out, _ in outs)
    assert said[0] == f"moved {first} {second}", outs
    assert said[1].startswith(f"refused v{second} already holds alias `champion`"), outs
    moves = history(Runtime(settings))
    assert [(m.seq, m.from_version, m.to_version) for m in moves] == [
        (1, None, first),
        (2, first, second),
    ]
