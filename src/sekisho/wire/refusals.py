"""The errors the wire layer refuses with: the project's 401/403/429 kinds, each with a ``reason`` code for the
alert (the problem document shows the kind and the message; the code goes to the watchdog)."""

from __future__ import annotations

from sekisho.errors import Forbidden, SekishoError, TooManyRequests, Unauthenticated


class WireRefusal(SekishoError):
    reason: str = "refused"
    #: the terminal concerned, when its certificate named it (a revoked or expired terminal is still named by the
    #: CA's signature): the alert then points at the terminal
    terminal: str | None = None


class NotAuthenticated(WireRefusal, Unauthenticated):
    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class NotAllowed(WireRefusal, Forbidden):
    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class RateLimited(WireRefusal, TooManyRequests):
    reason = "rate-limited"

    def __init__(self, message: str, *, retry_after: int, first: bool, field: str | None = None) -> None:
        super().__init__(message, field=field, retry_after=retry_after)
        #: the first refusal of an episode (only that one leaves an alert: a flood is one finding, not thousands)
        self.first = first
