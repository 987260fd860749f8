"""Test doubles for the hooks.  For tests only: production code must pass the audit log's access hook."""

from __future__ import annotations

from dataclasses import dataclass, field

from sekisho.errors import Unavailable
from sekisho.protocols.conversion import ConversionRequest, Grant


@dataclass
class RecordingAccessHook:
    """Keeps every (request, grant) it is asked to record, in memory."""

    records: list[tuple[ConversionRequest, Grant]] = field(default_factory=list)

    def record(self, request: ConversionRequest, grant: Grant) -> None:
        self.records.append((request, grant))


@dataclass
class FailingAccessHook:
    """An access log that is down: every record fails, so nothing may be converted."""

    calls: int = 0

    def record(self, request: ConversionRequest, grant: Grant) -> None:
        self.calls += 1
        raise Unavailable("the access log cannot be reached", field="access_log")
