"""A municipality's register with the collaborators the composition root hands it: the access log its access
records go to, and the transfer annex (the municipality's support measures, which travel with a hand-over).

The register never finds these for itself (``sekisho.registry`` imports neither the log's client nor the policy
package).  :func:`open_register` and :func:`create_register` are how every caller outside the register gets one
— the CLI, the nodes, the portal, the demo, the tests: ``kwargs`` given win over the defaults here.

The access log: when a network of processes runs under the home (`sekisho up`'s run file), the log's process over
HTTP as the municipality's party (appends signed by its terminal; the log's single writer is that process, and on
PostgreSQL a second writer is refused outright); otherwise the home's log in this process; none before
`sekisho log init`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sekisho.config import Home

if TYPE_CHECKING:
    from sekisho.node.httpnet import HttpNetwork
    from sekisho.protocols.registry import TransferAnnex
    from sekisho.registry.core import RegisterCore
    from sekisho.registry.service import RegisterService


def networked(home: Home) -> bool:
    """Whether a network of processes runs under ``home`` (`sekisho up`'s run file)."""
    from sekisho.node.supervisor import run_file

    return run_file(home.root).exists()


class _LazyLog:
    """The log's process as a party appends to it, its client made on first use: a register that appends
    nothing (`registry init`, a read-only check) needs neither the log nor the party's certificate."""

    def __init__(self, net: HttpNetwork) -> None:
        self._net = net
        self._log: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._log is None:
            self._log = self._net.access_log()
        return getattr(self._log, name)


def access_log(home: Home, party: str, *, net: HttpNetwork | None = None) -> Any:
    """The access log ``party`` of ``home`` appends to (see the module docstring); ``net``: the party's own view
    of the network, when it has one already."""
    from sekisho.auditlog.client import local_access_log
    from sekisho.auditlog.keys import LOG_PARTY

    if not (home.root / LOG_PARTY / "log.json").exists():
        return None
    if net is not None or networked(home):
        from sekisho.node.httpnet import HttpNetwork

        return _LazyLog(net if net is not None else HttpNetwork(home.root, party))
    return local_access_log(home)


def policy_annex(register: RegisterCore) -> TransferAnnex:
    """The municipality's support measures, in the register's own database (its ``pol_`` tables, migrated on first
    use), judged on the register's day."""
    from sekisho.policy.municipality import MunicipalityPolicy
    from sekisho.storage import migrate

    migrate(register.engine, "policy")
    return MunicipalityPolicy(engine=register.engine, code=register.code, clock=register.policy_clock)


def _wired(home: Home, code: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from sekisho.registry.service import party_of

    if "access_log" not in kwargs:
        kwargs["access_log"] = access_log(home, party_of(code))
    if "annex" not in kwargs:
        kwargs.setdefault("open_annex", policy_annex)
    return kwargs


def open_register(home: Home, code: str, **kwargs: Any) -> RegisterService:
    """Municipality ``code``'s register (``RegisterService.open``) with its access log and transfer annex."""
    from sekisho.registry.service import RegisterService

    return RegisterService.open(home, code, **_wired(home, code, kwargs))


def create_register(home: Home, code: str, **kwargs: Any) -> RegisterService:
    """`registry init`: create (or reopen) municipality ``code``'s register, wired as :func:`open_register`."""
    from sekisho.registry.service import RegisterService

    return RegisterService.create(home, code, **_wired(home, code, kwargs))
