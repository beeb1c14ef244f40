"""Login time and RANDOM(32) round trips over a real pty, for a before/after comparison.

Uses only the host API that every protocol version has (Device.open, login, random), so the same
script runs against an older checkout (``PYTHONPATH=OLD python bench/login_bench.py``). Each device
gets its own CMSIM_HOME (a fresh pin store: each device has a new identity under the same serial).

    python bench/login_bench.py [--logins N] [--requests N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_sim.integrity import DEFAULT_SEAL_PATH, write_seal  # noqa: E402
from host_tools.device import Device  # noqa: E402
from host_tools.device_process import running_device  # noqa: E402
from module.wire.defs import Role  # noqa: E402


def measure(iterations: int, logins: int, requests: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as state:
        os.environ["CMSIM_HOME"] = home
        os.environ["CMSIM_MIN_ITERATIONS"] = str(iterations)  # a host floor at this device's count
        args = ["--pbkdf2-iterations", str(iterations), "--fsync", "os", "--capacity", str(2 * requests + 20 * logins + 1000)]
        with running_device(state, args=args) as proc, Device.open(proc.port) as dev:
            with dev.login("co", "cmsim-factory") as factory:
                factory.initialise("officer", "officer-pass-1")
            with dev.login("officer", "officer-pass-1") as officer:
                officer.create_operator("alice", Role.USER, "alice-pass-12")
            samples = []
            for _ in range(logins):
                started = time.perf_counter()
                session = dev.login("alice", "alice-pass-12")
                samples.append(time.perf_counter() - started)
                session.logout()
            out = {"login_median_ms": statistics.median(samples) * 1000}
            with dev.login("alice", "alice-pass-12") as alice:
                for _ in range(100):
                    alice.random(32)
                started = time.perf_counter()
                for _ in range(requests):
                    alice.random(32)
                out["random32_per_s"] = requests / (time.perf_counter() - started)
            return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    a = parser.parse_args()
    write_seal(DEFAULT_SEAL_PATH)  # what `make seal` does: the device's integrity test needs it
    figures = {f"{n}_iterations": measure(n, a.logins, a.requests) for n in (1000, 100_000)}
    for name, values in figures.items():
        print(f"{name}: login {values['login_median_ms']:.1f} ms (median of {a.logins}), "
              f"RANDOM(32) {values['random32_per_s']:,.0f} round trips/s")
    if a.json:
        a.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
