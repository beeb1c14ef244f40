"""Hot paths of the line (pytest-benchmark): frame codec, message codec with the secure channel,
the endpoint's whole request path in process, checkpoint signing, archive import.

Run with the rest: `make bench` (bench/run.py), or
    python -m pytest bench -o python_files='bench_*.py' -p no:cacheprovider
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from figures import record

from firmware_sim.device import EndpointLine
from firmware_sim.entropy import OsNoiseSource
from firmware_sim.integrity import PackageCodeImage
from host_tools.archive import Archive
from host_tools.audit_drain import TrustedKey
from host_tools.client import Client
from host_tools.link import WireTransport
from module.audit.sink import AuditEntry, RecordKind
from module.audit.trail import AuditConfig, AuditTrail
from module.core import Module, ModuleConfig
from module.endpoint import Endpoint
from module.integrity import compute_seal
from module.operators import AuthPolicy
from module.ports import ManualClock, MemoryFlash
from module.wire.audit.export import ExportFormat, ExportWriter
from module.wire.channel import reply_of, request_frame, response_frame
from module.wire.defs import Command, Role, Status
from module.wire.frame import Flags, Frame, FrameDecoder, decode_frame, encode_frame
from module.wire.messages import Reply
from module.wire.params import decode_map, encode_map

N = 2000
KEY = AESGCM(bytes(range(32)))
PARAMS = {"key_id": 7, "plaintext": bytes(1024), "aad": b"header"}
FRAME = Frame(Flags.NONE, 0x01020304, 5, int(Command.ENCRYPT), encode_map(PARAMS))
WIRE = encode_frame(FRAME)


def test_frame_encode(benchmark: Any) -> None:
    benchmark(lambda: [encode_frame(FRAME) for _ in range(N)])
    record(benchmark, "frame encode (1 KiB payload)", N)


def test_frame_decode(benchmark: Any) -> None:
    stuffed = WIRE[:-1]
    benchmark(lambda: [decode_frame(stuffed) for _ in range(N)])
    record(benchmark, "frame decode (1 KiB payload)", N)


def test_stream_decoder(benchmark: Any) -> None:
    stream = WIRE * 100
    benchmark(lambda: [FrameDecoder().feed(stream) for _ in range(N // 100)])
    record(benchmark, "frame stream decoder, per frame", N)


def test_params_codec(benchmark: Any) -> None:
    def run() -> None:
        for _ in range(N):
            decode_map(encode_map(PARAMS))

    benchmark(run)
    record(benchmark, "params TLV encode + decode", N)


def test_protected_request_and_response(benchmark: Any) -> None:
    reply = Reply(Status.OK, True, {"random": bytes(32)})

    def run() -> None:
        for i in range(N):
            encode_frame(request_frame(int(Command.RANDOM), {"length": 32}, 9, i + 1, KEY))
            reply_of(decode_frame(encode_frame(response_frame(reply, 9, i + 1, KEY))[:-1]), KEY)

    benchmark(run)
    record(benchmark, "secure channel: request + response codec", N)


def _wire_client() -> tuple[Module, Client]:
    code = PackageCodeImage()
    config = ModuleConfig(auth=AuthPolicy(pbkdf2_iterations=1000), audit=AuditConfig(capacity=200_000))
    module = Module(flash=MemoryFlash(), clock=ManualClock(), entropy=OsNoiseSource(), code=code,
                    seal=compute_seal(code), config=config)
    module.power_on()
    client = Client(WireTransport(EndpointLine(Endpoint(module))))
    with client.login("co", "cmsim-factory") as factory:
        factory.initialise("officer", "officer-pass-1")
    with client.login("officer", "officer-pass-1") as officer:
        officer.create_operator("alice", Role.USER, "alice-pass-12")
    return module, client


def test_endpoint_request_path(benchmark: Any) -> None:
    """Host and device Python of one protected, audited RANDOM(32), no pty (in-memory flash)."""
    _, client = _wire_client()
    session = client.login("alice", "alice-pass-12")
    benchmark.pedantic(lambda: [session.random(32) for _ in range(N // 4)], rounds=5, iterations=1, warmup_rounds=1)
    record(benchmark, "endpoint: protected RANDOM(32), host + device, no pty", N // 4)


def test_checkpoint_signing(benchmark: Any) -> None:
    trail = AuditTrail(MemoryFlash(), "CMSIM-BENCH", AuditConfig(capacity=100_000, checkpoint_every=0, fsync="os"))
    trail.open(1)
    trail.set_signing_key(bytes(range(32)))
    benchmark.pedantic(lambda: [trail.checkpoint(b"n", boot=1, tick_ns=0, utc_ns=0) for _ in range(200)],
                       rounds=5, iterations=1)
    record(benchmark, "checkpoint: record + Ed25519 signature + slot", 200)


def test_archive_import(benchmark: Any) -> None:
    trail = AuditTrail(MemoryFlash(), "CMSIM-BENCH", AuditConfig(capacity=30_000, checkpoint_every=5_000, fsync="os"))
    trail.open(1)
    trail.set_signing_key(bytes(range(32)))
    entry = AuditEntry(RecordKind.SERVICE, Command.SIGN, Status.OK, True, 1, "alice", Role.USER, (7,))
    for i in range(20_000):
        trail.append(entry, boot=1, tick_ns=i, utc_ns=i)
    trail.checkpoint(b"", boot=1, tick_ns=0, utc_ns=0)
    out = io.BytesIO()
    writer = ExportWriter(out, "CMSIM-BENCH", ExportFormat.BINARY)
    writer.anchor(*trail.anchor(0))
    for data in trail.export(0, 30_000):
        writer.record(data)
    writer.close()
    blob, total = out.getvalue(), trail.status().next_seq

    def run() -> None:
        with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "a.db") as archive:
            archive.bind(TrustedKey("CMSIM-BENCH", trail.public_key()))
            stored, _ = archive.ingest(io.BytesIO(blob))
            assert stored == total

    benchmark.pedantic(run, rounds=3, iterations=1)
    record(benchmark, "archive import (verify + store), per record", total)
