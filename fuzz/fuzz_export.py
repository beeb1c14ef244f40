"""Coverage-guided fuzzing (atheris/libFuzzer) of the audit export parser, the record and
checkpoint decoders, the offline verifier and the archive import.

    python fuzz/fuzz_export.py -max_total_time=120 [CORPUS_DIR ...] [libFuzzer options]
    python fuzz/run.py 120            # both targets, with the seeds in fuzz/corpus/, and a summary

The first input byte picks the decoder for the rest:

- 0: ``verify_export`` (binary or JSON Lines, as the bytes say) against the documentation key the
  seed exports are signed with: it must return a VerifyResult, the deferred path must name the
  same first failure as ``eager=True``, and an export that verifies must go into an archive
  (or be refused with nothing stored) and the archive must verify;
- 1: ``iter_export`` one item at a time and in batches: only AuditFormatError (or a subclass),
  and the two readers agree;
- 2: ``decode_record`` and the verifier's ``scan_record``: they accept the same bytes, and what
  they accept re-encodes to itself;
- 3: the checkpoint statement, checkpoint body, loss body and key statement parsers (next byte
  picks one): AuditFormatError or a value that re-encodes to the input.

Anything else raised (IndexError, struct.error, UnicodeDecodeError, RecursionError, a broken
invariant) is a finding: atheris saves the input as crash-*.
"""

from __future__ import annotations

import io
import sys

import atheris

with atheris.instrument_imports(include=["module", "host_tools"]):
    from _harness import DOC_PUBLIC_KEY, check_export_parse, check_parse, check_record, require, verify_both
    from host_tools.archive import Archive, ArchiveRefused
    from host_tools.audit_drain import TrustedKey
    from host_tools.errors import CmsimError
    from module.wire.audit.checkpoint import CheckpointBody, CheckpointStatement
    from module.wire.audit.record import LossBody
    from module.wire.audit.signature import KeyStatement

PARSERS = (CheckpointStatement.parse, CheckpointBody.parse, LossBody.parse, KeyStatement.parse)


def verify(data: bytes) -> None:
    result = verify_both(data, DOC_PUBLIC_KEY)
    if result.ok and result.serial is not None:
        archive = Archive(":memory:")
        try:
            archive.bind(TrustedKey(result.serial, DOC_PUBLIC_KEY, b""))
            try:
                archive.ingest(io.BytesIO(data))
            except (ArchiveRefused, CmsimError):
                require(archive.count() == 0 and archive.head() is None, "a refused import stored something")
            else:
                require(archive.verify().ok, "an archive of a verified export does not verify")
        finally:
            archive.close()


def parse(data: bytes) -> None:
    if data:
        check_parse(PARSERS[data[0] % len(PARSERS)], data[1:])


def test_one_input(data: bytes) -> None:
    if not data:
        return
    (verify, check_export_parse, check_record, parse)[data[0] % 4](data[1:])


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
