"""SD-JWT VC issuance, presentation and verification: interop with the reference ``sd-jwt`` library, the tamper
battery of issue 13 (each refused with its reason), unlinkability across a batch, minimal disclosure, status."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier
from tests.credentials.conftest import AUDIENCE, GIFU, NONCE, PASSPHRASE, Batch, now_ts

from sekisho.credentials.issuer import CLAIMS, Issuer
from sekisho.errors import InvalidInput
from sekisho.registry import store as reg_store
from sekisho.registry.service import RegisterService
from sekisho.vc import sdjwt
from sekisho.vc.sdjwt import VerificationFailed
from sekisho.verifier.verify import Requirement, Verifier


def present(batch: Batch, i: int, names: list[str], *, nonce: str = NONCE, audience: str = AUDIENCE) -> str:
    return sdjwt.present(
        batch.credentials[i], names, holder_key=batch.keys[i], nonce=nonce, audience=audience, iat=now_ts()
    )


def assemble(jwt: str, disclosures: list[str], key: ec.EllipticCurvePrivateKey, **kb: Any) -> str:
    """A presentation with a *valid* KB-JWT over exactly these parts, so that only the tampering is wrong."""
    parts = sdjwt.Parts(jwt=jwt, disclosures=tuple(disclosures), kb_jwt=None)
    args = {"nonce": NONCE, "audience": AUDIENCE, "iat": now_ts(), **kb}
    return parts.without_kb() + sdjwt.key_binding_jwt(parts, holder_key=key, **args)


def refused(verifier: Verifier, presentation: str, field: str, **kw: Any) -> None:
    with pytest.raises(VerificationFailed) as info:
        verifier.verify(presentation, nonce=kw.pop("nonce", NONCE), audience=kw.pop("audience", AUDIENCE), **kw)
    assert info.value.field == field, str(info.value)


def decode_part(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


# --- the round trip ---------------------------------------------------------------------------------------------


def test_presentation_discloses_only_the_chosen_claims_through_the_bridge(batch: Batch, verifier: Verifier) -> None:
    # the verifier trusts only 東京都's root: 岐阜県's issuer certificate chains through the bridge
    out = verifier.verify(
        present(batch, 0, ["prefecture", "age_over_20"]),
        nonce=NONCE,
        audience=AUDIENCE,
        require=[Requirement.parse("prefecture=岐阜県"), Requirement.parse("age_over_20")],
    )
    assert out.issuer == GIFU
    assert dict(out.claims) == {"prefecture": "岐阜県", "age_over_20": True}


def test_credential_holds_every_claim_selectively_disclosable(batch: Batch, verifier: Verifier) -> None:
    parts = sdjwt.split(batch.credentials[0])
    names = {sdjwt.decode_disclosure(d)[1] for d in parts.disclosures}
    assert names == set(CLAIMS)
    payload = decode_part(parts.jwt.split(".")[1])
    assert not set(CLAIMS) & set(payload)  # none of them in the clear
    header = decode_part(parts.jwt.split(".")[0])
    assert header["typ"] == "dc+sd-jwt" and header["alg"] == "ES256" and len(header["x5c"]) == 2
    out = verifier.verify(present(batch, 0, list(CLAIMS)), nonce=NONCE, audience=AUDIENCE)
    assert out.claims["family_name"] == "髙橋" and out.claims["birth_date"] == "1975-04-01"
    assert out.claims["age_over_18"] is True and out.claims["age_over_65"] is False
    assert out.claims["municipality"] == "岐阜市" and out.claims["resident_since"] == "1998-04-01"


def test_requirement_not_met_is_refused(batch: Batch, verifier: Verifier) -> None:
    refused(verifier, present(batch, 0, ["prefecture"]), "require", require=[Requirement.parse("prefecture=東京都")])
    refused(verifier, present(batch, 1, ["prefecture"]), "require", require=[Requirement.parse("age_over_20")])
    refused(verifier, present(batch, 2, ["age_over_65"]), "require", require=[Requirement.parse("age_over_65")])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.sets(st.sampled_from(CLAIMS)))
def test_round_trip_of_any_selection(batch: Batch, verifier: Verifier, chosen: set[str]) -> None:
    out = verifier.verify(present(batch, 0, sorted(chosen)), nonce=NONCE, audience=AUDIENCE)
    assert set(out.claims) == chosen


# --- interop with the reference implementation (PyPI sd-jwt) -------------------------------------------------------


def test_reference_verifier_accepts_our_presentation(batch: Batch, issuer: Issuer) -> None:
    issuer_jwk = JWK.from_pyca(issuer.key.public_key())
    ref = SDJWTVerifier(
        present(batch, 0, ["prefecture", "age_over_20"]),
        lambda iss, header: issuer_jwk,
        expected_aud=AUDIENCE,
        expected_nonce=NONCE,
    )
    payload = ref.get_verified_payload()
    assert payload["prefecture"] == "岐阜県" and payload["age_over_20"] is True
    assert "family_name" not in payload and "birth_date" not in payload


def test_reference_verifier_rejects_our_presentation_for_another_audience(batch: Batch, issuer: Issuer) -> None:
    issuer_jwk = JWK.from_pyca(issuer.key.public_key())
    with pytest.raises(ValueError, match="audience"):
        SDJWTVerifier(
            present(batch, 0, ["prefecture"]), lambda i, h: issuer_jwk, expected_aud="x", expected_nonce=NONCE
        )


def test_presentation_made_by_the_reference_holder_passes_our_verifier(batch: Batch, verifier: Verifier) -> None:
    holder = SDJWTHolder(batch.credentials[1])
    holder.create_presentation(
        {"prefecture": True, "age_over_20": True},
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=JWK.from_pyca(batch.keys[1]),
        sign_alg="ES256",
    )
    out = verifier.verify(holder.sd_jwt_presentation, nonce=NONCE, audience=AUDIENCE)
    assert dict(out.claims) == {"prefecture": "岐阜県", "age_over_20": True}


# --- the tamper battery -----------------------------------------------------------------------------------------


def test_changed_claim_breaks_the_issuer_signature(batch: Batch, verifier: Verifier) -> None:
    head, body, sig = sdjwt.split(batch.credentials[0]).jwt.split(".")
    payload = decode_part(body)
    payload["exp"] += 365 * 86400
    forged = ".".join([head, sdjwt.b64u(json.dumps(payload).encode()), sig])
    chosen = sdjwt.select(batch.credentials[0], ["prefecture"]).disclosures
    refused(verifier, assemble(forged, list(chosen), batch.keys[0]), "issuer_jwt")


def test_changed_disclosure_is_refused(batch: Batch, verifier: Verifier) -> None:
    parts = sdjwt.select(batch.credentials[0], ["prefecture"])
    salt, name, _ = sdjwt.decode_disclosure(parts.disclosures[0])
    changed = sdjwt.disclosure(name, "東京都", salt=salt)
    refused(verifier, assemble(parts.jwt, [changed], batch.keys[0]), "disclosure")


def test_extra_disclosure_from_another_credential_is_refused(batch: Batch, verifier: Verifier) -> None:
    mine = sdjwt.select(batch.credentials[0], ["prefecture"])
    other = sdjwt.select(batch.credentials[1], ["age_over_20"]).disclosures[0]
    refused(verifier, assemble(mine.jwt, [*mine.disclosures, other], batch.keys[0]), "disclosure")


def test_duplicate_disclosure_is_refused(batch: Batch, verifier: Verifier) -> None:
    mine = sdjwt.select(batch.credentials[0], ["prefecture"])
    refused(verifier, assemble(mine.jwt, [*mine.disclosures, *mine.disclosures], batch.keys[0]), "disclosure")


def test_duplicate_digest_is_refused(issuer: Issuer, verifier: Verifier) -> None:
    holder = ec.generate_private_key(ec.SECP256R1())
    d = sdjwt.disclosure("prefecture", "岐阜県")
    payload = _plain(issuer, holder) | {"_sd": [sdjwt.digest(d), sdjwt.digest(d)], "_sd_alg": "sha-256"}
    jwt = sdjwt.sign({"alg": "ES256", "typ": "dc+sd-jwt", "x5c": _x5c(issuer.chain)}, payload, issuer.key)
    refused(verifier, assemble(jwt, [d], holder), "_sd")


def test_nested_disclosure_is_refused(issuer: Issuer, verifier: Verifier) -> None:
    holder = ec.generate_private_key(ec.SECP256R1())
    inner = sdjwt.disclosure("prefecture", "岐阜県")
    outer = sdjwt.disclosure("place", {"_sd": [sdjwt.digest(inner)]})
    payload = _plain(issuer, holder) | {"_sd": [sdjwt.digest(outer)], "_sd_alg": "sha-256"}
    jwt = sdjwt.sign({"alg": "ES256", "typ": "dc+sd-jwt", "x5c": _x5c(issuer.chain)}, payload, issuer.key)
    refused(verifier, assemble(jwt, [outer], holder), "disclosure")


def test_missing_key_binding_is_refused(batch: Batch, verifier: Verifier) -> None:
    refused(verifier, sdjwt.select(batch.credentials[0], ["prefecture"]).without_kb(), "kb_jwt")


def test_key_binding_by_another_key_is_refused(batch: Batch, verifier: Verifier) -> None:
    mine = sdjwt.select(batch.credentials[0], ["prefecture"])
    refused(verifier, assemble(mine.jwt, list(mine.disclosures), batch.keys[1]), "kb_jwt")


def test_wrong_nonce_is_refused(batch: Batch, verifier: Verifier) -> None:
    refused(verifier, present(batch, 0, ["prefecture"], nonce="another"), "nonce")


def test_wrong_audience_is_refused(batch: Batch, verifier: Verifier) -> None:
    refused(verifier, present(batch, 0, ["prefecture"], audience="https://other.example"), "aud")


def test_wrong_sd_hash_is_refused(batch: Batch, verifier: Verifier) -> None:
    # a KB-JWT made for one selection, attached to another (a disclosure dropped after signing)
    full = present(batch, 0, ["prefecture", "age_over_20"])
    parts = sdjwt.split(full)
    dropped = sdjwt.Parts(jwt=parts.jwt, disclosures=parts.disclosures[:1], kb_jwt=parts.kb_jwt)
    refused(verifier, dropped.without_kb() + (parts.kb_jwt or ""), "sd_hash")


def test_expired_credential_is_refused(
    issuer: Issuer, register: RegisterService, handle: str, verifier: Verifier
) -> None:
    issuer.clock = lambda: datetime.now(UTC) - timedelta(days=120)
    key = ec.generate_private_key(ec.SECP256R1())
    (cred,) = issuer.issue_batch(handle=handle, source=register, holder_keys=[key.public_key()]).credentials
    issuer.clock = lambda: datetime.now(UTC)
    p = sdjwt.present(cred, ["prefecture"], holder_key=key, nonce=NONCE, audience=AUDIENCE, iat=now_ts())
    refused(verifier, p, "exp")


def test_revoked_credential_is_refused(batch: Batch, issuer: Issuer, handle: str, verifier: Verifier) -> None:
    verifier.verify(present(batch, 0, ["prefecture"]), nonce=NONCE, audience=AUDIENCE)
    assert issuer.revoke_holder(handle) == 3
    refused(verifier, present(batch, 1, ["prefecture"]), "status")


def test_issuer_not_chained_to_a_prefectural_root_is_refused(issuer: Issuer, verifier: Verifier) -> None:
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "212016")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rogue_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(rogue_key, hashes.SHA256())
    )
    holder = ec.generate_private_key(ec.SECP256R1())
    cred = sdjwt.issue(claims={"prefecture": "岐阜県"}, plain=_plain(issuer, holder), key=rogue_key, x5c=[cert])
    p = sdjwt.present(cred, ["prefecture"], holder_key=holder, nonce=NONCE, audience=AUDIENCE, iat=now_ts())
    refused(verifier, p, "x5c")


def test_alg_none_is_refused(batch: Batch, verifier: Verifier) -> None:
    head, body, _ = sdjwt.split(batch.credentials[0]).jwt.split(".")
    header = decode_part(head) | {"alg": "none"}
    unsigned = ".".join([sdjwt.b64u(json.dumps(header).encode()), body, ""])
    chosen = sdjwt.select(batch.credentials[0], ["prefecture"]).disclosures
    refused(verifier, assemble(unsigned, list(chosen), batch.keys[0]), "alg")


def test_kb_jwt_with_alg_none_is_refused(batch: Batch, verifier: Verifier) -> None:
    mine = sdjwt.select(batch.credentials[0], ["prefecture"])
    kb = {"nonce": NONCE, "aud": AUDIENCE, "iat": now_ts(), "sd_hash": sdjwt.sd_hash(mine)}
    none = sdjwt.b64u(b'{"alg":"none","typ":"kb+jwt"}') + "." + sdjwt.b64u(json.dumps(kb).encode()) + "."
    refused(verifier, mine.without_kb() + none, "kb_jwt")


def test_garbage_fails_closed(verifier: Verifier) -> None:
    for text in ("", "abc", "a~b~", "~~~", "eyJ.eyJ.x~"):
        with pytest.raises(VerificationFailed):
            verifier.verify(text, nonce=NONCE, audience=AUDIENCE)


def _plain(issuer: Issuer, holder: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    return {
        "iss": issuer.iss,
        "vct": "urn:sekisho:vct:resident:1",
        "exp": now_ts() + 3600,
        "cnf": {"jwk": sdjwt.public_jwk(holder.public_key())},
        "status": {"status_list": {"idx": 0, "uri": issuer.status_uri}},
    }


def _x5c(chain: list[x509.Certificate]) -> list[str]:
    return [sdjwt.b64std(c) for c in chain]


# --- unlinkability and minimal disclosure ------------------------------------------------------------------------


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield json.dumps(value, ensure_ascii=False)


def _everything(presentation: str) -> set[str]:
    """Every value in a presentation: each JWT's header and payload leaf and signature, each disclosure's salt,
    name and value, and each digest."""
    parts = sdjwt.split(presentation)
    out: set[str] = set()
    for jwt in (parts.jwt, parts.kb_jwt or ""):
        head, body, sig = jwt.split(".")
        out |= set(_leaves(decode_part(head))) | set(_leaves(decode_part(body))) | {sig}
    for d in parts.disclosures:
        out |= set(_leaves(sdjwt.decode_disclosure(d))) | {d, sdjwt.digest(d)}
    return out


#: what every credential of this issuer shares by design: the issuer's identity and certificate chain, the format,
#: the curve, the status list's URI, and the claim both verifiers were shown
SHARED_BY_DESIGN = {
    '"ES256"',
    '"dc+sd-jwt"',
    '"kb+jwt"',
    '"sha-256"',
    '"EC"',
    '"P-256"',
    '"urn:sekisho:vct:resident:1"',
    '"prefecture"',
    '"岐阜県"',
}


def test_two_presentations_of_a_batch_share_no_value(batch: Batch, issuer: Issuer) -> None:
    a = sdjwt.present(
        batch.credentials[0],
        ["prefecture"],
        holder_key=batch.keys[0],
        nonce="n-a",
        audience="https://a.example",
        iat=now_ts(),
    )
    b = sdjwt.present(
        batch.credentials[1],
        ["prefecture"],
        holder_key=batch.keys[1],
        nonce="n-b",
        audience="https://b.example",
        iat=now_ts() + 1,
    )
    shared = _everything(a) & _everything(b)
    by_design = SHARED_BY_DESIGN | {json.dumps(issuer.iss), json.dumps(issuer.status_uri)} | set(_x5c(issuer.chain))
    by_design |= {json.dumps(c) for c in _x5c(issuer.chain)}
    assert shared <= by_design, shared - by_design
    # and the parts that would link them are really there and different
    pa, pb = sdjwt.split(a), sdjwt.split(b)
    assert pa.jwt.split(".")[2] != pb.jwt.split(".")[2]
    assert decode_part(pa.jwt.split(".")[1])["cnf"] != decode_part(pb.jwt.split(".")[1])["cnf"]
    assert not set(decode_part(pa.jwt.split(".")[1])["_sd"]) & set(decode_part(pb.jwt.split(".")[1])["_sd"])


def test_only_disclosed_claims_are_recoverable(batch: Batch) -> None:
    p = present(batch, 0, ["age_over_20"])
    values = _everything(p)
    text = "\n".join(values)
    for secret in ("髙橋", "健一", "たかはし", "けんいち", "1975", "青柳町", "岐阜県", "1998-04-01"):
        assert secret not in text
    names = {sdjwt.decode_disclosure(d)[1] for d in sdjwt.split(p).disclosures}
    assert names == {"age_over_20"}


def test_a_second_issuer_key_is_refused(issuer: Issuer) -> None:
    from sekisho.errors import Conflict

    with pytest.raises(Conflict):
        Issuer.create(
            issuer.directory.parent,
            municipality=GIFU,
            certify=lambda key: issuer.chain,
            passphrase=b"x",
            base_url="https://x.example",
            state=issuer.state,
        )
    assert Issuer.open(issuer.directory.parent, passphrase=PASSPHRASE, state=issuer.state).chain == issuer.chain


def test_batch_credentials_need_distinct_holder_keys(issuer: Issuer, register: RegisterService, handle: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(InvalidInput):
        issuer.issue_batch(handle=handle, source=register, holder_keys=[key, key])


def test_default_batch_of_twenty_has_distinct_status_indices(
    issuer: Issuer, register: RegisterService, handle: str
) -> None:
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(20)]
    creds = issuer.issue_batch(handle=handle, source=register, holder_keys=keys).credentials
    payloads = [decode_part(sdjwt.split(c).jwt.split(".")[1]) for c in creds]
    assert len({p["status"]["status_list"]["idx"] for p in payloads}) == 20
    assert len({p["exp"] for p in payloads}) == 20
    assert len({sdjwt.split(c).jwt.split(".")[2] for c in creds}) == 20


# --- the register side: access record and events -----------------------------------------------------------------


def test_issuance_writes_an_access_record_first(issuer: Issuer, register: RegisterService, handle: str) -> None:
    def count() -> int:
        with register.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(reg_store.access)
                    .where(reg_store.access.c.action == "credential-issuance")
                ).scalar_one()
            )

    before = count()
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    issuer.issue_batch(handle=handle, source=register, holder_keys=[key])
    assert count() == before + 1


def test_register_events_flip_status(issuer: Issuer, register: RegisterService, verifier: Verifier) -> None:
    """A death at the register sets the bits of that person's credentials, read through the register's event
    query (``sekisho.registry.events``) when the next status list is signed; a filed move-out does not (the
    person still lives here), nor does anybody else's event."""
    from tests.credentials.conftest import RESIDENT

    def person(household: str, given: str) -> tuple[str, Batch]:
        h = register.add({**RESIDENT, "household": household, "given_name": given}).handle
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
        creds = issuer.issue_batch(handle=h, source=register, holder_keys=[k.public_key() for k in keys])
        return h, Batch(credentials=creds.credentials, keys=keys)

    dying, dying_batch = person("ev1", "一郎")
    other, other_batch = person("ev2", "二郎")
    verifier.verify(present(dying_batch, 0, ["prefecture"]), nonce=NONCE, audience=AUDIENCE)
    register.death(dying, died_on="2026-11-19")
    refused(verifier, present(dying_batch, 1, ["prefecture"]), "status")
    verifier.verify(present(other_batch, 0, ["prefecture"]), nonce=NONCE, audience=AUDIENCE)
    assert issuer.catch_up() == 0  # read once: the cursor moved past the death
    assert other != dying


