"""An attacker on the line (tests/mitm_proxy.py): every attack over TCP loopback in front of a real
`cmsim-device --tcp`, and again over a pty pair in front of a real device on its pty.

Every attack must fail closed with a clear error, and before the host sends anything that
depends on the password; where the device saw the attack, its audit trail has the refusal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import PASSWORDS, initialise_device
from host_tools.audit_drain import fetch_public_key
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.errors import DeviceError, IdentityMismatchError, LineAttackError
from host_tools.known_devices import KnownDevices
from mitm_proxy import MitmProxy, Side, forward
from module.wire.audit.record import AuditRecord, RecordKind, decode_record
from module.wire.audit.signature import KeyStatement
from module.wire.channel import reply_of, response_frame
from module.wire.defs import Command, KeyType, Status
from module.wire.frame import Flags, Frame
from module.wire.handshake import identity_statement
from module.wire.messages import Reply

FAST = ["--pbkdf2-iterations", "1000"]


@pytest.fixture(scope="module", params=["tcp", "pty"])
def device(request: pytest.FixtureRequest, seal_file: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    state = tmp_path_factory.mktemp("mitm-state")
    line = ["--tcp", "127.0.0.1:0"] if request.param == "tcp" else []
    serial = f"CMSIM-MITM-{request.param.upper()}"  # two identities: two serials, one pin store
    with running_device(state, args=[*FAST, "--seal", str(seal_file), "--serial", serial, *line]) as proc:
        assert proc.port.startswith("socket://") == (request.param == "tcp")
        with Device.open(proc.port) as dev:
            initialise_device(dev)
        yield proc


def records_since(device: DeviceProcess, seq: int) -> list[AuditRecord]:
    """The device's own audit records from ``seq`` on, read directly (no proxy)."""
    with Device.open(device.port) as dev, dev.login("audrey", PASSWORDS["audrey"]) as auditor:
        page = auditor.audit.export(from_seq=seq, max_records=256)
    return [decode_record(r) for r in page.records]


def next_seq(device: DeviceProcess) -> int:
    with Device.open(device.port) as dev:
        return int(dev.status()["audit"]["next_seq"])


class Rewriter:
    """A hook that knows which command each answer belongs to, and rewrites chosen answers."""

    def __init__(self, rewrite: dict[int, object]) -> None:
        self.rewrite = rewrite  # command -> function(answer frame) -> frame, or "reflect"
        self.pending: dict[tuple[int, int], int] = {}

    def __call__(self, source: Side, frame: Frame) -> Iterable[tuple[Side, Frame]]:
        if source == "host":
            self.pending[(frame.session_id, frame.seq)] = frame.code
            if self.rewrite.get(frame.code) == "reflect":
                return [("host", frame)]  # the host's own request, back at it
            return forward(source, frame)
        command = self.pending.get((frame.session_id, frame.seq))
        change = self.rewrite.get(command) if command is not None else None
        if callable(change):
            return [("host", change(frame))]
        return forward(source, frame)


def clear_answer(data: dict[str, object]) -> object:
    """An answer made by the attacker: status OK, the data it likes, no protection."""
    return lambda frame: response_frame(Reply(Status.OK, True, data, ""), frame.session_id, frame.seq)


# ------------------------------------------------------------------ clear substitution in a session
@pytest.mark.parametrize(("command", "data"), [
    (Command.RANDOM, {"random": bytes(32)}),
    (Command.VERIFY, {"valid": True}),
])
def test_a_clear_answer_inside_a_session_is_a_line_attack(device: DeviceProcess, command: Command,
                                                          data: dict[str, object]) -> None:
    with MitmProxy.to(device.port, Rewriter({command: clear_answer(data)})) as proxy:
        with Device.open(proxy.port, retries=0) as dev, dev.login("alice", PASSWORDS["alice"]) as alice:
            with pytest.raises(LineAttackError, match="clear answer"):
                if command is Command.RANDOM:
                    alice.random(32)
                else:
                    alice.verify(b"message", bytes(64), key_type=KeyType.ED25519, public_key=bytes(32))


