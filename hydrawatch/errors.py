"""Errors a person can act on, and the exit code each kind of failure ends a command with.

Every failure the pipeline expects (no landing data, no champion model, a data-quality gate) is a
`HydrawatchError` whose message is one line that says what happened and what to do. The CLI prints
that line and exits with the class's `exit_code`, so a scheduler can tell "no data yet, try again
later" from "a gate refused, a person must look" (the table is in the README, "Exit codes").
Anything else is a bug: the CLI prints one line naming it and exits `EXIT_INTERNAL`.
"""

EXIT_OK = 0
EXIT_STOPPED = 1  # an expected failure of no kind below: a missing prerequisite, a registry down
EXIT_USAGE = 2  # a bad argument or an invalid setting (click's convention for usage errors)
EXIT_NO_DELIVERY = 3  # the day's delivery is not there (yet): run again later
EXIT_BAD_INPUT = 4  # bad input stopped the day: nothing was committed for it
EXIT_GATE = 5  # a gate refused (publication held back, promotion refused): a person decides
EXIT_LOCKED = 6  # another run holds the day's lock
EXIT_INTERNAL = 70  # a bug (sysexits' EX_SOFTWARE)


class HydrawatchError(Exception):
    """An expected failure with a one-line, actionable message."""

    exit_code = EXIT_STOPPED

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class UsageError(HydrawatchError):
    """A bad combination of arguments, or a setting that does not validate."""

    exit_code = EXIT_USAGE


class NoLandingData(HydrawatchError):
    """The delivery for a day is missing, empty or not complete upstream."""

    exit_code = EXIT_NO_DELIVERY


class DataQualityError(HydrawatchError):
    """A data-quality gate failed; nothing was committed for the day."""

    exit_code = EXIT_BAD_INPUT


class NoChampionModel(HydrawatchError):
    """No model holds the `champion` alias."""


class GateRefused(HydrawatchError):
    """A gate a person can override refused: the publication is held, the promotion refused."""

    exit_code = EXIT_GATE


class PromotionRefused(GateRefused):
    """The promotion gate refused to move an alias."""


class PublicationHeld(GateRefused):
    """The publish gate held the day back (`hydrawatch publish --accept-jump` releases it)."""


class ConcurrentRun(HydrawatchError):
    """Another run holds the lock for the same day."""

    exit_code = EXIT_LOCKED


def failure_line(err: BaseException) -> tuple[str, int]:
    """(one line, exit code) for any failure: an expected one's message and code, or an internal
    error's class and first line with `EXIT_INTERNAL`."""
    if isinstance(err, HydrawatchError):
        return str(err), err.exit_code
    first = (str(err).strip().splitlines() or [""])[0][:300]
    return f"internal error ({type(err).__name__}: {first})", EXIT_INTERNAL
