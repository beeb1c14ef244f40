"""Write the collected figures where bench/run.py reads them (CMSIM_BENCH_RESULTS)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from figures import RESULTS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("CMSIM_BENCH_RESULTS")
    if out and RESULTS:
        Path(out).write_text(json.dumps(RESULTS, indent=1), encoding="utf-8")
