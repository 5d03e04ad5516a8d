"""The command line: exit codes and one-line reasons, through `cli.main.main`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cli.main import main


def test_bad_arguments_exit_2_with_one_line(capsys):
    assert main(["daily", "--date", "2026-13-01"]) == 2
    assert capsys.readouterr().err == (
        "hydrawatch: Invalid value: '2026-13-01' is not a date of the form YYYY-MM-DD\n"
    )
    assert main(["daily", "--dat", "2026-02-01"]) == 2
    assert capsys.readouterr().err == (
        "hydrawatch: No such option: --dat (Possible options: --date, --wait)\n"
    )
    assert main(["publish", "--date", "2026-02-01", "--accept-jump"]) == 2
    assert "--accept-jump needs --reason" in capsys.readouterr().err
    assert main(["backfill", "--start", "2026-02-03", "--end", "2026-02-01"]) == 2
    assert "is before --start" in capsys.readouterr().err
    assert main(["backfill", "--start", "2026-02-01", "--end", "2026-02-02", "--steps", "x"]) == 2
    assert "unknown step(s) x" in capsys.readouterr().err
    assert main(["promote", "--force"]) == 2
    assert "--force needs --reason" in capsys.readouterr().err
    assert main(["evaluate", "--as-of", "2026-02-06", "--end", "2026-02-09"]) == 2
    assert "--end and --seed go with --holdout-campaign" in capsys.readouterr().err
    holdout = ["evaluate", "--as-of", "2026-02-06", "--holdout-campaign", "all"]
    assert main([*holdout, "--version", "3"]) == 2
    assert "--holdout-campaign trains its own models" in capsys.readouterr().err


def test_an_invalid_setting_is_one_line_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("HYDRAWATCH_QUARANTINE_MAX_SHARE", "1.5")
    assert main(["daily", "--date", "2026-02-05"]) == 2
    assert capsys.readouterr().err == (
        "hydrawatch: invalid setting HYDRAWATCH_QUARANTINE_MAX_SHARE='1.5': Input should be "
        "less than or equal to 1\n"
    )


def test_serve_without_a_prefect_server_refuses_in_one_line(monkeypatch, capsys):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hydrawatch: hydrawatch serve needs a Prefect server, whose scheduler")
    assert err.count("\n") == 1 and "PREFECT_API_URL=http://127.0.0.1:4200/api" in err


def test_an_internal_error_is_one_line_and_exit_70(monkeypatch, capsys):
    from cli import commands

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(commands, "rollback", broken)
    assert main(["rollback"]) == 70
    assert capsys.readouterr().err == (
        "hydrawatch: internal error (ZeroDivisionError: division by zero); this is a bug: run "
        "again with HYDRAWATCH_DEBUG=1 for the stack trace\n"
    )


def test_no_delivery_ends_with_one_line_and_exit_3(prefect_harness, tmp_path, monkeypatch, capsys):
    """No delivery for the day: the real ingest stops on its landing listing (pyarrow.fs, no
    Spark session needed) with the one line, and the command exits 3 (try again later)."""
    for name, value in {
        "HYDRAWATCH_LANDING": tmp_path / "landing",
        "HYDRAWATCH_WAREHOUSE": tmp_path / "warehouse",
        "HYDRAWATCH_DAY_LOCK": "file",
    }.items():
        monkeypatch.setenv(name, str(value))

    assert main(["daily", "--date", "2026-02-05"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"hydrawatch: no usage_events delivery for 2026-02-05: folder {tmp_path}/landing/"
        "usage_events/date=2026-02-05 does not exist; run the day again once upstream has "
        "delivered it"
    )


@pytest.mark.slow
def test_console_script_prints_only_the_reason(tmp_path):
    """A real process in embedded Prefect mode: stderr ends with the one `hydrawatch:` line."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        # MLFLOW_TRACKING_URI: the session's store (tests/conftest.py), where no test registers
        # the default model name.
        "HYDRAWATCH_WAREHOUSE": str(tmp_path / "warehouse"),
    }
    env.pop("PREFECT_API_URL", None)
    for name in ("PREFECT_LOGGING_LEVEL", "MLFLOW_LOGGING_LEVEL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "promote"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert done.returncode == 1  # stopped: no challenger to promote
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("hydrawatch: no version of hydrawatch-account-classifier holds")
    # No Prefect log lines or tracebacks; MLflow's import-time UserWarning about models/pyfunc.py
    # (no type hints on predict) is the only other output still seen.
    others = [
        line for line in lines[:-1] if "UserWarning" not in line and "color_warning" not in line
    ]
    assert others == [], done.stderr
