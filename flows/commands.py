"""What each `hydrawatch` command runs. Filled in as the flows are built."""

from hydrawatch.errors import NotBuiltYet


def _missing(name: str):
    raise NotBuiltYet(f"`hydrawatch {name}` is not built yet")


def simulate(settings, start, days, scale, seed):
    _missing("simulate")


def daily(settings, run_date):
    _missing("daily")


def backfill(settings, start, end, steps):
    _missing("backfill")


def retrain(settings, as_of):
    _missing("retrain")


def promote(settings, version, force, reason):
    _missing("promote")


def rollback(settings):
    _missing("rollback")


def demo(settings):
    _missing("demo")
