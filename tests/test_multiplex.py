"""Several sessions in flight at once over one connection (host_tools/link.py): threads share one
`Device`, each with its own session, and every answer reaches the thread whose request it answers.

The check is independent of the device: each thread digests messages only it sends, and compares
every answer with hashlib's digest of its own message; a misrouted answer would also fail its
session's AES-GCM check. Over TCP and over the pty, against a real device.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PASSWORDS, initialise_device
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.errors import TransportError
from module.wire.defs import DigestAlg, Role

FAST = ["--pbkdf2-iterations", "1000"]
THREADS, CALLS = 6, 40


@pytest.fixture(scope="module", params=["tcp", "pty"])
def device(request: pytest.FixtureRequest, seal_file: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    line = ["--tcp", "127.0.0.1:0"] if request.param == "tcp" else []
    serial = f"CMSIM-MUX-{request.param.upper()}"
    with running_device(tmp_path_factory.mktemp("mux-state"),
                        args=[*FAST, "--seal", str(seal_file), "--serial", serial, *line]) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
            with dev.login("officer", PASSWORDS["officer"]) as officer:
                for i in range(THREADS):
                    officer.create_operator(f"user{i}", Role.USER, f"user{i}-pass-12")
        yield proc


def test_threads_on_one_connection_each_get_their_own_answers(device: DeviceProcess) -> None:
    failures: list[str] = []
    done = [0] * THREADS
    start = threading.Barrier(THREADS)
    with Device.open(device.port, timeout=20) as dev:
        dev.identity()  # pinned once, before the threads

        def work(i: int) -> None:
            try:
                with dev.login(f"user{i}", f"user{i}-pass-12") as session:
                    start.wait()
                    for n in range(CALLS):
                        message = f"thread {i} message {n}".encode()
                        if session.digest(DigestAlg.SHA2_256, message) != hashlib.sha256(message).digest():
                            failures.append(f"thread {i} call {n}: another thread's answer")
                        done[i] += 1
            except Exception as exc:  # reported below with the thread that raised it
                failures.append(f"thread {i}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        peak = dev.transport.peak_in_flight
    assert failures == []
    assert done == [CALLS] * THREADS
    assert peak >= 2  # the calls really were in flight together


def test_one_session_takes_one_request_at_a_time(device: DeviceProcess) -> None:
    with Device.open(device.port) as dev, dev.login("user0", "user0-pass-12") as session:
        link = dev.transport
        with link._cond:  # as if another thread's request of this session were awaited
            link._awaited[(session.session_id, 10**6)] = None
        try:
            with pytest.raises(TransportError, match="already has a request in flight"):
                session.random(8)
        finally:
            with link._cond:
                link._awaited.pop((session.session_id, 10**6))
        assert len(session.random(8)) == 8
