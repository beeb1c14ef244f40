"""Lab mode: the fault-injection port of `cmsim-device --lab`, driven from the host side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PASSWORDS, initialise_device

from host_tools.audit_drain import drain, fetch_public_key
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.errors import DeviceError, TransportError
from host_tools.lab_port import LabCommandFailed, LabPort
from module.audit.trail import AuditConfig
from module.wire.audit.policy import policy_digest
from module.wire.audit.record import RecordKind, decode_record
from module.wire.defs import AuditEvent, Command, KeyType, Role, Status

PW = PASSWORDS


def start(seal_file: Path, state: Path) -> Iterator[DeviceProcess]:
    with running_device(state, args=["--pbkdf2-iterations", "1000", "--seal", str(seal_file), "--lab"]) as proc:
        yield proc


@pytest.fixture
def lab(seal_file: Path, tmp_path: Path) -> Iterator[tuple[DeviceProcess, Device, LabPort]]:
    for proc in start(seal_file, tmp_path / "state"):
        assert proc.lab_port and proc.lab_port != proc.port
        with Device.open(proc.port) as dev, LabPort(proc.lab_port) as port:
            initialise_device(dev)
            yield proc, dev, port


def records(dev: Device) -> list:  # type: ignore[type-arg]
    with dev.login("audrey", PW["audrey"]) as auditor:
        page = auditor.audit.export(0, 256)
        out = [decode_record(r) for r in page.records]
        while len(page.records) == 256:
            page = auditor.audit.export(page.first_seq + 256, 256)
            out += [decode_record(r) for r in page.records]
    return out


def test_lab_mode_is_visible_in_status_and_every_checkpoint(lab: tuple[DeviceProcess, Device, LabPort]) -> None:
    _, dev, port = lab
    assert dev.status()["lab_mode"] is True and port.command("status")["lab_mode"] is True
    with dev.login("audrey", PW["audrey"]) as auditor:
        cp = decode_record(auditor.audit.checkpoint(b"n").record)
    config = AuditConfig()
    marked = policy_digest("block", config.capacity, config.checkpoint_every, config.high_water, config.reserve,
                           config.fsync, lab_mode=True)
    assert cp.checkpoint is not None and cp.checkpoint.statement.policy_digest == marked


def test_every_injection_is_audited_and_cast_failure_stops_data_output(lab: tuple[DeviceProcess, Device, LabPort]) -> None:
    _, dev, port = lab
    port.command("corrupt-cast", name="AES-256-GCM encrypt")
    with pytest.raises(DeviceError) as info:
        dev.call(Command.SELF_TEST)
    assert info.value.status is Status.SELF_TEST_FAILED and dev.status()["state_name"] == "SOFT_ERROR"
    refused = dev.transport.call(int(Command.RANDOM), {"length": 4}, 0)
    assert refused.status is Status.MODULE_ERROR
    assert port.command("power-cycle")["state"] == "OPERATIONAL"
    faults = [r for r in records(dev) if r.kind is RecordKind.EVENT and r.code == AuditEvent.FAULT_INJECTED]
    assert faults and "AES-256-GCM encrypt" in faults[-1].detail
    with pytest.raises(LabCommandFailed):
        port.command("corrupt-cast", name="no such CAST")
    with pytest.raises(LabCommandFailed):
        port.command("unknown-command")


def test_stuck_entropy_fails_the_startup_test(lab: tuple[DeviceProcess, Device, LabPort]) -> None:
    _, dev, port = lab
    port.command("entropy", mode="stuck")
    assert port.command("power-cycle")["state"] in ("SOFT_ERROR", "HARD_ERROR")
    assert "entropy" in dev.status()["last_error"]
    port.command("entropy", mode="ok")
    assert port.command("power-cycle")["state"] == "OPERATIONAL"


def test_failed_flash_write_changes_nothing(lab: tuple[DeviceProcess, Device, LabPort]) -> None:
    _, dev, port = lab
    with dev.login("alice", PW["alice"]) as alice:
        keys = alice.list_keys()
        port.command("fail-next-flash-write")
        with pytest.raises(DeviceError) as info:
            alice.generate_key(KeyType.AES_256)
        assert info.value.status is Status.FLASH_FAILURE
        assert alice.list_keys() == keys


def test_a_flipped_audit_bit_is_caught(lab: tuple[DeviceProcess, Device, LabPort]) -> None:
    _, dev, port = lab
    port.command("flip-audit-bit", seq=5)
    with dev.login("audrey", PW["audrey"]) as auditor, pytest.raises(DeviceError) as info:
        auditor.audit.export(0, 16)
    assert info.value.status is Status.MODULE_ERROR and dev.status()["state_name"] == "HARD_ERROR"
    port.command("power-cycle")
    status = dev.status()
    assert status["state_name"] == "HARD_ERROR" and "corrupted" in status["last_error"]  # never silently repaired


def test_cut_power_at_a_write_then_reboot(seal_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    for proc in start(seal_file, state):
        with Device.open(proc.port, timeout=2, retries=0) as dev, LabPort(proc.lab_port or "") as port:
            with dev.login("co", "cmsim-factory") as factory:
                factory.initialise("officer", PW["officer"])
            key = fetch_public_key(dev)
            officer = dev.login("officer", PW["officer"])  # no logout: the power goes first
            port.command("cut-power-at-write", n=2, tear=100)
            with pytest.raises(TransportError):
                officer.create_operator("alice", Role.USER, PW["alice"])
        assert proc.process.wait(10) == 137
    for proc in start(seal_file, state):
        with Device.open(proc.port) as dev:
            assert dev.status()["state_name"] == "OPERATIONAL"
            with dev.login("officer", PW["officer"]) as officer:
                officer.create_operator("audrey", Role.AUDITOR, PW["audrey"])
            with dev.login("audrey", PW["audrey"]) as auditor:
                result = drain(auditor, key, allow_lab=True)  # a lab-mode device's trail
            assert result.verify.ok, result.verify.message


def test_no_lab_port_without_the_flag(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path, args=["--seal", str(seal_file)]) as proc, Device.open(proc.port) as dev:
        assert proc.lab_port is None and dev.status()["lab_mode"] is False
