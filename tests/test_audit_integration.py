"""The audit trail inside the module: completeness, drain, block and wrap, key handover, faults.

Everything goes through service calls and the host-side drain (export, offline verification
against the public key from AUDIT_PUBKEY, digest-bound acknowledgement).
"""

from __future__ import annotations

import io
import random

import pytest

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, initialise, with_config
from firmware_sim.device import InProcessTransport
from firmware_sim.flash import DirectoryFlash
from host_tools.audit_drain import drain, export_through, fetch_public_key
from host_tools.audit_verify import Reason, verify_export
from host_tools.client import Client
from host_tools.errors import CmsimError
from module.audit.sink import RecordKind
from module.audit.trail import AuditConfig
from module.cast import CAST_NAMES
from module.core import Module, ModuleConfig
from module.wire.audit.checkpoint import CheckpointReason, LinkKind
from module.wire.audit.export import ExportFormat, RecordItem, iter_export
from module.wire.audit.record import LossReason, decode_record
from module.wire.audit.signature import SigAlg
from module.wire.defs import AuditPolicy, Command, DigestAlg, KeyType, State, Status


def small(capacity: int = 128, **audit: object) -> ModuleConfig:
    return with_config(audit=AuditConfig(capacity=capacity, reserve=16, checkpoint_every=0, **audit))  # type: ignore[arg-type]