def test_a_new_batch_after_a_move_within_stays_valid(
    issuer: Issuer, register: RegisterService, verifier: Verifier
) -> None:
    """The move revokes the batch issued before it; the batch the resident takes after it (new address) stays
    valid, also when the event is read again (a second node catching up from an older position)."""
    from tests.credentials.conftest import RESIDENT

    from sekisho.credentials import store as vc_store

    h = register.add({**RESIDENT, "household": "mv1", "given_name": "三郎"}).handle

    def take() -> Batch:
        keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
        creds = issuer.issue_batch(handle=h, source=register, holder_keys=[k.public_key() for k in keys])
        return Batch(credentials=creds.credentials, keys=keys)

    old = take()
    register.move_within(h, town="藍川町", block="18番地", moved_on="2026-11-15")
    # the register records to the second, and a batch within the event's second is revoked with it (the safe
    # side): the resident's new batch comes a little later
    issuer.clock = lambda: datetime.now(UTC) + timedelta(seconds=2)
    new = take()  # issuance reads the register's events first
    refused(verifier, present(old, 0, ["address"]), "status")
    assert (
        verifier.verify(present(new, 0, ["address"]), nonce=NONCE, audience=AUDIENCE).claims["address"].find("藍川町")
        >= 0
    )
    with issuer.state.engine.begin() as conn:  # another node that had read less: the cursor goes back
        conn.execute(vc_store.cursor.update().values(position=0))
    issuer.catch_up()
    verifier.verify(present(new, 1, ["address"]), nonce=NONCE, audience=AUDIENCE)


