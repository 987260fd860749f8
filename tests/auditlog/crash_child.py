"""Child process of test_crash: appends from several threads until killed, recording every acknowledgement.

usage: python crash_child.py HOME DB_URL|- NAMESPACE ACK_FILE

Each acknowledged append is written to ACK_FILE ("<index> <leaf hash hex>\\n", one O_APPEND write) *after* the
log acknowledged it and *before* the thread appends again, so the file lists a subset of what is durable.

Prints "ready" once READY_AFTER appends are acknowledged: the parent's kill then falls among running appends,
and every child has added something to check, however slowly this machine commits.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from pathlib import Path

from sekisho.auditlog.service import LogService
from sekisho.config import Home
from sekisho.errors import Conflict
from sekisho.transparency.entry import AccessRecordBuilder, derive_commitment_key

READY_AFTER = 8  # acknowledged appends before "ready" (test_crash kills 4 children and wants more than 20)


def main() -> None:
    root, db, namespace, ack_path = sys.argv[1:5]
    home = Home(root=Path(root), db_url=None if db == "-" else db, namespace=namespace)
    # the killed predecessor's session may take a moment to let go of the log (a loaded machine: seconds)
    locked_until = time.monotonic() + 60
    while True:
        svc = LogService.open(home)
        try:
            svc.sequencer  # noqa: B018 - start the writer now
            break
        except Conflict:
            svc.close()  # each try's connections go back: the retries must not fill the server's slots
            if time.monotonic() > locked_until:
                raise SystemExit("the log stayed locked") from None
            time.sleep(0.05)
    ack = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    keys = [derive_commitment_key(os.urandom(32)) for _ in range(8)]

    def entry(rng: random.Random) -> bytes:
        return (
            AccessRecordBuilder()
            .actor("agency", "pension")
            .action("identity-confirmation", purpose="crash.test")
            .items(["name"])
            .decision("allow")
            .build(rng.choice(keys))
            .entry_bytes()
        )

    acked = 0
    counted = threading.Lock()
    ready = threading.Event()

    def appender(seed: int) -> None:
        nonlocal acked
        rng = random.Random(seed)
        try:
            while True:
                if rng.random() < 0.2:
                    receipts = svc.append_many([entry(rng) for _ in range(rng.randrange(2, 40))])
                else:
                    receipts = [svc.append(entry(rng))]
                os.write(ack, b"".join(b"%d %s\n" % (r.index, r.leaf_hash.hex().encode()) for r in receipts))
                with counted:
                    acked += len(receipts)
                    if acked >= READY_AFTER:
                        ready.set()
        finally:
            ready.set()  # an appender that fails wakes the main thread, which then reports it

    for i in range(6):
        threading.Thread(target=appender, args=(os.getpid() * 10 + i,), daemon=True).start()
    ready.wait()
    if acked < READY_AFTER:
        raise SystemExit("an appender failed before the log acknowledged anything much")
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
