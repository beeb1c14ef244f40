"""Wall-clock bounds for the verifier's linear-time fixes, kept out of the test suite.

tests/test_fuzz_decoders.py builds the inputs that once made the offline verifier quadratic
(20,000 handover links, 30,000 distinct signers, 20,000 LOSS records against open gaps) and checks
what the verifier answers; a wall-clock bound there fails on a busy machine and passes on a fast
one, so it lives here. This runs those tests and fails when one takes longer than its bound
(each test's whole time: building its input and verifying it).

    python bench/verify_scaling.py [--limit SECONDS]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = {  # test name -> what it once took (the verification alone, before the fix)
    "test_many_handover_links_verify_in_linear_time": "10 s",
    "test_many_distinct_signers_verify_in_linear_time": "6 s",
    "test_many_gaps_are_bounded_and_losses_do_not_walk_them_all": "a minute",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=6.0, help="seconds per test (default 6)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
               "tests/test_fuzz_decoders.py", "-k", " or ".join(TESTS)]
        run = subprocess.run(cmd, cwd=ROOT)
        times = {case.get("name", ""): float(case.get("time", "0")) for case in ET.parse(report).iter("testcase")}
    missing = sorted(set(TESTS) - set(times))
    for name, was in TESTS.items():
        if name in times:
            print(f"{times[name]:6.2f} s  (bound {args.limit:g} s; before the fix {was})  {name}")
    slow = [name for name, seconds in times.items() if seconds >= args.limit]
    if missing or slow or run.returncode:
        print(f"missing: {missing}; over the bound: {slow}; pytest exit {run.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
