"""``python -m sekisho.node ROLE [--name NAME] --fd FD``: one child of `sekisho up`.

Lean on purpose (argparse, no Typer, no command modules): on a small machine a network's start-up time is mostly
its children's imports.  Operators start a party with `sekisho serve`, which runs the same code.
"""

from __future__ import annotations

import argparse
import socket
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sekisho.node")
    parser.add_argument("role")
    parser.add_argument("--name")
    parser.add_argument("--fd", type=int, required=True, help="a listening socket inherited from the supervisor")
    parser.add_argument("--parent", type=int, help="the supervisor's PID: stop when it dies")
    parser.add_argument("--watch-fd", type=int, help="a pipe only the supervisor writes to: stop at its end")
    args = parser.parse_args(argv)

    from sekisho.node import server

    if args.parent is not None:
        server.die_with_parent(args.parent, args.watch_fd)
    sock = socket.socket(fileno=args.fd)

    from sekisho.config import Home
    from sekisho.errors import SekishoError
    from sekisho.node.guarding import secured_app
    from sekisho.node.roles import Role

    try:
        app, context = secured_app(Role(args.role, args.name), Home.from_env(), port=sock.getsockname()[1])
    except SekishoError as exc:
        # one line in the party's log, as the CLI would print it; the supervisor reports the exit
        sys.stderr.write(f"sekisho: error: {exc.diagnostics()}\n")
        raise SystemExit(exc.exit_code) from None
    server.serve(app, sock, context=context)


if __name__ == "__main__":
    main()