def test_a_dataless_clear_refusal_inside_a_session_is_still_believed(device: DeviceProcess) -> None:
    """The device answers a request that fails the channel check in the clear; that must get through."""
    refusal = lambda frame: response_frame(Reply(Status.MESSAGE_REJECTED, False, {}, "x"), frame.session_id, frame.seq)  # noqa: E731
    with MitmProxy.to(device.port, Rewriter({Command.RANDOM: refusal})) as proxy:
        with Device.open(proxy.port, retries=0) as dev, dev.login("alice", PASSWORDS["alice"]) as alice:
            with pytest.raises(DeviceError) as info:
                alice.random(32)
    assert info.value.status is Status.MESSAGE_REJECTED


# ------------------------------------------------------------------ parameter downgrade
def test_an_iterations_downgrade_is_refused_before_auth_finish(device: DeviceProcess) -> None:
    def downgrade(frame: Frame) -> Frame:
        reply = reply_of(frame)
        return response_frame(Reply(reply.status, reply.approved, reply.data | {"iterations": 1}, reply.message),
                              frame.session_id, frame.seq)

    with MitmProxy.to(device.port, Rewriter({Command.AUTH_BEGIN: downgrade})) as proxy:
        with Device.open(proxy.port, retries=0) as dev, pytest.raises(LineAttackError, match="not signed"):
            dev.login("alice", PASSWORDS["alice"])
        assert proxy.requests(Command.AUTH_BEGIN) and not proxy.requests(Command.AUTH_FINISH)


def test_a_signed_iteration_count_below_the_hosts_minimum_is_refused(device: DeviceProcess) -> None:
    """The suite's device announces 1000 (signed, genuine); a host whose floor is 100,000 refuses it."""
    with MitmProxy.to(device.port) as proxy:
        with Device.open(proxy.port, retries=0) as dev:
            dev.min_iterations = 100_000
            with pytest.raises(LineAttackError, match="below this host's minimum"):
                dev.login("alice", PASSWORDS["alice"])
        assert not proxy.requests(Command.AUTH_FINISH)


# ------------------------------------------------------------------ identity substitution
def test_an_impostor_identity_fails_against_the_pin(device: DeviceProcess) -> None:
    with Device.open(device.port) as dev:
        genuine = dev.identity()  # first contact, on the honest line: pinned
    mallory = Ed25519PrivateKey.generate()
    mallory_public = mallory.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def impostor(frame: Frame) -> Frame:
        d = reply_of(frame).data
        statement = identity_statement(d["serial"], d["audit_public_key"], d["lab_mode"])
        forged = d | {"identity_public_key": mallory_public, "signature": mallory.sign(statement)}
        return response_frame(Reply(Status.OK, True, forged, ""), frame.session_id, frame.seq)

    with MitmProxy.to(device.port, Rewriter({Command.IDENTITY: impostor})) as proxy:
        with Device.open(proxy.port, retries=0) as dev, pytest.raises(IdentityMismatchError) as info:
            dev.login("alice", PASSWORDS["alice"])
        assert not proxy.requests(Command.AUTH_BEGIN)
    assert info.value.expected == genuine.fingerprint and info.value.actual != genuine.fingerprint
    assert KnownDevices().get(genuine.serial) == genuine.fingerprint  # the pin was not replaced


def test_an_explicit_fingerprint_refuses_the_impostor_on_first_contact(device: DeviceProcess) -> None:
    with Device.open(device.port, expect_fingerprint="00" * 32) as dev, pytest.raises(IdentityMismatchError):
        dev.login("alice", PASSWORDS["alice"])
    assert KnownDevices().pins() == {}


