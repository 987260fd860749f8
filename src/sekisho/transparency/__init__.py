"""Transparency-log formats every party shares (docs/auditlog.md): the RFC 9162 Merkle tree and its proofs
(:mod:`~sekisho.transparency.merkle`), C2SP signed notes and checkpoints (:mod:`~sekisho.transparency.note`,
:mod:`~sekisho.transparency.checkpoint`), tlog tiles (:mod:`~sekisho.transparency.tiles`), the public access
entry with its per-resident commitments (:mod:`~sekisho.transparency.entry`), and the log as its users see it
(:mod:`~sekisho.transparency.log`: the ``AccessLog`` protocol, the resident's checks).

The log *service* (sequencer, storage, witness, API) stays in :mod:`sekisho.auditlog`.
"""
