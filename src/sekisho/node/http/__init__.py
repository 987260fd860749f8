"""HTTP clients of the parties' protocols, behind the same interfaces as the in-process ones (``sekisho.network``).

Each client takes an ``httpx.Client`` already configured for its peer (base URL, and in a deployment mutual TLS and
request signing from ``sekisho.wire``); errors come back as :mod:`sekisho.errors` exceptions."""
