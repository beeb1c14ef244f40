"""The harness's view of the device: its data line, its lab port, the lab's operators and sessions.

Only the wire (through :class:`~host_tools.client.Client`, with the recording transport in
between) and the lab port are used. The harness owns three operators: ``lab-officer`` (Crypto
Officer), ``lab-user`` (User) and ``lab-auditor`` (Auditor), with random passwords of its own.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from host_tools.known_devices import KnownDevices
from host_tools.audit_drain import fetch_public_key
from host_tools.client import Client, OperatorSession
from host_tools.errors import CmsimError
from host_tools.lab.collector import AuditCollector, DrainInfo
from host_tools.lab.policy import Policy
from host_tools.lab.recorder import CallRecord, RecordingTransport
from host_tools.lab.replay import Answer, SentFrame, TapTransport, forge, resend, snapshot
from host_tools.lab_port import LabPort
from host_tools.link import WireTransport
from host_tools.transport import SerialTransport
from module.wire.defs import Command, Role, Status
from module.wire.messages import Reply

__all__ = ["World", "LabSetupError", "OFFICER", "USER", "AUDITOR", "FACTORY_OPERATOR", "FACTORY_PASSWORD"]

OFFICER, USER, AUDITOR = "lab-officer", "lab-user", "lab-auditor"
FACTORY_OPERATOR, FACTORY_PASSWORD = "co", "cmsim-factory"
ROLES = {OFFICER: Role.CRYPTO_OFFICER, USER: Role.USER, AUDITOR: Role.AUDITOR}
DRAIN_CHECK_EVERY = 500  # requests between looks at the ring's fill
DRAIN_ABOVE = 1200  # records waiting for acknowledgement that make the harness drain


LAB_MIN_ITERATIONS = 1000  # the lowest count a device can be started with (--pbkdf2-iterations)


class LabSetupError(CmsimError):
    """The device cannot be brought into a state the harness can start from."""


class World:
    def __init__(self, port: str, lab_port: str, policy: Policy, *, timeout: float = 10.0,
                 officer: tuple[str, str] | None = None) -> None:
        self.policy = policy
        line = SerialTransport(port)
        line.open()
        self.tap = TapTransport(line)  # keeps the last frame, for the lab's retransmits
        self.wire = WireTransport(self.tap, timeout=timeout, retries=1)
        self.recorder = RecordingTransport(self.wire, {s.code: s.secret_params for s in policy.services},
                                           frozenset(s.code for s in policy.services if s.public))
        self.recorder.on_call = self._counted
        # The lab tests the module, not the line: a pin store of its own for this run (a lab device
        # is often a fresh one under the default serial), and the device's lowest iteration count.
        pins = KnownDevices(Path(tempfile.mkdtemp(prefix="cmsim-lab-pins-")) / "known_devices.json")
        self.client = Client(self.recorder, known_devices=pins, min_iterations=LAB_MIN_ITERATIONS)
        self.lab = LabPort(lab_port, timeout=timeout)
        self.officer_name = officer[0] if officer else OFFICER
        self.passwords: dict[str, str] = {
            OFFICER: "lab-" + secrets.token_urlsafe(12),
            USER: "lab-" + secrets.token_urlsafe(12),
            AUDITOR: "lab-" + secrets.token_urlsafe(12),
        }
        if officer:
            self.passwords[officer[0]] = officer[1]
        self._sessions: dict[str, OperatorSession] = {}
        self.collector: AuditCollector | None = None
        self.serial = ""
        self.casts: list[str] = []
        self.run_first_seq = 0
        self._since_check = 0
        self.notes: list[str] = []

    def close(self) -> None:
        for session in list(self._sessions.values()):
            try:
                session.logout()
            except CmsimError:
                pass
        self._sessions.clear()
        self.lab.close()
        self.wire.close()

    # ------------------------------------------------------------ calls
    def _counted(self, record: CallRecord) -> None:
        self._since_check += 1

    @property
    def calls(self) -> list[CallRecord]:
        return self.recorder.calls

    def mark(self) -> int:
        """The index the next request will get (for evidence ranges)."""
        return len(self.recorder.calls)

    def raw(self, command: Command | int, params: Mapping[str, Any] | None = None, who: str | None = None) -> Reply:
        """One request as ``who`` (an operator with an open session, or None for no session); never raises
        for a refusal. A successful INITIALISE or ZEROISE ends every session, as the module says."""
        sid = self.session(who).session_id if who else 0
        reply = self.recorder.call(int(command), dict(params or {}), sid)
        if reply.status is Status.OK and int(command) in (Command.INITIALISE, Command.ZEROISE):
            self.drop_sessions()
        if reply.status is Status.OK and int(command) == Command.LOGOUT and who:
            self.forget(who)
        return reply

    def sent(self, command: Command | int, params: Mapping[str, Any] | None = None,
             who: str | None = None) -> tuple[Reply, SentFrame]:
        """:meth:`raw`, and the request as it went on the line (to repeat it later)."""
        sid = self.session(who).session_id if who else 0
        reply = self.recorder.call(int(command), dict(params or {}), sid)
        frame = snapshot(self.wire, self.tap, int(command), sid)
        if reply.status is Status.OK and int(command) in (Command.INITIALISE, Command.ZEROISE):
            self.drop_sessions()
        return reply, frame

    def resend(self, frame: SentFrame, *, recorded: bool = True, live: bool = True) -> Answer:
        """The same frame again. ``recorded``: the module is expected to record its refusal (a cached
        answer is not recorded again); ``live``: against the session's operator (it still exists)."""
        answer = resend(self.wire, self.tap, frame)
        if recorded:
            self.recorder.note(frame.command, frame.session_id, answer.reply, live=live)
        return answer

    def forge(self, frame: SentFrame, command: Command | int, params: Mapping[str, Any] | None = None) -> Answer:
        """A new request on ``frame``'s (forgotten) session under its old keys; its refusal is recorded
        with no operator."""
        answer = forge(self.wire, self.tap, frame, int(command), dict(params or {}))
        self.recorder.note(int(command), frame.session_id, answer.reply, live=False)
        return answer

    def raw_session(self, command: Command | int, session_id: int, params: Mapping[str, Any] | None = None) -> Reply:
        return self.recorder.call(int(command), dict(params or {}), session_id)

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def state(self) -> str:
        return str(self.status()["state_name"])

    # --------------------------------------------------------- sessions
    def session(self, name: str) -> OperatorSession:
        current = self._sessions.get(name)
        if current is not None and current.open:
            return current
        self.recorder.expect_login(name)
        session = self.client.login(name, self.passwords[name])
        self.recorder.name_session(session.session_id, name, session.role)
        self._sessions[name] = session
        return session

    def has_session(self, name: str) -> bool:
        s = self._sessions.get(name)
        return s is not None and s.open

    def forget(self, name: str) -> None:
        session = self._sessions.pop(name, None)
        if session is not None:
            session.open = False
            self.recorder.unbind_session(session.session_id)

    def drop_sessions(self) -> None:
        """The module forgot every session (power cycle, zeroise, initialise): so does the host."""
        for name in list(self._sessions):
            self.forget(name)

    def logout(self, name: str) -> None:
        session = self._sessions.pop(name, None)
        if session is not None:
            try:
                session.logout()
            except CmsimError:
                session.open = False
                self.recorder.unbind_session(session.session_id)

    # ------------------------------------------------------------ power
    def power_cycle(self) -> dict[str, Any]:
        answer = self.lab.command("power-cycle")
        self.drop_sessions()
        return answer

    # ------------------------------------------------------------ setup
    def setup(self) -> dict[str, Any]:
        status = self.status()
        if not status.get("lab_mode"):
            raise LabSetupError("the device is not in lab mode (start it with `cmsim-device --lab`)")
        lab = self.lab.command("status")
        self.casts = list(lab.get("casts", []))
        if status["state_name"] not in ("OPERATIONAL", "UNINITIALISED"):
            self.lab.command("entropy", mode="ok")
            self.power_cycle()
            status = self.status()
        if status["state_name"] not in ("OPERATIONAL", "UNINITIALISED"):
            raise LabSetupError(f"the device is in {status['state_name']} after a power cycle: {status['last_error']}"
                                + (" (re-seal the module: `make seal`, or start the device with --seal)"
                                   if "seal" in str(status["last_error"]) else ""))
        self.serial = str(status["serial"])
        self.run_first_seq = int(status["audit"]["next_seq"])
        if status["state_name"] == "UNINITIALISED":
            self.initialise_from_factory()
        elif self.officer_name == OFFICER:
            raise LabSetupError("the device is initialised already: give a Crypto Officer's --operator and "
                                "CMSIM_PASSWORD, or start from a factory-fresh device")
        self.create_lab_operators()
        key = fetch_public_key(self.client, expected_serial=self.serial)
        audit = self.status()["audit"]
        oldest = int(audit["oldest_retained"])
        self.collector = AuditCollector(self.serial, key.public_key, oldest, None)
        self.collector.first_seq = self.run_first_seq
        if oldest > 0:
            self.notes.append(f"records before seq {oldest} were acknowledged before this run; the chain is "
                              f"verified from the device's anchor at {oldest}")
        return status

    def initialise_from_factory(self) -> None:
        self.recorder.expect_login(FACTORY_OPERATOR)
        factory = self.client.login(FACTORY_OPERATOR, FACTORY_PASSWORD)
        self.recorder.name_session(factory.session_id, FACTORY_OPERATOR, factory.role)
        factory.initialise(self.officer_name, self.passwords[self.officer_name])
        self.drop_sessions()

    def create_lab_operators(self) -> None:
        officer = self.session(self.officer_name)
        existing = {o.operator for o in officer.list_operators()}
        for name in (USER, AUDITOR):
            if name in existing:
                officer.delete_operator(name)
            officer.create_operator(name, ROLES[name], self.passwords[name])

    def reinitialise(self) -> None:
        """After a zeroisation: power-cycle into the factory state, initialise, recreate the operators."""
        self.lab.command("entropy", mode="ok")
        if self.state() != "UNINITIALISED":
            self.power_cycle()
        state = self.state()
        if state != "UNINITIALISED":
            raise LabSetupError(f"expected UNINITIALISED after a power cycle of a zeroised module, got {state}")
        self.initialise_from_factory()
        self.create_lab_operators()

    def ensure_operational(self) -> None:
        for _ in range(4):
            state = self.state()
            if state == "OPERATIONAL":
                return
            if state == "UNINITIALISED":
                self.initialise_from_factory()
                self.create_lab_operators()
                continue
            self.lab.command("entropy", mode="ok")
            self.power_cycle()
        raise LabSetupError(f"the device does not return to OPERATIONAL (state {self.state()}: "
                            f"{self.status()['last_error']})")

    # ------------------------------------------------------------ audit
    def fetch_key(self) -> bytes:
        return fetch_public_key(self.client, expected_serial=self.serial).public_key

    def drain(self, *, acknowledge: bool = True) -> DrainInfo:
        assert self.collector is not None
        session = self.session(AUDITOR)
        self._since_check = 0
        return self.collector.drain(session, self.fetch_key, acknowledge=acknowledge, calls=self.mark)

    def maybe_drain(self, *, force: bool = False) -> None:
        """Keep the ring well away from full: drain when enough records wait (only when OPERATIONAL)."""
        if not force and self._since_check < DRAIN_CHECK_EVERY:
            return
        self._since_check = 0
        status = self.status()
        if status["state_name"] != "OPERATIONAL":
            return
        if force or int(status["audit"].get("used", 0)) >= DRAIN_ABOVE:
            self.drain()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        previous, self.recorder.step = self.recorder.step, name
        try:
            yield
        finally:
            self.recorder.step = previous

