"""``sekisho login``: the unlinkable card login (docs/login.md) — the prefecture's AnonCreds issuer, a card's
login wallet, and both sides of a login.  Parse, call, print; the protocol is :mod:`sekisho.login.protocol`.

The issuer's state (private keys included) is a file of the PKI party's directory (0600, like its other keys);
its public part is ``public.json`` beside it, the document every relying party fetches.  A wallet is one JSON
file (0600) holding the card's login secret, the AnonCreds link secret and the credential.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from sekisho.cli._common import DbOpt, HomeOpt, home_of, print_json, write_out
from sekisho.config import Home
from sekisho.credentials import anon
from sekisho.errors import InvalidInput, NotFound, Unavailable
from sekisho.jp.clock import japan_today
from sekisho.login import protocol

login_app = typer.Typer(
    help="Card login without a universal number: a pseudonym per relying party.", no_args_is_help=True
)

PrefOpt = Annotated[str, typer.Option("--prefecture", "-p", help="JIS X 0401 prefecture code (21 = 岐阜県).")]
WalletOpt = Annotated[Path, typer.Option("--wallet", "-w", help="The card's login wallet file.", dir_okay=False)]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of printing.", dir_okay=False)]


def _issuer_dir(home: Home, prefecture: str, *, create: bool = False) -> Path:
    path = home.party_dir("pki", create=create) / "anoncreds" / anon.check_prefecture(prefecture)
    if not create and not (path / "issuer.json").exists():
        raise NotFound(
            "no AnonCreds issuer for this prefecture here (run `sekisho login issuer-init`)", field="prefecture"
        )
    return path


def _write_private(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    tmp.replace(path)


def _read_json(path: Path, field: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound("no such file", field=field) from None
    except (OSError, ValueError):
        raise InvalidInput("not a readable JSON file", field=field) from None


def _load_issuer(home: Home, prefecture: str) -> tuple[anon.AnonIssuer, Path]:
    d = _issuer_dir(home, prefecture)
    return anon.AnonIssuer.from_json(_read_json(d / "issuer.json", "prefecture")), d


def _save_issuer(issuer: anon.AnonIssuer, d: Path) -> None:
    _write_private(d / "issuer.json", issuer.to_json())
    (d / "public.json").write_text(json.dumps(issuer.public().to_json()), encoding="utf-8")


def _out(data: Any, out: Path | None) -> None:
    if out is None:
        print_json(data)
    else:
        write_out(out, json.dumps(data))


@login_app.command("issuer-init")
def issuer_init(
    prefecture: PrefOpt,
    capacity: Annotated[int, typer.Option("--capacity", help="Credentials in the revocation registry.")] = 1024,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Create the prefecture's AnonCreds issuer (keys, schema, credential definition, revocation registry)."""
    d = _issuer_dir(home_of(home, db), prefecture, create=True)
    if (d / "issuer.json").exists():
        raise InvalidInput("this prefecture's issuer exists already", field="prefecture")
    d.mkdir(parents=True, exist_ok=True)
    issuer = anon.AnonIssuer.create(prefecture, directory=d / "tails", capacity=capacity)
    _save_issuer(issuer, d)
    print(d / "public.json")


@login_app.command("enrol")
def enrol(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Local government code.")],
    handle: Annotated[str, typer.Option("--handle", help="The resident's register handle.")],
    wallet: WalletOpt,
    clerk: Annotated[str, typer.Option("--clerk", help="The clerk's id (recorded in the access record).")] = "clerk",
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Give a card its login secret and the prefecture's credential, issued from the register (an access record
    is written first)."""
    from sekisho.cli.clerk import _service

    h = home_of(home, db)
    issuer, d = _load_issuer(h, municipality[:2])
    if wallet.exists():
        raise InvalidInput("the wallet file exists already", field="wallet")
    register = _service(home, db, municipality, clerk)
    holder = anon.AnonHolder()
    offer = issuer.offer()
    public = issuer.public()
    request = holder.request(public, offer)
    issued = anon.issue_from_register(
        issuer, register, handle=handle, offer=offer, request=request, today=register.today()
    )
    _save_issuer(issuer, d)
    held = holder.receive(public, request, issued)
    key = protocol.LoginKey.generate()
    _write_private(
        wallet,
        {
            "format": "sekisho-login-wallet-v1",
            "login_key": base64.b64encode(key.secret_bytes()).decode(),
            "link_secret": holder.link_secret,
            "credential": json.loads(held.credential.to_json()),
            "index": held.index,
            "issuer": str(d / "public.json"),
        },
    )
    print("enrolled")


@login_app.command("revoke")
def revoke(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Local government code.")],
    handle: Annotated[str, typer.Option("--handle", help="The resident's register handle.")],
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Revoke a resident's credential by hand (a lost card)."""
    issuer, d = _load_issuer(home_of(home, db), municipality[:2])
    issuer.revoke(anon.subject_of(municipality, handle))
    _save_issuer(issuer, d)
    print("revoked")


