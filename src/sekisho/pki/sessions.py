"""The card login and its sessions: a challenge, a card's signed answer checked by a relying party, and a session
token that names only the authentication certificate's random subject identifier (never the person)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy.engine import Engine

from sekisho.errors import Refused
from sekisho.pki import login as proto
from sekisho.pki import store
from sekisho.pki.hierarchy import Pki, utcnow
from sekisho.pki.oids import Purpose
from sekisho.pki.verify import RelyingParty


def login_challenge(engine: Engine, *, audience: str, now: datetime | None = None) -> proto.Challenge:
    challenge = proto.Challenge.new(audience=audience, now=now or utcnow())
    with engine.begin() as conn:
        # expired, unused challenges are garbage: drop them as new ones come in
        conn.execute(
            store.challenge.delete().where(store.challenge.c.expires_at < (now or utcnow()) - timedelta(hours=1))
        )
        conn.execute(
            store.challenge.insert().values(
                nonce=challenge.nonce, audience=challenge.audience, expires_at=challenge.expires_at
            )
        )
    return challenge


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    subject_id: str
    expires_at: datetime


def login_finish(
    pki: Pki,
    *,
    response: proto.LoginResponse,
    audience: str,
    verifier: RelyingParty,
    now: datetime | None = None,
) -> Session:
    """Check a card's answer and open a session naming only the authentication certificate's random subject."""
    when = now or utcnow()
    with pki.engine.begin() as conn:
        row = conn.execute(sa.select(store.challenge).where(store.challenge.c.nonce == response.nonce)).one_or_none()
        if row is None:
            raise Refused("unknown challenge", field="nonce")
        # claim the challenge before anything else, so that it answers at most one login attempt
        claimed = conn.execute(
            store.challenge.update()
            .where(store.challenge.c.nonce == response.nonce, store.challenge.c.used_at.is_(None))
            .values(used_at=when)
        ).rowcount
    if claimed != 1:
        raise Refused("the challenge was already used", field="nonce")
    stored = proto.Challenge(nonce=row.nonce, audience=row.audience, expires_at=store.aware(row.expires_at))
    proto.check_challenge(stored, response, audience=audience, now=when)
    cert = proto.response_certificate(response)
    proto.check_signature(stored, response, cert)
    verifier.verify(cert, purpose=Purpose.AUTHENTICATION, at=when)
    subject = proto.subject_id(cert)
    expires = when + proto.SESSION_TTL
    claims = {"sub": subject, "aud": audience, "iat": int(when.timestamp()), "exp": int(expires.timestamp())}
    token = jwt.encode({"alg": "HS256"}, claims, pki.keyring.session_key())
    return Session(token=token, subject_id=subject, expires_at=expires)


def check_session(pki: Pki, token: str, *, audience: str, now: datetime | None = None) -> str:
    """The subject identifier of a valid session token; raises Refused otherwise."""
    try:
        decoded = jwt.decode(token, pki.keyring.session_key(), algorithms=["HS256"])
        jwt.JWTClaimsRegistry(
            now=int((now or utcnow()).timestamp()),
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError):
        raise Refused("the session token is not valid", field="token") from None
    return str(decoded.claims["sub"])
