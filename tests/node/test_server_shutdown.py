"""A party stops promptly while its peers keep idle pooled connections to it (node/server.py).

Under TLS an idle keep-alive connection used to hold uvicorn's graceful shutdown for its whole grace period
(asyncio waits for the peer's close_notify, which an idle client pool never sends): every party of `sekisho up`
keeps such connections to its peers, so a network stopping together could outlast the supervisor's wait.
"""

from __future__ import annotations

import datetime
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVER = textwrap.dedent(
    """
    import ssl, sys
    from sekisho.node import server

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    sock = server.listen("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    server.serve(app, sock, context=ctx)
    """
)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_an_idle_pooled_tls_connection_does_not_hold_up_the_shutdown(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(cert), str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        # the socket listens before the app starts, so the request waits for it; the client keeps its
        # connection in the pool afterwards, as every peer does
        with httpx.Client(verify=False, timeout=60) as client:
            assert client.get(f"https://127.0.0.1:{port}/").text == "ok"
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    # the grace period ran out only if uvicorn had to cancel its wait for the connections
    assert "timeout graceful shutdown exceeded" not in err
