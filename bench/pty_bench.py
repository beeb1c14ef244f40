"""Requests over a real pty against baselines measured in the same run.

- a bare pty echo loop (a child process echoing on the master end, the host on the slave end,
  plain os.read/os.write) with frames of the same size as the device's request and response;
- authenticated, encrypted, audited RANDOM(32) and unauthenticated GET_STATUS to a `cmsim-device`
  subprocess, with each fsync policy;
- AES-256-GCM on 1 KiB and ECDSA P-256 signing through the device versus the same `cryptography`
  call in this process (what being a device costs).

    python bench/pty_bench.py [--requests N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from host_tools.device import Device  # noqa: E402
from host_tools.device_process import running_device  # noqa: E402
from module.wire.defs import Command, KeyType, Role  # noqa: E402

_ECHO_CHILD = r"""
import os, sys, tty
master, slave = os.openpty()
tty.setraw(master); tty.setraw(slave)
print(os.ttyname(slave), flush=True)
while True:
    data = os.read(master, 65536)
    if not data:
        break
    os.write(master, data)
"""


def rate(fn: Callable[[], object], n: int, rounds: int = 3) -> float:
    """Best of ``rounds`` rounds of ``n`` calls, in calls per second."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - started))
    return best


def echo_rate(size: int, n: int) -> float:
    """Round trips per second of ``size``-byte messages through a pty and a Python echo process."""
    child = subprocess.Popen([sys.executable, "-c", _ECHO_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        path = child.stdout.readline().strip()
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        message = bytes(range(1, 256))[: max(1, size - 1)] * (size // 255 + 1)
        message = message[: size - 1] + b"\x00"

        def round_trip() -> None:
            os.write(fd, message)
            got = 0
            while got < size:
                got += len(os.read(fd, 65536))

        for _ in range(200):
            round_trip()
        result = rate(round_trip, n)
        os.close(fd)
        return result
    finally:
        child.kill()
        child.wait()


def device_figures(n: int, fsync: str, seal: Path | None) -> dict[str, float]:
    args = ["--pbkdf2-iterations", "1000", "--fsync", fsync, "--capacity", str(20 * n)] + (["--seal", str(seal)] if seal else [])
    os.environ["CMSIM_HOME"] = tempfile.mkdtemp(prefix="cmsim-bench-home-")  # a fresh device: its own pin store
    os.environ["CMSIM_MIN_ITERATIONS"] = "1000"  # the host's floor at this device's count
    with tempfile.TemporaryDirectory() as state, running_device(state, args=args) as proc, Device.open(proc.port) as dev:
        with dev.login("co", "cmsim-factory") as factory:
            factory.initialise("officer", "officer-pass-1")
        with dev.login("officer", "officer-pass-1") as officer:
            officer.create_operator("alice", Role.USER, "alice-pass-12")
        with dev.login("alice", "alice-pass-12") as alice:
            aes = alice.generate_key(KeyType.AES_256).key_id
            p256 = alice.generate_key(KeyType.EC_P256).key_id
            kib = os.urandom(1024)
            for _ in range(100):
                alice.random(32)
            figures = {
                "random32": rate(lambda: alice.random(32), n),
                "aes_gcm_1k": rate(lambda: alice.encrypt(aes, kib), n // 2),
                "ecdsa_p256_sign": rate(lambda: alice.sign(p256, b"message"), n // 4),
            }
        figures["status"] = rate(lambda: dev.status(), n // 2)
        # Median round trip of the random request, for the note.
        with dev.login("alice", "alice-pass-12") as alice:
            samples = []
            for _ in range(n // 2):
                started = time.perf_counter()
                alice.random(32)
                samples.append(time.perf_counter() - started)
            figures["random32_median_us"] = statistics.median(samples) * 1e6
        return figures


def in_process_figures(n: int) -> dict[str, float]:
    aes = AESGCM(AESGCM.generate_key(256))
    kib = os.urandom(1024)
    key = ec.generate_private_key(ec.SECP256R1())
    return {
        "aes_gcm_1k": rate(lambda: aes.encrypt(os.urandom(12), kib, None), n * 4),
        "ecdsa_p256_sign": rate(lambda: key.sign(b"message", ec.ECDSA(hashes.SHA256())), n),
    }


def frame_sizes() -> tuple[int, int]:
    """On-the-wire sizes of a protected RANDOM(32) request and of its response."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM as _AESGCM

    from module.wire.channel import request_frame, response_frame
    from module.wire.defs import Status
    from module.wire.frame import encode_frame
    from module.wire.messages import Reply

    key = _AESGCM(bytes(32))
    request = encode_frame(request_frame(int(Command.RANDOM), {"length": 32}, 1, 1, key))
    response = encode_frame(response_frame(Reply(Status.OK, True, {"random": bytes(32)}), 1, 1, key))
    return len(request), len(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seal", type=Path, help="Seal file for the device (default: module/integrity.seal).")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    request_size, response_size = frame_sizes()
    size = max(request_size, response_size)
    figures: dict[str, object] = {
        "frame_bytes": size,
        "echo": echo_rate(size, args.requests * 2),
        "echo_64": echo_rate(64, args.requests * 2),
        "device_fsync_always": device_figures(args.requests, "always", args.seal),
        "device_fsync_os": device_figures(args.requests, "os", args.seal),
        "in_process": in_process_figures(args.requests),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
