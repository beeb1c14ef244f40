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


@pytest.fixture(autouse=True)
def _fresh_pin_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every benchmark's module is a new device with a new identity under the default serial: a pin
    store of its own, or the second would be refused as an impostor of the first."""
    monkeypatch.setenv("CMSIM_HOME", tempfile.mkdtemp(prefix="cmsim-bench-home-"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("CMSIM_BENCH_RESULTS")
    if out and RESULTS:
        Path(out).write_text(json.dumps(RESULTS, indent=1), encoding="utf-8")
