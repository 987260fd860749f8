"""Looking at processes from a test (Linux /proc): which children a process has, whether one is still alive."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path

HAS_PROC = Path("/proc/self/stat").exists()


def _stat(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: the fields after its last ')' are plain
    return stat[stat.rindex(")") + 2 :].split()


def children(pid: int) -> set[int]:
    """Live (not zombie) children of ``pid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def wait_gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


def wait_children(pid: int, n: int, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    found: set[int] = set()
    while len(found) < n and alive(pid) and time.monotonic() < deadline:
        found = children(pid)
        time.sleep(0.01)
    return found


def reaches_eof(fd: int, timeout: float) -> bool:
    """Reading ``fd`` reaches end of file (every writer has closed it) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready and not os.read(fd, 1 << 16):
            return True
    return False