def digest_call(module: Module, session_id: int) -> Status:
    return module.call(Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": b"m"}, session_id).status


# ------------------------------------------------------------------ completeness
def test_random_calls_leave_one_record_each_in_order(module: Module, client: Client) -> None:
    rng = random.Random(1)
    view = sink_of(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        key = int(alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}).data["key_id"])
        calls = [
            (Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": b"x"}),
            (Command.RANDOM, {"length": 8}),
            (Command.ENCRYPT, {"key_id": key, "plaintext": b"p"}),
            (Command.KEY_DELETE, {"key_id": 999_999}),  # refused: no such key
            (Command.OPERATOR_LIST, {}),  # refused: a User may not
            (Command.GET_STATUS, {}),
            (0x7E, {}),  # no such service
        ]
        start = view.next_seq
        made = []
        for _ in range(200):
            command, params = rng.choice(calls)
            made.append((int(command), module.call(command, params, alice.session_id).status))
    services = [r for r in view.since(start) if r.entry.kind is RecordKind.SERVICE]
    assert [(r.entry.code, r.entry.status) for r in services[:-1]] == made
    assert services[-1].entry.code == Command.LOGOUT  # the context manager's logout, recorded too
    seqs = [r.seq for r in view.since(start)]
    assert seqs == list(range(start, start + len(seqs)))


def test_drain_verifies_and_acknowledges(module: Module, client: Client) -> None:
    key = fetch_public_key(client, expected_serial=module.config.serial)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        first = drain(auditor, key)
        assert first.verify.ok, first.verify.message
        assert first.acknowledged and first.verify.verified_through == first.checkpoint_seq
        status = client.call(Command.GET_STATUS).data["audit"]
        assert status["acked_through"] == first.checkpoint_seq
        assert status["oldest_retained"] == first.checkpoint_seq + 1
        second = drain(auditor, key, fmt=ExportFormat.JSONL)  # only what came after, re-anchored
        assert second.verify.ok, second.verify.message
        assert second.verify.first_seq == first.checkpoint_seq + 1


def test_acknowledging_an_unverified_head_is_refused(module: Module, client: Client) -> None:
    view = sink_of(module)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        before = module.trail.status()
        reply = module.call(Command.AUDIT_ACK, {"seq": 3, "head": bytes(32)}, auditor.session_id)
        assert reply.status is Status.AUDIT_DIGEST_MISMATCH
        assert module.trail.status().oldest_retained == before.oldest_retained  # nothing freed
        last = view.records[-1]
        assert last.entry.code == Command.AUDIT_ACK and last.entry.status is Status.AUDIT_DIGEST_MISMATCH


def test_an_acknowledgement_from_what_is_public_frees_nothing(module: Module, client: Client) -> None:
    """GET_STATUS (no login) gives the chain head and an empty export page gives its anchor: an
    Auditor who read only those, and exported no record, must not free anything. The device takes
    an acknowledgement only through a checkpoint it made with this session's own nonce."""
    with client.login("alice", PASSWORDS["alice"]) as alice:
        alice.random(8)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        page = auditor.call(Command.AUDIT_EXPORT, {"from_seq": 10**9, "max_records": 0}).data
        before = module.trail.status()
        head = client.call(Command.GET_STATUS).data["audit"]["head"]  # public: no login
        reply = module.call(Command.AUDIT_ACK, {"seq": before.next_seq, "head": head}, auditor.session_id)
        assert reply.status is Status.AUDIT_DIGEST_MISMATCH, reply  # the status call's own record came after
        reply = module.call(Command.AUDIT_ACK, {"seq": page["first_seq"] - 1, "head": page["anchor"]},
                            auditor.session_id)
        assert reply.status is Status.AUDIT_DIGEST_MISMATCH, reply
        assert module.trail.status().oldest_retained == before.oldest_retained  # nothing freed
        # Another session's checkpoint does not count either, and neither does one without a nonce.
        with client.login("officer", PASSWORDS["officer"]) as officer:
            cp = officer.audit.checkpoint(b"officer nonce")
        reply = module.call(Command.AUDIT_ACK, {"seq": cp.seq, "head": module.trail.chain_hash(cp.seq)},
                            auditor.session_id)
        assert reply.status is Status.AUDIT_DIGEST_MISMATCH, reply
        bare = auditor.audit.checkpoint(b"")
        reply = module.call(Command.AUDIT_ACK, {"seq": bare.seq, "head": module.trail.chain_hash(bare.seq)},
                            auditor.session_id)
        assert reply.status is Status.AUDIT_DIGEST_MISMATCH, reply
        assert module.trail.status().oldest_retained == before.oldest_retained
        # The drain's own order passes: its checkpoint, with its nonce, and that checkpoint's head.
        own = auditor.audit.checkpoint(b"audrey nonce")
        reply = module.call(Command.AUDIT_ACK, {"seq": own.seq, "head": module.trail.chain_hash(own.seq)},
                            auditor.session_id)
        assert reply.status is Status.OK and module.trail.status().oldest_retained == own.seq + 1


def test_export_without_a_final_checkpoint_is_an_unverified_tail(module: Module, client: Client) -> None:
    key = fetch_public_key(client)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        out = io.BytesIO()
        export_through(auditor, out, key.serial, module.trail.status().next_seq - 1)
    out.seek(0)
    result = verify_export(out, key.public_key)
    assert not result.ok and result.reason is Reason.TRUNCATED  # records after the last checkpoint


def test_tampered_export_is_caught(module: Module, client: Client) -> None:
    key = fetch_public_key(client)
    out = io.BytesIO()
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        assert drain(auditor, key, out, acknowledge=False).verify.ok
    data = bytearray(out.getvalue())
    data[len(data) // 3] ^= 0x01
    result = verify_export(io.BytesIO(bytes(data)), key.public_key)
    assert not result.ok


def test_status_and_the_public_key_need_no_login(module: Module, client: Client) -> None:
    audit = client.call(Command.GET_STATUS).data["audit"]
    assert audit["policy"] == "block" and audit["signing_key"] and audit["records_lost"] == 0
    assert len(fetch_public_key(client).public_key) == 32


# ------------------------------------------------------------------ full ring
def test_block_policy_refuses_then_drain_unblocks(make_module: ModuleFactory) -> None:
    module = make_module(config=small())
    client = initialise(module)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:  # a small ring is past the public share
        key = fetch_public_key(auditor)
    out = io.BytesIO()
    with client.login("alice", PASSWORDS["alice"]) as alice:
        statuses = [digest_call(module, alice.session_id) for _ in range(120)]
        refused = statuses.count(Status.AUDIT_FULL)
        assert refused and statuses.index(Status.AUDIT_FULL) > 0
        assert statuses[statuses.index(Status.AUDIT_FULL):] == [Status.AUDIT_FULL] * refused
        # (a clear GET_STATUS is refused now: unauthenticated calls stop short of the reserve)
        assert module.call(Command.GET_STATUS, {}, alice.session_id).data["audit"]["would_block"]
        with client.login("audrey", PASSWORDS["audrey"]) as auditor:  # login and drain still work
            result = drain(auditor, key, out)
            assert result.verify.ok and result.acknowledged, result.verify.message
        assert digest_call(module, alice.session_id) is Status.OK
    status = module.trail.status()
    assert status.records_lost == 0 and status.records_refused == refused
    # The refusals were counted, not recorded; one chained LOSS(REFUSED) record names them all.
    out.seek(0)
    records = [decode_record(item.data) for item in iter_export(out) if isinstance(item, RecordItem)]
    summaries = [r.loss for r in records if r.kind == RecordKind.LOSS and r.code == LossReason.REFUSED]
    assert [(s.count, s.total) for s in summaries if s is not None] == [(refused, refused)]


def test_wrap_policy_names_what_it_overwrote(make_module: ModuleFactory) -> None:
    module = make_module(config=small(wrap_batch=8))
    client = initialise(module)
    key = fetch_public_key(client)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        assert officer.call(Command.AUDIT_SET_POLICY, {"policy": int(AuditPolicy.WRAP)}).data["policy"] == 2
        for _ in range(300):
            assert digest_call(module, officer.session_id) is Status.OK
    status = module.trail.status()
    assert status.records_lost > 0 and status.oldest_retained > 0
    records = [decode_record(r) for r in module.trail.export(0, 10_000)]
    losses = [r for r in records if r.kind == RecordKind.LOSS and r.code == LossReason.OVERWRITTEN]
    assert losses and losses[-1].loss is not None and losses[-1].loss.total == status.records_lost
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        result = drain(auditor, key)
    assert result.verify.ok, result.verify.message


# ------------------------------------------------------------------ keys and errors
def test_zeroisation_hands_the_chain_to_a_new_key(make_module: ModuleFactory) -> None:
    module = make_module()
    client = initialise(module)
    old = fetch_public_key(client)
    seq_before = module.trail.status().next_seq
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    module.power_off()
    module.power_on()
    assert module.state is State.UNINITIALISED
    assert module.trail.status().next_seq > seq_before  # sequence numbers never reset
    initialise(module)
    new = fetch_public_key(client)
    assert new.public_key != old.public_key
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        out = io.BytesIO()
        cp = auditor.call(Command.AUDIT_CHECKPOINT, {"nonce": b"n" * 16}).data
        export_through(auditor, out, old.serial, int(cp["seq"]))
    out.seek(0)
    result = verify_export(out, old.public_key, expected_nonce=b"n" * 16)  # trust follows the handover
    assert result.ok, result.message
    assert result.keys[:2] == (old.public_key, new.public_key)


def test_an_error_state_signs_nothing_and_recovery_signs_over_it(module: Module, client: Client) -> None:
    """No cryptography in an error state (the Ed25519 CAST may be the test that failed): the ERROR
    checkpoint is chained but unsigned; the first checkpoint after a passing self-test signs the
    chain through it, and a verifier reports the unsigned checkpoint for what it is."""
    module.inject_fault("cast", CAST_NAMES[0])
    module.call(Command.SELF_TEST)
    assert module.state is State.SOFT_ERROR
    records = [decode_record(r) for r in module.trail.export(0, 10_000)]
    errors = [r for r in records if r.kind == RecordKind.CHECKPOINT and r.code == CheckpointReason.ERROR]
    assert errors and errors[-1].checkpoint is not None
    assert (errors[-1].checkpoint.sig_alg, errors[-1].checkpoint.signature) == (SigAlg.NONE, b"")
    assert errors[-1].checkpoint.statement.signer == bytes(32)
    module.call(Command.SELF_TEST)  # the fault was one-shot: this one passes
    assert module.state is State.OPERATIONAL
    after = [decode_record(r) for r in module.trail.export(errors[-1].seq + 1, 10_000)]
    recovery = [r for r in after if r.kind == RecordKind.CHECKPOINT and r.code == CheckpointReason.RECOVERY]
    assert recovery and recovery[0].checkpoint is not None and recovery[0].checkpoint.sig_alg is SigAlg.ED25519
    key = fetch_public_key(client)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        result = drain(auditor, key)
    assert result.verify.ok, result.verify.message
    assert result.verify.unsigned_checkpoints == 1 and "unsigned" in result.verify.message


def test_zeroisation_in_hard_error_signs_nothing(module: Module, client: Client) -> None:
    officer = client.login("officer", PASSWORDS["officer"])
    module.inject_fault("integrity")
    module.call(Command.SELF_TEST)
    assert module.state is State.HARD_ERROR
    assert module.call(Command.ZEROISE, {}, officer.session_id).status is Status.OK
    records = [decode_record(r) for r in module.trail.export(0, 10_000)]
    checkpoints = [r.checkpoint for r in records if r.kind == RecordKind.CHECKPOINT and r.checkpoint is not None]
    zeroisation = [c for c in checkpoints if c.statement.reason is CheckpointReason.ZEROISATION]
    assert zeroisation and zeroisation[-1].sig_alg is SigAlg.NONE and zeroisation[-1].statement.link_kind is LinkKind.NONE
    error = [c for c in checkpoints if c.statement.reason is CheckpointReason.ERROR]
    assert error and all(c.sig_alg is SigAlg.NONE for c in error)


def test_a_corrupted_ring_stops_the_module_at_boot(tmp_path: object, make_module: ModuleFactory) -> None:
    flash = DirectoryFlash(tmp_path)  # type: ignore[arg-type]
    module = make_module(flash=flash)
    initialise(module)
    module.power_off()
    ring = next(p for p in tmp_path.iterdir() if "audit-ring" in p.name)  # type: ignore[attr-defined]
    raw = bytearray(ring.read_bytes())
    raw[600] ^= 0xFF  # inside the second slot: a retained record
    ring.write_bytes(bytes(raw))
    module.power_on()
    assert module.state is State.HARD_ERROR
    status = module.call(Command.GET_STATUS).data
    assert "audit ring" in status["last_error"] and status["audit"]["fault"]
    with pytest.raises(CmsimError):
        Client(InProcessTransport(module)).login("officer", PASSWORDS["officer"])


def test_records_never_hold_secrets(module: Module, client: Client) -> None:
    secret = b"very secret plaintext 0123456789"
    with client.login("alice", PASSWORDS["alice"]) as alice:
        key = int(alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}).data["key_id"])
        alice.call(Command.ENCRYPT, {"key_id": key, "plaintext": secret})
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "bob", "role": 2, "password": "bob-password-99"})
    blob = b"".join(module.trail.export(0, 10_000))
    for needle in (secret, b"bob-password-99", PASSWORDS["alice"].encode(), bytes(module.keys.get(key).material)):
        assert needle not in blob


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("command", "params", "status"),
    [
        (Command.AUDIT_ACK, {"seq": 2**64 - 1, "head": bytes(32)}, Status.INVALID_PARAMETER),
        (Command.AUDIT_ACK, {"seq": 1, "head": bytes(31)}, Status.INVALID_PARAMETER),
        (Command.AUDIT_ACK, {"seq": 1}, Status.INVALID_PARAMETER),
        (Command.AUDIT_EXPORT, {"max_records": 10_000}, Status.INVALID_PARAMETER),
        (Command.AUDIT_EXPORT, {"from_seq": -1}, Status.INVALID_PARAMETER),
        (Command.AUDIT_CHECKPOINT, {"nonce": bytes(33)}, Status.INVALID_PARAMETER),
        (Command.AUDIT_SET_POLICY, {"policy": 3}, Status.INVALID_PARAMETER),
        (Command.AUDIT_SET_POLICY, {"policy": 1, "high_water_permille": 0}, Status.INVALID_PARAMETER),
        (Command.AUDIT_SET_POLICY, {"policy": 1, "high_water_permille": 1001}, Status.INVALID_PARAMETER),
    ],
)
def test_bad_audit_requests_change_nothing_but_their_record(
    module: Module, client: Client, command: Command, params: dict[str, object], status: Status
) -> None:
    with client.login("officer", PASSWORDS["officer"]) as officer:
        before = module.trail.status()
        reply = module.call(command, params, officer.session_id)
        after = module.trail.status()
    assert reply.status is status and reply.data == {}
    assert (after.oldest_retained, after.policy, after.high_water) == (before.oldest_retained, before.policy,
                                                                       before.high_water)
    assert after.next_seq == before.next_seq + 1  # exactly the refusal's own record


def test_export_pages_past_the_end_are_empty(module: Module, client: Client) -> None:
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        data = auditor.call(Command.AUDIT_EXPORT, {"from_seq": 10**12, "max_records": 5}).data
        assert data["records"] == [] and data["first_seq"] == data["next_seq"]  # anchored at the head
        assert auditor.call(Command.AUDIT_EXPORT, {"max_records": 0}).data["records"] == []
