"""The device's real-time clock and tick counter."""

from __future__ import annotations

import time

__all__ = ["SystemClock"]


class SystemClock:
    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def utc_ns(self) -> int:
        return time.time_ns()
