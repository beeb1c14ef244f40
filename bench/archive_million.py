"""Archive throughput and peak memory for a large export (default 1,000,000 records).

A trail on in-memory flash writes the records (with periodic signed checkpoints) and they go to a
binary export file; a fresh child process then verifies and stores that file into a new SQLite
archive (`Archive.ingest`, the same path `cmsim audit archive` takes) and reports records/s and
its own peak RSS, so the figure holds the archive's memory only.

    python bench/archive_million.py [--records N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERIAL = "CMSIM-BENCH"
SEED = bytes(range(32))


def generate(path: Path, records: int) -> bytes:
    """Write an export of ``records`` records ending in a signed checkpoint; return the public key."""
    import hashlib

    from module.audit.sink import AuditEntry, RecordKind
    from module.audit.trail import AuditConfig, AuditTrail
    from module.ports import MemoryFlash
    from module.wire.audit.export import ExportFormat, ExportWriter
    from module.wire.defs import Command, Role, Status

    trail = AuditTrail(MemoryFlash(), SERIAL, AuditConfig(capacity=records + 64, checkpoint_every=100_000, fsync="os",
                                                           reserve=0))
    trail.open(1)
    trail.set_signing_key(SEED)
    entry = AuditEntry(RecordKind.SERVICE, Command.SIGN, Status.OK, True, 0x1234ABCD, "alice", Role.USER, (7,),
                       hashlib.sha256(b"request").digest(), hashlib.sha256(b"response").digest())
    for i in range(records - 1):
        trail.append(entry, boot=1, tick_ns=i, utc_ns=1_790_000_000 * 10**9 + i * 1000)
    trail.checkpoint(b"bench", boot=1, tick_ns=records, utc_ns=1_790_000_000 * 10**9)
    with path.open("wb") as out:
        writer = ExportWriter(out, SERIAL, ExportFormat.BINARY)
        writer.anchor(*trail.anchor(0))
        seq, total = 0, trail.status().next_seq
        while seq < total:
            page = trail.export(seq, 50_000)
            for data in page:
                writer.record(data)
            seq += len(page)
        writer.close()
    return trail.public_key()


def ingest(export: Path, public_key: bytes) -> dict[str, float]:
    from host_tools.archive import Archive
    from host_tools.audit_drain import TrustedKey

    with tempfile.TemporaryDirectory() as tmp:
        with Archive(Path(tmp) / "bench.db") as archive:
            archive.bind(TrustedKey(SERIAL, public_key))
            started = time.perf_counter()
            with export.open("rb") as f:
                stored, result = archive.ingest(f)
            elapsed = time.perf_counter() - started
            assert result.ok and stored == result.records, result.message
        db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())
    peak_mb = _peak_rss_mb()
    return {"records": stored, "seconds": elapsed, "records_per_s": stored / elapsed, "peak_rss_mb": peak_mb,
            "db_mb": db_bytes / 2**20}


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss, which Linux carries
    across exec from the parent, here the process that generated the export."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, metavar=("EXPORT", "PUBKEY_HEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest(Path(args.child[0]), bytes.fromhex(args.child[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.bin"
        started = time.perf_counter()
        public_key = generate(export, args.records)
        gen_s = time.perf_counter() - started
        out = subprocess.run([sys.executable, __file__, "--child", str(export), public_key.hex()],
                             check=True, capture_output=True, text=True)
        figures = json.loads(out.stdout)
        figures["export_mb"] = export.stat().st_size / 2**20
        figures["generate_s"] = gen_s
    print(f"archive of {figures['records']:,} records: {figures['records_per_s']:,.0f} records/s "
          f"({figures['seconds']:.1f} s, verify + store), peak RSS {figures['peak_rss_mb']:.0f} MB, "
          f"export {figures['export_mb']:.0f} MB, database {figures['db_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
