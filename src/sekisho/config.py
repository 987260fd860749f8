"""Where each party keeps its files.

A Sekisho home (``--home`` / ``SEKISHO_HOME``, default ``./.sekisho``) holds one directory per party, because
in production each party is a separate organisation on a separate machine:

    municipality/131016/   one municipal register (and its key files)
    t1/ t2/                the two transcryptors
    watchdog/              the privacy commission
    log/                   the public access log
    locator/               registry pseudonym -> municipality
    pki/                   prefectural CAs, bridge CA, organisation CA
    agency/<name>/         an agency's own system

Every party's database defaults to a SQLite file in its directory.  ``--db`` / ``SEKISHO_DB`` takes a
SQLAlchemy URL instead; for PostgreSQL each party then gets its own schema in that database, so that one
PostgreSQL server can host a whole demo network while each party still sees only its own tables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sekisho.errors import InvalidInput

_PARTY_RE = re.compile(r"^(municipality/\d{6}|agency/[a-z][a-z0-9_-]{0,39}|t1|t2|watchdog|log|locator|pki|portal)$")

DEFAULT_HOME = ".sekisho"

# a terminal is named by its party and a local id: municipality/212016/counter-3, agency/pension/batch-1; at most 64
# characters, the width of a decision record's terminal column
_TERMINAL_LOCAL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
TERMINAL_MAX = 64


def check_party(party: str) -> str:
    if not _PARTY_RE.match(party):
        raise InvalidInput("not a party name this network knows", field="party")
    return party


def check_terminal(terminal: str) -> str:
    """``<party>/<local id>``: the party must be one this network knows."""
    party, _, local = terminal.rpartition("/")
    if len(terminal) > TERMINAL_MAX or not _TERMINAL_LOCAL_RE.match(local) or not _PARTY_RE.match(party):
        raise InvalidInput("not a terminal id (<party>/<local id>, at most 64 characters)", field="terminal")
    return terminal


def terminal_party(terminal: str) -> str:
    """The party a terminal belongs to."""
    return check_terminal(terminal).rpartition("/")[0]


@dataclass(frozen=True, slots=True)
class Home:
    root: Path
    #: a SQLAlchemy URL every party uses (one schema each on PostgreSQL); None means one SQLite file each
    db_url: str | None = None
    #: prefix of every party's PostgreSQL schema, so that several networks (e.g. tests) share one database
    namespace: str = ""

    @classmethod
    def from_env(cls, home: str | Path | None = None, db_url: str | None = None) -> Home:
        root = Path(home or os.environ.get("SEKISHO_HOME") or DEFAULT_HOME)
        return cls(
            root=root.absolute(),
            db_url=db_url or os.environ.get("SEKISHO_DB") or None,
            namespace=os.environ.get("SEKISHO_DB_NAMESPACE", ""),
        )

    def party_dir(self, party: str, *, create: bool = True) -> Path:
        path = self.root / check_party(party)
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
                # key files and registers live here: keep them private to the operator
                os.chmod(path, 0o700)
            except OSError as exc:  # the home is a file, or a place nobody may write (/proc, read-only)
                raise InvalidInput(
                    f"cannot hold the directory of party {party} ({type(exc).__name__})", field="home"
                ) from exc
        return path

    def party_db_url(self, party: str) -> str:
        """The party's database; naming it creates nothing (only a set-up does: ``open_party_db(create=True)``)."""
        check_party(party)
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.party_dir(party, create=False) / 'party.db'}"

    def party_schema(self, party: str) -> str:
        """The PostgreSQL schema that holds a party's tables (ignored on SQLite)."""
        return f"{self.namespace}p_" + re.sub(r"[^a-z0-9]", "_", check_party(party))