@login_app.command("sweep")
def sweep(prefecture: PrefOpt, home: HomeOpt = None, db: DbOpt = None) -> None:
    """The prefecture's daily publication (run each day after midnight, Japan time, like a CRL): revoke the
    credentials that expired and publish a status list of today — relying parties accept no older one."""
    issuer, d = _load_issuer(home_of(home, db), prefecture)
    n = issuer.sweep(japan_today())
    _save_issuer(issuer, d)
    print(f"expired {n}")


@login_app.command("deliver-events")
def deliver_events(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Local government code.")],
    clerk: Annotated[str, typer.Option("--clerk", help="The clerk's id.")] = "clerk",
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """Hand the register's pending events (deaths, moves out) to the prefecture's issuer: they revoke."""
    from sekisho.cli.clerk import _service

    issuer, d = _load_issuer(home_of(home, db), municipality[:2])
    register = _service(home, db, municipality, clerk)
    n = register.deliver_events(anon.RegisterEvents(issuer, on_change=lambda: _save_issuer(issuer, d)))
    print(f"delivered {n}")


@login_app.command("challenge")
def challenge(
    rp: Annotated[str, typer.Option("--rp", help="The relying party's identifier.")],
    out: OutOpt = None,
) -> None:
    """A relying party's challenge (keep it: it answers one login)."""
    import time

    _out(protocol.Challenge.new(rp=rp, today=japan_today(), at=int(time.time())).to_json(), out)


@login_app.command("answer")
def answer(
    wallet: WalletOpt,
    challenge_file: Annotated[Path, typer.Option("--challenge", help="The RP's challenge (JSON file).")],
    reveal_prefecture: Annotated[
        bool, typer.Option("--reveal-prefecture", help="Also disclose the prefecture.")
    ] = False,
    out: OutOpt = None,
) -> None:
    """The card's answer: its pseudonym for that RP, a proof, and a validity proof that reveals nothing else."""
    from anoncreds import Credential

    w = _read_json(wallet, "wallet")
    try:
        public = anon.PublicIssuerData.from_json(_read_json(Path(w["issuer"]), "issuer"))
        key = protocol.LoginKey(base64.b64decode(w["login_key"]))
        holder = anon.AnonHolder(link_secret=w["link_secret"])
        held = anon.HeldCredential(Credential.load(json.dumps(w["credential"])), int(w["index"]), public)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("not a login wallet", field="wallet") from None
    held.refresh(public)
    ch = protocol.Challenge.from_json(_read_json(challenge_file, "challenge"))
    _out(protocol.answer(ch, key, held, holder, reveal_prefecture=reveal_prefecture), out)


@login_app.command("check")
def check(
    challenge_file: Annotated[Path, typer.Option("--challenge", help="The challenge this RP issued.")],
    response_file: Annotated[Path, typer.Option("--response", help="The card's answer.")],
    issuer: Annotated[
        list[str],
        typer.Option(
            "--issuer",
            help="A prefecture's public.json, or its URL on the PKI node (https://…/login/issuers/21); repeatable.",
        ),
    ],
    ca: Annotated[
        Path | None, typer.Option("--ca", help="CA certificate (PEM) to trust for https issuer URLs.", dir_okay=False)
    ] = None,
) -> None:
    """The relying party's check, with published data only; prints the RP's pseudonym of the card holder."""
    ch = protocol.Challenge.from_json(_read_json(challenge_file, "challenge"))
    if ch.today != japan_today():
        raise InvalidInput("the challenge is not today's", field="challenge")
    publics = [anon.PublicIssuerData.from_json(_issuer_document(i, ca)) for i in issuer]
    out = protocol.verify(ch, _read_json(response_file, "response"), publics)
    print_json({"pseudonym": out.pseudonym, "disclosed": dict(out.disclosed)})


def _issuer_document(where: str, ca: Path | None) -> Any:
    """A prefecture's public document from a file or over HTTP(S) (``GET /login/issuers/<prefecture>``)."""
    if not where.startswith(("https://", "http://")):
        return _read_json(Path(where), "issuer")
    import ssl

    import httpx

    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
    try:
        response = httpx.get(where, timeout=10.0, verify=verify, trust_env=False)
    except httpx.HTTPError:
        raise Unavailable("the prefecture's login issuer cannot be fetched", field="issuer") from None
    if response.status_code == 404:
        raise NotFound("the PKI publishes no login issuer for this prefecture", field="issuer")
    if response.status_code != 200:
        raise Unavailable(f"the PKI answered {response.status_code}", field="issuer")
    try:
        return response.json()
    except ValueError:
        raise InvalidInput("the issuer document is not JSON", field="issuer") from None


def register(app: typer.Typer) -> None:
    app.add_typer(login_app, name="login")
