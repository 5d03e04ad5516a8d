"""The `hydrawatch` command line of `contracts/outputs.md` (the top layer).

Each command builds the run's `Runtime` once (settings from the environment) and runs the matching
Prefect flow (`cli.commands`), so a command and a scheduled run do the same thing. An expected
failure prints one line, `hydrawatch: <reason>`, and exits non-zero; nothing else is printed on
failure. `main` sets the Prefect and MLflow environment defaults (`set_environment_defaults`,
the one place they are set) before anything imports Prefect.
"""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from typing import Annotated

import typer

from hydrawatch.errors import EXIT_USAGE, HydrawatchError, failure_line

app = typer.Typer(
    name="hydrawatch",
    help="Find hydra clusters of accounts distilling the model API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

STEPS = ("ingest", "features", "score", "publish")


class Scale(StrEnum):
    tiny = "tiny"
    small = "small"
    full = "full"


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date of the form YYYY-MM-DD") from None


def parse_steps(value: str) -> tuple[str, ...]:
    steps = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise typer.BadParameter(
            f"unknown step(s) {', '.join(unknown) or '(none)'}; choose from {','.join(STEPS)}"
        )
    # Steps always run in pipeline order, whatever order they were named in.
    return tuple(s for s in STEPS if s in steps)


DateOpt = Annotated[str, typer.Option(help="YYYY-MM-DD")]


def _settings():
    from hydrawatch.settings import Settings

    return Settings.from_environment()


def _commands():
    from cli import commands

    return commands


@app.command()
def simulate(
    start: DateOpt,
    days: Annotated[int, typer.Option(min=1, help="number of days to write")],
    scale: Annotated[Scale, typer.Option(help="tiny, small or full")] = Scale.tiny,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 7,
):
    """Write synthetic landing data (and the truth table) per the landing contract."""
    _commands().simulate(_settings(), parse_date(start), days, scale.value, seed)


@app.command()
def daily(
    date: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD (default: the finished day HYDRAWATCH_DAILY_LAG_DAYS ago)"),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait until the day's delivery is complete")
    ] = False,
):
    """Ingest, features, score and publish one day. Without --date: the finished day the
    schedule would run, after waiting for its delivery (as the scheduled run does)."""
    settings = _settings()
    if date is None:
        today = dt.datetime.now(dt.UTC).date()
        day, wait = today - dt.timedelta(days=settings.daily_lag_days), True
    else:
        day = parse_date(date)
    _commands().daily(settings, day, wait=wait)


@app.command()
def backfill(
    start: DateOpt,
    end: DateOpt,
    steps: Annotated[str, typer.Option(help="comma-separated subset of the steps")] = ",".join(
        STEPS
    ),
    force: Annotated[
        bool, typer.Option("--force", help="recompute the days already done for the same inputs")
    ] = False,
):
    """The daily steps over a range of days (ingest and features once over the whole range);
    re-running is safe and continues where an earlier run stopped."""
    first, last = parse_date(start), parse_date(end)
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    _commands().backfill(_settings(), first, last, parse_steps(steps), force=force)


@app.command()
def publish(
    date: DateOpt,
    accept_jump: Annotated[
        bool, typer.Option("--accept-jump", help="release a day the flagged-count gate held")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="why the jump is expected")] = None,
):
    """Publish a scored day again; with --accept-jump, release a day the jump gate held back
    (who and why are recorded in meta/publications)."""
    day = parse_date(date)
    if accept_jump and not (reason and reason.strip()):
        raise typer.BadParameter("--accept-jump needs --reason: say why the jump is expected")
    if reason and not accept_jump:
        raise typer.BadParameter("--reason goes with --accept-jump")
    _commands().publish(_settings(), day, reason if accept_jump else None)


@app.command()
def retrain(as_of: Annotated[str, typer.Option("--as-of", help="YYYY-MM-DD")]):
    """Train on labels and features up to a day; register the version as `challenger`."""
    _commands().retrain(_settings(), parse_date(as_of))


@app.command()
def promote(
    version: Annotated[str | None, typer.Option(help="model version to promote")] = None,
    force: Annotated[bool, typer.Option(help="override the promotion gate")] = False,
    reason: Annotated[str | None, typer.Option(help="why the gate is overridden")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the gate's decision, move nothing")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="last feature day of the gate period")
    ] = None,
    period_days: Annotated[
        int | None,
        typer.Option(min=1, help="feature days in the gate period (HYDRAWATCH_GATE_PERIOD_DAYS)"),
    ] = None,
):
    """Move alias `champion` to the challenger (or to a version) if it passes the gate; every
    decision is recorded in MLflow (experiment hydrawatch-gate)."""
    if force and not (reason and reason.strip()):
        raise typer.BadParameter("--force needs --reason: say why the gate is overridden")
    if force and dry_run:
        raise typer.BadParameter("--dry-run applies the gate; --force skips it: choose one")
    day = parse_date(as_of) if as_of else None
    _commands().promote(
        _settings(), version, force, reason, dry_run=dry_run, as_of=day, period_days=period_days
    )


@app.command()
def shadow(
    start: DateOpt,
    end: DateOpt,
    version: Annotated[
        str | None, typer.Option(help="model version (default: alias `challenger`)")
    ] = None,
):
    """Score the days with a model that is not the champion into gold/shadow_scores and
    gold/shadow_flag_details; nothing is published."""
    first, last = parse_date(start), parse_date(end)
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    _commands().shadow(_settings(), first, last, version)


