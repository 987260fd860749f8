"""`sekisho credentials init`, `sekisho wallet init|receive|list|present`, `sekisho verify`: the issuer, the
resident's wallet and a relying party's verifier of SD-JWT VCs (docs/credentials.md)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, home_of, print_json
from sekisho.config import Home
from sekisho.errors import InvalidInput, SekishoError, Unavailable

credentials_app = typer.Typer(help="The municipality's SD-JWT VC issuer.", no_args_is_help=True)
wallet_app = typer.Typer(help="The resident's wallet of one-time SD-JWT VCs.", no_args_is_help=True)

MunicipalityOpt = Annotated[str, typer.Option("--municipality", "-m", help="Municipality code (6 digits).")]
WalletOpt = Annotated[
    Path | None, typer.Option("--wallet", help="Wallet directory (default <home>/wallet, or SEKISHO_WALLET).")
]
DEFAULT_BASE = "http://127.0.0.1:8480"


def register(app: typer.Typer) -> None:
    app.add_typer(credentials_app, name="credentials")
    app.add_typer(wallet_app, name="wallet")
    app.command("verify")(verify)


def _passphrase() -> bytes:
    from sekisho.pki.keys import passphrase

    return passphrase(prompt="Issuer key passphrase: ")


def _issuer_root(h: Home, code: str) -> Path:
    from sekisho.registry.service import party_of

    return h.party_dir(party_of(code))


@credentials_app.command("init")
def credentials_init(
    municipality: MunicipalityOpt,
    base_url: Annotated[
        str, typer.Option(help="Where the municipality node serves /credentials/<code>.")
    ] = DEFAULT_BASE,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """A new issuer key for the municipality, certified by its prefectural CA (run where the PKI runs)."""
    from sekisho.credentials.issuer import Issuer
    from sekisho.credentials.store import open_state
    from sekisho.jp.catalogue import get_municipality
    from sekisho.pki import hierarchy as pki_hierarchy
    from sekisho.pki import issuance as pki_issuance

    code = get_municipality(municipality, field="municipality").code
    h = home_of(home, db)
    pki = pki_hierarchy.Pki.open(h)
    issuer = Issuer.create(
        _issuer_root(h, code),
        municipality=code,
        certify=lambda key: pki_issuance.certify_credential_issuer(pki, municipality=code, public_key=key),
        passphrase=_passphrase(),
        base_url=base_url,
        state=open_state(h, code),
    )
    typer.echo(f"issuer {issuer.iss} certified by the prefectural CA")


@credentials_app.command("offer")
def credentials_offer(
    municipality: MunicipalityOpt,
    handle: Annotated[str, typer.Option(help="The resident's handle, at the counter.")],
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """An OpenID4VCI credential offer (pre-authorised code, 10 minutes, one use) for the resident's wallet: print
    it, or show it as a QR code.  Kept in the municipality's database, it is redeemed at the node's
    /credentials/<code>/ endpoints (`sekisho wallet receive OFFER`)."""
    from sekisho.credentials.oid4vci import Flow
    from sekisho.node.credentials import open_issuer

    issuer, state, register = open_issuer(home_of(home, db), municipality, passphrase=_passphrase())
    print_json({"credential_offer": Flow(issuer, register, state).offer(handle)})


@credentials_app.command("revoke")
def credentials_revoke(
    municipality: MunicipalityOpt,
    handle: Annotated[str, typer.Option(help="The resident's handle (a lost card or phone: every credential).")],
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the status bit of every credential the resident holds from this municipality (the register's events —
    death, move, correction — do so by themselves)."""
    from sekisho.node.credentials import open_issuer

    issuer, _, _ = open_issuer(home_of(home, db), municipality, passphrase=_passphrase())
    n = issuer.revoke_holder(handle)
    if as_json:
        print_json({"revoked": n})
        return
    typer.echo(f"revoked {n} credentials")


def _wallet_dir(wallet: Path | None, home: Path | None) -> Path:
    if wallet is not None:
        return wallet
    if os.environ.get("SEKISHO_WALLET"):
        return Path(os.environ["SEKISHO_WALLET"])
    return home_of(home).root / "wallet"


@wallet_app.command("init")
def wallet_init(wallet: WalletOpt = None, home: HomeOpt = None) -> None:
    """Create an empty wallet (directories 0700, key files 0600)."""
    from sekisho.wallet.store import Wallet

    w = Wallet.init(_wallet_dir(wallet, home))
    typer.echo(f"wallet at {w.root}")


