"""The audit ledger: an RFC 9162 Merkle log over every stored event, with signed checkpoints.

Modules: ``verifier`` (standalone: hashing, proof checks, signed notes, checkpoints,
cosignatures, the heads map's proofs, audit packs; stdlib and ``cryptography`` only),
``merkle`` (proof generation and tree growth, no database), ``heads`` (the record heads map
kept up to date), ``keys`` (the Ed25519 keyring in the data dir), ``store`` (the SQLAlchemy
tables and the catch-up that writes leaves, nodes, the heads map, checkpoints and its
position in one transaction), ``audit`` (``verify_store``: recompute every leaf and the heads
map, pinpoint tampering) and ``pack``.
"""
