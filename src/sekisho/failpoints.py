"""Named steps of the move hand-over where a test may stop the process dead (crash tests only).

``SEKISHO_FAILPOINT=<step>[,<step>…]`` makes the process that reaches ``<step>`` kill itself with SIGKILL there —
no ``finally``, no rollback, no answer: exactly what a power cut or the OOM killer does.  ``<step>:stop`` sends
SIGSTOP instead (the process hangs, holding its connections and locks, until a test continues or kills it).
Unset — always, outside tests — a failpoint costs one dictionary lookup.

The steps are enumerable (:data:`STEPS`, in protocol order) so that a test can cross every step with every party
(``tests/node/test_handover_crash.py`` prints the matrix).
"""

from __future__ import annotations

import os
import signal

ENV = "SEKISHO_FAILPOINT"

#: the hand-over's steps in the order they happen (X: the municipality of origin, Y: the destination)
STEPS: tuple[str, ...] = (
    # Y has received the transfer's package from X and written nothing yet
    "move-in.fetched",
    # X has written the access record of the package (committed) and not yet answered Y
    "transfer.fetched",
    # Y has committed its *incoming* record (enrolments, support measure) and not yet asked X to complete
    "move-in.incoming",
    # X has closed its record (除票, outbox event) and not yet moved the locator's entry
    "transfer.closed",
    # the locator has moved the entry to Y and not yet answered X
    "locator.handed-over",
    # X has moved the locator's entry and not yet answered Y
    "transfer.located",
    # Y has X's answer and has not yet activated its record
    "move-in.completed",
    # Y has activated its record (and its "moved in" outbox event) and not yet answered the clerk
    "move-in.active",
)

#: the notice feed's steps: an agency has applied a page and not yet moved its cursor past it
FEED_STEPS: tuple[str, ...] = ("notices.applied",)


def failpoint(step: str) -> None:
    """Die (or stop) here if a test asked for it; otherwise nothing."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    if step not in STEPS and step not in FEED_STEPS:
        raise ValueError(f"unknown failpoint {step!r}")
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name == step:
            os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
