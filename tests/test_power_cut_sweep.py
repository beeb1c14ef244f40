"""A power cut at every write point of every service in the catalogue, both directions.

For each service of :data:`module.services.catalog.SPECS` one call is made on a copy of a prepared
device (the dry run), which gives its write points and the durable state it leaves (the effect:
every flash object but the boot counter and the audit trail's own, with the trail's floor and
policy). The call is then repeated with the power cut at each write point in turn (region writes
also torn); after a reboot on the same files the durable state must be exactly the state before
the call or exactly the state after it, and it must be the one after it exactly when the call's
service record is in the trail: no record without its effect, no effect without its record.

The state directory skips fsync (the cut is simulated: what a write point did not do never
reaches the files). The module's entropy is seeded so that two runs of the same call leave the
same bytes in flash (a key store entry is compared without its material, which some libraries
draw themselves).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORDS, ModuleFactory, begin_params, with_test_identity
from firmware_sim.device import InProcessTransport
from firmware_sim.faults import FaultyFlash, PowerCut
from firmware_sim.flash import DirectoryFlash
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.audit.ring import META_NAME, REGION_NAME
from module.core import Module
from module.power import BOOT_FLASH_NAME
from module.ports import ManualClock
from module.services.catalog import SPECS
from module.wire.audit.chain import chain_next
from module.wire.audit.record import RecordKind, decode_record
from module.wire.defs import AuditPolicy, Command, KdfAlg, KeyType, KeyUse, LabAlgorithm, Role, SspAccess, State, Status


class SeededNoise:
    """Full-entropy samples from a fixed seed: every boot draws the same DRBG seed."""

    min_entropy_per_sample = 8.0

    def __init__(self, seed: int = 15) -> None:
        self._rng = random.Random(seed)

    def read(self, n: int) -> bytes:
        return self._rng.randbytes(n)


@dataclass
class Prepared:
    """A powered-off device's state directory and what its calls need (wrapped blobs, signatures)."""

    factory: Path  # never initialised
    operational: Path
    values: dict[str, Any] = field(default_factory=dict)


def boot(make_module: ModuleFactory, flash: Any) -> tuple[Module, Client]:
    module = make_module(flash=flash, entropy=SeededNoise(), clock=ManualClock())
    return module, Client(InProcessTransport(module))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    from conftest import _SEAL, TEST_CONFIG, initialise
    from firmware_sim.integrity import PackageCodeImage

    def make(path: Path, clock: ManualClock) -> Module:
        module = Module(flash=with_test_identity(DirectoryFlash(path)), clock=clock, entropy=SeededNoise(),
                        code=PackageCodeImage(), seal=_SEAL, config=TEST_CONFIG)
        module.power_on()
        return module

    factory = tmp_path_factory.mktemp("factory")
    make(factory, ManualClock()).power_off()
    path = tmp_path_factory.mktemp("operational")
    clock = ManualClock()
    module = make(path, clock)
    client = initialise(module)
    values: dict[str, Any] = {}
    with client.login("alice", PASSWORDS["alice"]) as alice:
        def gen(key_type: KeyType, uses: KeyUse | None = None, **extra: object) -> int:
            params: dict[str, object] = {"key_type": int(key_type), **extra}
            if uses is not None:
                params["uses"] = int(uses)
            return int(alice.call(Command.KEY_GENERATE, params).data["key_id"])

        keys = {"sign": gen(KeyType.EC_P256), "aes": gen(KeyType.AES_256),
                "wrap": gen(KeyType.AES_256, KeyUse.WRAP | KeyUse.UNWRAP),
                "exportable": gen(KeyType.AES_256, exportable=True), "mac": gen(KeyType.HMAC_SHA256),
                "base": gen(KeyType.GENERIC_SECRET, KeyUse.DERIVE), "agree": gen(KeyType.EC_P256, KeyUse.AGREE),
                "kem": gen(KeyType.ML_KEM_768), "sha1": gen(KeyType.EC_P256, KeyUse.SIGN_NON_APPROVED)}
        values["keys"] = keys
        values["wrapped"] = alice.call(Command.KEY_EXPORT, {"key_id": keys["exportable"],
                                                            "wrap_key_id": keys["wrap"]}).data["wrapped"]
        sealed = alice.call(Command.ENCRYPT, {"key_id": keys["aes"], "plaintext": b"plaintext"}).data
        values["iv"], values["ciphertext"] = sealed["iv"], sealed["ciphertext"]
        values["signature"] = alice.call(Command.SIGN, {"key_id": keys["sign"], "message": b"m"}).data["signature"]
        values["mac"] = alice.call(Command.MAC_GENERATE, {"key_id": keys["mac"], "message": b"m"}).data["mac"]
        attrs = alice.call(Command.KEY_ATTRIBUTES, {"key_id": keys["sign"]}).data
        values["peer"] = attrs["public_key"]
        kem = alice.call(Command.KEY_ATTRIBUTES, {"key_id": keys["kem"]}).data["public_key"]
        values["kem_public"] = kem
        values["kem_ciphertext"] = alice.call(Command.ENCAPSULATE, {"public_key": kem}).data["ciphertext"]
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.create_operator("bob", Role.USER, "bob-pass-1234")
    for _ in range(module.config.auth.lockout_threshold):  # bob locked out, for OPERATOR_UNLOCK
        with pytest.raises(DeviceError):
            client.login("bob", "wrong-password")
        clock.advance(module.config.auth.failure_delay_s)
    module.power_off()
    return Prepared(factory, path, values)


