"""Write the seed corpora in fuzz/corpus/ (run it again when a format changes).

    python fuzz/seeds.py

Seeds are real bytes from a device: frames in every mode of fuzz_frames.py (a request for every
service, with the example parameters the role matrix uses), and small exports, records and
statements for fuzz_export.py, signed with the documentation key the targets verify against.
Files named ``regression-*`` are inputs that once found a bug; this script leaves them alone.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from _harness import DOC_SEED, PASSWORDS, PINS, ROOT, CheckedLine, build_module, chain_verifies, generate_keys

sys.path.insert(0, str(ROOT / "tests"))  # the role matrix's example request for every service

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from firmware_sim.device import InProcessTransport  # noqa: E402
from host_tools.client import Client  # noqa: E402
from module.wire.audit.export import ExportFormat, ExportWriter, RecordItem, iter_export  # noqa: E402
from module.wire.audit.record import RecordKind, decode_record  # noqa: E402
from module.wire.audit.signature import KeyStatement  # noqa: E402
from module.wire.channel import request_frame  # noqa: E402
from module.wire.defs import Command, DigestAlg, Role  # noqa: E402
from module.wire.frame import encode_frame  # noqa: E402
from module.wire.params import encode_map  # noqa: E402
from service_examples import EXAMPLES, Fixture  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"


def export_of(module: object, fmt: ExportFormat, last: int | None = None) -> bytes:
    """The module's retained trail (or its ``last`` records) under a fresh checkpoint."""
    trail = module.audit  # type: ignore[attr-defined]
    trail.checkpoint(b"seed", **module.audit_times())  # type: ignore[attr-defined]
    status = trail.status()
    out = io.BytesIO()
    writer = ExportWriter(out, module.config.serial, fmt)  # type: ignore[attr-defined]
    seq = status.oldest_retained if last is None else max(status.oldest_retained, status.next_seq - last)
    writer.anchor(*trail.anchor(seq))
    while seq < status.next_seq:
        page = trail.export(seq, 256)
        for data in page:
            writer.record(data)
        seq += len(page)
    writer.close()
    return out.getvalue()


def frame_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    fixture = Fixture()
    for command, example in EXAMPLES.items():
        params = encode_map(example(fixture))
        seeds[f"user-{command.name}"] = b"\x02" + int(command).to_bytes(2, "big") + params
        seeds[f"officer-{command.name}"] = b"\x03" + int(command).to_bytes(2, "big") + params
    for command in (Command.GET_STATUS, Command.GET_VERSION, Command.AUTH_BEGIN, Command.AUDIT_PUBKEY):
        params = encode_map(EXAMPLES[command](fixture))
        header = bytes([0]) + bytes(4) + (1).to_bytes(4, "big") + int(command).to_bytes(2, "big")
        seeds[f"clear-{command.name}"] = b"\x01" + header + params
        seeds[f"line-{command.name}"] = b"\x00" + encode_frame(request_frame(command, EXAMPLES[command](fixture), 0, 1))
    seeds["line-garbage-then-frame"] = b"\x00" + b"\x13\x37garbage\x00" + seeds["line-GET_STATUS"][1:]
    return seeds


