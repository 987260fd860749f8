"""`sekisho log …`: the public access log's keys, checkpoints, proofs, verification and tiles API.

The log's party is ``log`` and the witness's ``watchdog`` (one home; in production two machines).  Private
keys are encrypted with the passphrase from ``SEKISHO_PASSPHRASE`` (or a prompt) and never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, home_of, print_json, progress

log_app = typer.Typer(
    help="The public access log: keys, checkpoints, proofs, verification, tiles API.", no_args_is_help=True
)

DEFAULT_PORT = 8471


def register(app: typer.Typer) -> None:
    app.add_typer(log_app, name="log")


@log_app.command("init")
def init(
    home: HomeOpt = None,
    db: DbOpt = None,
    origin: Annotated[str, typer.Option("--origin", help="The log's origin line and key name.")] = "",
    witness_name: Annotated[str, typer.Option("--witness-name", help="The watchdog's cosigner name.")] = "",
) -> None:
    """Create the log's signing key and the watchdog's cosigning key, and both parties' tables."""
    from sekisho.auditlog import keys
    from sekisho.auditlog.service import init_parties

    h = home_of(home, db)
    secret = keys.passphrase(prompt="New key passphrase: ", confirm=True)
    log_config, witness_config = init_parties(
        h, secret, origin=origin or keys.DEFAULT_ORIGIN, witness_name=witness_name or keys.DEFAULT_WITNESS
    )
    # plain writes: a vkey must never be wrapped over two lines
    sys.stdout.write(f"log key (vkey):     {log_config.vkey.vkey}\n")
    sys.stdout.write(f"witness key (vkey): {witness_config.vkey.vkey}\n")


@log_app.command("checkpoint")
def checkpoint(home: HomeOpt = None, db: DbOpt = None) -> None:
    """Sign a checkpoint of the log, have the watchdog cosign it, and print the witnessed note."""
    from sekisho.auditlog import keys
    from sekisho.auditlog.service import LogService
    from sekisho.auditlog.witness import Witness

    h = home_of(home, db)
    secret = keys.passphrase()
    svc = LogService.open(h, secret=secret)
    witness = Witness.open(h, secret=secret)
    try:
        svc.issue_checkpoint()
        note = svc.request_cosignatures(witness)
    finally:
        witness.engine.dispose()
        svc.close()
    sys.stdout.write(note)


@log_app.command("verify")
def verify(
    home: HomeOpt = None,
    db: DbOpt = None,
    check_entries: Annotated[bool, typer.Option("--check-entries", help="Also validate every entry.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-derive the tree from the stored entries; check every tile, checkpoint and cosignature (exit 4 if not)."""
    from sekisho.auditlog.service import LogService

    svc = LogService.open(home_of(home, db))
    try:
        with progress("verifying", svc.size()) as advance:
            report = svc.verify(check_entries=check_entries, progress=advance)
    finally:
        svc.close()
    data = {
        "size": report.size,
        "checkpoints": report.checkpoints,
        "cosigned": report.cosigned,
        "latest_checkpoint": report.latest_checkpoint,
        "unsigned_tail": report.unsigned_tail,
        "seconds": round(report.seconds, 3),
    }
    if as_json:
        print_json(data)
        return
    console.print(
        f"ok: {report.size} entries; {report.checkpoints} checkpoints ({report.cosigned} cosigned) verified; "
        f"{report.unsigned_tail} entries after the latest checkpoint; {report.seconds:.2f} s"
    )


@log_app.command("proof")
def proof(
    index: Annotated[int, typer.Option("--index", min=0, help="The entry's index.")],
    size: Annotated[int | None, typer.Option("--size", min=1, help="Tree size (default: latest witnessed).")] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """An inclusion proof for entry INDEX, with the entry and the witnessed checkpoint (JSON)."""
    from sekisho.auditlog.service import LogService

    svc = LogService.open(home_of(home, db))
    try:
        print_json(svc.proof_bundle(index=index, size=size))
    finally:
        svc.close()


@log_app.command("tail")
def tail(
    count: Annotated[int, typer.Option("-n", "--lines", min=1, help="How many entries.")] = 10,
    home: HomeOpt = None,
    db: DbOpt = None,
) -> None:
    """The last entries of the log (public data: commitments and codes, nothing personal), one JSON per line."""
    from sekisho.auditlog.service import LogService

    svc = LogService.open(home_of(home, db))
    try:
        rows = svc.tail(count=count)
    finally:
        svc.close()
    for index, entry in rows:
        sys.stdout.write(f'{{"index":{index},"entry":{entry.decode()}}}\n')


@log_app.command("alerts")
def alerts(home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """The witness's alerts: forks, rollbacks and bad signatures it refused."""
    from dataclasses import asdict

    from sekisho.auditlog.witness import alerts_of

    rows = alerts_of(home_of(home, db))
    if as_json:
        print_json([asdict(a) for a in rows])
        return
    for a in rows:
        console.print(f"{a.at} {a.kind} {a.origin} size={a.size}: {a.detail}")


@log_app.command("serve")
def serve(
    home: HomeOpt = None,
    db: DbOpt = None,
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1.")] = DEFAULT_PORT,
) -> None:
    """Serve the tiles API (checkpoint, tiles, entry bundles) and appends on 127.0.0.1."""
    import uvicorn

    from sekisho.auditlog.api import create_app
    from sekisho.auditlog.service import LogService

    svc = LogService.open(home_of(home, db))
    try:
        uvicorn.run(create_app(svc), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        svc.close()


@log_app.command("verify-list")
def verify_list(
    file: Annotated[Path, typer.Argument(help="An access list from `sekisho registry access-list --out`.")],
    previous: Annotated[
        Path | None, typer.Option("--previous", help="The checkpoint note you saw last (it must be extended).")
    ] = None,
    home: HomeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a resident's access list: witnessed checkpoint, inclusion of every entry, the resident's commitment."""
    import json

    from sekisho.auditlog.keys import LogConfig
    from sekisho.errors import InvalidInput
    from sekisho.transparency.log import verify_access_document

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
        previous_note = previous.read_text(encoding="utf-8") if previous is not None else None
    except (OSError, ValueError) as exc:
        raise InvalidInput("cannot be read as an access list", field="file") from exc
    config = LogConfig.load(home_of(home, db))
    checkpoint, entries = verify_access_document(doc, config.vkey, config.witnesses, previous_note=previous_note)
    if as_json:
        print_json({"checkpoint_size": checkpoint.size, "verified": [{"index": i, **e.to_dict()} for i, e in entries]})
        return
    console.print(
        f"OK: {len(entries)} accesses included in the witnessed checkpoint of size {checkpoint.size}, "
        "each committed to this resident"
    )
