"""One error family for the whole monitor.

Exit codes live on the classes (spec section 1): 1 = the sweep could not complete or could not
read every selected project, 2 = usage, configuration or access. Only the CLI entry
(:func:`ds_monitor.cli.main`) turns an error into output and an exit code; everything below raises,
commands included. Any other exception is a bug: the entry prints it as an internal error and exits
with :data:`INTERNAL_ERROR_EXIT`. Third-party exceptions (requests, urllib3, yaml, smtplib) are
translated at the edge with ``raise ... from err`` so none travels further.
"""

from __future__ import annotations

# The exit code of an exception outside this family (a bug), as of any failed run.
INTERNAL_ERROR_EXIT = 1
# The failure reason of a sweep that met a bug of ours rather than trouble with DS.
INTERNAL_ERROR = "internal error"


def describe_bug(err: BaseException) -> str:
    """One line for an exception outside the family: ``internal error (KeyError): 'x'``."""
    return f"{INTERNAL_ERROR} ({type(err).__name__}): {err}"


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose. ``str(err)`` is one line for an operator."""

    exit_code = 1


class ReportedFailure(MonitorError):
    """The command has already shown what went wrong (the sweep report, one line per channel of
    ``notify test``): the CLI entry only exits with ``exit_code`` and adds no line of its own."""

    exit_code = 1


class ConfigError(MonitorError):
    """The configuration is unusable; the message names the key, variable or file."""

    exit_code = 2


class StateError(MonitorError):
    """A state file could not be read or written (not a corrupt file: that is quarantined)."""

    exit_code = 1


class AccessError(MonitorError):
    """A file or directory the operator controls cannot be read or written (permissions): their fix, exit 2."""

    exit_code = 2


class WatchingNothing(MonitorError):
    """No configured project or workflow exists in DS: a sweep would look at nothing and say all is well."""

    exit_code = 1


class DSError(MonitorError):
    """Anything that went wrong talking to DolphinScheduler."""

    exit_code = 1


class DSUnreachable(DSError):
    """Connection refused, DNS failure, TLS failure or timeout: DS never answered."""


class DSAuthError(DSError):
    """HTTP 401 (DS answers a bad, expired or missing token with an empty body)."""


class DSProtocolError(DSError):
    """DS answered, but not with the JSON envelope: HTML page, truncated JSON, unexpected HTTP status."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


class DSApiError(DSError):
    """A DS business error: HTTP 200 with a non-zero ``code`` in the envelope.

    Branch on ``code``, never on ``msg``: DS localises the text and formats numbers with grouping
    separators.
    """

    def __init__(self, code: int, msg: str, *, endpoint: str = ""):
        self.code = code
        self.msg = msg
        self.endpoint = endpoint
        where = f" ({endpoint})" if endpoint else ""
        super().__init__(f"DS error {code}: {msg}{where}")


class ActionOutcomeUnknown(DSError):
    """A state-changing call (recovery) may have reached DS but no answer came back.

    Never retried blindly: the caller re-reads the instance on the next sweep instead.
    """


class NotifyError(MonitorError):
    """A channel refused or failed a send. ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, code: int | str | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class CoordinationError(MonitorError):
    """ZooKeeper could not be reached or answered an error (``coordination.backend: zookeeper``)."""

    exit_code = 1


class NotLeader(CoordinationError):
    """The fence refused: this replica does not (or no longer) hold the leadership with a live session.

    Raised before a state write, a DS action or a send; never caught as a DS error, so a deposed
    leader's sweep stops instead of acting.
    """


class SweepInterrupted(Exception):
    """Shutdown was requested mid-sweep; raised between steps, after state of finished steps is saved."""
