"""`sekisho pki …`: the prefectural CAs, the bridge, the card, OCSP and the card login."""

from __future__ import annotations

import getpass
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, home_of, print_json, write_out
from sekisho.config import Home
from sekisho.errors import InvalidInput, Unavailable
from sekisho.pki import hierarchy, sessions, status
from sekisho.pki import login as proto
from sekisho.pki.card import SoftwareCard
from sekisho.pki.oids import Purpose
from sekisho.pki.prefectures import parse_prefecture
from sekisho.pki.profiles import BRIDGE, ORGANISATION, prefecture_ca_id
from sekisho.pki.revocation import parse_reason
from sekisho.pki.verify import OcspChecker, RelyingParty

pki_app = typer.Typer(
    help="Citizen PKI: prefectural CAs, bridge, CRL/OCSP, the card and its login.", no_args_is_help=True
)

# the card's two slots have two secrets, as the マイナンバーカード has: the authentication PIN (利用者証明用, 4 digits)
# and the signing password (署名用, 6..16 uppercase letters and digits, at least one of each)
CARD_PIN_ENV = "SEKISHO_CARD_PIN"
SIGNING_PIN_ENV = "SEKISHO_SIGNING_PIN"
DEFAULT_AUDIENCE = "sekisho-portal"
DEFAULT_PORT = 8470

if TYPE_CHECKING:
    from sekisho.node.local import LocalNetwork

PREFECTURE_FORMS = "number 1..47, code 01..47 or name (北海道)"
TrustOpt = Annotated[
    str, typer.Option("--trust", help=f"Prefecture whose root is the only trust anchor: {PREFECTURE_FORMS}.")
]
AudienceOpt = Annotated[str, typer.Option("--audience", help="Name login challenges are bound to.")]


def register(app: typer.Typer) -> None:
    app.add_typer(pki_app, name="pki")


def _secret(env: str, prompt: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if sys.stdin.isatty():
        return getpass.getpass(f"{prompt}: ")
    raise InvalidInput(f"set {env} or run on a terminal to be prompted", field=env)


def _auth_pin() -> str:
    """The authentication slot's PIN (login, a new card)."""
    return _secret(CARD_PIN_ENV, "authentication PIN (4 digits)")


def _signing_pin() -> str:
    """The signature slot's password (a new card, a new signature certificate)."""
    return _secret(SIGNING_PIN_ENV, "signing password (6-16 uppercase letters and digits)")


def _new_card_pins() -> tuple[str, str]:
    """A new card's two secrets, held to the real card's rules: whoever chooses them learns it here, at the counter,
    and a 4-digit PIN can never also be the signing password."""
    auth, sign = _auth_pin(), _signing_pin()
    if not re.fullmatch(r"[0-9]{4}", auth):
        raise InvalidInput("the authentication PIN is 4 digits", field=CARD_PIN_ENV)
    if not re.fullmatch(r"(?=.*[A-Z])(?=.*[0-9])[A-Z0-9]{6,16}", sign):
        raise InvalidInput(
            "the signing password is 6 to 16 uppercase letters and digits, with at least one of each",
            field=SIGNING_PIN_ENV,
        )
    return auth, sign


def _prefecture(text: str, field: str) -> str:
    return parse_prefecture(text, field=field).code


def _ca_id(name: str) -> str:
    if name in (BRIDGE, ORGANISATION):
        return name
    try:
        return prefecture_ca_id(_prefecture(name.removeprefix("pref-"), "ca"))
    except InvalidInput:
        raise InvalidInput(f"a CA is a prefecture ({PREFECTURE_FORMS}), bridge or org", field="ca") from None


def _network(home: Home) -> LocalNetwork:
    from sekisho.node.local import LocalNetwork
    from sekisho.pki.keys import passphrase

    return LocalNetwork(home, passphrase=passphrase())


@pki_app.command("init")
def init_cmd(
    home: HomeOpt = None,
    db: DbOpt = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Where CRL and OCSP are served (put into certificates).")
    ] = None,
) -> None:
    """Create the 47 prefectural roots, the bridge and its cross-certificates, the organisation CA; once the
    network exists (`sekisho network init`), give the PKI its own pseudonym domain.  Run again after the network
    is set up: what exists is kept."""
    from sekisho.node.pki_agency import join
    from sekisho.pep.keys import network_path
    from sekisho.pki.keys import passphrase

    h = home_of(home, db)
    pki = hierarchy.init(h, base_url=base_url)
    console.print(f"PKI ready: {len(hierarchy.roots(pki.engine)) - 1} prefectural roots, bridge, organisation CA")
    if not network_path(h.root).exists():
        console.print("no network yet: run `sekisho network init`, then `sekisho pki init` again to join it")
        return
    net = _network(h)
    try:
        joined = join(net, passphrase=passphrase())
    finally:
        net.close()
    console.print(f"pseudonym domain {hierarchy.DOMAIN}: {'set up' if joined else 'already set up'}")


