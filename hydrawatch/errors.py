"""Errors a person can act on.

Every failure the pipeline expects (no landing data, no champion model, a data-quality gate) is a
`HydrawatchError` whose message is one line that says what happened and what to do. The CLI prints
that line and exits non-zero; anything else is a bug and keeps its stack trace.
"""


class HydrawatchError(Exception):
    """An expected failure with a one-line, actionable message."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class NoLandingData(HydrawatchError):
    """The delivery for a day is missing or empty upstream."""


class DataQualityError(HydrawatchError):
    """A data-quality gate failed; nothing was committed for the day."""


class NoChampionModel(HydrawatchError):
    """No model holds the `champion` alias."""


class PromotionRefused(HydrawatchError):
    """The promotion gate refused to move an alias."""


class ConcurrentRun(HydrawatchError):
    """Another run holds the lock for the same day."""
