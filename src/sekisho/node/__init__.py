"""The composition root: the one package that knows every party, wires them together and runs them as services.

    local.py       the in-process wiring (``LocalNetwork``): every party of one home in this process
    httpnet.py     the HTTP wiring (``HttpNetwork``): the clients of one party's peers (``http/``)
    demo_agencies.py  the agencies' part of ``sekisho demo``
    roles.py       which parties exist (role, name, home directory, database contexts); no heavy imports
    health.py      ``GET /health``: is the party's database there and answering (never creates it)
    apps.py        role -> ASGI app factory (the parties' routers mounted on one base app each)
    server.py      one party under uvicorn, dying with its supervisor
    supervisor.py  ``sekisho up``: a whole network on loopback, one OS process per party

A party's own package never imports another party's; only this package does.
"""
