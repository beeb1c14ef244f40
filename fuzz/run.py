"""Run both atheris targets for SECONDS each and print executions and findings.

    python fuzz/run.py [SECONDS] [--target frames|export] [--jobs N] [-- extra libFuzzer options]
    make fuzz SECONDS=300

Each target runs with its seeds (fuzz/corpus/<target>/, read-only) and a scratch corpus in a
temporary folder, under libFuzzer's per-input timeout (10 s: a hang is a finding) and memory
limit (2 GB RSS: an out-of-memory is a finding). A finding (crash-*, timeout-*, oom-*) is saved
in fuzz/findings/ with the libFuzzer log; the run then goes on with the time left, so one bug does
not hide the next. Exit status 1 when anything was found.

Replay a finding with ``python fuzz/fuzz_<target>.py fuzz/findings/<file>``; once fixed, copy it
to fuzz/corpus/<target>/regression-<name> and add a regression test in tests/test_fuzz_decoders.py.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("frames", "export")
FINDING = re.compile(r"^(crash|timeout|oom|leak|slow-unit)-")


@dataclass
class Run:
    target: str
    seconds: float = 0.0
    executions: int = 0
    coverage: str = ""
    corpus: int = 0
    findings: list[tuple[Path, str]] = field(default_factory=list)


def _summary_of(log: str) -> tuple[int, str]:
    execs = 0
    for match in re.finditer(r"stat::number_of_executed_units: (\d+)", log):
        execs = int(match.group(1))
    if not execs:  # a crash ends the run before the final stats: take the last status line
        for match in re.finditer(r"^#(\d+)\s", log, re.MULTILINE):
            execs = int(match.group(1))
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    return execs, (f"cov {cov[-1][0]}, ft {cov[-1][1]}" if cov else "")


def _why(log: str) -> str:
    """The first line that says what went wrong (the exception, or libFuzzer's verdict)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "Uncaught Python exception" in line:
            for follow in lines[i + 1 :]:
                if follow and not follow.startswith((" ", "Traceback")):
                    return follow.strip()
        if "ERROR: libFuzzer:" in line:
            return line.strip()
    return "see the log"


def fuzz(target: str, seconds: float, jobs: int, extra: list[str], findings: Path) -> Run:
    run = Run(target)
    seeds = HERE / "corpus" / target
    script = HERE / f"fuzz_{target}.py"
    dictionary = HERE / f"{target}.dict"
    findings.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix=f"cmsim-fuzz-{target}-") as scratch:
        restarts = 0
        while (left := deadline - time.monotonic()) > 1 and restarts < 50:
            before = set(findings.iterdir())
            cmd = [sys.executable, str(script), scratch, str(seeds), f"-max_total_time={int(left)}",
                   f"-artifact_prefix={findings}/{target}-", "-timeout=10", "-rss_limit_mb=2048",
                   "-print_final_stats=1", *([f"-dict={dictionary}"] if dictionary.exists() else []),
                   *(["-jobs", str(jobs), "-workers", str(jobs)] if jobs > 1 else []), *extra]
            started = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
            run.seconds += time.monotonic() - started
            log = proc.stdout + proc.stderr
            execs, cov = _summary_of(log)
            run.executions += execs
            run.coverage = cov or run.coverage
            new = sorted(p for p in set(findings.iterdir()) - before if FINDING.match(p.name.split("-", 1)[-1]))
            for path in new:
                path.with_suffix(".log").write_text(log)
                run.findings.append((path, _why(log)))
            if proc.returncode == 0 or not new:
                if proc.returncode not in (0,) and not new:
                    print(f"{target}: libFuzzer exited {proc.returncode} without a finding:\n{log[-2000:]}")
                break
            restarts += 1
        run.corpus = len(list(Path(scratch).iterdir()))
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seconds", nargs="?", type=float, default=float(os.environ.get("SECONDS_PER_TARGET", 60)))
    parser.add_argument("--target", choices=TARGETS, action="append")
    parser.add_argument("--jobs", type=int, default=1, help="libFuzzer processes per target (default 1)")
    parser.add_argument("--findings", type=Path, default=HERE / "findings")
    parser.add_argument("extra", nargs="*", help="more libFuzzer options, after --")
    args = parser.parse_args(argv)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: pip install -e '.[fuzz]' (or pip install atheris)", file=sys.stderr)
        return 2
    runs = [fuzz(t, args.seconds, args.jobs, args.extra, args.findings) for t in args.target or TARGETS]
    print(f"\n{'target':<8} {'seconds':>8} {'executions':>12} {'exec/s':>8}  {'coverage':<18} "
          f"{'new inputs':>10}  findings")
    for r in runs:
        rate = r.executions / r.seconds if r.seconds else 0.0
        print(f"{r.target:<8} {r.seconds:>8.0f} {r.executions:>12,} {rate:>8,.0f}  {r.coverage:<18} {r.corpus:>10}  "
              f"{len(r.findings)}")
        for path, why in r.findings:
            print(f"    {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}: {why}")
    return 1 if any(r.findings for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
