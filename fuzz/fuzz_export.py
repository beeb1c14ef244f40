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
    from _harness import DOC_PUBLIC_KEY, require
    from host_tools.archive import Archive, ArchiveRefused
    from host_tools.audit_drain import TrustedKey
    from host_tools.audit_verify import VerifyResult, verify_export
    from host_tools.errors import CmsimError
    from module.wire.audit.checkpoint import CheckpointBody, CheckpointStatement
    from module.wire.audit.common import AuditFormatError
    from module.wire.audit.export import RecordBatch, RecordItem, iter_export
    from module.wire.audit.record import LossBody, decode_record, scan_record
    from module.wire.audit.signature import KeyStatement

PARSERS = (CheckpointStatement.parse, CheckpointBody.parse, LossBody.parse, KeyStatement.parse)


def verify(data: bytes) -> None:
    lazy = verify_export(io.BytesIO(data), DOC_PUBLIC_KEY)
    eager = verify_export(io.BytesIO(data), DOC_PUBLIC_KEY, eager=True)
    require(isinstance(lazy, VerifyResult) and isinstance(eager, VerifyResult), "no VerifyResult")
    require((lazy.ok, lazy.reason, lazy.first_bad_seq) == (eager.ok, eager.reason, eager.first_bad_seq),
            f"lazy {lazy.reason} at {lazy.first_bad_seq}, eager {eager.reason} at {eager.first_bad_seq}")
    if lazy.ok and lazy.serial is not None:
        archive = Archive(":memory:")
        try:
            archive.bind(TrustedKey(lazy.serial, DOC_PUBLIC_KEY, b""))
            try:
                archive.ingest(io.BytesIO(data))
            except (ArchiveRefused, CmsimError):
                require(archive.count() == 0 and archive.head() is None, "a refused import stored something")
            else:
                require(archive.verify().ok, "an archive of a verified export does not verify")
        finally:
            archive.close()


def read(data: bytes, batch: bool) -> tuple[list[object], type[BaseException] | None]:
    items: list[object] = []
    try:
        for item in iter_export(io.BytesIO(data), batch=batch):
            items += [RecordItem(r, None) for r in item.records] if isinstance(item, RecordBatch) else [item]
    except AuditFormatError as exc:
        return items, type(exc)
    return items, None


def parse_export(data: bytes) -> None:
    one, error = read(data, batch=False)
    batched, batch_error = read(data, batch=True)
    require(batch_error is error, f"readers end differently: {error} / {batch_error}")
    require(one[: len(batched)] == batched if error else one == batched, "readers disagree on the items")


def record(data: bytes) -> None:
    try:
        rec = decode_record(data)
    except AuditFormatError as exc:
        try:
            scan_record(data)
        except AuditFormatError as scanned:
            require(type(scanned) is type(exc), f"decode says {type(exc).__name__}, scan {type(scanned).__name__}")
        else:
            raise AssertionError(f"scan_record accepts what decode_record refuses: {exc}") from None
        return
    scan = scan_record(data)
    require((scan.kind, scan.seq, scan.boot, scan.module_tag) == (rec.kind, rec.seq, rec.boot, rec.module_tag),
            "scan and decode read different fields")
    require(rec.encode() == data, "an accepted record does not re-encode to itself")


def parse(data: bytes) -> None:
    if not data:
        return
    parser = PARSERS[data[0] % len(PARSERS)]
    try:
        value = parser(data[1:])
    except AuditFormatError:
        return
    require(value.encode() == data[1:], f"{parser.__qualname__}: accepted bytes do not re-encode to themselves")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    (verify, parse_export, record, parse)[data[0] % 4](data[1:])


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
