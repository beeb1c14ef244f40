"""Power cut at every write point of the main services, then a reboot on the same state directory.

For each service the write points of one call are counted, then the call is repeated on a fresh
copy of the same state with the power cut at each point in turn (region writes also torn part
way). After every cut the next boot must reach OPERATIONAL, the audit chain must verify end to end
under a new nonce-bound checkpoint, every record written before the call must still be there, and
the call's effect must be all-or-nothing: present whenever its audit record is.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise, with_test_identity
from firmware_sim.device import InProcessTransport
from firmware_sim.faults import FaultyFlash, PowerCut
from firmware_sim.flash import DirectoryFlash
from host_tools.audit_drain import export_through, fetch_public_key
from host_tools.audit_verify import verify_export
from host_tools.client import Client, OperatorSession
from module.audit.ring import SLOT_SIZE
from module.core import Module
from module.wire.audit.chain import chain_next
from module.wire.audit.record import RecordKind, decode_record
from module.wire.defs import AuditPolicy, Command, KeyType, Role, State


@dataclass(frozen=True)
class Op:
    name: str
    operator: str
    run: Callable[[OperatorSession], object]
    effect: Callable[[Module], bool]  # True when the call's change is in the rebooted module


OPS = [
    Op("KEY_GENERATE", "alice", lambda s: s.generate_key(KeyType.EC_P256, label="new"),
       lambda m: any(k.label == "new" for k in m.keys.all())),
    Op("KEY_DELETE", "alice", lambda s: s.delete_key(1), lambda m: all(k.key_id != 1 for k in m.keys.all())),
    Op("OPERATOR_CREATE", "officer", lambda s: s.create_operator("bob", Role.USER, "bob-pass-1234"),
       lambda m: m.operators.get("bob") is not None),
    Op("ENCRYPT", "alice", lambda s: s.encrypt(2, b"plaintext"), lambda m: True),
    Op("AUDIT_CHECKPOINT", "audrey", lambda s: s.audit.checkpoint(b"nonce"), lambda m: True),
    Op("AUDIT_SET_POLICY", "officer", lambda s: s.audit.set_policy(AuditPolicy.WRAP),
       lambda m: m.trail.status().policy == "wrap"),
    Op("AUDIT_ACK", "audrey", lambda s: _ack_own_checkpoint(s), lambda m: m.trail.status().oldest_retained > 0),
    Op("ZEROISE", "officer", lambda s: s.zeroise(), lambda m: len(m.keys) == 0 and m.operators.get("alice") is None),
]


def _ack_own_checkpoint(session: OperatorSession) -> None:
    """Acknowledge through this session's own nonce checkpoint (the only seq the module frees to):
    its chain hash is the checkpoint record's, chained onto the head the record itself signs."""
    cp = session.audit.checkpoint(b"ack nonce")
    record = decode_record(cp.record)
    assert record.checkpoint is not None
    session.audit.acknowledge(cp.seq, chain_next(record.checkpoint.statement.head, cp.record))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised device's state directory with two keys (1: EC P-256, 2: AES-256), powered off."""
    from conftest import _SEAL, TEST_CONFIG
    from firmware_sim.entropy import OsNoiseSource
    from firmware_sim.integrity import PackageCodeImage
    from module.ports import ManualClock

    path = tmp_path_factory.mktemp("template")
    module = Module(flash=with_test_identity(DirectoryFlash(path)), clock=ManualClock(), entropy=OsNoiseSource(), code=PackageCodeImage(),
                    seal=_SEAL, config=TEST_CONFIG)
    module.power_on()
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        alice.generate_key(KeyType.EC_P256)
        alice.generate_key(KeyType.AES_256)
    module.power_off()
    return path


def boot(make_module: ModuleFactory, flash: object) -> tuple[Module, Client]:
    module = make_module(flash=flash)
    return module, Client(InProcessTransport(module))


def records_of(module: Module) -> list[bytes]:
    return module.trail.export(0, 1_000_000)


def write_points(make_module: ModuleFactory, template: Path, tmp: Path, op: Op) -> list[int]:
    """Region-write lengths (0 for blob writes and deletes) of each write point of one call."""
    shutil.copytree(template, tmp)
    flash = FaultyFlash(DirectoryFlash(tmp))
    module, client = boot(make_module, flash)
    with client.login(op.operator, PASSWORDS[op.operator]) as session:
        before = flash.count
        op.run(session)
        points = flash.points[before:]
    module.power_off()
    return [p.length if p.kind == "region" else 0 for p in points]


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_power_cut_at_every_write_point(make_module: ModuleFactory, template: Path, tmp_path: Path, op: Op) -> None:
    points = write_points(make_module, template, tmp_path / "dry", op)
    assert points, f"{op.name} writes nothing?"
    survived = 0
    for n, length in enumerate(points, start=1):
        for tear in ((0, SLOT_SIZE // 2, length - 1) if length else (0,)):
            state = tmp_path / f"cut-{n}-{tear}"
            shutil.copytree(template, state)
            flash = FaultyFlash(DirectoryFlash(state))
            module, client = boot(make_module, flash)
            public = fetch_public_key(client)
            before = records_of(module)
            session = client.login(op.operator, PASSWORDS[op.operator])
            flash.cut_at(n, tear=tear)
            with pytest.raises(PowerCut):
                op.run(session)
            del module, client, session  # the power is gone: nothing of that module survives

            rebooted, client = boot(make_module, DirectoryFlash(state))
            where = f"{op.name}, cut at write {n} of {len(points)}, tear {tear}"
            assert rebooted.state in (State.OPERATIONAL, State.ZEROISED, State.UNINITIALISED), \
                f"{where}: {rebooted.state.name} {rebooted.last_error}"
            after = records_of(rebooted)
            floor = rebooted.trail.status().oldest_retained
            kept = max(0, len(before) - floor)  # records from before the call still retained
            assert after[:kept] == before[floor:], f"{where}: a record written before the call changed"
            mine = [decode_record(r) for r in after[kept:]]
            recorded = any(r.kind is RecordKind.SERVICE and r.code == op_command(op) for r in mine)
            if recorded:
                assert op.effect(rebooted), f"{where}: the call is recorded but its effect is missing"
            _verify_chain(rebooted, client, public.public_key, where)
            survived += 1
    assert survived >= len(points)
    print(f"{op.name}: {len(points)} write points, {survived} power cuts survived")


def op_command(op: Op) -> int:
    return int(Command[op.name])


def _verify_chain(module: Module, client: Client, public_key: bytes, where: str) -> None:
    """A checkpoint with a fresh nonce now, then the whole retained trail must verify against the
    key trusted before the cut (a zeroisation hands over to a new key through a signed link)."""
    if module.state is not State.OPERATIONAL:
        records = module.trail.export(0, 1_000_000)
        assert records, where
        return
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        cp = auditor.audit.checkpoint(b"after the cut")
        out = io.BytesIO()
        export_through(auditor, out, module.config.serial, cp.seq, from_seq=0)
    out.seek(0)
    result = verify_export(out, public_key, expected_nonce=b"after the cut")
    assert result.ok, f"{where}: {result.reason} {result.message}"
