"""Abuse over a real pty: a full session table, oversize and slow partial frames, floods of
unauthenticated requests and failed logins. The device keeps answering its other sessions, its
memory stays bounded, everything is audited, and under `block` nothing is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PASSWORDS, begin_params, initialise_device

from host_tools.audit_drain import drain, fetch_public_key
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.errors import DeviceError
from module.wire.channel import reply_of, request_frame
from module.wire.defs import Command, Status
from module.wire.frame import MAX_ENCODED, Frame, FrameDecoder, encode_frame

FAST = ["--pbkdf2-iterations", "1000"]
PW = PASSWORDS


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    args = [*FAST, "--seal", str(seal_file), "--capacity", "60000"]
    with running_device(tmp_path_factory.mktemp("state"), args=args) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
        yield proc


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def raw_exchange(dev: Device, data: bytes, timeout: float = 3.0) -> list[Frame]:
    """Write raw bytes on the host's line and collect the frames that come back."""
    line = dev.transport.transport
    line.write(data)
    decoder, frames = FrameDecoder(), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames += [f for f in decoder.feed(line.read(0.05)) if isinstance(f, Frame)]
        if frames and not decoder.pending:
            break
    return frames


def test_full_session_table_leaves_open_sessions_working(device: DeviceProcess) -> None:
    with Device.open(device.port) as dev:
        mine = dev.login("alice", PW["alice"])
        others = []
        with pytest.raises(DeviceError) as info:
            for _ in range(20):
                others.append(dev.login("audrey", PW["audrey"]))
        assert info.value.status is Status.SESSION_LIMIT
        assert len(mine.random(8)) == 8  # an open session is not pushed out
        for session in [*others, mine]:
            session.logout()


def test_oversize_frame_is_dropped_and_the_line_recovers(device: DeviceProcess) -> None:
    with Device.open(device.port) as dev, dev.login("alice", PW["alice"]) as alice:
        before = rss_mb(device.process.pid)
        answers = raw_exchange(dev, b"\x01" * (MAX_ENCODED + 4096) + b"\x00")
        assert [reply_of(a).status for a in answers] == [Status.BAD_FRAME]
        assert len(alice.random(16)) == 16
        assert rss_mb(device.process.pid) - before < 50  # the oversize run was never buffered whole


def test_slow_partial_frames(device: DeviceProcess) -> None:
    with Device.open(device.port) as dev:
        wire = encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 4242))
        line = dev.transport.transport
        # Byte by byte, faster than the frame timer: answered.
        for byte in wire:
            line.write(bytes([byte]))
            time.sleep(0.002)
        answers = raw_exchange(dev, b"")
        assert [a.seq for a in answers] == [4242]
        # Half a frame, then silence past the frame timer: dropped, and the next frame is clean.
        line.write(wire[: len(wire) // 2])
        time.sleep(1.4)
        answers = raw_exchange(dev, encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 4243)))
        assert [(a.seq, reply_of(a).status) for a in answers] == [(4243, Status.OK)]


def test_floods_keep_memory_bounded_and_everything_audited(device: DeviceProcess) -> None:
    with Device.open(device.port) as dev, dev.login("alice", PW["alice"]) as alice:
        next_seq = dev.status()["audit"]["next_seq"]
        rss_before = rss_mb(device.process.pid)
        for i in range(1500):
            dev.call(Command.GET_STATUS)
        for i in range(1500):  # half-open logins: evicted oldest first, never the open sessions
            dev.transport.call(int(Command.AUTH_BEGIN), begin_params("alice"), 0)
        refused = 0
        for _ in range(200):  # failed logins: the first fails, then every try within the delay is refused
            try:
                dev.login("audrey", "wrong-password-0")
            except DeviceError as exc:
                refused += exc.status in (Status.AUTH_FAILED, Status.AUTH_DELAYED)
        assert refused == 200
        assert len(alice.random(8)) == 8  # the open session still works
        grown = rss_mb(device.process.pid) - rss_before
        status = dev.status()
        records = status["audit"]["next_seq"] - next_seq
        # 1500 + 1500 + 200 x (AUTH_BEGIN, AUTH_FINISH when reached, events) + this: all recorded
        assert records >= 1500 + 1500 + 200 and status["audit"]["records_refused"] == 0
        assert grown < 30, f"device memory grew by {grown:.1f} MB"
    print(f"flood: device RSS {rss_before:.1f} -> {rss_before + grown:.1f} MB, {records} records")


def test_under_block_a_flood_loses_nothing(seal_file: Path, tmp_path: Path) -> None:
    args = [*FAST, "--seal", str(seal_file), "--capacity", "200"]
    with running_device(tmp_path, args=args) as proc, Device.open(proc.port) as dev:
        initialise_device(dev)
        key = fetch_public_key(dev)
        statuses = []
        with dev.login("alice", PW["alice"]) as alice:
            for _ in range(400):
                try:
                    alice.random(4)
                    statuses.append(Status.OK)
                except DeviceError as exc:
                    statuses.append(exc.status)
        assert Status.AUDIT_FULL in statuses
        with dev.login("audrey", PW["audrey"]) as auditor:
            result = drain(auditor, key)
        assert result.verify.ok, result.verify.message
        audit = dev.status()["audit"]
        assert audit["records_lost"] == 0 and audit["records_refused"] == statuses.count(Status.AUDIT_FULL)
