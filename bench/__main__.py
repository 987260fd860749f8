"""`python -m bench [--tiny] [NAME ...]` runs every benchmark module in bench/ (or the ones named), in order.

Each module has a ``main(argv)`` and reads the PostgreSQL URL from ``SEKISHO_PG_URL`` (``make bench`` starts a
durable throw-away cluster and sets it).  ``--tiny`` is passed on to every module: a smoke run of every figure at a
few operations, which ``tests/bench/test_smoke.py`` makes on every ``make test`` so that no benchmark can rot.
A benchmark that fails does not stop the others; the exit status says that one did.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def benchmarks() -> list[str]:
    """Every benchmark module in bench/, by name."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    options = [a for a in args if a.startswith("-")]
    names = [a for a in args if not a.startswith("-")] or benchmarks()
    unknown = sorted(set(names) - set(benchmarks()))
    if unknown:
        print(f"no such benchmark: {', '.join(unknown)} (there are: {', '.join(benchmarks())})", file=sys.stderr)
        return 2
    failed: list[str] = []
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main(options)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            print(f"(bench/{name}.py FAILED after {time.perf_counter() - started:.1f} s)", flush=True)
            continue
        print(f"(bench/{name}.py took {time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
