"""Assemble a simulated device: the module with its flash, clock, entropy source and code image."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from firmware_sim.clock import SystemClock
from firmware_sim.entropy import OsNoiseSource
from firmware_sim.flash import DirectoryFlash
from firmware_sim.integrity import DEFAULT_SEAL_PATH, PackageCodeImage, read_seal
from module.audit.sink import AuditSink
from module.core import Module, ModuleConfig
from module.ports import EntropySource
from module.wire.handshake import SessionKeys
from module.wire.messages import Reply

__all__ = ["build_module", "InProcessTransport"]


def build_module(
    state_dir: str | Path,
    *,
    config: ModuleConfig | None = None,
    seal_path: Path = DEFAULT_SEAL_PATH,
    entropy: EntropySource | None = None,
    durable: bool = True,
    audit: AuditSink | None = None,
) -> Module:
    """A module on a state directory, powered off; call ``power_on()`` to boot it."""
    return Module(
        flash=DirectoryFlash(state_dir, durable=durable),
        clock=SystemClock(),
        entropy=entropy or OsNoiseSource(),
        code=PackageCodeImage(),
        seal=read_seal(seal_path),
        config=config,
        audit=audit,
    )


class InProcessTransport:
    """Carries calls straight into a module in this process (tests and the benchmarks' baseline)."""

    def __init__(self, module: Module) -> None:
        self.module = module

    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
        return self.module.call(command, params, session_id)

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        """Nothing to protect in process: the call never leaves the module's address space."""

    def unbind_session(self, session_id: int) -> None:
        """Nothing bound."""
