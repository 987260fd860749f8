"""`sekisho certificate init|request|verify`: certificates of residence (住民票の写し) from any municipality."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, home_of, print_json, write_out
from sekisho.config import Home
from sekisho.errors import InvalidInput

certificate_app = typer.Typer(
    help="Certificates of residence (住民票の写し), signed PDF (PAdES) or JSON (JWS), from any municipality.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(certificate_app, name="certificate")


def _passphrase() -> bytes:
    from sekisho.pki.keys import passphrase

    return passphrase(prompt="Key passphrase: ")


@certificate_app.command("init")
def certificate_init(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Municipality code (6 digits).")],
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """A new signing key for the municipality's certificates, certified by the organisation CA (run where the
    PKI runs)."""
    from sekisho.certificates.signing import DocumentSigner
    from sekisho.jp.catalogue import get_municipality
    from sekisho.node.residence import municipality_root
    from sekisho.pki.hierarchy import Pki
    from sekisho.pki.signers import certify_document_signer

    code = get_municipality(municipality, field="municipality").code
    h = home_of(home, db)
    pki = Pki.open(h)
    chain = DocumentSigner.create_files(
        municipality_root(h, code, create=True),
        certify=lambda key: certify_document_signer(pki, municipality=code, public_key=key),
        passphrase=_passphrase(),
    )
    typer.echo(f"certificate signer of {code} certified by the organisation CA (serial {chain[0].serial_number:x})")


@certificate_app.command("request")
def certificate_request(
    at: Annotated[str, typer.Option("--at", help="The counter's municipality code (any municipality).")],
    subject: Annotated[str, typer.Option("--for", help="HANDLE@HOME: the resident and their home municipality.")],
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf (signed PDF) or FILE.json (signed JSON form).")],
    kind: Annotated[
        str,
        typer.Option(
            "--as", help="Who asks: self (the resident), household (a member), proxy (with a mandate), third-party."
        ),
    ] = "self",
    items: Annotated[
        list[str] | None,
        typer.Option("--with", help="Items beyond the basic four: kana, resident_since, household, honseki, moved."),
    ] = None,
    requester: Annotated[
        str | None,
        typer.Option(help="A member's handle, a proxy's mandate id or a third party's registration id (never a name)."),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="A third party's statutory reason (職務上請求).")] = None,
    copies: Annotated[int, typer.Option(help="Copies (1-10).")] = 1,
    self_service: Annotated[
        bool, typer.Option("--self-service", help="Issued without a clerk (kiosk, convenience store, online).")
    ] = False,
    whole_household: Annotated[
        bool,
        typer.Option(
            "--whole-household",
            help="Every member of the resident's household (世帯全員の写し); a member under a support measure is"
            " withheld from a third party.",
        ),
    ] = False,
    closed: Annotated[
        bool, typer.Option("--closed", help="The copy of a closed record (除票の写し: moved out or died).")
    ] = False,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask at counter --at for a certificate of HANDLE's record at HOME; the home municipality issues and signs it
    (over the network when `sekisho up` runs under this home, else in-process)."""
    from sekisho.certificates.model import Request, parse_items, parse_subject
    from sekisho.jp.catalogue import get_municipality
    from sekisho.node.residence import request_certificate

    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".json"):
        raise InvalidInput("must end in .pdf or .json", field="out")
    form: Literal["pdf", "json"] = "pdf" if suffix == ".pdf" else "json"
    if kind not in ("self", "household", "proxy", "third-party"):
        raise InvalidInput("must be self, household, proxy or third-party", field="as")
    handle, home_code = parse_subject(subject)
    request = Request(
        handle=handle,
        home=home_code,
        counter=get_municipality(at, field="at").code,
        kind=kind,  # type: ignore[arg-type]
        items=parse_items(items or []),
        requester=requester,
        reason=reason,
        copies=copies,
        self_service=self_service,
        scope="household" if whole_household else "person",
        closed=closed,
    )
    request.check_reason()
    issued = request_certificate(home_of(home, db), request, form=form, passphrase=_passphrase)
    write_out(out, issued.body)
    if as_json:
        print_json({"serial": issued.serial, "form": form, "out": str(out), "bytes": len(issued.body)})
    else:
        typer.echo(f"{out}: certificate {issued.serial} ({form}, {len(issued.body)} bytes)")


