"""`sekisho up`: a whole network on loopback, one OS process per party, and the run file `down`/`status` read.

The supervisor binds every party's listening socket itself (no race for a free port between choosing it and a
child binding it) and hands each child its socket, so it knows every address before any child starts.  It then
waits until each party answers ``GET /health``.  On SIGTERM, SIGINT or SIGHUP it sends SIGTERM to every child,
waits for each to finish its graceful shutdown, and only then exits (SIGKILL for a child still there after its
grace period).  Children die with the supervisor even when it is killed outright (see ``sekisho.node.server``).

    <home>/run/network.json        who listens where (supervisor and party PIDs, ports, log files)
    <home>/run/logs/<party>.log    each child's stdout and stderr
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, Unavailable
from sekisho.node import server
from sekisho.node.roles import OPENS_OWN_DATABASE, Role

HOST = "127.0.0.1"
#: seconds a child gets to stop after SIGTERM before it is killed: its own grace period and some to spare
STOP_WAIT = server.GRACE + 5


def run_dir(root: Path) -> Path:
    return root / "run"


def run_file(root: Path) -> Path:
    return run_dir(root) / "network.json"


def party_home(root: Path, role: Role, db_url_template: str | None) -> Home:
    """The home a party's process sees: the network's directory and, with a template, the party's database URL
    (``{party}`` is replaced by the party's slug; without it every party shares the URL, one schema each)."""
    db_url = db_url_template.replace("{party}", role.slug.replace("-", "_")) if db_url_template else None
    return Home(root=root, db_url=db_url, namespace=os.environ.get("SEKISHO_DB_NAMESPACE", ""))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by its parent) is not a running party
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def is_sekisho(pid: int) -> bool:
    """Whether ``pid`` still runs Sekisho (a PID in an old run file may since have been given to another program)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid_alive(pid)  # no /proc: trust the PID
    return b"sekisho" in cmdline


def probe_context(root: Path) -> ssl.SSLContext | None:
    """TLS for the probes: the organisation CA written by `sekisho up`, no client certificate (``/health`` is a
    public path); None when the home has none (nothing to trust: nothing is probed)."""
    from sekisho.node.certificates import ca_file

    try:
        pem = ca_file(root).read_text(encoding="ascii")
    except OSError:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(cadata=pem)
    return ctx


def probe(
    host: str, port: int, *, timeout: float = 2.0, context: ssl.SSLContext | None = None
) -> tuple[int, dict[str, Any]] | None:
    """``GET /health`` over TLS (every party's certificate names 127.0.0.1): the status and body, or None if
    nothing answers there."""
    if context is None:
        return None
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        data = {}
    return response.status, data if isinstance(data, dict) else {}


def health_text(answer: tuple[int, dict[str, Any]] | None) -> str:
    if answer is None:
        return "not answering"
    status, body = answer
    if status == 200:
        return "ok"
    return f"{status}: {body.get('detail') or body.get('title') or 'no detail'}"


@dataclass
class Child:
    role: Role
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    health: tuple[int, dict[str, Any]] | None = None
    label: str = ""

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def record(self) -> dict[str, Any]:
        return {
            "party": self.role.party,
            "role": self.role.role,
            "name": self.role.name,
            "label": self.label,
            "pid": self.proc.pid if self.proc else None,
            "port": self.port,
            "url": self.url,
            "log": str(self.log),
        }


@dataclass
class Supervisor:
    root: Path
    roles: Sequence[Role]
    db_url_template: str | None = None
    base_port: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    started_at: float = 0.0
    _watch_w: int | None = None
    _probe_context: ssl.SSLContext | None = None

    # --- start ---

    def check_not_running(self) -> None:
        existing = read_run_file(self.root)
        if existing is not None and pid_alive(existing["supervisor"]) and is_sekisho(existing["supervisor"]):
            raise Conflict("a network is already running under this home (`sekisho down` stops it)", field="home")

    def prepare(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Create or migrate the databases of the parties that do not open their own, here, while the children
        start (their imports are CPU, migrations mostly wait for the disk): the children only open them."""
        from sekisho.storage import open_party_db

        for role in self.roles:
            if role.role in OPENS_OWN_DATABASE or should_stop():
                continue
            open_party_db(
                party_home(self.root, role, self.db_url_template), role.party, role.contexts, create=True
            ).dispose()

    def provision(self) -> None:
        """The organisation CA (the PKI's, set up here if it is not) and each party's certificate and terminal,
        before any party starts: every child serves over mutual TLS from its first request."""
        from sekisho.node.certificates import provision

        pki = Role("pki")
        provision(self.root, self.roles, party_home(self.root, pki, self.db_url_template))
        self._probe_context = probe_context(self.root)

    def start(self, *, should_stop: Callable[[], bool] = lambda: False) -> None:
        self.started_at = time.monotonic()
        if self._probe_context is None:
            self.provision()
        logs = run_dir(self.root) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        os.chmod(run_dir(self.root), 0o700)
        sockets = self._bind()
        # one pipe for all children: they read its end, only this process holds the write end (not inherited:
        # os.pipe's descriptors are non-inheritable), so its end of file is this process's death
        watch_r, self._watch_w = os.pipe()
        try:
            for role, sock in zip(self.roles, sockets, strict=True):
                if should_stop():
                    return
                child = Child(
                    role, sock.getsockname()[1], logs / f"{role.slug}.log", label=self.labels.get(role.party, "")
                )
                self.children.append(child)
                child.proc = self._spawn(child, sock, watch_r)
                sock.close()  # the child has its copy; ours would keep the port open after the child died
                self.write_run_file("starting")
        finally:
            os.close(watch_r)
            for sock in sockets:
                sock.close()

    def _bind(self) -> list[socket.socket]:
        sockets: list[socket.socket] = []
        try:
            for i, _role in enumerate(self.roles):
                port = self.base_port + i if self.base_port else 0
                try:
                    sockets.append(server.listen(HOST, port))
                except OSError as exc:
                    raise Unavailable("a port for a party is in use or not allowed", field="base_port") from exc
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        return sockets

    def _spawn(self, child: Child, sock: socket.socket, watch_r: int) -> subprocess.Popen[bytes]:
        home = party_home(self.root, child.role, self.db_url_template)
        env = dict(os.environ)
        env["SEKISHO_HOME"] = str(home.root)
        env.pop("SEKISHO_DB", None)
        if home.db_url:
            env["SEKISHO_DB"] = home.db_url
        env["PYTHONUNBUFFERED"] = "1"
        args = [sys.executable, "-m", "sekisho.node", child.role.role]
        if child.role.name:
            args += ["--name", child.role.name]
        args += ["--fd", str(sock.fileno()), "--parent", str(os.getpid()), "--watch-fd", str(watch_r)]
        with child.log.open("ab") as out:
            return subprocess.Popen(  # noqa: S603  (our own interpreter and arguments, no shell)
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=(sock.fileno(), watch_r),
                # its own process group: a Ctrl-C at the terminal reaches the supervisor only, which then stops
                # the children in order instead of every process racing its own shutdown
                process_group=0,
            )

    def wait_ready(self, *, timeout: float, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait until every party answers ``/health`` (200, or 503 saying what it lacks).  False if stopped."""
        deadline = time.monotonic() + timeout
        waiting = list(self.children)
        while waiting:
            if should_stop():
                return False
            for child in list(waiting):
                assert child.proc is not None
                if child.proc.poll() is not None:
                    raise Unavailable(
                        f"the party {child.role.party} exited at start-up (see {child.log})", field="party"
                    )
                answer = probe(HOST, child.port, timeout=1.0, context=self._probe_context)
                if answer is not None and answer[1].get("party") == child.role.party:
                    child.health = answer
                    waiting.remove(child)
            if waiting:
                if time.monotonic() > deadline:
                    names = ", ".join(c.role.party for c in waiting)
                    raise Unavailable(
                        f"parties did not answer in time: {names} (see {self.root / 'run' / 'logs'})", field="timeout"
                    )
                time.sleep(0.05)
        self.write_run_file("ready")
        return True

    # --- running ---

    def exited(self) -> list[Child]:
        """Children that have exited since the last call (each reported once)."""
        gone = []
        for child in self.children:
            if child.proc is not None and child.proc.returncode is None and child.proc.poll() is not None:
                gone.append(child)
        return gone

    # --- stop ---

    def stop(self, *, wait: float = STOP_WAIT, force: Callable[[], bool] = lambda: False) -> list[str]:
        """SIGTERM every child, wait for each (SIGKILL after ``wait`` seconds, or at once when ``force()``),
        then remove the run file.  Returns the parties that did not stop cleanly (killed, or a non-zero exit)."""
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + wait
        unclean = []
        for child in running:
            assert child.proc is not None
            while child.proc.poll() is None:
                if force() or time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.kill()
                    child.proc.wait()
                    break
                time.sleep(0.02)
            if child.proc.returncode != 0:
                unclean.append(child.role.party)
        if self._watch_w is not None:
            os.close(self._watch_w)
            self._watch_w = None
        with contextlib.suppress(FileNotFoundError):
            run_file(self.root).unlink()
        return unclean

    # --- run file ---

    def write_run_file(self, state: str) -> None:
        data = {
            "supervisor": os.getpid(),
            "state": state,
            "started_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "home": str(self.root),
            "parties": [c.record() for c in self.children],
        }
        path = run_file(self.root)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def read_run_file(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(run_file(root).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise InvalidInput("the run file is not JSON", field="run_file") from exc
    if not isinstance(data, dict) or not isinstance(data.get("supervisor"), int):
        raise InvalidInput("the run file does not name its supervisor", field="run_file")
    return data


def status(root: Path) -> dict[str, Any]:
    """The run file with each party's PID checked and health asked (for `sekisho status`)."""
    data = read_run_file(root)
    if data is None:
        raise Unavailable("no network is running under this home (`sekisho up` starts one)", field="home")
    data["running"] = pid_alive(data["supervisor"]) and is_sekisho(data["supervisor"])
    context = probe_context(root)
    for party in data.get("parties", []):
        pid = party.get("pid")
        party["alive"] = isinstance(pid, int) and pid_alive(pid) and is_sekisho(pid)
        answer = probe(HOST, int(party["port"]), timeout=2.0, context=context) if party["alive"] else None
        party["health"] = health_text(answer)
    return data


def down(root: Path, *, timeout: float = STOP_WAIT + 10) -> list[str]:
    """Stop the network under ``root``: SIGTERM its supervisor and wait until it and every child are gone.
    Returns the parties that had to be killed (a supervisor killed outright may leave none; this is the net)."""
    data = read_run_file(root)
    if data is None:
        raise Unavailable("no network is running under this home", field="home")
    sup = data["supervisor"]
    if pid_alive(sup) and is_sekisho(sup):
        os.kill(sup, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(sup) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(sup):
            raise Unavailable("the supervisor did not stop in time", field="supervisor")
    killed = []
    for party in data.get("parties", []):
        pid = party.get("pid")
        if isinstance(pid, int) and pid_alive(pid) and is_sekisho(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            killed.append(str(party["party"]))
    with contextlib.suppress(FileNotFoundError):
        run_file(root).unlink()
    return killed
