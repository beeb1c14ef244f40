"""One device, many hosts: the serving loop (firmware_sim/server.py) and the group commit.

In process, the loop is driven pass by pass from the test on socket pairs and a manual clock:
bad peers (one that hangs up mid-request, one that never reads, one that sends a byte at a
time, one that goes idle) cost only their own connection, and no answer of a pass leaves before
the pass's commit. Against a `cmsim-device` subprocess: several host processes at once over TCP
and over a Unix socket, each with its own session, every answer to the right host and the audit
trail complete and verifying; SIGTERM with stuck peers; SIGKILL in the middle of group-committed
batches loses no answered record.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise, initialise_device
from firmware_sim.flash import DirectoryFlash
from firmware_sim.server import FRAME_TIMEOUT, Server
from host_tools.audit_drain import drain, fetch_public_key
from host_tools.device import Device
from host_tools.device_process import running_device
from host_tools.errors import CmsimError
from host_tools.transport import SerialTransport
from module.endpoint import Endpoint
from module.wire.audit.export import RecordItem, iter_export
from module.wire.audit.record import RecordKind, decode_record
from module.wire.channel import reply_of, request_frame
from module.wire.defs import Command, DigestAlg, Status
from module.wire.frame import Frame, FrameDecoder, encode_frame

FAST = ["--pbkdf2-iterations", "1000"]
HANG_GUARD = 60.0  # seconds: only ever a guard against a hang, never part of a result


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _status_request(seq: int) -> bytes:
    return encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, seq))


class _Peer:
    """The host end of a socket pair, read without blocking."""

    def __init__(self, loop: Server, name: str) -> None:
        self.sock, device = socket.socketpair()
        self.sock.setblocking(False)
        loop.add_socket_line(device, name)
        self.decoder = FrameDecoder()
        self.frames: list[Frame] = []

    def take(self) -> list[Frame]:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            if not data:
                break
            self.frames += [f for f in self.decoder.feed(data) if isinstance(f, Frame)]
        out, self.frames = self.frames, []
        return out

    def ended(self) -> bool:
        """The device closed its end: a read gives end-of-file (or a reset) once the data is gone."""
        try:
            while self.sock.recv(65536):
                pass
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        return True


@pytest.fixture
def loop(make_module: ModuleFactory) -> Iterator[tuple[Server, _Clock, list[int]]]:
    clock = _Clock()
    commits: list[int] = []
    server = Server(Endpoint(make_module()), lambda: False, clock=clock.monotonic, idle_timeout=30,
                    commit=lambda: commits.append(1))
    yield server, clock, commits
    server.close()


def _answered(loop: Server, peer: _Peer, passes: int = 50) -> list[Frame]:
    for _ in range(passes):
        loop.run_pass(0)
        got = peer.take()
        if got:
            return got
    return []


def test_each_connection_has_its_own_clear_channel(loop: tuple[Server, _Clock, list[int]]) -> None:
    """Host b's session-0 request between host a's request and a's retransmit of it does not
    evict a's cached answer: the retransmit gets the very same answer (GET_STATUS run again
    would report a later audit sequence number), so the service did not run twice."""
    server, _, _ = loop
    a, b = _Peer(server, "a"), _Peer(server, "b")
    a.sock.sendall(_status_request(7))
    first = _answered(server, a)
    b.sock.sendall(_status_request(8))
    assert [f.seq for f in _answered(server, b)] == [8]
    a.sock.sendall(_status_request(7))
    again = _answered(server, a)
    assert len(first) == len(again) == 1
    assert reply_of(again[0]).data == reply_of(first[0]).data
    b.sock.sendall(_status_request(9))
    later = _answered(server, b)
    assert reply_of(later[0]).data["audit"] != reply_of(first[0]).data["audit"]  # the check can tell


def test_no_answer_leaves_before_the_pass_commits(loop: tuple[Server, _Clock, list[int]]) -> None:
    """Four hosts' requests in one pass: one commit, and at commit time no host has an answer yet."""
    server, _, commits = loop
    peers = [_Peer(server, f"host{i}") for i in range(4)]
    seen_at_commit: list[int] = []

    def commit() -> None:
        seen_at_commit.append(sum(len(p.take()) for p in peers))
        commits.append(1)

    server.commit = commit
    for i, peer in enumerate(peers):
        peer.sock.sendall(_status_request(100 + i))
    server.run_pass(0)
    assert commits == [1] and seen_at_commit == [0]
    assert [[(f.seq, reply_of(f).status) for f in peer.take()] for peer in peers] == \
        [[(100 + i, Status.OK)] for i in range(4)]