def export_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    module = build_module(7, policy="block")
    line = CheckedLine(module)
    sid = line.login("alice")
    generate_keys(line, sid)
    for fmt in ExportFormat:
        data = export_of(module, fmt, last=24)
        seeds[f"verify-{fmt.value}"] = b"\x00" + data
        seeds[f"parse-{fmt.value}"] = b"\x01" + data
    assert chain_verifies(module).ok

    # A small ring under wrap: anchors that jump, LOSS records, PRE_OVERWRITE checkpoints.
    wrap = build_module(8, capacity=64)
    with Client(InProcessTransport(wrap), known_devices=PINS, min_iterations=1000).login("officer", PASSWORDS["officer"]) as officer:
        for _ in range(60):
            officer.digest(DigestAlg.SHA2_256, b"m")
    wrapped = export_of(wrap, ExportFormat.BINARY)
    seeds["verify-wrapped"] = b"\x00" + wrapped

    # A zeroisation: the documentation key hands over to the next key, which links back.
    zeroised = build_module(9)
    client = Client(InProcessTransport(zeroised), known_devices=PINS, min_iterations=1000)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.zeroise()
    zeroised.power_off()
    zeroised.power_on()
    with client.login("co", "cmsim-factory") as factory:
        factory.call(Command.INITIALISE, {"operator": "officer", "password": PASSWORDS["officer"]})
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.OPERATOR_CREATE,
                     {"operator": "alice", "role": int(Role.USER), "password": PASSWORDS["alice"]})
    handover = export_of(zeroised, ExportFormat.BINARY, last=60)
    seeds["verify-handover"] = b"\x00" + handover

    kinds: dict[str, bytes] = {}
    for data in (export_of(module, ExportFormat.BINARY), wrapped, handover):
        for item in iter_export(io.BytesIO(data)):
            if not isinstance(item, RecordItem):
                continue
            rec = decode_record(item.data)
            key = f"{rec.kind.name}-{rec.code}-{bool(rec.checkpoint and rec.checkpoint.statement.link_kind)}"
            kinds.setdefault(key, item.data)
            if rec.checkpoint is not None:
                seeds.setdefault(f"statement-{rec.checkpoint.statement.link_kind.name}",
                                 b"\x03\x00" + rec.checkpoint.statement.encode())
                seeds.setdefault(f"body-{rec.checkpoint.statement.link_kind.name}",
                                 b"\x03\x01" + rec.checkpoint.encode())
            if rec.loss is not None:
                seeds.setdefault("loss", b"\x03\x02" + rec.loss.encode())
    for key, data in kinds.items():
        if decode_record(data).kind in (RecordKind.CHECKPOINT, RecordKind.LOSS) or key.startswith("SERVICE-48"):
            seeds[f"record-{key}"] = b"\x02" + data
    seeds["record-service"] = b"\x02" + next(d for k, d in kinds.items() if k.startswith("SERVICE"))
    seeds["record-event"] = b"\x02" + next(d for k, d in kinds.items() if k.startswith("EVENT"))
    doc_key = Ed25519PrivateKey.from_private_bytes(DOC_SEED)
    seeds["key-statement"] = b"\x03\x03" + KeyStatement.sign("CMSIM-0001", doc_key).encode()
    return seeds


def dictionaries() -> dict[str, list[bytes]]:
    """libFuzzer dictionaries: the tokens a mutation is unlikely to invent (parameter names as the
    map encodes them, enum values, JSON Lines keys, the export magic and item tags)."""
    from module.services.catalog import SERVICES

    names = sorted({p.name for spec in SERVICES.values() for p in spec.params})
    frames = [bytes([len(n)]) + n.encode() for n in names]
    frames += [bytes([tag]) + len_.to_bytes(4, "big") for tag in range(1, 7) for len_ in (0, 1, 8, 16, 32)]
    export = [b"CMSIMAUD", b"CMSIM-0001", b'"type":', b'"record"', b'"anchor"', b'"header"', b'"end"', b'"seq":',
              b'"kind":', b'"hash":', b'"next_seq":', b'"records":', b'"head":', b'"cmsim-audit-export"',
              b'"record_version":', b'"version":', b'"serial":', b'"format":', b"R\x01", b"A\x00", b"F\x00"]
    return {"frames": frames, "export": export}


def write_dict(target: str, tokens: list[bytes]) -> None:
    lines = ['kw%d="%s"' % (i, "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else "\\x%02x" % b
                                        for b in token)) for i, token in enumerate(tokens)]
    (Path(__file__).resolve().parent / f"{target}.dict").write_text("\n".join(lines) + "\n")


def write(target: str, seeds: dict[str, bytes]) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    for name, data in seeds.items():
        (folder / f"seed-{name}").write_bytes(data)
    print(f"{target}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    write("frames", frame_seeds())
    write("export", export_seeds())
    for target, tokens in dictionaries().items():
        write_dict(target, tokens)