@app.command()
def compare(
    start: DateOpt,
    end: DateOpt,
    champion: Annotated[
        str | None, typer.Option(help="first model version (default: alias `champion`)")
    ] = None,
    challenger: Annotated[
        str | None, typer.Option(help="second model version (default: alias `challenger`)")
    ] = None,
    labels_as_of: Annotated[
        str | None, typer.Option("--labels-as-of", help="labels known on this day (default: --end)")
    ] = None,
):
    """Champion and challenger side by side on the same days: flags per day, accounts only one
    flags, precision/recall/PR-AUC on the labels with intervals, flag rates per population."""
    first, last = parse_date(start), parse_date(end)
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    labels = parse_date(labels_as_of) if labels_as_of else None
    _commands().compare(_settings(), first, last, champion, challenger, labels)


@app.command()
def show(
    date: DateOpt,
    limit: Annotated[int, typer.Option(min=1, help="accounts per page")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="accounts to skip")] = 0,
):
    """The published list of a day: tiers, clusters and reasons, paged; no personal data."""
    _commands().show(_settings(), parse_date(date), limit, offset)


@app.command()
def explain(account: str, date: DateOpt):
    """Why one account was or was not flagged on a day: its score, top contributions in words,
    its clusters and their members' status, the days it was flagged; no personal data."""
    _commands().explain(_settings(), account, parse_date(date))


@app.command()
def report(date: DateOpt):
    """One self-contained HTML page of a day: counts over 30 days, the largest clusters as
    graphs, reasons, quarantine, drift; no personal data, nothing loaded from the network."""
    _commands().report(_settings(), parse_date(date))


@app.command()
def maintain(
    recent_days: Annotated[
        int, typer.Option("--recent-days", min=1, help="days of partitions to compact")
    ] = 7,
):
    """Compact recent partitions and vacuum every table within its retention, keeping every
    table version a registered model was trained on; files and sizes before and after."""
    _commands().maintain(_settings(), recent_days)


@app.command()
def rollback():
    """Move alias `champion` back to the previous champion."""
    _commands().rollback(_settings())


@app.command()
def evaluate(
    as_of: Annotated[str, typer.Option("--as-of", help="last day of the window, YYYY-MM-DD")],
    start: Annotated[str | None, typer.Option(help="first day (default: all days)")] = None,
    version: Annotated[
        str | None, typer.Option(help="score this model version instead of reading the scores")
    ] = None,
    holdout_campaign: Annotated[
        list[str] | None,
        typer.Option(
            "--holdout-campaign",
            help="leave this campaign's labels out of training (repeatable, or `all`); scores "
            "the days after --as-of up to --end",
        ),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="with --holdout-campaign: last scored day (default: latest)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="with --holdout-campaign: training seed")] = None,
):
    """Report recall, precision and FPR per campaign and population against the simulator's truth;
    with --holdout-campaign, leave one campaign out of the labels at a time."""
    if holdout_campaign:
        if version or start:
            raise typer.BadParameter(
                "--holdout-campaign trains its own models: drop --version/--start"
            )
        last = parse_date(end) if end else None
        _commands().holdout(_settings(), parse_date(as_of), last, list(holdout_campaign), seed)
        return
    if end or seed is not None:
        raise typer.BadParameter("--end and --seed go with --holdout-campaign")
    first = parse_date(start) if start else None
    _commands().evaluate(_settings(), parse_date(as_of), first, version)


@app.command()
def demo(
    start: Annotated[str, typer.Option(help="first simulated day, YYYY-MM-DD")] = "2026-02-01",
    days: Annotated[int, typer.Option(min=3, help="days to simulate")] = 14,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 7,
):
    """On an empty machine: simulate, backfill, retrain, promote, run a day, show the list."""
    _commands().demo(_settings(), parse_date(start), days, seed)


@app.command()
def serve():
    """Serve the deployments (daily on its cron schedule) until Ctrl-C; PREFECT_API_URL or embedded."""
    _commands().serve(_settings())


def set_environment_defaults() -> None:
    """Prefect and MLflow defaults for a person at a terminal; an operator's own values win.

    Called by `main` before anything imports Prefect (it reads them at import).
    """
    import os
    import warnings

    # Prefect's console logging would drown the one-line messages; its run logs still reach the
    # Prefect API.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    # Embedded mode starts a temporary Prefect server per command; on a busy 2-core machine that
    # takes longer than Prefect's default wait.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    # MLflow logs its store migrations at INFO and warns about the pyfunc's missing type hints
    # on every import: noise for a person at the terminal.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code (the README's table, `hydrawatch.errors`).

    Whatever happens, a failure ends stderr with one `hydrawatch: <reason>` line: an expected
    failure with its own code, a usage error with 2, a bug with 70 (its stack trace only with
    `HYDRAWATCH_DEBUG=1`; a scheduled run's logs in Prefect keep it either way).
    """
    import os

    set_environment_defaults()
    try:
        app(args=argv, standalone_mode=False)
    except HydrawatchError as err:
        print(f"hydrawatch: {err}", file=sys.stderr)
        return err.exit_code
    except typer.Abort:
        print("hydrawatch: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("hydrawatch: interrupted", file=sys.stderr)
        return 130
    except typer.Exit as done:  # --help and friends
        return done.exit_code
    except typer.TyperException as err:
        # Usage errors (typer vendors click: `click.ClickException` does not match them): one
        # line instead of click's usage block.
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        print(f"hydrawatch: {' '.join(message.split())}", file=sys.stderr)
        code = getattr(err, "exit_code", EXIT_USAGE)
        return code if isinstance(code, int) else EXIT_USAGE
    except Exception as err:
        if os.environ.get("HYDRAWATCH_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        line, code = failure_line(err)
        print(
            f"hydrawatch: {line}; this is a bug: run again with HYDRAWATCH_DEBUG=1 for the "
            "stack trace",
            file=sys.stderr,
        )
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