@certificate_app.command("verify")
def certificate_verify(
    file: Annotated[Path, typer.Argument(help="A certificate: the signed PDF or the JSON form.")],
    root: Annotated[
        Path | None, typer.Option(help="Trust root (PEM): the organisation CA's certificate (default: this home's).")
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="JSON form: judge revocation by the organisation CA's current CRL, fetched from the PKI (the network"
            " running under this home, else the signer certificate's CRL distribution point), not the embedded one.",
        ),
    ] = False,
    crl_url: Annotated[str | None, typer.Option("--crl-url", help="With --online: fetch the CRL from here.")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify offline: signature, chain to the organisation root, timestamp and the embedded revocation data —
    a JSON form without its CRL fails unless --online fetches one (exit 4 when anything does not verify)."""
    from cryptography import x509

    from sekisho.certificates.verify import verify_file

    try:
        data = file.read_bytes()
    except OSError:
        raise InvalidInput("cannot be read", field="file") from None
    if root is not None:
        try:
            roots = x509.load_pem_x509_certificates(root.read_bytes())
        except (OSError, ValueError):
            raise InvalidInput("is not a readable PEM certificate", field="root") from None
    else:
        from sekisho.pki.hierarchy import Pki, ca_certificate
        from sekisho.pki.profiles import ORGANISATION

        roots = [ca_certificate(Pki.open(home_of(home, db)).engine, ORGANISATION)]
    if crl_url is not None and not online:
        raise InvalidInput("needs --online", field="crl-url")
    h = home_of(home, db)
    verified = verify_file(data, roots=roots, fetch_crl=(lambda doc: _fetch_crl(h, doc, crl_url)) if online else None)
    result = {
        "valid": True,
        "form": verified.form,
        "municipality": verified.municipality,
        "serial": verified.serial,
        "signed_at": verified.signed_at.isoformat() if verified.signed_at else None,
    }
    if as_json:
        print_json(result)
    else:
        typer.echo(
            f"{file}: valid — certificate {verified.serial} signed by municipality {verified.municipality}"
            + (f" at {result['signed_at']}" if result["signed_at"] else "")
        )


def _fetch_crl(home: Home, doc: Mapping[str, Any], url: str | None) -> bytes:
    """The organisation CA's current CRL over HTTP(S): from ``url``, the PKI of a network running under ``home``,
    or the signer certificate's distribution point.  A network's TLS certificates come from its own CA, trusted here
    beside the system's roots.  Unreachable: exit 5."""
    import ssl

    import httpx

    from sekisho.certificates.verify import crl_url
    from sekisho.errors import Unavailable
    from sekisho.node.certificates import ca_file
    from sekisho.node.supervisor import read_run_file

    if url is None:
        running = read_run_file(home.root) or {}
        pki = next((p.get("url") for p in running.get("parties", []) if p.get("party") == "pki"), None)
        url = f"{pki}/pki/crl/org.crl" if pki else crl_url(doc)
    if url is None:
        raise InvalidInput("names no CRL distribution point: give --crl-url", field="file")
    context = ssl.create_default_context()
    if ca_file(home.root).exists():
        context.load_verify_locations(cafile=str(ca_file(home.root)))
    try:
        answer = httpx.get(url, timeout=10, verify=context, trust_env=False)
    except httpx.TransportError as exc:
        raise Unavailable("the PKI does not answer (try again once it is back)", field="crl-url") from exc
    if answer.status_code != 200:
        raise Unavailable(f"the PKI gave no CRL (HTTP {answer.status_code})", field="crl-url")
    return answer.content