# --------------------------------------------------------------------------- one call of each service
Run = Callable[[Client, Prepared], object]
WHO = {Role.CRYPTO_OFFICER: "officer", Role.USER: "alice", Role.AUDITOR: "audrey"}


def _params(command: Command, p: Prepared) -> dict[str, Any]:
    """A call of ``command`` that succeeds on the prepared device (every catalogue service but the
    login steps, INITIALISE and AUDIT_ACK, which :func:`_run_of` makes by hand)."""
    k, v = p.values.get("keys", {}), p.values
    table: dict[Command, dict[str, Any]] = {
        Command.OPERATOR_CREATE: {"operator": "carol", "role": int(Role.USER), "password": "carol-pass-1234"},
        Command.OPERATOR_DELETE: {"operator": "bob"},
        Command.OPERATOR_CHANGE_PASSWORD: {"password": "alice-pass-new1", "current_password": PASSWORDS["alice"]},
        Command.OPERATOR_UNLOCK: {"operator": "bob"},
        Command.KEY_GENERATE: {"key_type": int(KeyType.AES_256), "label": "new"},
        Command.KEY_IMPORT: {"wrap_key_id": k.get("wrap"), "wrapped": v.get("wrapped"), "key_type": int(KeyType.AES_256)},
        Command.KEY_EXPORT: {"key_id": k.get("exportable"), "wrap_key_id": k.get("wrap")},
        Command.KEY_DELETE: {"key_id": k.get("aes")},
        Command.KEY_ATTRIBUTES: {"key_id": k.get("sign")},
        Command.ENCRYPT: {"key_id": k.get("aes"), "plaintext": b"x"},
        Command.DECRYPT: {"key_id": k.get("aes"), "iv": v.get("iv"), "ciphertext": v.get("ciphertext")},
        Command.SIGN: {"key_id": k.get("sign"), "message": b"m"},
        Command.VERIFY: {"key_id": k.get("sign"), "message": b"m", "signature": v.get("signature")},
        Command.MAC_GENERATE: {"key_id": k.get("mac"), "message": b"m"},
        Command.MAC_VERIFY: {"key_id": k.get("mac"), "message": b"m", "mac": v.get("mac")},
        Command.DIGEST: {"algorithm": 1, "message": b"m"},
        Command.RANDOM: {"length": 16},
        Command.DERIVE: {"base_key_id": k.get("base"), "kdf": int(KdfAlg.HKDF_SHA256), "key_type": int(KeyType.AES_256)},
        Command.KEY_AGREE: {"key_id": k.get("agree"), "peer_public_key": v.get("peer")},
        Command.ENCAPSULATE: {"public_key": v.get("kem_public")},
        Command.DECAPSULATE: {"key_id": k.get("kem"), "ciphertext": v.get("kem_ciphertext")},
        Command.AUDIT_EXPORT: {"from_seq": 0, "max_records": 4},
        Command.AUDIT_CHECKPOINT: {"nonce": b"sweep"},
        Command.AUDIT_SET_POLICY: {"policy": int(AuditPolicy.WRAP)},
        Command.DIGEST_SHA1: {"message": b"m"},
        Command.SIGN_ECDSA_SHA1: {"key_id": k.get("sha1"), "message": b"m"},
    }
    return table.get(command, {})


