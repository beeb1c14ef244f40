"""Integration over a real pty: a `cmsim-device` subprocess driven through pyserial.

Every service, the handshake, session limits, the idle-timeout option, line noise (every item the
device decodes gets its answer, counted), reconnection and a power cut (SIGKILL) followed by a
reboot on the same state directory. Nothing here waits on the wall clock to decide a result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PASSWORDS, initialise_device
from host_tools.audit_drain import drain, fetch_public_key
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.errors import DeviceError, TransportError
from module.core import ModuleConfig
from module.services.catalog import SPECS
from module.wire.defs import Command, Role, State, Status
from module.wire.frame import Flags, Frame, FrameDecoder, FrameError
from role_policy import LAB_ONLY, POLICY
from service_examples import DISRUPTIVE, EXAMPLES, make_fixture

FAST = ["--pbkdf2-iterations", "1000"]


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    with running_device(tmp_path_factory.mktemp("state"), args=[*FAST, "--seal", str(seal_file)]) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
        yield proc


@pytest.fixture
def dev(device: DeviceProcess) -> Iterator[Device]:
    with Device.open(device.port, timeout=5) as d:
        yield d


def test_the_first_stdout_line_is_the_pty(device: DeviceProcess) -> None:
    assert device.port.startswith("/dev/") and os.path.exists(device.port)


def test_every_service_over_the_pty(dev: Device) -> None:
    fixture = make_fixture(dev)
    names = {Role.CRYPTO_OFFICER: "officer", Role.USER: "alice", Role.AUDITOR: "audrey"}
    sessions = {role: dev.login(name, PASSWORDS[name]) for role, name in names.items()}
    try:
        for command, rule in POLICY.items():  # the hand-written policy, not the catalogue under test
            if command in DISRUPTIVE:
                continue
            role = next(r for r in (Role.USER, Role.CRYPTO_OFFICER, Role.AUDITOR, Role.NONE) if r in rule.roles)
            sid = sessions[role].session_id if role is not Role.NONE else 0
            reply = dev.transport.call(int(command), EXAMPLES[command](fixture), sid)
            expected = Status.SESSION_INVALID if command is Command.AUTH_FINISH else \
                Status.UNKNOWN_COMMAND if command in LAB_ONLY else Status.OK  # a device started without --lab
            assert reply.status is expected, f"{command.name}: {reply.status.name} {reply.message}"
            assert reply.approved is (rule.approved and reply.status is Status.OK)
        assert set(POLICY) == {spec.command for spec in SPECS}
    finally:
        for session in sessions.values():
            session.logout()


def test_session_limit(dev: Device) -> None:
    opened = []
    try:
        with pytest.raises(DeviceError) as info:
            for _ in range(20):
                opened.append(dev.login("alice", PASSWORDS["alice"]))
        assert info.value.status is Status.SESSION_LIMIT
        assert len(opened) == 8  # ModuleConfig.max_sessions_per_operator (of 16 sessions)
    finally:
        for session in opened:
            session.logout()
    dev.login("alice", PASSWORDS["alice"]).logout()  # room again


def test_the_session_timeout_option_reaches_the_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--session-timeout` sets the idle timeout the module enforces (the expiry itself, just before
    and just after the timeout, is tested on the manual clock in test_session_rules.py)."""
    from click.testing import CliRunner

    import firmware_sim.serve as serve

    seen: list[float] = []

    class Built(Exception):
        pass

    def build(*args: object, config: ModuleConfig, **kwargs: object) -> None:
        seen.append(config.session_idle_timeout_s)
        raise Built

    monkeypatch.setattr(serve, "build_module", build)
    result = CliRunner().invoke(serve.main, ["--state", str(tmp_path), "--session-timeout", "42.5"])
    assert isinstance(result.exception, Built) and seen == [42.5]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(noise=st.binary(min_size=1, max_size=600))