@pki_app.command("issue")
def issue_cmd(
    municipality: Annotated[str, typer.Option("--municipality", help="6-digit local government code.")],
    handle: Annotated[str, typer.Option("--handle", help="The resident's handle in that register.")],
    card_out: Annotated[
        Path | None, typer.Option("--card-out", help="A new card: the software card file to create.")
    ] = None,
    card: Annotated[
        Path | None,
        typer.Option("--card", help="The resident's card: a new signature certificate, the same authentication one."),
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue at the counter: the municipality enrols the resident with the PKI (policy, access record, the PKI's
    own pseudonym), and the resident's prefectural CA certifies the card's keys with the register's items."""
    from sekisho.pki.counter import issue_at_counter

    if card is not None and card_out is not None:
        raise InvalidInput("give --card (re-issue) or --card-out (a new card), not both", field="card")
    # the secrets first: a refused PIN must not have touched any party
    auth_pin, sign_pin = ("", _signing_pin()) if card is not None else _new_card_pins()
    from sekisho.node.commands import counter_network
    from sekisho.pki.keys import passphrase

    # over HTTP as the municipality's node when a network runs under the home, else in-process
    with counter_network(home_of(home, db), passphrase=passphrase()) as net:
        if card is not None:
            issued, _ = issue_at_counter(
                net,
                municipality=municipality,
                handle=handle,
                auth_pin=auth_pin,  # the card keeps its authentication key: no PIN needed
                sign_pin=sign_pin,  # the holder's own, set when the card was made
                card=SoftwareCard.open(card),
            )
        else:
            issued, _ = issue_at_counter(
                net,
                municipality=municipality,
                handle=handle,
                auth_pin=auth_pin,
                sign_pin=sign_pin,
                card_out=card_out or Path("resident.card"),
            )
    out = {
        "card": str(card or card_out or "resident.card"),
        "subject_id": issued.subject_id,
        "authentication_serial": format(issued.authentication.serial_number, "x") if issued.authentication else None,
        "signature_serial": format(issued.signature.serial_number, "x") if issued.signature else None,
    }
    if as_json:
        print_json(out)
    else:
        for k, v in out.items():
            if v is not None:
                console.print(f"{k}: {v}")


@pki_app.command("revoke")
def revoke_cmd(
    serial: Annotated[
        str | None, typer.Option("--serial", help="Hexadecimal serial number of one certificate.")
    ] = None,
    card: Annotated[Path | None, typer.Option("--card", help="The card file (its certificates are public).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="RFC 5280 reason, e.g. keyCompromise.")] = "keyCompromise",
    only: Annotated[
        bool, typer.Option("--only", help="Revoke just the certificate --serial names, not its whole card.")
    ] = False,
    ca: Annotated[
        str | None, typer.Option("--ca", help=f"Issuing CA if two share the serial: {PREFECTURE_FORMS}, bridge or org.")
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Revoke a lost or stolen card (both certificates; --card or the --serial of either), or with --only one
    certificate.  Not a register event; OCSP says so on the very next request."""
    if (serial is None) == (card is None):
        raise InvalidInput("give --serial or --card", field="serial")
    if card is not None:
        if only:
            raise InvalidInput("--only names one certificate by --serial", field="only")
        serial = format(SoftwareCard.open(card).certificate(Purpose.AUTHENTICATION).serial_number, "x")
    assert serial is not None
    pki = hierarchy.Pki.open(home_of(home, db))
    ca_id = _ca_id(ca) if ca is not None else None
    if only:
        which = [status.revoke(pki.engine, serial=serial, reason=parse_reason(reason), ca_id=ca_id)]
    else:
        which = list(status.revoke_card(pki.engine, serial=serial, reason=parse_reason(reason), ca_id=ca_id))
    for w in which:
        console.print(f"revoked {w}")


@pki_app.command("offers")
def offers_cmd(home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Card holders offered a new signature certificate (a register change revoked theirs), by the PKI's pseudonym."""
    rows = status.offers(hierarchy.Pki.open(home_of(home, db)).engine)
    if as_json:
        print_json([r | {"offered_at": r["offered_at"].isoformat()} for r in rows])
    else:
        for r in rows:
            console.print(f"{r['owner']} {r['kind']} {r['offered_at']:%Y-%m-%d %H:%M:%S}")


@pki_app.command("crl")
def crl_cmd(
    ca: Annotated[str, typer.Argument(help=f"A prefecture's CA ({PREFECTURE_FORMS}), bridge or org.")],
    out: Annotated[Path | None, typer.Option("--out", help="File to write (DER); default PEM on stdout.")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Issue a fresh CRL of one CA (next CRL number)."""
    pki = hierarchy.Pki.open(home_of(home, db))
    crl = status.crl(pki, ca_id=_ca_id(ca))
    if out:
        write_out(out, crl.public_bytes(Encoding.DER))
    else:
        sys.stdout.write(crl.public_bytes(Encoding.PEM).decode())


def _load_cert(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput("no such certificate file", field="cert") from None
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError:
        raise InvalidInput("not a PEM or DER certificate", field="cert") from None


def _http_ocsp(url: str, home: Home) -> OcspChecker:
    def send(der: bytes) -> bytes:
        r = _post(home, url, content=der, headers={"Content-Type": "application/ocsp-request"})
        _raise_problem(r)
        return bytes(r.content)

    return OcspChecker(send)


@pki_app.command("verify")
def verify_cmd(
    cert: Annotated[Path, typer.Argument(help="Certificate to validate (PEM or DER).")],
    trust: TrustOpt = "13",
    purpose: Annotated[Purpose, typer.Option("--purpose")] = Purpose.AUTHENTICATION,
    ocsp_url: Annotated[
        str | None, typer.Option("--ocsp-url", help="Ask this OCSP responder (default: the local PKI).")
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Validate a certificate as a relying party of one prefecture: path via the bridge, policy, revocation."""
    trust = _prefecture(trust, "trust")
    h = home_of(home, db)
    pki = hierarchy.Pki.open(h)
    if ocsp_url:
        rp = RelyingParty.for_prefecture(
            code=trust,
            root=hierarchy.root(pki.engine, trust),
            intermediates=hierarchy.cross_certificates(pki.engine),
            revocation=_http_ocsp(ocsp_url, h),
        )
    else:
        rp = status.relying_party(pki, trust=trust)
    path = rp.verify(_load_cert(cert), purpose=purpose)
    console.print(f"OK: {purpose.value} certificate, chain of {len(path.chain)}, policy {path.leaf_policy}")


@pki_app.command("export-chain")
def export_chain_cmd(
    for_prefecture: Annotated[
        str | None,
        typer.Option("--for", help=f"Only what this prefecture's relying parties need: {PREFECTURE_FORMS}."),
    ] = None,
    roots: Annotated[bool, typer.Option("--roots", help="The self-signed roots instead.")] = False,
    out: Annotated[Path | None, typer.Option("--out")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """PEM bundle of the cross-certificates (untrusted intermediates), or of the roots."""
    if for_prefecture is not None:
        for_prefecture = _prefecture(for_prefecture, "for")
    pki = hierarchy.Pki.open(home_of(home, db))
    if roots:
        certs = hierarchy.roots(pki.engine)
        if for_prefecture:
            certs = [hierarchy.root(pki.engine, for_prefecture)]
    else:
        certs = hierarchy.cross_certificates(pki.engine, for_prefecture=for_prefecture)
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs)
    if out:
        write_out(out, pem)
    else:
        sys.stdout.write(pem.decode())


@pki_app.command("serve")
def serve_cmd(
    port: Annotated[int, typer.Option("--port")] = DEFAULT_PORT,
    audience: AudienceOpt = DEFAULT_AUDIENCE,
    trust: TrustOpt = "13",
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """OCSP, CRLs, CA certificates and the card login over HTTP, on 127.0.0.1."""
    import uvicorn

    from sekisho.pki.api import create_app

    trust = _prefecture(trust, "trust")
    pki = hierarchy.Pki.open(home_of(home, db))
    pki.keyring.session_key()  # fail now, not at the first login, if the PKI is not initialised
    app = create_app(pki, audience=audience, trust=trust)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@pki_app.command("login")
def login_cmd(
    card: Annotated[Path, typer.Option("--card", help="Software card file.")],
    url: Annotated[
        str | None, typer.Option("--url", help="PKI or portal base URL; default: in-process on --home.")
    ] = None,
    audience: AudienceOpt = DEFAULT_AUDIENCE,
    trust: TrustOpt = "13",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log in with the card: answer a challenge with the authentication key, receive a session token."""
    trust = _prefecture(trust, "trust")
    the_card = SoftwareCard.open(card)
    pin = _auth_pin()
    if url:
        h = home_of(home, db)
        base = url.rstrip("/")
        r = _post(h, f"{base}/pki/login/challenge")
        _raise_problem(r)
        ch = r.json()
        challenge = proto.Challenge(
            nonce=ch["nonce"], audience=ch["audience"], expires_at=datetime.fromisoformat(ch["expires_at"])
        )
        r = _post(h, f"{base}/pki/login/response", json=proto.answer(challenge, the_card, pin=pin).to_json())
        _raise_problem(r)
        result = r.json()
    else:
        pki = hierarchy.Pki.open(home_of(home, db))
        challenge = sessions.login_challenge(pki.engine, audience=audience)
        session = sessions.login_finish(
            pki,
            response=proto.answer(challenge, the_card, pin=pin),
            audience=audience,
            verifier=status.relying_party(pki, trust=trust),
            now=datetime.now(UTC),
        )
        result = {"token": session.token, "subject_id": session.subject_id, "expires_at": session.expires_at}
    if as_json:
        print_json(result)
    else:
        console.print(f"logged in as {result['subject_id']} until {result['expires_at']}")
        sys.stdout.write(f"{result['token']}\n")


def _post(home: Home, url: str, **kwargs: Any) -> Any:
    """POST to a PKI over HTTP(S).  A network `sekisho up` runs under ``home`` serves TLS from its organisation
    CA: trusted here beside the system's roots.  A responder that cannot be reached is unavailable (exit 5), as
    is a refused or broken connection: the request may be retried once it is back."""
    import ssl

    import httpx

    from sekisho.node.certificates import ca_file

    context = ssl.create_default_context()
    network_ca = ca_file(home.root)
    if network_ca.exists():
        context.load_verify_locations(cafile=str(network_ca))
    try:
        return httpx.post(url, timeout=10, verify=context, trust_env=False, **kwargs)
    except httpx.TransportError as exc:
        raise Unavailable("the PKI does not answer (try again once it is back)", field="url") from exc


def _raise_problem(response: object) -> None:
    import httpx

    from sekisho.errors import IntegrityError, Refused

    assert isinstance(response, httpx.Response)
    if response.is_success:
        return
    try:
        body = response.json()
        detail, field = str(body.get("detail", "")), body.get("field")
    except ValueError:
        detail, field = "", None
    kind = {401: Refused, 403: Refused, 422: InvalidInput, 500: IntegrityError}.get(response.status_code, Unavailable)
    raise kind(detail or f"the server answered HTTP {response.status_code}", field=field)
