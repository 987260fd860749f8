"""The web portal (issue 14): server-rendered pages for residents, clerks and the watchdog's officers.

Each party serves its own portal under ``/portal`` on its own node, beside its API: a municipality the clerk
console and the resident portal (:mod:`sekisho.portal.municipality`), the watchdog its dashboard
(:mod:`sekisho.portal.watchdog`).  The pages are public paths of the party (a browser holds no party
certificate) with their own authentication: users and sessions in the party's database
(:mod:`sekisho.portal.accounts`), CSRF tokens and a strict Content-Security-Policy (:mod:`sekisho.portal.web`).
See docs/portal.md.
"""