def test_a_handle_revokes_however_it_is_typed(issuer: Issuer, register: RegisterService, handle: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    issuer.issue_batch(handle=handle, source=register, holder_keys=[key])
    assert issuer.revoke_holder(handle.replace("-", "").lower()) == 1


# --- the status list, read as the draft says with nothing of ours ------------------------------------------------


def test_status_list_decodes_with_plain_zlib_and_base64url(batch: Batch, issuer: Issuer, handle: str) -> None:
    idx = decode_part(sdjwt.split(batch.credentials[0]).jwt.split(".")[1])["status"]["status_list"]["idx"]
    issuer.revoke_holder(handle)
    token = issuer.status_list_token()
    head, body, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert header["typ"] == "statuslist+jwt"
    assert payload["sub"] == issuer.status_uri and payload["status_list"]["bits"] == 1
    lst = payload["status_list"]["lst"]
    raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert len(raw) * 8 == issuer.status_size
    assert (raw[idx // 8] >> (idx % 8)) & 1 == 1
    assert sum(bin(byte).count("1") for byte in raw) == 3  # the batch's three, nothing else


def test_status_indices_are_spread_over_the_list(issuer: Issuer, register: RegisterService, handle: str) -> None:
    keys = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(20)]
    creds = issuer.issue_batch(handle=handle, source=register, holder_keys=keys).credentials
    idx = sorted(decode_part(sdjwt.split(c).jwt.split(".")[1])["status"]["status_list"]["idx"] for c in creds)
    # sequential allocation would give a run; 20 random draws from 4096 span most of it
    assert idx[-1] - idx[0] > 1000 and idx != list(range(idx[0], idx[0] + 20))
