"""Worker processes die with the process that started them.

A parent killed with SIGKILL runs no cleanup: its workers would live on, blocked on pipes that a sibling still
holds, holding copies of whatever the parent had open (the caller's stdout, a database connection whose server
session — and transaction, and locks — stays open as long as any copy does).  Each worker calls
:func:`die_with_parent` first thing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: prctl(2) option: the signal this process gets when the thread that forked it dies
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Arm the kernel to SIGKILL this process when its parent dies (Linux: ``PR_SET_PDEATHSIG``), and exit now
    if the parent died before that was armed.  Elsewhere only the check is made: a worker must also notice its
    parent's death by itself (a failed send on its pipe, :func:`orphaned`)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl: the checks remain
            pass
    if orphaned(parent_pid):
        os._exit(1)


def orphaned(parent_pid: int) -> bool:
    """The process that started this one has died (this one was re-parented)."""
    return os.getppid() != parent_pid
