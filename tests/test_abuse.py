"""Abuse over a real pty: a full session table, oversize and slow partial frames, floods of
unauthenticated requests and failed logins. The device keeps answering its other sessions, its
memory stays bounded, everything is audited, and under `block` nothing is lost. The frame timer is
tested on a manual clock (the serving loop on a socket pair), not by sleeping."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, begin_params, initialise_device

from host_tools.audit_drain import drain, fetch_public_key
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.errors import DeviceError
from module.wire.channel import reply_of, request_frame
from module.wire.defs import Command, Status
from module.endpoint import Endpoint
from module.wire.frame import MAX_ENCODED, Frame, FrameDecoder, FrameError, encode_frame

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


def raw_exchange(dev: Device, data: bytes, count: int) -> list[Frame]:
    """Write raw bytes on the host's line and collect the ``count`` frames that come back."""
    line = dev.transport.transport
    line.write(data)
    decoder, frames, reads = FrameDecoder(), [], 0
    while len(frames) < count:
        reads += 1
        assert reads < 200, f"{len(frames)} of {count} answers"  # a hang guard, not a time window
        frames += [f for f in decoder.feed(line.read(0.05)) if isinstance(f, Frame)]
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
        answers = raw_exchange(dev, b"\x01" * (MAX_ENCODED + 4096) + b"\x00", 1)
        assert [reply_of(a).status for a in answers] == [Status.BAD_FRAME]
        assert len(alice.random(16)) == 16
        assert rss_mb(device.process.pid) - before < 50  # the oversize run was never buffered whole


class _ManualTime:
    """The serving loop's clock (the frame timer reads it), moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_slow_partial_frames(make_module: ModuleFactory) -> None:
    """The device's frame timer (firmware_sim.server.FRAME_TIMEOUT) on a manual clock: a frame whose
    bytes come slower than the timer is never cut, a half frame followed by silence past it is
    dropped, and the next frame is clean. The serving loop runs on one end of a socket pair."""
    from firmware_sim import server as serving

    clock = _ManualTime()
    fed, expired = threading.Semaphore(0), threading.Event()

    class WatchedDecoder(FrameDecoder):
        def feed(self, data: bytes) -> list[Frame | FrameError]:
            out = super().feed(data)
            fed.release()
            return out

        def expire(self) -> bool:
            dropped = super().expire()
            expired.set()
            return dropped

    host, device = socket.socketpair()
    host.settimeout(10)  # a hang guard only: every step below waits for an event, not for time
    stop = threading.Event()
    loop = serving.Server(Endpoint(make_module()), stop.is_set, clock=clock.monotonic, decoder=WatchedDecoder)
    loop.add_socket_line(device, "socketpair")
    worker = threading.Thread(target=loop.serve)
    worker.start()
    try:
        def answers(count: int) -> list[tuple[int, Status]]:
            decoder, frames = FrameDecoder(), []
            while len(frames) < count:
                frames += [f for f in decoder.feed(host.recv(65536)) if isinstance(f, Frame)]
            return [(f.seq, reply_of(f).status) for f in frames]

        wire = encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 4242))
        for byte in wire:  # one byte per read, each just inside the timer
            host.sendall(bytes([byte]))
            assert fed.acquire(timeout=10)
            clock.now += serving.FRAME_TIMEOUT * 0.9
        assert answers(1) == [(4242, Status.OK)] and not expired.is_set()
        host.sendall(wire[: len(wire) // 2])
        assert fed.acquire(timeout=10)
        clock.now += serving.FRAME_TIMEOUT * 1.1  # silence past the timer: the next pass drops it
        assert expired.wait(timeout=10)
        host.sendall(encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 4243)))
        assert answers(1) == [(4243, Status.OK)]
    finally:
        stop.set()
        worker.join(timeout=10)
        host.close()
    assert not worker.is_alive()


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
