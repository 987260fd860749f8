"""Revocation without an OCSP signature per request: the responder's pre-produced responses (RFC 5019, requests
without a nonce) and the relying side's cache of a good status, bounded by ``max_age`` — a revocation is seen
within that bound, never later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from sekisho.pki import hierarchy, status
from sekisho.pki.verify import CachedOcspChecker, CertificateRevoked, OcspChecker

from .conftest import NewCitizen


def _ask(pki: hierarchy.Pki, cert: x509.Certificate, issuer: x509.Certificate, *, now: datetime) -> bytes:
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    return status.ocsp_respond(pki, request.public_bytes(Encoding.DER), now=now)


def _revoke(pki: hierarchy.Pki, cert: x509.Certificate) -> None:
    status.revoke(pki.engine, serial=format(cert.serial_number, "x"), reason=x509.ReasonFlags.key_compromise)


def test_a_request_without_nonce_gets_the_pre_produced_response_until_the_status_changes(
    pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    citizen = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    t0 = datetime.now(UTC)
    first = _ask(pki, citizen.auth, issuer, now=t0)
    # the same signed bytes a minute later: no new signature
    assert _ask(pki, citizen.auth, issuer, now=t0 + timedelta(minutes=1)) == first
    assert ocsp.load_der_ocsp_response(first).certificate_status is ocsp.OCSPCertStatus.GOOD
    # signed again once it is half its lifetime old, so that its nextUpdate is never close
    later = _ask(pki, citizen.auth, issuer, now=t0 + status.PRESIGNED_REUSE)
    assert later != first
    assert ocsp.load_der_ocsp_response(later).this_update_utc > ocsp.load_der_ocsp_response(first).this_update_utc
    # a revocation is answered at once, with a newly signed response
    _revoke(pki, citizen.auth)
    revoked = ocsp.load_der_ocsp_response(_ask(pki, citizen.auth, issuer, now=t0 + status.PRESIGNED_REUSE))
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_a_cached_good_status_gives_way_to_a_revocation_within_the_bound(
    pki: hierarchy.Pki, new_citizen: NewCitizen
) -> None:
    citizen = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    asked: list[bytes] = []

    def transport(request: bytes) -> bytes:
        asked.append(request)
        return status.ocsp_respond(pki, request)

    bound = timedelta(seconds=30)
    checker = CachedOcspChecker(OcspChecker(transport, nonce=False), max_age=bound)
    t0 = datetime.now(UTC)
    checker.check(citizen.auth, issuer, at=t0, depth=0)
    checker.check(citizen.auth, issuer, at=t0 + timedelta(seconds=1), depth=0)
    assert len(asked) == 1  # the second check was answered from the cache
    _revoke(pki, citizen.auth)
    # within the bound the kept status may still be used ...
    checker.check(citizen.auth, issuer, at=t0 + bound - timedelta(seconds=1), depth=0)
    # ... and at the bound it is not: the PKI is asked again and the revocation refuses the certificate
    with pytest.raises(CertificateRevoked):
        checker.check(citizen.auth, issuer, at=t0 + bound, depth=0)
    assert len(asked) == 2
    # a revocation is final: kept, and refused without asking again
    with pytest.raises(CertificateRevoked):
        checker.check(citizen.auth, issuer, at=t0 + bound + timedelta(seconds=1), depth=0)
    assert len(asked) == 2


def test_a_zero_bound_asks_every_time_and_a_failure_is_never_kept(pki: hierarchy.Pki, new_citizen: NewCitizen) -> None:
    citizen = new_citizen("131016")
    issuer = hierarchy.root(pki.engine, "13")
    asked: list[bytes] = []
    down = [False]

    def transport(request: bytes) -> bytes:
        asked.append(request)
        if down[0]:
            raise ConnectionError("the PKI does not answer")
        return status.ocsp_respond(pki, request)

    now = datetime.now(UTC)
    never = CachedOcspChecker(OcspChecker(transport, nonce=False), max_age=timedelta(0))
    never.check(citizen.auth, issuer, at=now, depth=0)
    never.check(citizen.auth, issuer, at=now, depth=0)
    assert len(asked) == 2
    kept = CachedOcspChecker(OcspChecker(transport, nonce=False), max_age=timedelta(seconds=30))
    down[0] = True
    with pytest.raises(ConnectionError):
        kept.check(citizen.auth, issuer, at=now, depth=0)
    down[0] = False
    kept.check(citizen.auth, issuer, at=now, depth=0)  # asked again: the failure left nothing behind
    assert len(asked) == 4