@wallet_app.command("receive")
def wallet_receive(
    offer: Annotated[str | None, typer.Argument(help="A credential offer (JSON, or a file holding it).")] = None,
    municipality: Annotated[str | None, typer.Option("--municipality", "-m", help="Issue in-process.")] = None,
    handle: Annotated[str | None, typer.Option(help="With -m: the resident's handle (the counter's flow).")] = None,
    count: Annotated[int, typer.Option(help="One-time credentials in the batch.")] = 20,
    wallet: WalletOpt = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Receive a batch of one-time credentials: over OpenID4VCI from an offer, or in-process with -m/--handle."""
    from sekisho.wallet.store import Wallet

    w = Wallet.open(_wallet_dir(wallet, home))
    keys = w.new_keys(count)
    if offer is not None:
        from sekisho.wallet.client import receive_offer

        credentials = receive_offer(w, keys, _json_arg(offer))
    elif municipality and handle:
        from sekisho.node.credentials import open_issuer

        issuer, _, register = open_issuer(home_of(home, db), municipality, passphrase=_passphrase())
        issued = issuer.issue_batch(handle=handle, source=register, holder_keys=[k.public_key() for k in keys])
        credentials = list(issued.credentials)
    else:
        raise InvalidInput("give an offer, or --municipality and --handle", field="offer")
    ids = w.receive(credentials)
    typer.echo(f"received {len(ids)} one-time credentials")


def _json_arg(text: str) -> dict[str, Any]:
    path = Path(text)
    raw = path.read_text() if not text.lstrip().startswith("{") and path.exists() else text
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidInput("not JSON", field="offer") from None
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object", field="offer")
    inner = value.get("credential_offer", value)
    if not isinstance(inner, dict):
        raise InvalidInput("credential_offer must be a JSON object", field="offer")
    return inner


@wallet_app.command("list")
def wallet_list(wallet: WalletOpt = None, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """The unused credentials: issuer, type, expiry and the claims each can disclose (not their values)."""
    from sekisho.wallet.store import Wallet

    entries = Wallet.open(_wallet_dir(wallet, home)).entries()
    rows = [
        {
            "id": e.id,
            "issuer": e.issuer,
            "vct": e.vct,
            "expires": datetime.fromtimestamp(e.exp, UTC).isoformat(),
            "claims": list(e.claims),
        }
        for e in entries
    ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['id']}  {r['issuer']}  expires {r['expires']}  {len(r['claims'])} claims")
    typer.echo(f"{len(rows)} unused")


@wallet_app.command("present")
def wallet_present(
    claim: Annotated[list[str], typer.Option("--claim", "-c", help="A claim to disclose (repeat).")],
    nonce: Annotated[str, typer.Option(help="The verifier's nonce.")],
    audience: Annotated[str, typer.Option(help="The verifier's client_id.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the presentation here (0600).")] = None,
    wallet: WalletOpt = None,
    home: HomeOpt = None,
) -> None:
    """Disclose the chosen claims from a fresh one-time credential (used once, then deleted with its key)."""
    from sekisho.wallet.store import Wallet

    text = Wallet.open(_wallet_dir(wallet, home)).present(claim, nonce=nonce, audience=audience)
    if out is None:
        typer.echo(text)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def verify(
    presentation: Annotated[str, typer.Argument(help="The presentation: a file, '-' for stdin, or the text.")],
    nonce: Annotated[str, typer.Option(help="The nonce this verifier gave.")],
    audience: Annotated[str, typer.Option(help="This verifier's client_id.")],
    require: Annotated[list[str] | None, typer.Option(help="CLAIM or CLAIM=VALUE that must be disclosed.")] = None,
    trust: Annotated[str, typer.Option(help="The prefecture whose root this verifier trusts (01..47).")] = "13",
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify an SD-JWT VC presentation: chain to the prefectural root, signature, key binding, nonce, audience,
    expiry and status.  Fails closed with the reason (exit 4)."""
    from sekisho.pki import hierarchy as pki_hierarchy
    from sekisho.pki import status as pki_status
    from sekisho.pki.prefectures import parse_prefecture
    from sekisho.verifier.verify import Requirement, Verifier

    if presentation == "-":
        text = sys.stdin.read()
    elif "~" not in presentation and Path(presentation).exists():
        text = Path(presentation).read_text()
    else:
        text = presentation
    reqs = [Requirement.parse(r) for r in require or []]
    h = home_of(home, db)
    pki = pki_hierarchy.Pki.open(h)
    v = Verifier(
        chain=pki_status.CredentialChainValidator(pki, parse_prefecture(trust).code),
        status=lambda uri: _fetch_status(h, uri),
    )
    out = v.verify(text.strip(), nonce=nonce, audience=audience, require=reqs)
    if as_json:
        print_json({"verified": True, "issuer": out.issuer, "claims": dict(out.claims)})
        return
    typer.echo(f"verified: issuer {out.issuer}; " + ", ".join(f"{k}={v}" for k, v in out.claims.items()))


def _fetch_status(h: Home, uri: str) -> str:
    """The issuer's status list: from its own node over HTTP, or — on the issuer's machine — from its directory."""
    import httpx

    code = uri.rstrip("/").split("/")[-2]
    if code.isdigit() and len(code) == 6:
        from sekisho.keyfile import passphrase_from_env
        from sekisho.node.credentials import open_issuer

        secret = passphrase_from_env()
        if secret is not None:
            try:
                issuer, _, _ = open_issuer(h, code, passphrase=secret)
            except SekishoError:
                issuer = None
            if issuer is not None and issuer.status_uri == uri:
                return issuer.status_list_token()
    try:
        response = httpx.get(uri, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError:
        raise Unavailable("the issuer's status list cannot be fetched", field="status") from None
    return response.text
