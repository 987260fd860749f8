"""The roles a Sekisho process can play, and the party (home directory, database) each one is.

Kept free of heavy imports: the supervisor and every child read it before anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sekisho.errors import InvalidInput

#: role -> the database contexts its party runs (what `open_party_db` migrates for it), as the services open them
CONTEXTS: dict[str, tuple[str, ...]] = {
    "municipality": ("registry", "policy"),
    "locator": ("locator",),
    "t1": ("pseudonyms", "policy"),
    "t2": ("pseudonyms", "policy"),
    "watchdog": ("policy", "auditlog"),  # the decision point's register and the log's witness
    "log": ("auditlog",),
    "pki": ("pki", "agency"),
    "agency": ("agency",),
}
#: roles whose service opens (creates, migrates) its own database as it starts; the supervisor prepares the others
OPENS_OWN_DATABASE = frozenset({"log", "pki", "watchdog"})
#: roles that stand for one of many parties, and so need a name (a municipality code, an agency name)
NAMED = frozenset({"municipality", "agency"})
ROLES: tuple[str, ...] = tuple(CONTEXTS)
TITLES = {
    "municipality": "municipality node",
    "locator": "locator",
    "t1": "transcryptor T1 (ministry)",
    "t2": "transcryptor T2 (watchdog)",
    "watchdog": "watchdog",
    "log": "public access log",
    "pki": "PKI",
    "agency": "agency node",
}
_CODE = re.compile(r"^\d{6}$")
_AGENCY = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")

#: `sekisho up` without options: the shape of a small national network
DEFAULT_MUNICIPALITIES = ("212016", "131016")  # 岐阜市, 千代田区 (the demo's two registers)
DEFAULT_AGENCIES = ("pension", "tax", "kyokai-kenpo")  # the demo's three agencies (sekisho.node.demo_agencies.AGENCIES)
SINGLETONS = ("t1", "t2", "locator", "watchdog", "log", "pki")


@dataclass(frozen=True, slots=True)
class Role:
    """One party as a process: ``Role("municipality", "212016")``, ``Role("log")``."""

    role: str
    name: str | None = None

    def __post_init__(self) -> None:
        if self.role not in CONTEXTS:
            raise InvalidInput(f"must be one of {', '.join(ROLES)}", field="role")
        if self.role in NAMED:
            if self.name is None:
                raise InvalidInput("this role needs --name (a municipality code or an agency name)", field="name")
            pattern = _CODE if self.role == "municipality" else _AGENCY
            if not pattern.match(self.name):
                what = "six digits" if self.role == "municipality" else "lower-case letters, digits, '-' or '_'"
                raise InvalidInput(f"must be {what}", field="name")
        elif self.name not in (None, self.role):
            raise InvalidInput("this role is one party and takes no --name", field="name")

    @property
    def party(self) -> str:
        """The party's directory under the home (``sekisho.config.Home.party_dir``)."""
        return f"{self.role}/{self.name}" if self.role in NAMED else self.role

    @property
    def slug(self) -> str:
        """A file-name and schema-safe label: ``municipality-212016``."""
        return self.party.replace("/", "-")

    @property
    def contexts(self) -> tuple[str, ...]:
        return CONTEXTS[self.role]

    @property
    def label(self) -> str:
        return self.name if self.role in NAMED and self.name else self.role

    @classmethod
    def of_party(cls, party: str) -> Role:
        role, _, name = party.partition("/")
        return cls(role, name or None)


def network(
    municipalities: Sequence[str] = DEFAULT_MUNICIPALITIES, agencies: Sequence[str] = DEFAULT_AGENCIES
) -> list[Role]:
    """Every party of a network: the singletons, then the municipalities and the agencies (validated)."""
    roles = [Role(r) for r in SINGLETONS]
    roles += [Role("municipality", code) for code in municipalities]
    roles += [Role("agency", name) for name in agencies]
    seen: set[str] = set()
    for r in roles:
        if r.party in seen:
            raise InvalidInput(
                "names the same party twice", field="municipalities" if r.role != "agency" else "agencies"
            )
        seen.add(r.party)
    return roles