def _caller(command: Command) -> str:
    roles = next(spec.roles for spec in SPECS if spec.command is command)
    return next(WHO[role] for role in (Role.USER, Role.CRYPTO_OFFICER, Role.AUDITOR) if role in roles)


def _ack(session: OperatorSession) -> None:
    cp = session.audit.checkpoint(b"ack nonce")
    record = decode_record(cp.record)
    assert record.checkpoint is not None
    session.audit.acknowledge(cp.seq, chain_next(record.checkpoint.statement.head, cp.record))


def _run_of(command: Command) -> tuple[bool, Callable[[Client, Prepared, Any], object], str]:
    """(on the factory device?, the call given a client, a prepared device and an open session or
    None, the operator whose session it runs in or "" for none)."""
    if command is Command.INITIALISE:
        return True, lambda c, p, s: s.call(command, {"operator": "officer", "password": PASSWORDS["officer"]}), "factory"
    if command is Command.AUTH_BEGIN:
        return False, lambda c, p, s: c.call(command, begin_params("alice")), ""
    if command is Command.AUTH_FINISH:  # a failed login: the failure count is its effect
        def failed_login(c: Client, p: Prepared, s: Any) -> None:
            with pytest.raises(DeviceError):
                c.login("alice", "wrong-password")
        return False, failed_login, ""
    if command is Command.LOGOUT:
        return False, lambda c, p, s: s.logout(), "alice"
    if command is Command.AUDIT_ACK:
        return False, lambda c, p, s: _ack(s), "audrey"
    if command is Command.LAB_ALGORITHM_TEST:  # lab mode only: refused on this device, the refusal recorded
        def refused(c: Client, p: Prepared, s: Any) -> None:
            with pytest.raises(DeviceError) as info:
                s.call(command, {"algorithm": int(LabAlgorithm.HMAC_DRBG_SHA256), "length": 32,
                                 "entropy": bytes(32), "nonce": bytes(16)})
            assert info.value.status is Status.UNKNOWN_COMMAND
        return False, refused, _caller(command)
    spec = next(spec for spec in SPECS if spec.command is command)
    if Role.NONE in spec.roles:  # public: no session
        return False, lambda c, p, s: c.call(command, _params(command, p)), ""
    return False, lambda c, p, s: s.call(command, _params(command, p)), _caller(command)


# --------------------------------------------------------------------------- durable state
def durable_state(path: Path, module: Module) -> dict[str, Any]:
    """Every flash object but the boot counter and the trail's own, plus the trail's floor and policy."""
    flash = DirectoryFlash(path)
    state: dict[str, Any] = {}
    for name in flash.names():
        if name in (BOOT_FLASH_NAME, META_NAME, REGION_NAME):
            continue
        raw = flash.read(name)
        if name == "keystore" and raw is not None:
            doc = json.loads(raw)
            for key in doc["keys"]:
                key.pop("material"), key.pop("public")
            state[name] = doc
        else:
            state[name] = raw
    status = module.trail.status()
    state["audit"] = (status.oldest_retained, status.policy, status.high_water)
    return state


def records_of(module: Module) -> list[bytes]:
    return module.trail.export(0, 1_000_000)


@dataclass(frozen=True)
class Outcome:
    points: list[int]  # region-write lengths (0 for blob writes and deletes) of the call's write points
    before: Mapping[str, Any]
    after: Mapping[str, Any]


def _login(client: Client, who: str, module: Module) -> Any:
    if not who:
        return None
    if who == "factory":
        return client.login(module.config.factory_operator, module.config.factory_password)
    return client.login(who, PASSWORDS[who])


