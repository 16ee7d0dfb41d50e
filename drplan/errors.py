"""The one exception tree of drplan, and the exit codes the CLI maps it to.

    DrplanError                      exit 1 unless a subclass says otherwise
    ├── SpecError                    the DR spec (TOML) is wrong: names file, TOML path and the fix
    ├── PlanFileError                a saved plan cannot be used
    │   ├── PlanTamperedError        its digest does not match its body
    │   ├── IncompatiblePlanError    unknown format_version / fails schemas/plan.schema.json
    │   ├── NotApplyableError        the plan carries errors
    │   └── StalePlanError           exit 3: state moved on or a precondition no longer holds live
    ├── StateError
    │   ├── StateLockedError         exit 4: another run holds the state lock
    │   ├── StateConflictError       a conditional write found the state changed since it was read (ETag), or
    │   │                            the lock (blob lease) was lost: nothing was written
    │   └── StateCorruptError        the state file exists but is unusable (not "no state yet")
    ├── ServiceError                 an Azure (or emulator) answer drplan cannot go on with
    │   ├── AuthError                401/403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409 (ModelExists, reserved target id)
    │   ├── ThrottledError           429 after the retry budget
    │   ├── ResponseLostError        a request whose answer never arrived (it may have had its effect)
    │   ├── ForeignHostError         a URL (from an answer or the state) is not on the resource's own host:
    │   │                            refused before any key or token is attached
    │   ├── OperationFailedError     a long-running operation ended failed/canceled
    │   └── OperationTimeoutError    a long-running operation did not end within its deadline (it may still be
    │                                running on the service: names the operation URL and what to do)
    ├── ApplyStepError               one change could not go on (what happened, what to do); the executor collects them
    └── ApplyError                   one or more changes failed during apply (details per address)
        └── StaleApplyError          exit 3: also a StalePlanError: a change found the plan stale while it ran

Only the CLI's top level turns these into exit codes. Every message passes through drplan.redact.
"""

from __future__ import annotations

from drplan.redact import redact

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2  # plan --detailed-exitcode: the plan has changes
EXIT_STALE_PLAN = 3
EXIT_LOCKED = 4
#: ``drplan plan ... | head``: the reader closed stdout before drplan finished writing. Nothing is wrong with the plan
#: (a saved plan file is complete), so drplan stops quietly, as other Unix tools do (128 + SIGPIPE).
EXIT_CLOSED_OUTPUT = 141

#: How much of one value (a field, an answer, a path) a message quotes: a 10 MB field is never echoed back.
VALUE_LIMIT = 200
#: The longest line a message keeps, whatever it quotes (a safety net behind :func:`shorten`).
LINE_LIMIT = 2000


def shorten(value: object, limit: int = VALUE_LIMIT) -> str:
    """``value`` as text, at most ``limit`` characters, saying how much was left out."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(truncated, {len(text) - limit} more characters)"


def _cap_lines(message: str) -> str:
    if len(message) <= LINE_LIMIT:
        return message
    return "\n".join(shorten(line, LINE_LIMIT) for line in message.split("\n"))


class DrplanError(Exception):
    """Base of every error drplan reports to a user. ``str(err)`` is the redacted message."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(_cap_lines(redact(message)))

    @property
    def message(self) -> str:
        return str(self)


class SpecError(DrplanError):
    pass


class PlanFileError(DrplanError):
    pass


class PlanTamperedError(PlanFileError):
    pass


class IncompatiblePlanError(PlanFileError):
    pass


class NotApplyableError(PlanFileError):
    pass


class StalePlanError(PlanFileError):
    exit_code = EXIT_STALE_PLAN


class StateError(DrplanError):
    pass


class StateLockedError(StateError):
    exit_code = EXIT_LOCKED


class StateConflictError(StateError):
    pass


class StateCorruptError(StateError):
    pass


class ServiceError(DrplanError):
    """An error answer from a service. ``status``, ``code`` and ``inner_code`` mirror the error envelope."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        inner_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.inner_code = inner_code
        self.request_id = request_id


class AuthError(ServiceError):
    pass


class NotFoundError(ServiceError):
    pass


class ConflictError(ServiceError):
    pass


class ThrottledError(ServiceError):
    pass


class ResponseLostError(ServiceError):
    """The request was sent but no answer came back: it may or may not have taken effect."""


class OperationFailedError(ServiceError):
    pass


class OperationTimeoutError(ServiceError):
    """A long-running operation was still not terminal when its deadline passed (drplan.azure.lro.poll). Nothing is
    known about its outcome: it may still be running, and a later run can pick it up from its URL."""


class ForeignHostError(ServiceError):
    """A URL to be called with a resource's credentials is not on that resource's endpoint: nothing was sent."""


class ApplyStepError(DrplanError):
    """One change of an apply could not go on; the message says what happened and what to do. ``transient``: the
    step knows that running the change again shortly (resuming from its journal) may well succeed, e.g. answers
    kept getting lost (drplan.apply.resend.is_transient)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ApplyError(DrplanError):
    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures = {k: redact(v) for k, v in (failures or {}).items()}


class StaleApplyError(ApplyError, StalePlanError):
    """An apply in which a change found the plan stale while it ran (exit code 3, like any stale plan); the other
    failures are listed with it."""
