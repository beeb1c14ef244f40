"""What one service call returns, as both ends see it (the serial protocol carries exactly this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from module.wire.defs import Status

__all__ = ["Reply"]


@dataclass(frozen=True)
class Reply:
    status: Status
    approved: bool  # the approved-service indicator
    data: dict[str, Any]
    message: str = ""
