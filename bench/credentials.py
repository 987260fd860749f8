"""Credentials throughput: SD-JWT VC issuance (a batch of 20), presentation and verification per second, each
beside the raw ECDSA P-256 operations it consists of, with the same key type through ``cryptography`` directly,
alternated in the same run; the figure is the median ratio over >= 3 rounds (goal: SD-JWT >= 0.5 x raw).

    python -m bench credentials            # or: python bench/credentials.py [--seconds S] [--rounds N]
    python -m bench credentials --tiny     # a smoke run (tests/bench): every figure, a few operations each

What each row measures (in-process, no database):
- issuance: ``Issuer.issue_batch`` of 20 (claims, 20 x (disclosures, digests, one ES256 signature), and the
  batch's status entries written durably to SQLite) from the register's answer without its database, vs 20 raw
  signatures; and the SD-JWT part alone (``sdjwt.issue`` x 20, no status write), to show where the time goes;
- presentation: the wallet's selection (its index of disclosures, made when it received the credential) and the
  KB-JWT (one signature), vs 1 raw signature;
- verification: ``Verifier.verify`` (issuer signature, disclosures, KB-JWT, the status bit) with the x5c path
  validation left out (the chain validator's own benchmark is bench/pki.py) and the status list token verified
  once and kept until its ``exp``, as the status list draft has verifiers do (§13.7), vs 2 raw verifications.

AnonCreds proofs and card logins: bench/credentials_anon.py.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sekisho.config import Home
from sekisho.credentials.issuer import VCT, Issuer, claims_of
from sekisho.credentials.store import CONTEXT, SqlState
from sekisho.jp.wareki import PartialDate
from sekisho.pki import profiles
from sekisho.pki.profiles import Endpoints
from sekisho.storage import open_party_db
from sekisho.vc import sdjwt
from sekisho.verifier.verify import Verifier

GIFU = "212016"
NONCE = "bench-nonce"
AUD = "https://rp.example"
DATA = b"x" * 700  # about the size of an issuer JWT's signing input


class _Source:
    """The register's answer, without the database (the access record's cost is the register's benchmark)."""

    def credential_items(self, handle: str) -> dict[str, Any]:
        return {
            "family_name": "髙橋",
            "given_name": "健一",
            "family_name_kana": "たかはし",
            "given_name_kana": "けんいち",
            "birth_date": PartialDate(1975, 4, 1),
            "address": "岐阜県岐阜市青柳町3丁目5番12号",
            "municipality_code": GIFU,
            "resident_since": date(1998, 4, 1),
        }


class _Chain:
    def validate(self, chain: Sequence[x509.Certificate], *, at: datetime) -> str:
        return GIFU


def _rate(fn: Callable[[], object], seconds: float, minimum: int) -> float:
    fn()  # warm up
    n = 0
    start = time.perf_counter()
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if n >= minimum and now - start >= seconds:
            return n / (now - start)


def _rounds(label: str, ours: Callable[[], object], raw: Callable[[], object], *, args: argparse.Namespace) -> None:
    """Ours and raw alternated, round by round; the median of the per-round ratios."""
    ratios, rates = [], []
    for _ in range(args.rounds):
        a = _rate(ours, args.seconds, args.minimum)
        b = _rate(raw, args.seconds, args.minimum)
        ratios.append(a / b)
        rates.append(a)
    print(
        f"{label:<58} {statistics.median(rates):>9,.1f}/s   vs raw {statistics.median(ratios):.2f}"
        f"   (median of {args.rounds} rounds)",
        flush=True,
    )


def _issuer(directory: Path) -> Issuer:
    ca_key = profiles.new_key()
    now = datetime.now(UTC)
    root = profiles.root_certificate(ca_id=profiles.prefecture_ca_id("21"), key=ca_key, now=now)
    return Issuer.create(
        directory,
        municipality=GIFU,
        certify=lambda key: [
            profiles.credential_issuer_certificate(
                prefecture="21",
                municipality=GIFU,
                key=key,
                issuer=root,
                issuer_key=ca_key,
                endpoints=Endpoints(base_url="http://127.0.0.1:8470"),
                now=now,
            )
        ],
        passphrase=b"bench",
        base_url="https://gifu.example",
        # the status entries in a SQLite database of their own, as a municipality without PostgreSQL keeps them
        state=SqlState(open_party_db(Home(root=directory), f"municipality/{GIFU}", [CONTEXT], create=True)),
    )


def sd_jwt_rows(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        issuer = _issuer(Path(tmp))
        holders = [ec.generate_private_key(ec.SECP256R1()) for _ in range(20)]
        publics = [k.public_key() for k in holders]
        source = _Source()
        raw_key = ec.generate_private_key(ec.SECP256R1())
        sig = raw_key.sign(DATA, ec.ECDSA(hashes.SHA256()))
        raw_pub = raw_key.public_key()

        def raw_sign(n: int) -> Callable[[], object]:
            return lambda: [raw_key.sign(DATA, ec.ECDSA(hashes.SHA256())) for _ in range(n)]

        def raw_verify(n: int) -> Callable[[], object]:
            return lambda: [raw_pub.verify(sig, DATA, ec.ECDSA(hashes.SHA256())) for _ in range(n)]

        _rounds(
            "SD-JWT VC issuance, batch of 20 + status write (batches)",
            lambda: issuer.issue_batch(handle="H", source=source, holder_keys=publics),
            raw_sign(20),
            args=args,
        )
        claims = claims_of(source.credential_items("H"), today=date(2026, 12, 5))
        jwks = [sdjwt.public_jwk(k) for k in publics]
        signer = sdjwt.issuer_signer(issuer.key, issuer.chain)

        plains = [{"iss": issuer.iss, "vct": VCT, "exp": 2_000_000_000, "cnf": {"jwk": j}, "status": {}} for j in jwks]

        def build() -> object:
            return sdjwt.issue_many(claims=claims, plains=plains, key=signer)

        _rounds("  of which the 20 SD-JWTs alone (no status write)", build, raw_sign(20), args=args)
        creds = issuer.issue_batch(handle="H", source=source, holder_keys=publics).credentials
        index = sdjwt.index(creds[0])  # the wallet's, made once when it receives the credential
        iat = int(datetime.now(UTC).timestamp())
        _rounds(
            "SD-JWT VC presentation, 2 claims + KB-JWT",
            lambda: sdjwt.present(
                creds[0],
                ["prefecture", "age_over_20"],
                holder_key=holders[0],
                nonce=NONCE,
                audience=AUD,
                iat=iat,
                disclosures=index,
            ),
            raw_sign(1),
            args=args,
        )
        token = issuer.status_list_token()
        verifier = Verifier(chain=_Chain(), status=lambda uri: token)
        presentation = sdjwt.present(
            creds[0], ["prefecture", "age_over_20"], holder_key=holders[0], nonce=NONCE, audience=AUD, iat=iat
        )
        _rounds(
            "SD-JWT VC verification (2 signatures, status list kept)",
            lambda: verifier.verify(presentation, nonce=NONCE, audience=AUD),
            raw_verify(2),
            args=args,
        )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/credentials.py")
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds (>= 3)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: a few operations per figure")
    args = parser.parse_args(argv)
    args.rounds = max(3, args.rounds)
    args.minimum = 2 if args.tiny else 5
    if args.tiny:
        args.seconds = 0.0
    sd_jwt_rows(args)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
