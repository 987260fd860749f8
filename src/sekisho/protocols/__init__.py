"""What the parties say to each other: the interfaces and messages of every protocol, shared by both sides.

- :mod:`~sekisho.protocols.conversion`: a conversion request to T1/T2, its grant, the policy and access hooks;
- :mod:`~sekisho.protocols.frames`: the binary frames conversions and key shares travel in;
- :mod:`~sekisho.protocols.agency` and :mod:`~sekisho.protocols.agency_messages`: enrolments, notices, identity
  confirmations and cross-references between municipalities, the locator and agencies;
- :mod:`~sekisho.protocols.registry`: the register's index at the locator, transfer packages, the directory;
- :mod:`~sekisho.protocols.access`: an access request and the policy decision on it;
- :mod:`~sekisho.protocols.handles`: a register's local handles of residents and households;
- :mod:`~sekisho.protocols.statements` and :mod:`~sekisho.protocols.warrants`: the watchdog's signed statements
  (PIA decisions, warrants, revocation lists) as every party that is shown one verifies them;
- :mod:`~sekisho.protocols.import_format`: the register's import format.

No party's package is imported here: a protocol module imports only other protocol modules and shared modules.
"""
