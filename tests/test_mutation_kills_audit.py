"""Audit trail rules the `make mutate` runs found untested (each test names the mutant it kills).

From docs/audit-format.md: under block the last 4 slots take module-made records only, so an entry
fits while fewer than ``capacity - 4`` slots are used; at boot anything wrong in the ring but a torn
last append raises AuditRingCorrupted (a metadata blob whose checksum does not match, a record of
another module, which the module tag in every record names); an anchor at seq 0 must be the genesis
(the verifier checks that case), and the end marker's head must be the records' chain value. An
archive takes only its own module's exports. From the write-ahead rule (security policy): a result
whose record cannot be written is withheld, and a call is refused before it runs unless all the
records it may write fit.
"""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, begin_params, initialise, with_config
from host_tools.archive import Archive, ArchiveRefused
from host_tools.audit_drain import TrustedKey
from host_tools.audit_verify import Reason, verify_export
from module.audit.ring import REGION_NAME, SLOT_SIZE, slot_offset
from module.audit.trail import AuditConfig, AuditRingCorrupted, AuditRingExhausted, AuditTrail
from module.core import Module
from module.ports import ManualClock, MemoryFlash
from module.wire.audit.chain import genesis
from module.wire.audit.export import TAG_END, ExportEnd, write_export
from module.wire.defs import Command, DigestAlg, State, Status
from test_audit_edges import export_across_a_gap
from test_audit_edges import verify as verify_edges
from test_audit_ring import SEED, SERIAL, entry, make, times

MODULE_ONLY_SLOTS = 4  # "the last 4 slots take module-made records" (docs/audit-format.md)
META_SIZE, META_CHECK_SIZE = 98, 16  # the metadata blob (docs/audit-format.md); its last 16 bytes: SHA-256 of the rest
OTHER = "CMSIM-OTHER"