# ------------------------------------------------------------------ replay
def test_a_replayed_handshake_fails_at_both_ends(device: DeviceProcess) -> None:
    with MitmProxy.to(device.port) as recording:
        with Device.open(recording.port) as dev:
            dev.login("alice", PASSWORDS["alice"]).logout()
    old_begin = next(f for side, f in recording.seen if side == "device" and f.session_id == 0
                     and "module_ephemeral" in reply_of(f).data)
    old_finish = recording.requests(Command.AUTH_FINISH)[0]

    def replay_begin(frame: Frame) -> Frame:  # the old answer, renumbered to fit the new request
        return Frame(old_begin.flags, 0, frame.seq, old_begin.code, old_begin.payload)

    with MitmProxy.to(device.port, Rewriter({Command.AUTH_BEGIN: replay_begin})) as proxy:
        with Device.open(proxy.port, retries=0) as dev, pytest.raises(LineAttackError, match="not signed"):
            dev.login("alice", PASSWORDS["alice"])
        assert not proxy.requests(Command.AUTH_FINISH)

    # The device's side: the recorded AUTH_FINISH sent again is refused and recorded.
    seq = next_seq(device)

    def inject(source: Side, frame: Frame) -> Iterable[tuple[Side, Frame]]:
        if source == "host" and frame.code == Command.GET_STATUS:
            return [("device", old_finish), ("device", frame)]
        return forward(source, frame)

    with MitmProxy.to(device.port, inject) as proxy:
        with Device.open(proxy.port, retries=0) as dev:
            dev.status()  # the answer to the replayed frame is skipped: it answers no request of this host
    refusals = [r for r in records_since(device, seq) if r.kind is RecordKind.SERVICE
                and r.code == Command.AUTH_FINISH and r.status != Status.OK]  # audrey's own login is OK
    assert [Status(r.status) for r in refusals] == [Status.SESSION_INVALID]
    assert refusals[0].session_id == old_finish.session_id and refusals[0].operator == ""


# ------------------------------------------------------------------ reflection
@pytest.mark.parametrize("command", [Command.IDENTITY, Command.AUTH_BEGIN, Command.RANDOM])
def test_a_reflected_request_is_a_line_attack(device: DeviceProcess, command: Command) -> None:
    with MitmProxy.to(device.port, Rewriter({command: "reflect"})) as proxy:
        with Device.open(proxy.port, retries=0) as dev:
            with pytest.raises(LineAttackError, match="reflected"):
                with dev.login("alice", PASSWORDS["alice"]) as alice:
                    alice.random(32)
        assert not proxy.requests(Command.AUTH_FINISH) or command is Command.RANDOM


def test_a_response_sent_to_the_device_runs_nothing(device: DeviceProcess) -> None:
    """The reverse reflection: an answer sent back to the device is a bad frame there, not a call."""
    seq = next_seq(device)

    def bounce(source: Side, frame: Frame) -> Iterable[tuple[Side, Frame]]:
        if source == "device" and frame.flags & Flags.RESPONSE and frame.code == Status.OK and frame.session_id == 0:
            return [("device", frame), ("host", frame)]
        return forward(source, frame)

    with MitmProxy.to(device.port, bounce) as proxy:
        with Device.open(proxy.port, retries=0) as dev:
            dev.status()
    codes = [r.code for r in records_since(device, seq) if r.kind is RecordKind.SERVICE]
    # next_seq's own status, the proxied status, then the direct read's login: nothing from the bounce
    assert codes[:3] == [Command.GET_STATUS, Command.GET_STATUS, Command.IDENTITY]


# ------------------------------------------------------------------ audit key substitution
def test_a_substituted_audit_key_is_refused_through_the_identity(device: DeviceProcess) -> None:
    """A self-signed statement is proof of possession only; the identity must vouch for the key."""
    mallory = Ed25519PrivateKey.generate()

    def substitute(frame: Frame) -> Frame:
        d = reply_of(frame).data
        forged = KeyStatement.sign(d["serial"], mallory)
        data = d | {"public_key": forged.public_key, "statement": forged.encode()}
        return response_frame(Reply(Status.OK, True, data, ""), frame.session_id, frame.seq)

    with MitmProxy.to(device.port, Rewriter({Command.AUDIT_PUBKEY: substitute})) as proxy:
        with Device.open(proxy.port, retries=0) as dev, pytest.raises(LineAttackError, match="identity vouches"):
            fetch_public_key(dev)
    with Device.open(device.port) as dev:
        assert fetch_public_key(dev).public_key == dev.identity().audit_public_key  # the honest line
