"""Audit trail benchmarks (pytest-benchmark). Not part of ``make test``: tests live in tests/.

Run:  python -m pytest bench/bench_audit.py -o python_files='bench_*.py' -p no:cacheprovider -s

Everything is measured in one run and reported as ratios (absolute figures drift on shared
machines): append cost per record into MemoryFlash and into a real directory with fsync
``always`` and ``os``; the in-process service call with and without the trail; offline
verification of the same records in both export formats against a bare ``hashlib.sha256`` chain
loop over the same encoded records.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from figures import RESULTS, record

from firmware_sim.flash import DirectoryFlash
from host_tools.audit_verify import verify_export
from module.audit.sink import AuditEntry, MemoryAuditSink, RecordKind
from module.audit.trail import AuditConfig, AuditTrail
from module.ports import Flash, ManualClock, MemoryFlash
from module.wire.audit.chain import CHAIN_TAG, genesis
from module.wire.audit.export import ExportFormat, write_export
from module.wire.defs import Command, Role, Status

SERIAL = "CMSIM-BENCH"
SEED = bytes(range(32))
BATCH = 2000  # appends per timed round
VERIFY_RECORDS = 50_000

ENTRY = AuditEntry(
    RecordKind.SERVICE, Command.SIGN, Status.OK, True, 0x1234ABCD, "alice", Role.USER, (7,),
    hashlib.sha256(b"request").digest(), hashlib.sha256(b"response").digest(),
)


def _trail(flash: Flash, fsync: str = "always", capacity: int = 4096) -> AuditTrail:
    trail = AuditTrail(flash, SERIAL, AuditConfig(capacity=capacity, policy="wrap", fsync=fsync))  # type: ignore[arg-type]
    trail.open(1)
    trail.set_signing_key(SEED)
    return trail


def _appends(trail: AuditTrail) -> None:
    for i in range(BATCH):
        trail.append(ENTRY, boot=1, tick_ns=i, utc_ns=1_790_000_000 * 10**9 + i)


_record = record


def test_append_memory_flash(benchmark: Any) -> None:
    trail = _trail(MemoryFlash())
    benchmark.pedantic(_appends, args=(trail,), rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, "append MemoryFlash", BATCH)


@pytest.mark.parametrize("fsync", ["always", "os"])
def test_append_directory_flash(benchmark: Any, tmp_path: Path, fsync: str) -> None:
    flash = DirectoryFlash(tmp_path / "state", durable=True)
    trail = _trail(flash, fsync)
    benchmark.pedantic(_appends, args=(trail,), rounds=3, iterations=1, warmup_rounds=1)
    flash.close()
    _record(benchmark, f"append DirectoryFlash fsync={fsync}", BATCH)


# ----------------------------------------------------------------------------- service call
def _module(audit: Any) -> tuple[Any, int]:
    """An operational module with a Crypto Officer session (the only SSP here is the test password)."""
    from firmware_sim.device import InProcessTransport
    from firmware_sim.entropy import OsNoiseSource
    from firmware_sim.integrity import PackageCodeImage
    from host_tools.client import Client
    from module.core import Module, ModuleConfig
    from module.integrity import compute_seal
    from module.operators import AuthPolicy

    code = PackageCodeImage()
    config = ModuleConfig(auth=AuthPolicy(pbkdf2_iterations=1000))
    module = Module(flash=MemoryFlash(), clock=ManualClock(), entropy=OsNoiseSource(), code=code,
                    seal=compute_seal(code), config=config, audit=audit)
    module.power_on()
    client = Client(InProcessTransport(module))
    factory = client.login(config.factory_operator, config.factory_password)
    factory.call(Command.INITIALISE, {"operator": "officer", "password": "officer-pass-1"})  # ends that session
    session = client.login("officer", "officer-pass-1").session_id
    return module, session


def _status_calls(module: Any, session: int) -> None:
    for _ in range(BATCH // 4):
        module.call(Command.GET_STATUS)


def _random_calls(module: Any, session: int) -> None:
    for _ in range(BATCH // 4):
        module.call(Command.RANDOM, {"length": 32}, session)


def _sink(kind: str) -> Any:
    if kind == "memory-sink":
        return MemoryAuditSink()
    trail = AuditTrail(MemoryFlash(), "CMSIM-0001", AuditConfig(policy="wrap"))
    trail.open(1)
    return trail


@pytest.mark.parametrize("sink", ["memory-sink", "audit-trail"])
@pytest.mark.parametrize("call", ["GET_STATUS", "RANDOM(32)"])
def test_service_call(benchmark: Any, sink: str, call: str) -> None:
    module, session = _module(_sink(sink))
    run = _status_calls if call == "GET_STATUS" else _random_calls
    benchmark.pedantic(run, args=(module, session), rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, f"service call {call}, {sink}", BATCH // 4)


# ----------------------------------------------------------------------------- verification
@pytest.fixture(scope="module")
def export() -> Iterator[tuple[list[bytes], dict[ExportFormat, bytes], bytes]]:
    trail = _trail(MemoryFlash(), "os", capacity=VERIFY_RECORDS + 1024)
    for i in range(VERIFY_RECORDS):
        trail.append(ENTRY, boot=1, tick_ns=i, utc_ns=i)
    trail.checkpoint(b"bench", boot=1, tick_ns=0, utc_ns=0)
    records = trail.export(0, 10**9)
    blobs = {}
    for fmt in ExportFormat:
        out = io.BytesIO()
        write_export(out, SERIAL, records, fmt=fmt)
        blobs[fmt] = out.getvalue()
    yield records, blobs, trail.public_key()


def _bare_chain(records: list[bytes]) -> bytes:
    h = genesis(SERIAL)
    sha256 = hashlib.sha256
    for data in records:
        h = sha256(CHAIN_TAG + h + data).digest()
    return h


def test_bare_hashlib_chain(benchmark: Any, export: tuple[list[bytes], dict[ExportFormat, bytes], bytes]) -> None:
    records, _, _ = export
    benchmark.pedantic(_bare_chain, args=(records,), rounds=7, iterations=1, warmup_rounds=1)
    _record(benchmark, "bare hashlib chain", len(records))


@pytest.mark.parametrize("fmt", list(ExportFormat), ids=lambda f: f.value)
def test_verify_export(benchmark: Any, export: tuple[list[bytes], dict[ExportFormat, bytes], bytes],
                       fmt: ExportFormat) -> None:
    records, blobs, key = export

    def run() -> None:
        result = verify_export(io.BytesIO(blobs[fmt]), key, expected_nonce=b"bench")
        assert result.ok, result.message

    benchmark.pedantic(run, rounds=7 if fmt is ExportFormat.BINARY else 3, iterations=1, warmup_rounds=1)
    _record(benchmark, f"verify {fmt.value}", len(records))


# ----------------------------------------------------------------------------- boot
def test_boot_to_operational(benchmark: Any) -> None:
    """Power-on of an initialised module: integrity test, entropy start-up, DRBG health, every CAST."""
    module, _ = _module(None)

    def cycle() -> None:
        module.power_off()
        module.power_on()

    benchmark.pedantic(cycle, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, "boot to operational", 1)


def test_report_ratios() -> None:
    """Print the comparison table (run with -s to see it) and leave the figures for bench/run.py."""
    r = RESULTS
    lines = ["", "audit benchmark (one run; best round)"]
    for name, seconds in r.items():
        rate = 1 / seconds
        lines.append(f"  {name:<38} {seconds * 1e6:9.2f} us/unit {rate:12,.0f} /s")
    if "bare hashlib chain" in r:
        for fmt in ("binary", "jsonl"):
            if f"verify {fmt}" in r:
                lines.append(f"  verify {fmt} rate / bare chain rate: {r['bare hashlib chain'] / r[f'verify {fmt}']:.0%}")
    for call in ("GET_STATUS", "RANDOM(32)"):
        base, trail = r.get(f"service call {call}, memory-sink"), r.get(f"service call {call}, audit-trail")
        if base and trail:
            lines.append(f"  {call} in process, trail vs in-memory sink: {trail / base:.2f}x "
                         f"(append adds {(trail - base) * 1e6:.1f} us, {(trail - base) / base:+.0%})")
    print("\n".join(lines))