def test_line_noise_never_hurts_the_device(dev: Device, noise: bytes) -> None:
    """Garbage gets well-formed answers with a defined status (or none), and changes nothing."""
    line = dev.transport.transport
    expected = len(FrameDecoder().feed(noise + b"\x00"))  # the device answers each item it decodes
    line.write(noise + b"\x00")
    answers: list[Frame | FrameError] = []
    decoder = FrameDecoder()
    reads = 0
    while len(answers) < expected:
        reads += 1
        assert reads < 500, f"{len(answers)} of {expected} answers"  # a hang guard, not a time window
        answers += decoder.feed(line.read(0.02))
    assert len(answers) == expected
    for answer in answers:
        assert isinstance(answer, Frame), answer
        assert answer.flags & Flags.RESPONSE and answer.code in Status._value2member_map_
        assert answer.code in (Status.BAD_FRAME, Status.UNKNOWN_COMMAND, Status.INVALID_PARAMETER,
                               Status.NOT_AUTHENTICATED, Status.MESSAGE_REJECTED, Status.SESSION_INVALID, Status.OK)
    assert dev.status()["state_name"] == "OPERATIONAL"


def test_the_audit_chain_verifies_after_everything(dev: Device) -> None:
    key = fetch_public_key(dev)
    with dev.login("audrey", PASSWORDS["audrey"]) as auditor:
        result = drain(auditor, key)
    assert result.verify.ok, result.verify.message


def test_a_host_can_close_and_reopen_the_pty(device: DeviceProcess) -> None:
    for _ in range(3):
        with Device.open(device.port) as dev:
            assert dev.status()["state"] == State.OPERATIONAL


def test_power_cut_then_reboot_on_the_same_state(seal_file: Path, tmp_path: Path) -> None:
    args = [*FAST, "--seal", str(seal_file)]
    with running_device(tmp_path, args=args) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
            with dev.login("alice", PASSWORDS["alice"]) as alice:
                for _ in range(20):
                    alice.call(Command.RANDOM, {"length": 16})
            boots = dev.status()["boot_counter"]
        proc.power_cut()
    with running_device(tmp_path, args=args) as proc:
        with Device.open(proc.port) as dev:
            status = dev.status()
            assert status["state_name"] == "OPERATIONAL" and status["boot_counter"] == boots + 1
            key = fetch_public_key(dev)
            with dev.login("audrey", PASSWORDS["audrey"]) as auditor:
                result = drain(auditor, key)
            assert result.verify.ok, result.verify.message


def test_no_device_no_hang() -> None:
    with pytest.raises(TransportError):
        Device.open("/dev/pts/does-not-exist")


def test_tcp_line(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path, args=[*FAST, "--seal", str(seal_file), "--tcp", "127.0.0.1:0"]) as proc:
        assert proc.port.startswith("socket://127.0.0.1:")
        with Device.open(proc.port) as dev:
            initialise_device(dev)
            with dev.login("alice", PASSWORDS["alice"]) as alice:
                assert len(alice.random(32)) == 32


def test_tty_line(seal_file: Path, tmp_path: Path) -> None:
    """--tty serves on an existing serial device: here the slave end of a pty the test owns."""
    import tty

    from module.wire.channel import reply_of, request_frame
    from module.wire.frame import FrameDecoder, encode_frame

    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    try:
        with running_device(tmp_path, args=[*FAST, "--seal", str(seal_file), "--tty", os.ttyname(slave)]) as proc:
            assert proc.port == os.ttyname(slave)
            os.write(master, encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 1)))
            decoder, frames = FrameDecoder(), []
            deadline = time.monotonic() + 10
            while not frames and time.monotonic() < deadline:
                frames = decoder.feed(os.read(master, 65536))
            assert reply_of(frames[0]).data["state_name"] == "UNINITIALISED"  # type: ignore[arg-type]
    finally:
        os.close(master)
        os.close(slave)
