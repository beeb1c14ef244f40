"""Deliberately broken devices, to prove the lab harness's steps fail when the module misbehaves.

``python tests/lab_defects.py DEFECT -m firmware_sim ARGS...`` starts the device with one defect
patched in, in memory: the code image on disk (and so the integrity test) is unchanged. Each
defect is one the module once had or one its design rules out; :func:`wrapper` writes a small
executable that :func:`host_tools.device_process.running_device` can take as its ``python``.
"""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def stale_retransmits() -> None:
    """The endpoint's old behaviour: a retransmit answered from the cache before any state check,
    caches and channels kept across state changes, LOGOUT and ZEROISE."""
    from module import endpoint

    def follow(self: Any) -> None:
        self._state = self.module.state

    def retransmit(self: Any, frame: Any, cache: Any) -> bytes | None:
        return cache.last_response or None

    endpoint.Endpoint._follow_module = follow  # type: ignore[method-assign]
    endpoint.Endpoint._retransmit = retransmit  # type: ignore[method-assign]


def signed_error_checkpoints() -> None:
    """Signing not suspended in an error state, and AUDIT_CHECKPOINT served there."""
    from module import dispatch
    from module.audit import trail
    from module.wire.defs import Command

    trail.AuditTrail.suspend_signing = lambda self: None  # type: ignore[method-assign]
    original = dispatch.Dispatcher.state_refusal

    def state_refusal(self: Any, command: int) -> Any:
        return None if command == Command.AUDIT_CHECKPOINT else original(self, command)

    dispatch.Dispatcher.state_refusal = state_refusal  # type: ignore[method-assign]


def factory_drains_audit() -> None:
    """The factory credential's session may call the audit services (export, checkpoint, ...)."""
    from module import dispatch
    from module.wire.defs import Command

    original = dispatch.Dispatcher._authorise
    audit = {Command.AUDIT_EXPORT, Command.AUDIT_CHECKPOINT, Command.AUDIT_ACK, Command.AUDIT_SET_POLICY}

    def authorise(self: Any, spec: Any, ctx: Any) -> None:
        session = ctx.session
        was = session.factory if session is not None else False
        if session is not None and spec.command in audit:
            session.factory = False
        try:
            original(self, spec, ctx)
        finally:
            if session is not None:
                session.factory = was

    dispatch.Dispatcher._authorise = authorise  # type: ignore[method-assign]


def zeroise_keeps_keys() -> None:
    """ZEROISE leaves the key store as it was."""
    from module import keystore

    keystore.KeyStore.zeroise = lambda self: None  # type: ignore[method-assign]


def integrity_skips_bytecode() -> None:
    """The integrity test's old blind spot: compiled files are not looked at."""
    from firmware_sim import integrity

    integrity.PackageCodeImage.compiled = lambda self: iter(())  # type: ignore[method-assign]


def no_failure_delay() -> None:
    """Failed logins counted but neither delayed nor locked: the auth key is judged at once."""
    from module.services import auth

    auth._delayed_or_locked = lambda module, name, now: None  # type: ignore[assignment]


def enumerable_ids() -> None:
    """An unknown id gets a fresh random salt at every AUTH_BEGIN (a real id's is stable)."""
    from module.core import Module

    Module.enumeration_salt = lambda self, operator: os.urandom(16)  # type: ignore[method-assign]


def key_use_unchecked() -> None:
    """A stored key's uses are never checked."""
    from module import keystore

    keystore.StoredKey.require = lambda self, use: None  # type: ignore[method-assign]


def nothing_known_outside() -> None:
    """The module forgets which keys the host can know, so a host-known KEK wraps anything."""
    from module import keystore

    keystore.StoredKey.known_outside = property(lambda self: False, lambda self, value: None)  # type: ignore[assignment]


def indicator_always_set() -> None:
    """Every served call answers "approved", the non-approved services' too."""
    from module import dispatch

    original = dispatch.Dispatcher._run

    def run(self: Any, *args: Any) -> Any:
        outcome = original(self, *args)
        if outcome.status.name == "OK":
            outcome.approved = True
        return outcome

    dispatch.Dispatcher._run = run  # type: ignore[method-assign]


DEFECTS: dict[str, Callable[[], None]] = {
    "stale-retransmits": stale_retransmits,
    "signed-error-checkpoints": signed_error_checkpoints,
    "factory-drains-audit": factory_drains_audit,
    "zeroise-keeps-keys": zeroise_keeps_keys,
    "integrity-skips-bytecode": integrity_skips_bytecode,
    "no-failure-delay": no_failure_delay,
    "enumerable-ids": enumerable_ids,
    "key-use-unchecked": key_use_unchecked,
    "nothing-known-outside": nothing_known_outside,
    "indicator-always-set": indicator_always_set,
}


def wrapper(directory: Path, defect: str) -> str:
    """An executable that runs ``python -m firmware_sim ...`` with ``defect`` patched in."""
    if defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}")
    path = directory / f"python-{defect}"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {defect} "$@"\n')
    path.chmod(0o755)
    return str(path)


def main() -> None:
    defect, rest = sys.argv[1], sys.argv[2:]
    if rest[:2] != ["-m", "firmware_sim"]:
        raise SystemExit("usage: lab_defects.py DEFECT -m firmware_sim ARGS...")
    sys.path.insert(0, os.getcwd())  # as ``python -m`` would: a device booted from a copied image imports it
    DEFECTS[defect]()
    sys.argv = ["firmware_sim", *rest[2:]]
    runpy.run_module("firmware_sim", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
