"""The audit trail's published format: records, chain, checkpoints, key statement, export files.

This is the module's interface for audit data: the device encodes with it and a host verifies
with it, importing nothing else from the module. One parser serves both (and the tests), so
there is no second reading of the bytes that could disagree with the first.

One job per module, each imported directly (this package re-exports nothing):

- :mod:`.common`: versions, sizes and the errors every part raises;
- :mod:`.chain`: the serial, module tag, genesis and chain hash that bind records together;
- :mod:`.signature`: Ed25519 signing of checkpoints and the self-signed key statement;
- :mod:`.policy`: the digest of the audit policy that every checkpoint signs;
- :mod:`.checkpoint`: the checkpoint statement and a CHECKPOINT record's body;
- :mod:`.record`: the record codec (and a LOSS record's body);
- :mod:`.digest`: a SERVICE record's request and response digests, keyed per session;
- :mod:`.export`: export files, written and read, in binary and JSON Lines.

Byte layouts are documented in ``docs/audit-format.md``; a test checks its worked example.
Everything is big-endian. Decoding is strict: an unknown version raises
:class:`~.common.UnknownVersionError`, every other defect (length, range, trailing bytes, a field
that must be zero) raises :class:`~.common.AuditFormatError`; both are ``ValueError`` subclasses.
"""
