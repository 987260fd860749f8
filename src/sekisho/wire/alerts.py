"""What a refused request leaves for the watchdog: an :class:`AuthAlert`, handed to an :data:`AlertSink`.

The composition root wires the sink to the watchdog's alert store (``AuthAlert.alert_fields`` has the fields of
the watchdog's anomaly alerts); this package never imports the watchdog.  An alert carries codes, the party and
the terminal (identifiers of machines, never of residents), the method and the path (which by the project's rules
hold no personal data); never a header value, a body or a query.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("sekisho.wire")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class AuthAlert:
    at: datetime
    #: a code: no-client-certificate, untrusted-certificate, certificate-revoked, certificate-expired, replayed,
    #: outside-time-window, signature-invalid, unsigned, role-not-allowed, rate-limited, ...
    reason: str
    #: the HTTP status the request got; 0 when the TLS handshake failed (no HTTP was spoken)
    status: int
    party: str | None = None
    terminal: str | None = None
    method: str | None = None
    path: str | None = None
    #: the refusal's message (names a field and a rule, never a value) or the TLS library's verification message
    detail: str = ""

    def alert_fields(self) -> dict[str, Any]:
        """The fields of the watchdog's alert (``sekisho.policy.anomaly.Alert``): one refusal, one alert.  Its
        details are codes (the watchdog stores them space-separated), so none holds a space."""
        scope, subject = ("terminal", self.terminal) if self.terminal else ("party", self.party or "unknown")
        details = [f"status={self.status}", f"reason={self.reason}"]
        if self.terminal and self.party:
            details.append(f"party={self.party}")
        if self.method and self.path:
            details += [f"method={self.method}", f"path={self.path[:200]}"]
        if self.status == 0 and self.detail:  # the TLS library's verification message: a fixed phrase
            details.append(f"tls={self.detail[:100]}")
        return {
            "rule": f"auth-{self.reason}"[:32],
            "severity": "medium" if self.status == 429 else "high",
            "scope": scope,
            "subject": subject[:128],
            "window_start": self.at,
            "window_end": self.at,
            "observed": 1,
            "threshold": 0,
            "details": tuple(_WHITESPACE.sub("-", d) for d in details),
        }


AlertSink = Callable[[AuthAlert], None]


class AlertLog:
    """An in-memory sink (tests, and a party that has no watchdog wired yet); thread-safe."""

    def __init__(self) -> None:
        self._alerts: list[AuthAlert] = []
        self._lock = threading.Lock()

    def __call__(self, alert: AuthAlert) -> None:
        with self._lock:
            self._alerts.append(alert)

    def list(self) -> list[AuthAlert]:
        with self._lock:
            return list(self._alerts)


def emit(sink: AlertSink | None, alert: AuthAlert) -> None:
    """Hand an alert to the sink; a failing sink must not turn a refusal into an acceptance or a 500."""
    log.warning(
        "refused: reason=%s status=%d party=%s terminal=%s", alert.reason, alert.status, alert.party, alert.terminal
    )
    if sink is None:
        return
    try:
        sink(alert)
    except Exception as exc:  # the type only: the sink's message is not ours to print
        log.error("the alert sink failed: %s", type(exc).__name__)
