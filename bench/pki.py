"""PKI throughput: certificate issuance and OCSP responses per second, beside raw ECDSA P-256 signing with the same
key type in the same run (the ratio is the figure that travels between machines; the goal is >= 0.5).

    python -m bench pki                    # or: python bench/pki.py [--seconds S]
    python -m bench pki --tiny             # a smoke run (tests/bench): every figure, a few operations each

In-process figures build and sign (no database); the service figures add the database round trips
(SQLite in a temporary directory, and PostgreSQL when SEKISHO_PG_URL is set).  Each figure is alternated with
its baselines round after round (``--rounds``, at least 3; medians), and each certificate is compared with
cryptography alone building the same certificate (the signature certificate with the signature certificate's
content); the machine's load is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from bench._fair import MIN_ROUNDS, alternate, load
from sekisho.config import Home
from sekisho.pki import hierarchy, issuance, profiles, revocation, status
from sekisho.pki.profiles import BasicItems, Endpoints

#: calls between two looks at the clock
_BATCH = {"size": 50}


def _rate(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm up
    n = 0
    batch = _BATCH["size"]
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        n += batch
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def _line(label: str, ours: float, raw_sign: float, raw_same: float | None = None) -> None:
    same = f"   vs raw same object {ours / raw_same:.2f}" if raw_same else ""
    print(f"{label:<52} {ours:>10,.0f}/s   vs raw sign {ours / raw_sign:.2f}{same}", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/pki.py")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="alternated rounds (median; at least 3)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: a few operations per figure")
    args = parser.parse_args(argv)
    secs = args.seconds / max(args.rounds, MIN_ROUNDS)
    rounds = args.rounds
    if args.tiny:
        secs, _BATCH["size"] = 0.0, 2

    now = datetime.now(UTC)
    endpoints = Endpoints("http://127.0.0.1:8470")
    ca_key = profiles.new_key()
    root = profiles.root_certificate(ca_id="pref-13", key=ca_key, now=now)
    citizen_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    items = BasicItems(
        name="髙橋 花子", birth_date=datetime(1980, 1, 2).date(), sex="female", address="東京都千代田区千代田1番1号"
    )
    message = os.urandom(300)  # about the size of a to-be-signed certificate or OCSP response

    print(load(), flush=True)

    def raw_sign() -> float:
        return _rate(lambda: ca_key.sign(message, ec.ECDSA(hashes.SHA256())), secs)

    def auth() -> object:
        return profiles.authentication_certificate(
            prefecture="13", subject_id=profiles.new_subject_id(), key=citizen_key,
            issuer=root, issuer_key=ca_key, endpoints=endpoints, now=now,
        )  # fmt: skip

    def sign() -> object:
        return profiles.signature_certificate(
            prefecture="13", subject_id=profiles.new_subject_id(), items=items, key=citizen_key,
            issuer=root, issuer_key=ca_key, endpoints=endpoints, now=now,
        )  # fmt: skip

    def bare(template: x509.Certificate) -> Callable[[], object]:
        # cryptography alone: the same certificate content, every extension object prepared in advance
        exts = [(e.value, e.critical) for e in template.extensions]

        def build() -> object:
            builder = (
                x509.CertificateBuilder()
                .subject_name(template.subject)
                .issuer_name(root.subject)
                .public_key(citizen_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now)
                .not_valid_after(now + timedelta(days=365))
            )
            for value, critical in exts:
                builder = builder.add_extension(value, critical=critical)
            return builder.sign(ca_key, hashes.SHA256())

        return build

    bare_auth, bare_sign = bare(auth()), bare(sign())  # type: ignore[arg-type]
    raw, raw_auth, ours_auth, raw_sig, ours_sig = alternate(
        rounds,
        raw_sign,
        lambda: _rate(bare_auth, secs),
        lambda: _rate(auth, secs),
        lambda: _rate(bare_sign, secs),
        lambda: _rate(sign, secs),
    )
    print(f"raw ECDSA P-256 / SHA-256 signing (cryptography)            {raw:>10,.0f}/s", flush=True)
    print(f"{'raw authentication certificate (cryptography alone)':<52} {raw_auth:>10,.0f}/s", flush=True)
    _line("issue authentication certificate (build + sign)", ours_auth, raw, raw_auth)
    print(f"{'raw signature certificate (cryptography alone)':<52} {raw_sig:>10,.0f}/s", flush=True)
    _line("issue signature certificate (build + sign)", ours_sig, raw, raw_sig)

    responder_key = profiles.new_key()
    responder = profiles.ocsp_signer_certificate(
        ca_id="pref-13", ca_key=ca_key, issuer_name=root.subject, key=responder_key.public_key(), now=now
    )
    leaf = auth()
    req_der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, root, hashes.SHA1())  # type: ignore[arg-type]
        .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
        .build()
        .public_bytes(Encoding.DER)
    )
    statuses = {leaf.serial_number: revocation.Status("good")}  # type: ignore[attr-defined]

    def respond() -> object:
        request = revocation.parse_request(req_der)
        resp = revocation.build_response(
            request=request,
            status=statuses.get(request.serial_number, revocation.Status("unknown")),
            responder_cert=responder,
            responder_key=responder_key,
            now=datetime.now(UTC),
        )
        return resp.public_bytes(Encoding.DER)

    request0 = ocsp.load_der_ocsp_request(req_der)
    nonce = request0.extensions.get_extension_for_class(x509.OCSPNonce).value

    def bare_ocsp() -> object:
        # cryptography alone: the same response (responder certificate, nonce) for an already-parsed request
        return (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=request0.issuer_name_hash, issuer_key_hash=request0.issuer_key_hash,
                serial_number=request0.serial_number, algorithm=request0.hash_algorithm,
                cert_status=ocsp.OCSPCertStatus.GOOD, this_update=now, next_update=None,
                revocation_time=None, revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
            .certificates([responder])
            .add_extension(nonce, critical=False)
            .sign(responder_key, hashes.SHA256())
            .public_bytes(Encoding.DER)
        )  # fmt: skip

    raw_ocsp, ours_ocsp = alternate(rounds, lambda: _rate(bare_ocsp, secs), lambda: _rate(respond, secs))
    print(f"{'raw OCSP response (cryptography alone, same content)':<52} {raw_ocsp:>10,.0f}/s", flush=True)
    _line("OCSP response (parse + status + build + sign)", ours_ocsp, raw, raw_ocsp)

    # the same through the service, with the database (one read per request, no cache)
    targets = [("SQLite", None)]
    if os.environ.get("SEKISHO_PG_URL"):
        targets.append(("PostgreSQL", os.environ["SEKISHO_PG_URL"]))
    os.environ.setdefault("SEKISHO_PASSPHRASE", "bench-only-passphrase")
    for label, url in targets:
        _service_figures(label, url, secs, rounds, raw_sign)
    print(load(), flush=True)


def _service_figures(label: str, url: str | None, secs: float, rounds: int, raw_sign: Callable[[], float]) -> None:
    from sekisho.pep.encoding import encode_pseudonym
    from sekisho.pep.group import Point
    from sekisho.pki.card import SoftwareCard
    from sekisho.pki.oids import Purpose

    with tempfile.TemporaryDirectory() as tmp:
        home = Home(root=Path(tmp), db_url=url, namespace=f"bench{uuid.uuid4().hex[:8]}_" if url else "")
        pki = hierarchy.init(home)
        card = SoftwareCard.create(Path(tmp) / "c.card", auth_pin="1234", sign_pin="5678")
        csr = card.csr(Purpose.AUTHENTICATION, pin="1234")

        def issue_db() -> issuance.Issued:
            # a new holder each time, named by the PKI's pseudonym as an enrolment gives it (no earlier card to
            # supersede); making the pseudonym is one hash to the group, small beside the signature
            owner = encode_pseudonym(hierarchy.DOMAIN, Point.from_hash(os.urandom(64)).to_bytes())
            return issuance.issue(
                pki, owner=owner, municipality="131016", authentication_csr=csr, signature_csr=None, items=None
            )

        raw, ours = alternate(rounds, raw_sign, lambda: _rate(issue_db, secs))
        _line(f"issuance.issue, authentication ({label}, 1 commit each)", ours, raw)
        cert = issue_db().authentication
        assert cert is not None
        req = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, hierarchy.root(pki.engine, "13"), hashes.SHA1())
            .build()
            .public_bytes(Encoding.DER)
        )
        raw, ours = alternate(rounds, raw_sign, lambda: _rate(lambda: status.ocsp_respond(pki, req), secs))
        _line(f"status.ocsp_respond ({label}, read per request)", ours, raw)
        pki.engine.dispose()
        if url:
            from sekisho.storage import create_engine_for

            engine = create_engine_for(url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{home.party_schema("pki")}" CASCADE')
            engine.dispose()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
