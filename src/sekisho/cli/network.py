"""`sekisho network …`: setting up the network's keys (the ceremony) and publishing its public parameters."""

from __future__ import annotations

import hashlib
from typing import Any

import typer

from sekisho.cli._common import DbOpt, HomeOpt, JsonOpt, console, emit, home_of
from sekisho.keyfile import PASSPHRASE_ENV, passphrase_from_env
from sekisho.pep.keys import REGISTRY_KEY_HOLDER, TRANSCRYPTORS, network_path
from sekisho.pseudonyms.service import init_network

network_app = typer.Typer(help="The network's keys and public parameters.", no_args_is_help=True)


def _passphrase(confirm: bool) -> bytes:
    value = passphrase_from_env()
    if value is not None:
        return value
    text: str = typer.prompt(
        f"Passphrase for the key files (or set {PASSPHRASE_ENV})", hide_input=True, confirmation_prompt=confirm
    )
    return text.encode("utf-8")


@network_app.command("init")
def init(home: HomeOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Run the key ceremony: keys for T1, T2, the registry domain and the grant issuer, one directory per party,
    and the public parameters in network.json.  The global secret key exists only during this command."""
    h = home_of(home, db)
    network = init_network(h, passphrase=_passphrase(confirm=True))
    y = network.public_key.to_bytes()
    data: dict[str, Any] = {
        "network_id": network.network_id,
        "network_file": str(network_path(h.root)),
        "public_key_fingerprint": hashlib.sha256(y).hexdigest()[:16],
        "key_files": {
            **{party: str(h.party_dir(party) / "transcryptor.key") for party in TRANSCRYPTORS},
            REGISTRY_KEY_HOLDER: str(h.party_dir(REGISTRY_KEY_HOLDER) / "domain-registry.key"),
            "watchdog": str(h.party_dir("watchdog") / "grant-issuer.key"),
        },
    }

    def render(d: dict[str, Any]) -> None:
        console.print(f"network [bold]{d['network_id']}[/bold] set up")
        console.print(f"  public parameters: {d['network_file']} (Y fingerprint {d['public_key_fingerprint']})")
        for party, path in d["key_files"].items():
            console.print(f"  {party:<9} {path}")

    emit(data, as_json, render)


def register(app: typer.Typer) -> None:
    app.add_typer(network_app, name="network")
