"""One error tree for the whole system.

Every failure a caller can act on is a :class:`SekishoError`.  The CLI maps it to a one-line message and an
exit code, the HTTP layer to an RFC 9457 ``application/problem+json`` body; both mappings live in one place
each (``sekisho.cli`` and ``sekisho.problems``).

Messages name the *field* and the *rule* that was broken, never the offending value: a value may be a
name, a birth date or an address, and error text ends up in terminals, logs and HTTP responses.
"""

from __future__ import annotations


class SekishoError(Exception):
    """Root of every error Sekisho raises on purpose."""

    #: short machine-readable kind, used as the problem ``type`` suffix
    kind: str = "error"
    #: HTTP status of the problem document
    status: int = 500
    #: process exit code of the CLI
    exit_code: int = 1

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def diagnostics(self) -> str:
        """A human-readable explanation, one line, safe to print and log."""
        return str(self)


class InvalidInput(SekishoError):
    """The caller sent something that breaks a rule (format, range, check digit, era boundary...)."""

    kind = "invalid-input"
    status = 422
    exit_code = 2


class NotFound(SekishoError):
    """The thing named does not exist (here, for this caller)."""

    kind = "not-found"
    status = 404
    exit_code = 2


class Conflict(SekishoError):
    """The request contradicts the current state (e.g. a second active record for one person)."""

    kind = "conflict"
    status = 409
    exit_code = 2


class Refused(SekishoError):
    """Policy said no: no legal basis, no approved PIA, no warrant, a protected resident, ..."""

    kind = "refused"
    status = 403
    exit_code = 3


class Unauthenticated(SekishoError):
    """The caller did not prove who it is: no client certificate, no valid request signature, a revoked, expired
    or replayed credential.  The HTTP layer answers 401."""

    kind = "unauthenticated"
    status = 401
    exit_code = 3


class Forbidden(Refused):
    """The caller is authenticated, but its role may not call this endpoint (e.g. an agency at the locator)."""

    kind = "forbidden"


class TooManyRequests(SekishoError):
    """The caller (a terminal, or a party) is over its rate limit; it may try again after ``retry_after`` seconds.

    Exit code 5, as for an unavailable party: to the caller the service is unavailable for now."""

    kind = "too-many-requests"
    status = 429
    exit_code = 5

    def __init__(self, message: str, *, field: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, retry_after)


class TooLarge(InvalidInput):
    """The request body is larger than the endpoint accepts."""

    kind = "too-large"
    status = 413


class IntegrityError(SekishoError):
    """Stored or received data failed verification (tampered log, bad signature, broken chain)."""

    kind = "integrity"
    status = 500
    exit_code = 4


class Unavailable(SekishoError):
    """A party or resource needed for the procedure cannot be reached or is not set up."""

    kind = "unavailable"
    status = 503
    exit_code = 5


class ErrorList(InvalidInput):
    """Several input errors at once (a bulk import reports every bad row)."""

    kind = "invalid-input"

    def __init__(self, errors: list[tuple[int, SekishoError]], *, what: str = "line") -> None:
        self.errors = errors
        self.what = what
        n = len(errors)
        super().__init__(f"{n} invalid {'row' if n == 1 else 'rows'}; nothing was written")

    def lines(self) -> list[str]:
        return [f"{self.what} {where}: {err}" for where, err in self.errors]
