"""Many hosts against one device, against baselines measured in the same run.

- aggregate durable RANDOM(32) (authenticated, encrypted, audited) with 1, 2, 4 and 8 sessions,
  each session a host process on its own TCP connection, under ``--fsync always`` and next to the
  same load under ``--fsync os``;
- the same sessions as threads of one host multiplexed over one TCP connection (``*_one_conn``);
- the disk's floor: a bare loop of 512-byte pwrite + fdatasync on the state directory's disk
  (and 8 records per fdatasync, what a group commit of 8 costs at best);
- one session over TCP next to the same over the pty;
- process start to first answer (spawn, boot, GET_STATUS answered) next to ``python -c pass``.

    python bench/hosts_bench.py [--seconds S] [--json FILE] [--sessions 1,2,4,8]

A device that serves one connection at a time (before the many-hosts loop) gets only the rows
with one session.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host_tools.device import Device  # noqa: E402
from host_tools.device_process import running_device  # noqa: E402
from module.wire.defs import Role  # noqa: E402

MAX_SESSIONS = 8


def user(i: int) -> tuple[str, str]:
    """Each session its own operator (a device limits sessions and half-open logins per operator)."""
    return f"user{i}", f"user{i}-pass-12"


def disk_floor(directory: str, records: int, per_sync: int) -> float:
    """Records per second of 512-byte pwrites with one fdatasync per ``per_sync`` records."""
    fd, path = tempfile.mkstemp(dir=directory)
    try:
        size = 512 * 4096
        os.pwrite(fd, bytes(size), 0)
        os.fsync(fd)
        record = os.urandom(512)
        started = time.perf_counter()
        for i in range(records):
            os.pwrite(fd, record, (i * 512) % size)
            if (i + 1) % per_sync == 0:
                os.fdatasync(fd)
        return records / (time.perf_counter() - started)
    finally:
        os.close(fd)
        os.unlink(path)


def _prepare(port: str) -> None:
    with Device.open(port) as dev:
        with dev.login("co", "cmsim-factory") as factory:
            factory.initialise("officer", "officer-pass-1")
        with dev.login("officer", "officer-pass-1") as officer:
            for i in range(MAX_SESSIONS):
                name, password = user(i)
                officer.create_operator(name, Role.USER, password)


def _load(session: Any, seconds: float, start: Any, out: Any) -> None:
    """One session: RANDOM(32) until the time is up; puts (calls, began, ended)."""
    for _ in range(50):
        session.random(32)
    start.wait()
    calls, began = 0, time.perf_counter()
    end = began + seconds
    while True:
        for _ in range(20):
            session.random(32)
        calls += 20
        now = time.perf_counter()
        if now >= end:
            break
    out.put((calls, began, now))


def _host(port: str, i: int, seconds: float, start: Any, out: Any) -> None:
    """One host process: its own connection, one session."""
    with Device.open(port) as dev, dev.login(*user(i)) as session:
        _load(session, seconds, start, out)


def _rate(results: list[tuple[int, float, float]]) -> float:
    return sum(r[0] for r in results) / (max(r[2] for r in results) - min(r[1] for r in results))


def one_connection(port: str, sessions: int, seconds: float) -> float:
    """Calls per second of ``sessions`` threads, each with its own session, over one connection."""
    import queue
    import threading

    start, out = threading.Barrier(sessions + 1), queue.Queue[tuple[int, float, float]]()
    with Device.open(port, timeout=30) as dev:
        dev.identity()
        opened = [dev.login(*user(i)) for i in range(sessions)]
        threads = [threading.Thread(target=_load, args=(s, seconds, start, out)) for s in opened]
        for t in threads:
            t.start()
        start.wait(timeout=120)
        for t in threads:
            t.join()
        for s in opened:
            s.logout()
    return _rate([out.get() for _ in threads])


def aggregate(port: str, sessions: int, seconds: float) -> float:
    """Calls per second of ``sessions`` host processes at once (from the first start to the last end)."""
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(sessions + 1), ctx.Queue()
    hosts = [ctx.Process(target=_host, args=(port, i, seconds, start, out)) for i in range(sessions)]
    for host in hosts:
        host.start()
    start.wait(timeout=120)
    results = [out.get(timeout=seconds + 120) for _ in hosts]
    for host in hosts:
        host.join()
    return _rate(results)


def device_rates(fsync: str, sessions: list[int], seconds: float, seal: Path | None, tcp: bool,
                 load: Any = aggregate) -> dict[str, float]:
    args = ["--pbkdf2-iterations", "1000", "--fsync", fsync, "--capacity", "1000000"]
    args += ["--seal", str(seal)] if seal else []
    args += ["--tcp", "127.0.0.1:0"] if tcp else []
    rates: dict[str, float] = {}
    os.environ["CMSIM_HOME"] = tempfile.mkdtemp(prefix="cmsim-bench-home-")  # a new device: a new pin store
    os.environ["CMSIM_MIN_ITERATIONS"] = "1000"  # the benchmark's devices announce 1000 (login cost aside)
    with tempfile.TemporaryDirectory() as state, running_device(state, args=args) as proc:
        _prepare(proc.port)
        for count in sessions:
            rates[str(count)] = load(proc.port, count, seconds)
    return rates


def start_to_first_answer(seal: Path | None, rounds: int) -> dict[str, float]:
    """Best of ``rounds``: spawn a device on a fresh state directory until its first answer, in ms."""
    best = float("inf")
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as state:
            os.environ["CMSIM_HOME"] = tempfile.mkdtemp(prefix="cmsim-bench-home-")
            began = time.perf_counter()
            with running_device(state, args=["--seal", str(seal)] if seal else []) as proc:
                with Device.open(proc.port) as dev:
                    dev.status()
                best = min(best, time.perf_counter() - began)
    bare = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare = min(bare, time.perf_counter() - began)
    return {"device_ms": best * 1e3, "python_pass_ms": bare * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Seconds of load per figure.")
    parser.add_argument("--sessions", default="1,2,4,8")
    parser.add_argument("--seal", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sessions = [int(n) for n in args.sessions.split(",")]
    state_disk = tempfile.gettempdir()
    figures: dict[str, Any] = {
        "disk_floor_1": disk_floor(state_disk, 3000, 1),
        "disk_floor_8": disk_floor(state_disk, 8 * 3000, 8),
        "tcp_always": device_rates("always", sessions, args.seconds, args.seal, tcp=True),
        "tcp_os": device_rates("os", sessions, args.seconds, args.seal, tcp=True),
        "tcp_always_one_conn": device_rates("always", sessions, args.seconds, args.seal, tcp=True, load=one_connection),
        "tcp_os_one_conn": device_rates("os", sessions, args.seconds, args.seal, tcp=True, load=one_connection),
        "pty_always": device_rates("always", [1], args.seconds, args.seal, tcp=False),
        "start": start_to_first_answer(args.seal, 5),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
