"""The figures one benchmark run collects (seconds per unit, by name); bench/conftest.py writes them."""

from __future__ import annotations

from typing import Any

RESULTS: dict[str, float] = {}


def record(benchmark: Any, name: str, per: int) -> None:
    """Best round's time divided by the units it did (min is the least disturbed by the machine)."""
    RESULTS[name] = benchmark.stats.stats.min / per