def test_a_peer_that_hangs_up_mid_request_costs_only_itself(loop: tuple[Server, _Clock, list[int]]) -> None:
    server, _, _ = loop
    good, half, unread = _Peer(server, "good"), _Peer(server, "half"), _Peer(server, "unread")
    wire = _status_request(1)
    half.sock.sendall(wire[: len(wire) // 2])
    half.sock.close()
    unread.sock.sendall(_status_request(1) + _status_request(2))
    unread.sock.close()  # closed before the answers: writing them fails on the device's side
    for _ in range(5):
        server.run_pass(0)
    assert server.connections == 1
    good.sock.sendall(_status_request(9))
    assert [(f.seq, reply_of(f).status) for f in _answered(server, good)] == [(9, Status.OK)]


def test_a_peer_that_never_reads_is_dropped_and_the_others_are_served(
        loop: tuple[Server, _Clock, list[int]]) -> None:
    """Past ``max_output`` unread bytes the connection goes; the device never blocks on it."""
    server, _, _ = loop
    server.max_output = 8192
    good, deaf = _Peer(server, "good"), _Peer(server, "deaf")
    deaf.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    noise = b"\x01\x00" * 2048  # 2,048 damaged frames: each is answered with BAD_FRAME
    rounds = 0
    while server.connections == 2:
        rounds += 1
        assert rounds < 1000, "the deaf peer was never dropped"
        try:
            deaf.sock.send(noise)
        except BlockingIOError:
            pass
        good.sock.sendall(_status_request(rounds))
        assert [f.seq for f in _answered(server, good)] == [rounds]  # served on every round
    assert deaf.ended()
    good.sock.sendall(_status_request(5000))
    assert [f.seq for f in _answered(server, good)] == [5000]


def test_a_byte_at_a_time_peer_is_served_beside_the_others(loop: tuple[Server, _Clock, list[int]]) -> None:
    """Each byte comes just inside the frame timer, so the whole frame takes several timers' worth;
    another host is answered after every byte, and the slow one gets its answer at the end."""
    server, clock, _ = loop
    slow, other = _Peer(server, "slow"), _Peer(server, "other")
    wire = _status_request(77)
    for i, byte in enumerate(wire):
        slow.sock.sendall(bytes([byte]))
        other.sock.sendall(_status_request(i + 1))
        assert [f.seq for f in _answered(server, other)] == [i + 1]
        clock.now += FRAME_TIMEOUT * 0.9
        if i < len(wire) - 1:
            assert slow.take() == []
    assert [(f.seq, reply_of(f).status) for f in _answered(server, slow)] == [(77, Status.OK)]
    assert len(wire) * 0.9 > 3  # the frame took more than three timers end to end


def test_a_partial_frame_left_too_long_is_dropped_on_its_own_line(loop: tuple[Server, _Clock, list[int]]) -> None:
    server, clock, _ = loop
    stalled, other = _Peer(server, "stalled"), _Peer(server, "other")
    wire = _status_request(3)
    stalled.sock.sendall(wire[:5])
    server.run_pass(0)
    clock.now += FRAME_TIMEOUT * 1.1
    other.sock.sendall(_status_request(4))
    assert [f.seq for f in _answered(server, other)] == [4]
    stalled.sock.sendall(wire)  # the stale half is gone, so the whole frame decodes cleanly
    assert [(f.seq, reply_of(f).status) for f in _answered(server, stalled)] == [(3, Status.OK)]


def test_an_idle_connection_is_closed_and_an_active_one_kept(loop: tuple[Server, _Clock, list[int]]) -> None:
    server, clock, _ = loop
    idle, busy = _Peer(server, "idle"), _Peer(server, "busy")
    for i in range(4):  # 4 x 10 s: past the 30 s idle timeout for the silent one only
        clock.now += 10
        busy.sock.sendall(_status_request(i + 1))
        assert [f.seq for f in _answered(server, busy)] == [i + 1]
    assert server.connections == 1 and idle.ended()


# ----------------------------------------------------------------- the flash under group commit
def test_deferred_writes_are_read_back_and_land_at_sync(tmp_path: Path) -> None:
    flash = DirectoryFlash(tmp_path)
    region = flash.region("r", 4096)
    flash.defer()
    region.write(512, b"a" * 512)
    region.sync()  # deferred: durable only at the flash's sync
    assert region.read(0, 1024) == bytes(512) + b"a" * 512
    assert (tmp_path / "r").read_bytes()[512:1024] == bytes(512)  # not in the file yet
    flash.sync()
    assert (tmp_path / "r").read_bytes()[512:1024] == b"a" * 512
    flash.close()


def test_a_power_loss_keeps_whole_batches_only(tmp_path: Path) -> None:
    """The journal decides: batches whose entry is whole are replayed into the region at the next
    open, a batch whose entry is torn is not (its answers never left)."""
    flash = DirectoryFlash(tmp_path)
    region = flash.region("r", 4096)
    flash.defer()
    region.write(0, b"1" * 512)
    region.write(512, b"2" * 512)
    flash.sync()
    region.write(1024, b"3" * 512)
    flash.sync()
    journal = (tmp_path / ".r.journal").read_bytes()
    # The power goes: the region file lost every write (page cache gone), the journal keeps its
    # first entry whole and the second one torn.
    (tmp_path / "r").write_bytes(bytes(4096))
    first_end = journal.index(b"CMSJ", 4)
    torn = bytearray(journal)
    torn[first_end + 40] ^= 0xFF
    (tmp_path / ".r.journal").write_bytes(bytes(torn))
    os.close(region._fd)  # the process is gone: no orderly close
    reopened = DirectoryFlash(tmp_path).region("r", 4096)
    assert reopened.read(0, 1536) == b"1" * 512 + b"2" * 512 + bytes(512)
    assert not (tmp_path / ".r.journal").exists()


# ------------------------------------------------------------------------- subprocess devices
def _listen_args(kind: str, tmp_path: Path) -> list[str]:
    return ["--tcp", "127.0.0.1:0"] if kind == "tcp" else ["--unix", str(tmp_path / "device.sock")]


def _records(dev: Device, auditor_password: str = PASSWORDS["audrey"]) -> list[object]:
    """Drain and verify the whole trail; the decoded records."""
    key = fetch_public_key(dev)
    out = io.BytesIO()
    with dev.login("audrey", auditor_password) as auditor:
        result = drain(auditor, key, out)
    assert result.verify.ok, result.verify.message
    out.seek(0)
    return [decode_record(item.data) for item in iter_export(out) if isinstance(item, RecordItem)]


# One half-open login per operator id (a newer AUTH_BEGIN replaces an older one, issue 14): hosts
# that share an operator log in one at a time, then work at once.
_LOGINS = threading.Lock()


def _host(port: str, count: int, tag: bytes, results: dict[bytes, object]) -> None:
    """A host with its own connection and session: digests only this host asked for."""
    try:
        with Device.open(port, timeout=30) as dev:
            with _LOGINS:
                alice = dev.login("alice", PASSWORDS["alice"])
            digests = []
            for i in range(count):
                message = tag + b"/%d" % i
                got = alice.call(Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": message})
                digests.append(got.data["digest"] == hashlib.sha256(message).digest())
            results[tag] = (alice.session_id, digests)
            alice.logout()
    except (CmsimError, OSError) as exc:
        results[tag] = exc


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_several_hosts_at_once_each_with_its_own_session(kind: str, seal_file: Path, tmp_path: Path) -> None:
    args = [*FAST, "--seal", str(seal_file), *_listen_args(kind, tmp_path)]
    with running_device(tmp_path / "state", args=args) as proc:
        assert proc.port.startswith("socket://" if kind == "tcp" else "unix://")
        with Device.open(proc.port) as dev:
            initialise_device(dev)
            opened = Device.open(proc.port)  # a second host connected the whole time, idle
            results: dict[bytes, object] = {}
            hosts = [threading.Thread(target=_host, args=(proc.port, 25, b"host%d" % i, results)) for i in range(4)]
            for host in hosts:
                host.start()
            for host in hosts:
                host.join(HANG_GUARD)
            opened.close()
            assert sorted(results) == [b"host%d" % i for i in range(4)]
            sessions = {}
            for tag, result in results.items():
                assert isinstance(result, tuple), result
                sid, digests = result
                assert digests == [True] * 25  # every answer was this host's own
                sessions[sid] = tag
            assert len(sessions) == 4
            records = _records(dev)
        per_session = {sid: 0 for sid in sessions}
        for rec in records:
            if rec.kind == RecordKind.SERVICE and rec.code == Command.DIGEST and rec.session_id in per_session:
                per_session[rec.session_id] += 1
        assert per_session == {sid: 25 for sid in sessions}


def _stuck_peers(port: str) -> list[socket.socket]:
    """A peer with half a frame sent, and one that floods the device and never reads."""
    host, _, number = port.removeprefix("socket://").rpartition(":")
    half = socket.create_connection((host, int(number)))
    half.sendall(_status_request(1)[:6])
    deaf = socket.create_connection((host, int(number)))
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.setblocking(False)
    try:
        for _ in range(64):
            deaf.send(b"\x01\x00" * 4096)
    except (BlockingIOError, ConnectionError):
        pass
    return [half, deaf]


def test_sigterm_stops_the_device_whatever_its_peers_do(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path, args=[*FAST, "--seal", str(seal_file), "--tcp", "127.0.0.1:0"]) as proc:
        peers = _stuck_peers(proc.port)
        with Device.open(proc.port) as dev:
            assert dev.status()["state_name"] == "UNINITIALISED"  # still serving beside them
        proc.process.send_signal(signal.SIGTERM)
        try:
            code = proc.process.wait(HANG_GUARD)
        except subprocess.TimeoutExpired:
            pytest.fail("the device did not stop on SIGTERM")
        for peer in peers:
            peer.close()
    assert code == 0


def test_a_pty_has_one_host_at_a_time(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path, args=[*FAST, "--seal", str(seal_file)]) as proc:
        with Device.open(proc.port) as dev:
            second = SerialTransport(proc.port)
            with pytest.raises(CmsimError, match="in use by another host"):
                second.open()
            assert dev.status()["state_name"] == "UNINITIALISED"


def _answered_calls(port: str, stop: threading.Event, answered: dict[int, int]) -> None:
    """Digests until the device goes away; ``answered[session]`` counts only answers received."""
    try:
        with Device.open(port, timeout=5) as dev:
            with _LOGINS:
                alice = dev.login("alice", PASSWORDS["alice"])
            answered[alice.session_id] = 0
            while not stop.is_set():
                alice.call(Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": b"m"})
                answered[alice.session_id] += 1
    except (CmsimError, OSError):
        pass  # the power went: the call in flight has no answer and is not counted


def test_sigkill_in_the_middle_of_group_commits_loses_no_answered_record(seal_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = [*FAST, "--seal", str(seal_file), "--tcp", "127.0.0.1:0"]
    answered: dict[int, int] = {}
    with running_device(state, args=args) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
        stop = threading.Event()
        hosts = [threading.Thread(target=_answered_calls, args=(proc.port, stop, answered)) for _ in range(4)]
        for host in hosts:
            host.start()
        while len(answered) < 4 or min(answered.values()) < 30:  # every host well into its calls
            assert all(h.is_alive() for h in hosts), "a host stopped before the power cut"
            hosts[0].join(0.01)
        proc.power_cut()
        stop.set()
        for host in hosts:
            host.join(HANG_GUARD)
    with running_device(state, args=args) as proc, Device.open(proc.port) as dev:
        records = _records(dev)
    recorded = {sid: 0 for sid in answered}
    for rec in records:
        if rec.kind == RecordKind.SERVICE and rec.code == Command.DIGEST and rec.session_id in recorded:
            recorded[rec.session_id] += 1
    for sid, count in answered.items():
        assert recorded[sid] >= count, f"session {sid}: {count} answered, {recorded[sid]} recorded"
        assert recorded[sid] <= count + 1  # at most the one call in flight, recorded but never answered


def test_group_commit_shares_flushes_across_hosts(make_module: ModuleFactory, tmp_path: Path) -> None:
    """A real directory flash: eight hosts' requests in one pass cost one journal fdatasync."""
    flash = DirectoryFlash(tmp_path)
    module = make_module(flash=flash)
    initialise(module)
    flash.defer()
    syncs: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    server = Server(Endpoint(module), lambda: False, commit=flash.sync)
    peers = [_Peer(server, f"h{i}") for i in range(8)]
    try:
        os.fdatasync = counting  # type: ignore[assignment]
        for i, peer in enumerate(peers):
            peer.sock.sendall(_status_request(i + 1))
        server.run_pass(0)
    finally:
        os.fdatasync = real
    assert [len(p.take()) for p in peers] == [1] * 8
    assert len(syncs) == 1
    server.close()
    flash.defer(False)
    flash.close()