def fill(trail: AuditTrail, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        trail.append(entry(i), **times(i))


def checkpointed_export(trail: AuditTrail, serial: str, i: int = 99) -> io.BytesIO:
    trail.checkpoint(b"n", **times(i))
    out = io.BytesIO()
    write_export(out, serial, trail.export(0, 10_000))
    out.seek(0)
    return out


# ------------------------------------------------------------------ ring and space
def test_an_entry_fits_until_only_the_module_slots_are_left() -> None:
    """Under block, entries are taken up to ``capacity - 4`` used slots, the last of them too, and
    refused after (space-has-room-off-by-one)."""
    trail = make(capacity=32, reserve=8)
    while trail.has_room(1):
        fill(trail, 1, trail.status().next_seq)
    assert trail.status().used == 32 - MODULE_ONLY_SLOTS
    with pytest.raises(AuditRingExhausted):
        fill(trail, 1, 1000)


def test_ring_metadata_with_a_wrong_checksum_is_refused_even_when_its_first_byte_matches() -> None:
    """The whole 16-byte check is compared: a changed body whose SHA-256 happens to share the stored
    check's first byte still stops the boot (ring-meta-checksum-short)."""
    flash = MemoryFlash()
    fill(make(flash), 6)
    raw = flash.read("audit-meta")
    assert raw is not None and len(raw) == META_SIZE
    body, check = raw[:-META_CHECK_SIZE], raw[-META_CHECK_SIZE:]
    assert hashlib.sha256(body).digest()[:META_CHECK_SIZE] == check
    # refused_total (a u64 at offset 39 of the >8sBIHQQQQQBHQQQ body) takes values until the body's
    # SHA-256 starts with the stored check's first byte but differs after it.
    forged = next(f for f in (body[:39] + n.to_bytes(8, "big") + body[47:] for n in range(1, 100_000))
                  if hashlib.sha256(f).digest()[0] == check[0] and hashlib.sha256(f).digest()[:16] != check)
    flash.write("audit-meta", forged + check)
    with pytest.raises(AuditRingCorrupted):
        make(flash, boot=2)


def test_another_modules_record_in_a_free_slot_stops_the_boot() -> None:
    """A whole, valid slot from another module's ring, copied into a slot this ring has freed (below
    its acknowledged floor, where no chain check looks), is refused at boot (ring-foreign-slot-accepted)."""
    ours, theirs = MemoryFlash(), MemoryFlash()
    trail = make(ours)
    fill(trail, 12)
    trail.acknowledge(7, trail.chain_hash(7))
    assert trail.status().oldest_retained == 8
    other = AuditTrail(theirs, OTHER, AuditConfig(capacity=32, checkpoint_every=0, reserve=8))
    other.open(1)
    fill(other, 12)
    region, foreign = ours.region(REGION_NAME, 32 * SLOT_SIZE), theirs.region(REGION_NAME, 32 * SLOT_SIZE)
    region.write(slot_offset(3, 32), foreign.read(slot_offset(3, 32), SLOT_SIZE))
    with pytest.raises(AuditRingCorrupted):
        make(ours, boot=2)
    region.write(slot_offset(3, 32), bytes(SLOT_SIZE))  # the same slot blank: boots
    assert make(ours, boot=2).status().oldest_retained == 8


# ------------------------------------------------------------------ the verifier and the archive
def test_an_export_from_seq_0_must_start_at_the_genesis() -> None:
    """An anchor at seq 0 whose chain value is not H(genesis) of the export's serial is refused, with
    or without records after it (verify-genesis-unchecked)."""
    key = make().public_key()
    for head, expected in ((genesis(SERIAL), None), (bytes(32), Reason.HASH_MISMATCH),
                           (genesis(OTHER), Reason.HASH_MISMATCH)):
        out = io.BytesIO()
        write_export(out, SERIAL, [], anchor=(0, head))
        out.seek(0)
        assert verify_export(out, key, expected_serial=SERIAL).reason is expected, head.hex()


@pytest.mark.parametrize("byte", [0, 31])
def test_an_end_marker_whose_head_differs_from_the_chain_is_refused(byte: int) -> None:
    """Same record count and next_seq, a head wrong in one end byte: HASH_MISMATCH (verify-end-head-unchecked)."""
    blob = export_across_a_gap((3, 9))
    assert verify_edges(blob).ok
    size = struct.calcsize(ExportEnd.FORMAT)
    assert blob[-size - 1] == TAG_END  # the file ends with the end marker
    records, next_seq, head = struct.unpack(ExportEnd.FORMAT, blob[-size:])
    wrong = bytearray(head)
    wrong[byte] ^= 1
    result = verify_edges(blob[:-size] + struct.pack(ExportEnd.FORMAT, records, next_seq, bytes(wrong)))
    assert not result.ok and result.reason is Reason.HASH_MISMATCH


def test_the_archive_refuses_another_modules_export_signed_by_its_key(tmp_path: Path) -> None:
    """An archive bound to a module takes no export naming another serial, even one whose checkpoint
    the trusted key signed (a clone holding the same audit key); its own module's export is taken
    (archive-serial-unchecked)."""
    clone = AuditTrail(MemoryFlash(), OTHER, AuditConfig(capacity=32, checkpoint_every=0, reserve=8))
    clone.open(1)
    clone.set_signing_key(SEED)
    fill(clone, 5)
    mine = make()
    fill(mine, 5)
    with Archive(tmp_path / "a.db") as archive:
        archive.bind(TrustedKey(SERIAL, mine.public_key()))
        with pytest.raises(ArchiveRefused) as refused:
            archive.ingest(checkpointed_export(clone, OTHER))
        assert refused.value.reason is Reason.FOREIGN_MODULE and archive.count() == 0
        stored, result = archive.ingest(checkpointed_export(mine, SERIAL))
        assert result.ok and stored == archive.count() == 6


# ------------------------------------------------------------------ write-ahead in the core
def digest(module: Module, session_id: int) -> Status:
    return module.call(Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": b"m"}, session_id).status


def tight_module(make_module: ModuleFactory, clock: ManualClock) -> tuple[Module, int]:
    """A module on a 128-slot block ring with no drain reserve, and an open User session."""
    module = make_module(clock=clock, config=with_config(audit=AuditConfig(capacity=128, reserve=0,
                                                                            checkpoint_every=0)))
    client = initialise(module)
    return module, client.login("alice", PASSWORDS["alice"]).session_id


def fill_to(module: Module, session_id: int, used: int) -> None:
    while module.trail.status().used < used:
        assert digest(module, session_id) is Status.OK
    assert module.trail.status().used == used


def test_a_result_whose_record_the_calls_events_crowded_out_is_withheld(make_module: ModuleFactory) -> None:
    """Two unfinished logins expire at the start of a call admitted with room for two records: their
    events take that room, the call's own record cannot be written, and its result is withheld
    (dispatch-audit-full-released)."""
    clock = ManualClock()
    module, alice = tight_module(make_module, clock)
    for name in ("audrey", "officer"):
        assert module.call(Command.AUTH_BEGIN, begin_params(name)).status is Status.OK
    fill_to(module, alice, 128 - MODULE_ONLY_SLOTS - 2)
    clock.advance(31.0)  # past the 30 s handshake timeout, within the 300 s idle one
    reply = module.call(Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": b"m"}, alice)
    assert (reply.status, reply.data) == (Status.AUDIT_FULL, {})


def test_a_call_that_may_write_more_records_than_fit_is_refused_before_it_runs(make_module: ModuleFactory) -> None:
    """SELF_TEST records every CAST: with room for two records it is refused up front, counted once,
    and leaves no partial self-test in the trail (dispatch-room-for-one)."""
    module, alice = tight_module(make_module, ManualClock())
    fill_to(module, alice, 128 - MODULE_ONLY_SLOTS - 2)
    before = module.trail.status()
    reply = module.call(Command.SELF_TEST, {}, alice)
    after = module.trail.status()
    assert reply.status is Status.AUDIT_FULL and module.state is State.OPERATIONAL
    assert after.next_seq == before.next_seq
    assert after.records_refused == before.records_refused + 1
    assert sink_of(module).records[-1].entry.code == Command.DIGEST


def test_a_self_test_that_would_fail_is_refused_before_it_runs_on_a_tight_ring(make_module: ModuleFactory) -> None:
    """The up-front room check decides before the CASTs run: with a CAST fault armed and room for two
    records, SELF_TEST is refused and the module stays OPERATIONAL. Admitted with room for one, the
    failing CAST would move the module to SOFT_ERROR, a change the refusal of its record cannot undo
    (dispatch-room-for-one)."""
    module, alice = tight_module(make_module, ManualClock())
    fill_to(module, alice, 128 - MODULE_ONLY_SLOTS - 2)
    module.inject_fault("cast", "AES-256-GCM encrypt")
    before = module.trail.status()
    reply = module.call(Command.SELF_TEST, {}, alice)
    assert reply.status is Status.AUDIT_FULL
    assert module.state is State.OPERATIONAL
    assert module.trail.status().next_seq == before.next_seq
