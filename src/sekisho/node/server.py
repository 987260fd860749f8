"""One party under uvicorn: the process `sekisho serve` runs, and each child of `sekisho up`.

A child of `sekisho up` must not outlive its supervisor, even one killed with SIGKILL (which runs no clean-up):
on Linux the kernel sends it SIGTERM when the supervisor dies (``PR_SET_PDEATHSIG``), and on every platform it
watches a pipe whose only writer is the supervisor — end of file means the supervisor is gone.  Either way the
party stops the way Ctrl-C stops it: uvicorn's graceful shutdown, in-flight requests finish, the party's own
shutdown runs (the log finishes its queued appends), and every transaction is either committed or never was.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import sys
import threading
from typing import Any

#: seconds in-flight requests get to finish after SIGTERM/SIGINT before uvicorn closes their connections
GRACE = 10
#: seconds an idle keep-alive connection stays open: every party keeps one pooled connection per peer, and
#: uvicorn's default (5 s) made a quiet spell cost a new TLS handshake on every hop
KEEP_ALIVE = 75
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, watch_fd: int | None = None) -> None:
    """Stop this process (SIGTERM to itself) when ``parent_pid`` dies."""
    if sys.platform == "linux":
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        # the supervisor died before the line above took effect: nobody will stop us, so do not start
        raise SystemExit(1)
    if watch_fd is not None:
        threading.Thread(target=_watch, args=(watch_fd,), name="sekisho-parent-watch", daemon=True).start()


def _watch(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass  # the supervisor never writes; anything read is ignored
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)  # the graceful path, as from the supervisor itself
    # a shutdown that hangs beyond its grace period must not leave an orphan
    threading.Event().wait(GRACE + 5)
    os._exit(1)


def _idle_connections_dropper() -> type:
    """uvicorn's Server, but an idle keep-alive connection does not hold up the graceful shutdown.

    uvicorn closes an idle connection at shutdown with ``transport.close()``; under TLS asyncio then sends
    close_notify and keeps the connection until the peer answers with its own, which an HTTP client's idle pool
    never reads. Every party keeps pooled connections to its peers, so each stopping party waited out its whole
    grace period for connections nobody was using (and a network stopping together waited on itself). No request
    is in flight on an idle connection, so it is dropped outright (RFC 9112 §9.6: a client must expect a server to
    close an idle connection at any time); connections with a request in flight still finish as before."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for connection in list(self.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                transport = getattr(connection, "transport", None)
                if transport is not None and (cycle is None or cycle.response_complete):
                    transport.abort()
            await super().shutdown(sockets)

    return Server


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), bound before the app is built."""
    return socket.create_server((host, port), backlog=1024)


def serve(app: Any, sock: socket.socket, *, grace: int = GRACE, context: ssl.SSLContext | None = None) -> None:
    """Serve ``app`` on the bound ``sock`` until SIGTERM or SIGINT; exit 3 if the app does not start.  With
    ``context`` (``sekisho.node.guarding.server_context``): over mutual TLS, client certificates in the scope."""
    import uvicorn

    from sekisho.wire import tls

    host, port = sock.getsockname()[:2]
    server_class = _idle_connections_dropper()

    def make(a: Any, **kw: Any) -> uvicorn.Config:
        if context is None:
            return uvicorn.Config(a, **kw)
        return tls.uvicorn_config(a, host=host, port=port, context=context, **kw)

    config = make(
        app,
        log_level="warning",
        access_log=False,  # request lines could carry what a caller put in a URL; parties log no personal data
        server_header=False,
        timeout_graceful_shutdown=grace,
        timeout_keep_alive=KEEP_ALIVE,
        lifespan="on",
    )
    server = server_class(config)

    # uvicorn re-raises the signal that stopped it once it has shut down, to the handlers it found; a stop that was
    # asked for and went cleanly is a success (exit 0), not a death by signal (or a KeyboardInterrupt traceback);
    # a signal that comes before uvicorn listens for it still stops it
    def stopped(_signum: int, _frame: object) -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stopped)
    server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(3)
