"""HTTP clients of the parties' protocols, behind the same interfaces as the in-process ones.

Each takes an ``httpx.Client`` already set up for one party (``base_url``; in a deployment mutual TLS and the
terminal's signatures, from the wiring): the client only frames requests and maps problem documents back to
:mod:`sekisho.errors` (``sekisho.problems.raise_for_problem``).
"""
