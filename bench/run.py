"""`make bench`: run the pytest-benchmark suite and print one table of figures with their baselines.

Every figure is set against a baseline measured in the same run (absolute numbers drift on
shared machines; ratios do not). Writes bench/results.json beside the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results.json"


def _run_suite() -> dict[str, float]:
    env = dict(os.environ, CMSIM_BENCH_RESULTS=str(RESULTS))
    cmd = [sys.executable, "-m", "pytest", str(BENCH), "-o", "python_files=bench_*.py",
           "-p", "no:cacheprovider", "-q", "--benchmark-disable-gc", "--benchmark-columns=min,median,rounds"]
    subprocess.run(cmd, check=True, env=env, cwd=BENCH.parent)
    return dict(json.loads(RESULTS.read_text(encoding="utf-8")))


def _archive_million() -> dict[str, float]:
    out = BENCH / "archive_million.json"
    subprocess.run([sys.executable, str(BENCH / "archive_million.py"), "--json", str(out)], check=True,
                   cwd=BENCH.parent)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def _pty() -> dict[str, Any]:
    out = BENCH / "pty.json"
    subprocess.run([sys.executable, str(BENCH / "pty_bench.py"), "--json", str(out)], check=True, cwd=BENCH.parent,
                   stdout=subprocess.DEVNULL)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def _hosts() -> dict[str, Any]:
    out = BENCH / "hosts.json"
    subprocess.run([sys.executable, str(BENCH / "hosts_bench.py"), "--json", str(out)], check=True, cwd=BENCH.parent,
                   stdout=subprocess.DEVNULL)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def _hosts_rows(table: Table, hosts: dict[str, Any]) -> None:
    floor, floor8 = hosts["disk_floor_1"], hosts["disk_floor_8"]
    table.add_row("disk floor: 512 B pwrite + fdatasync (8 per fdatasync)", f"{floor:,.0f}/s ({floor8:,.0f}/s)",
                  "", "", "")
    for n, durable in hosts["tcp_always"].items():
        loose = hosts["tcp_os"][n]
        table.add_row(f"TCP: RANDOM(32) durable, {n} session(s) on {n} connection(s)", f"{durable:,.0f}/s",
                      f"{loose:,.0f}/s (--fsync os)", f"{durable / loose:.2f}", ">= 0.8" if n == "8" else "")
    pty1, tcp1 = hosts["pty_always"]["1"], hosts["tcp_always"]["1"]
    table.add_row("TCP: RANDOM(32) durable, one session", f"{tcp1:,.0f}/s", f"{pty1:,.0f}/s (the pty)",
                  f"{tcp1 / pty1:.2f}", ">= 1")
    start = hosts["start"]
    table.add_row("process start to first answer", f"{start['device_ms']:.0f} ms",
                  f"{start['python_pass_ms']:.0f} ms (python -c pass)",
                  f"{start['device_ms'] / start['python_pass_ms']:.1f}", "<= 3")


def main() -> None:
    r = _run_suite()
    archive = _archive_million()
    pty = _pty()
    hosts = _hosts()
    table = Table("figure", "value", "baseline (same run)", "ratio", "target", title="cmsim benchmarks")

    def us(name: str) -> str:
        return f"{r[name] * 1e6:.2f} µs"

    for flash in ("append MemoryFlash", "append DirectoryFlash fsync=always", "append DirectoryFlash fsync=os"):
        if flash in r:
            table.add_row(f"audit {flash} (record + chain + slot)", us(flash), "", "", "")
    for call in ("GET_STATUS", "RANDOM(32)"):
        base, trail = r.get(f"service call {call}, memory-sink"), r.get(f"service call {call}, audit-trail")
        if base and trail:
            table.add_row(f"in-process {call}, audited (ring in flash)", f"{trail * 1e6:.1f} µs",
                          f"{base * 1e6:.1f} µs (in-memory list sink)", f"{trail / base - 1:+.0%}", "<= +10%")
    bare = r.get("bare hashlib chain")
    for fmt in ("binary", "jsonl"):
        name = f"verify {fmt}"
        if bare and name in r:
            table.add_row(f"offline verification, {fmt} export", f"{1 / r[name]:,.0f} rec/s",
                          f"{1 / bare:,.0f} rec/s (bare hashlib chain)", f"{bare / r[name]:.2f}", ">= 0.5")
    for name in ("frame encode (1 KiB payload)", "frame decode (1 KiB payload)", "frame stream decoder, per frame",
                 "params TLV encode + decode", "secure channel: request + response codec",
                 "endpoint: protected RANDOM(32), host + device, no pty",
                 "checkpoint: record + Ed25519 signature + slot", "archive import (verify + store), per record"):
        if name in r:
            table.add_row(name, us(name), "", "", "")
    if "boot to operational" in r:
        table.add_row("boot to operational (integrity + all CASTs)", f"{r['boot to operational'] * 1e3:.0f} ms", "",
                      "", "")
    echo = pty["echo"]
    for policy in ("always", "os"):
        dev = pty[f"device_fsync_{policy}"]
        table.add_row(f"pty: RANDOM(32), authenticated+encrypted+audited, fsync={policy}",
                      f"{dev['random32']:,.0f}/s ({dev['random32_median_us']:.0f} µs median)",
                      f"{echo:,.0f}/s (bare pty echo, {pty['frame_bytes']} B)", f"{dev['random32'] / echo:.2f}", ">= 0.5")
        table.add_row(f"pty: GET_STATUS, clear, fsync={policy}", f"{dev['status']:,.0f}/s", f"{echo:,.0f}/s (echo)",
                      f"{dev['status'] / echo:.2f}", "")
    for name, label in (("aes_gcm_1k", "AES-256-GCM 1 KiB"), ("ecdsa_p256_sign", "ECDSA P-256 sign")):
        dev, local = pty["device_fsync_always"][name], pty["in_process"][name]
        table.add_row(f"pty: {label} through the device (fsync=always)", f"{dev:,.0f}/s",
                      f"{local:,.0f}/s (cryptography in process)", f"{dev / local:.3f}", "")
    _hosts_rows(table, hosts)
    table.add_row(f"archive {archive['records']:,.0f} records (verify + store in SQLite)",
                  f"{archive['records_per_s']:,.0f} rec/s", "", "", "")
    table.add_row("archive peak memory (child process)", f"{archive['peak_rss_mb']:.0f} MB", "", "", "< 200 MB")
    Console().print(table)
    print(f"figures: {RESULTS}")


if __name__ == "__main__":
    main()
