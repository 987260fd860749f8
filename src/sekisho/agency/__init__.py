"""An agency's component: its own database keyed only by its own pseudonym ``s_A·P``.

See :mod:`sekisho.agency.service` (the agency), :mod:`sekisho.protocols.agency` (what travels between a
municipality, the locator and an agency) and :mod:`sekisho.agency.crossref` (A's side of a cross-reference under a
warrant).  The demo's three agencies are wired in the composition root (``sekisho.node.demo_agencies``).
"""
