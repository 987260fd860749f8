"""`python -m bench [NAME ...]` runs every benchmark module in bench/ (or the ones named), in order.

Each module has a ``main(argv)`` and reads the PostgreSQL URL from ``SEKISHO_PG_URL`` (``make bench`` starts a
durable throw-away cluster and sets it).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main() -> int:
    names = sys.argv[1:] or sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.perf_counter()
        module.main([])
        print(f"(bench/{name}.py took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
