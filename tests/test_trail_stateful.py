"""The whole audit trail as a state machine: calls by several operators, public floods, drains into
the real SQLite archive, acknowledgements, power cuts at random write points, zeroisations and
policy changes, on an in-process module with its flash in a real state directory.

Invariant, after every step: the records the archive holds, the records the device retains and
the ranges the LOSS records name (archived or retained) together are exactly the sequence numbers
the device has issued, and every record the device ever held at the end of a step (so every
record of a call that was answered) is still there, unchanged, or inside a LOSS-named range.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from conftest import _SEAL, PASSWORDS, TEST_CONFIG, with_test_identity
from firmware_sim.device import InProcessTransport
from firmware_sim.faults import FaultyFlash, PowerCut
from firmware_sim.flash import DirectoryFlash
from firmware_sim.integrity import PackageCodeImage
from host_tools.archive import Archive
from host_tools.audit_drain import fetch_public_key
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError
from module.core import Module
from module.ports import ManualClock
from firmware_sim.entropy import OsNoiseSource
from module.wire.audit.record import LossReason, RecordKind, decode_record
from module.wire.defs import AuditPolicy, Command, KeyType, Role, State, Status

CONFIG = replace(TEST_CONFIG, audit=replace(TEST_CONFIG.audit, capacity=160, reserve=16, wrap_batch=16,
                                            public_rate=6, public_interval_s=1.0))
ROLES = {"officer": Role.CRYPTO_OFFICER, "alice": Role.USER, "audrey": Role.AUDITOR}
REFUSED = {Status.AUDIT_FULL}  # what a call may meet on a full trail (block) or over the public rate


class TrailMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="trail-"))
        self.clock = ManualClock()
        self.archive = Archive(self.dir / "archive.db")
        self.archive.db.execute("PRAGMA synchronous=OFF")  # a test: no fsync waits
        self.seen: dict[int, bytes] = {}  # every record the device held at the end of a step
        self.high = 0  # the highest next_seq seen: sequence numbers never go back
        self.sessions: dict[str, OperatorSession] = {}
        self._boot()
        self._initialise()
        self.key = fetch_public_key(self.client)
        self.archive.bind(self.key)

    def teardown(self) -> None:
        self.archive.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ the device
    def _boot(self) -> None:
        self.flash = FaultyFlash(with_test_identity(DirectoryFlash(self.dir / "state", durable=False)))  # type: ignore[arg-type]
        self.module = Module(flash=self.flash, clock=self.clock, entropy=OsNoiseSource(), code=PackageCodeImage(),
                             seal=_SEAL, config=CONFIG)
        self.module.power_on()
        assert self.module.state in (State.OPERATIONAL, State.UNINITIALISED), (self.module.state, self.module.last_error)
        self.client = Client(InProcessTransport(self.module))
        self.sessions = {}

    def _initialise(self) -> None:
        config = self.module.config
        self.clock.advance(1.0)
        with self.client.login(config.factory_operator, config.factory_password) as factory:
            factory.initialise("officer", PASSWORDS["officer"])
        officer = self._session("officer")
        for name in ("alice", "audrey"):
            try:
                officer.create_operator(name, ROLES[name], PASSWORDS[name])
            except DeviceError as exc:  # a full ring under block: the officer drains it first
                assert exc.status in REFUSED, exc
                self.archive.archive(officer, fetch_public_key(self.client))
                officer.create_operator(name, ROLES[name], PASSWORDS[name])

    def _session(self, name: str) -> OperatorSession:
        if name not in self.sessions:
            self.clock.advance(1.0)  # a login's public calls, in a public-rate interval of their own
            self.sessions[name] = self.client.login(name, PASSWORDS[name])
        return self.sessions[name]

    def _call(self, name: str, command: Command, params: dict[str, object]) -> None:
        """One call; a full trail's refusal is an answer too (the call then changed nothing)."""
        try:
            self._session(name).call(command, params)
        except DeviceError as exc:
            assert exc.status in REFUSED, f"{command.name} by {name}: {exc}"

    def _power_cut(self) -> None:
        """The power went: drop everything of the module and boot on the same files."""
        del self.module, self.client
        self._boot()
        if self.module.state is State.UNINITIALISED:  # cut in a zeroisation that got through
            self._initialise()

    # ------------------------------------------------------------------ rules
    @rule(who=st.sampled_from(["alice", "officer"]), what=st.sampled_from(["random", "generate", "list"]))
    def call(self, who: str, what: str) -> None:
        command, params = {"random": (Command.RANDOM, {"length": 8}),
                           "generate": (Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}),
                           "list": (Command.KEY_LIST, {})}[what]
        self._call(who, command, params)

    @rule(n=st.integers(1, 12))
    def public_flood(self, n: int) -> None:
        for _ in range(n):
            reply = self.module.call(Command.GET_STATUS)
            assert reply.status is Status.OK or reply.status in REFUSED, reply

    @rule(seconds=st.sampled_from([0.5, 1.0, 5.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.sessions = {n: s for n, s in self.sessions.items() if seconds < 5.0}  # idle ones may expire

    @rule(acknowledge=st.booleans())
    def drain(self, acknowledge: bool) -> None:
        try:
            self.archive.archive(self._session("audrey"), self.key, acknowledge=acknowledge)
        except DeviceError as exc:
            assert exc.status in REFUSED, exc

    @rule(policy=st.sampled_from([AuditPolicy.WRAP, AuditPolicy.BLOCK]))
    def set_policy(self, policy: AuditPolicy) -> None:
        self._call("officer", Command.AUDIT_SET_POLICY, {"policy": int(policy)})

    def _drain_before_zeroising(self) -> None:
        """The procedure: after a zeroisation nobody can drain until the module is initialised
        again, and each boot adds records (a score of them), so a ring filling under block is
        drained first, or it may be exhausted before INITIALISE, which it then refuses for good;
        under wrap it always is, as a wrap could overwrite the key handover the archive follows."""
        status = self.module.trail.status()
        if status.policy == "wrap" or status.used * 2 > status.capacity:
            self.drain(acknowledge=True)

    @rule()
    def zeroise(self) -> None:
        self._drain_before_zeroising()
        try:
            self._session("officer").zeroise()
        except DeviceError as exc:
            assert exc.status in REFUSED, exc
            return
        self.module.power_off()  # ZEROISED is left by a power cycle only
        self._boot()
        self._initialise()

    @rule(at=st.integers(1, 10), what=st.sampled_from(["generate", "delete", "drain", "zeroise", "create"]))
    def power_cut(self, at: int, what: str) -> None:
        session = {"drain": "audrey", "generate": "alice", "delete": "alice"}.get(what, "officer")
        self._drain_before_zeroising()  # the cut may land in a zeroisation, or in the boot after one
        self._session(session)  # logged in before the power is armed to go
        self.flash.cut_at(at)
        try:
            if what == "drain":
                self.drain(acknowledge=True)
            elif what == "zeroise":
                self.zeroise()
            elif what == "create":
                self._call("officer", Command.OPERATOR_CREATE,
                           {"operator": f"op{self.high}", "role": int(Role.USER), "password": "a-password-1"})
            elif what == "delete":
                keys = [k["key_id"] for k in self._session("alice").call(Command.KEY_LIST).data["keys"]]
                if keys:
                    self._call("alice", Command.KEY_DELETE, {"key_id": keys[0]})
            else:
                self.call("alice", "generate")
        except PowerCut:
            self._power_cut()
            return
        self.flash.disarm()  # the call wrote fewer points than that: the power stayed on

    # ------------------------------------------------------------------ the invariant
    @invariant()
    def every_issued_record_is_accounted_for(self) -> None:
        status = self.module.trail.status()
        assert status.next_seq >= self.high, "a sequence number was issued twice"
        self.high = status.next_seq
        retained: dict[int, bytes] = {}
        for data in self.module.trail.export(status.oldest_retained, status.next_seq):
            retained[decode_record(data).seq] = data
        assert set(retained) == set(range(status.oldest_retained, status.next_seq))
        archived = {int(seq): bytes(data) for seq, data in self.archive.db.execute("SELECT seq, record FROM records")}
        named: set[int] = set()
        for data in (*archived.values(), *retained.values()):
            record = decode_record(data)
            if record.kind is RecordKind.LOSS and record.code == LossReason.OVERWRITTEN and record.loss is not None:
                named |= set(range(record.loss.first_seq, record.loss.last_seq + 1))
        assert set(archived) | set(retained) | named == set(range(status.next_seq)), (
            f"unaccounted: {sorted(set(range(status.next_seq)) - set(archived) - set(retained) - named)[:10]}, "
            f"beyond: {sorted((set(archived) | set(retained) | named) - set(range(status.next_seq)))[:10]}")
        for seq, data in archived.items():
            if seq in retained:
                assert retained[seq] == data, f"record {seq} differs between the archive and the device"
        for seq, data in self.seen.items():
            if seq in named:
                continue
            held = archived.get(seq, retained.get(seq))
            assert held == data, f"record {seq}, held once, is gone or changed"
        self.seen.update(retained)


TrailMachine.TestCase.settings = settings(max_examples=6, stateful_step_count=20, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_the_trail_accounts_for_every_record = TrailMachine.TestCase