def dry_run(make_module: ModuleFactory, prepared: Prepared, command: Command, tmp: Path) -> Outcome:
    on_factory, run, who = _run_of(command)
    shutil.copytree(prepared.factory if on_factory else prepared.operational, tmp)
    flash = FaultyFlash(DirectoryFlash(tmp, durable=False))
    module, client = boot(make_module, flash)
    before = durable_state(tmp, module)
    session = _login(client, who, module)
    start = flash.count
    run(client, prepared, session)
    points = [p.length if p.kind == "region" else 0 for p in flash.points[start:]]
    module.power_off()
    rebooted, _ = boot(make_module, DirectoryFlash(tmp, durable=False))
    return Outcome(points, before, durable_state(tmp, rebooted))


STATEFUL_SSPS = {"stored keys", "operator verifiers", "audit signing key"}


def declared_state_changing() -> set[Command]:
    """Services the catalogue says generate, write or zeroise a persistent SSP."""
    changing = SspAccess.G | SspAccess.W | SspAccess.Z
    return {spec.command for spec in SPECS if any(u.ssp in STATEFUL_SSPS and u.access & changing for u in spec.ssps)}


@pytest.mark.parametrize("command", [spec.command for spec in SPECS], ids=[spec.command.name for spec in SPECS])
def test_a_power_cut_at_any_write_point_leaves_record_and_effect_together(
        make_module: ModuleFactory, prepared: Prepared, tmp_path: Path, command: Command) -> None:
    dry = dry_run(make_module, prepared, command, tmp_path / "dry")
    assert dry.points, f"{command.name} writes nothing, not even its record?"
    if dry.after == dry.before:
        assert command not in declared_state_changing(), f"{command.name} changed nothing durable"
        return  # no effect to lose or to leave behind: every cut is a cut of the records alone
    again = dry_run(make_module, prepared, command, tmp_path / "again")
    assert again.after == dry.after, f"{command.name}: two runs of the same call leave different state"
    on_factory, run, who = _run_of(command)
    failures: list[str] = []
    cuts = 0
    for n, length in enumerate(dry.points, start=1):
        for tear in ((0, length - 1) if length else (0,)):  # nothing of it, or all but its last byte
            state = tmp_path / f"cut-{n}-{tear}"
            cuts += 1
            shutil.copytree(prepared.factory if on_factory else prepared.operational, state)
            flash = FaultyFlash(DirectoryFlash(state, durable=False))
            module, client = boot(make_module, flash)
            before = records_of(module)
            session = _login(client, who, module)
            flash.cut_at(n, tear=tear)
            with pytest.raises(PowerCut):
                run(client, prepared, session)
            del module, client, session  # the power is gone: nothing of that module survives

            rebooted, _ = boot(make_module, DirectoryFlash(state, durable=False))
            where = f"write {n} of {len(dry.points)} (tear {tear})"
            assert rebooted.state in (State.OPERATIONAL, State.UNINITIALISED), \
                f"{command.name}, {where}: {rebooted.state.name} {rebooted.last_error}"
            floor = rebooted.trail.status().oldest_retained
            kept = max(0, len(before) - floor)
            mine = [decode_record(r) for r in records_of(rebooted)[kept:]]
            recorded = any(r.kind is RecordKind.SERVICE and r.code == int(command) for r in mine)
            now = durable_state(state, rebooted)
            if now not in (dry.before, dry.after):
                failures.append(f"{where}: a part of the effect")
            elif recorded and now != dry.after:
                failures.append(f"{where}: a record without its effect")
            elif not recorded and now != dry.before:
                failures.append(f"{where}: an effect without its record")
    print(f"{command.name}: {len(dry.points)} write points, {cuts} cuts, {len(failures)} failed")
    assert not failures, f"{command.name}: " + "; ".join(failures)


def test_the_sweep_covers_what_the_catalogue_declares_state_changing() -> None:
    """The sweep is not vacuous: the services that change persistent SSPs are in it (and a service
    the catalogue adds is swept without a new line here unless it needs parameters)."""
    assert {Command.KEY_GENERATE, Command.KEY_IMPORT, Command.KEY_DELETE, Command.OPERATOR_CREATE,
            Command.OPERATOR_DELETE, Command.OPERATOR_CHANGE_PASSWORD, Command.INITIALISE,
            Command.ZEROISE} <= declared_state_changing()
