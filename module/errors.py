"""Internal exceptions of the module. Each carries the Status the caller will see."""

from __future__ import annotations

from module.wire.defs import Status

__all__ = ["ServiceError", "SelfTestFailure"]


class ServiceError(Exception):
    """A service refused or failed; ``status`` goes back to the caller and into the audit record."""

    def __init__(self, status: Status, message: str = "") -> None:
        super().__init__(message or status.name)
        self.status = status
        self.message = message or status.name


class SelfTestFailure(Exception):
    """A self-test failed. ``hard`` failures need a power cycle; soft ones a passing self-test."""

    def __init__(self, test: str, message: str, *, hard: bool = False) -> None:
        super().__init__(f"{test}: {message}")
        self.test = test
        self.message = message
        self.hard = hard
