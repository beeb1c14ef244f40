"""Write the collected figures where bench/run.py reads them (CMSIM_BENCH_RESULTS)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from figures import RESULTS

# The benchmarks' modules run with 1000 PBKDF2 iterations and are fresh devices each run: a host
# floor at that count, and a pin store of the run's own (not the user's known_devices.json).
os.environ["CMSIM_HOME"] = tempfile.mkdtemp(prefix="cmsim-bench-home-")
os.environ["CMSIM_MIN_ITERATIONS"] = "1000"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("CMSIM_BENCH_RESULTS")
    if out and RESULTS:
        Path(out).write_text(json.dumps(RESULTS, indent=1), encoding="utf-8")
