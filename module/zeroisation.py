"""Zeroisation: every SSP in memory and flash overwritten, the audit key handed over first."""

from __future__ import annotations

from module.audit.ring import AuditError
from module.audit_key import AuditKey
from module.drbg import HmacDrbg
from module.factory import FactoryState
from module.keystore import KeyStore
from module.operators import OperatorStore
from module.recorder import AuditRecorder
from module.sessions import SessionTable
from module.states import ModuleState

__all__ = ["Zeroisation"]


class Zeroisation:
    def __init__(
        self,
        *,
        recorder: AuditRecorder,
        audit_key: AuditKey,
        states: ModuleState,
        factory: FactoryState,
        operators: OperatorStore,
        keys: KeyStore,
        sessions: SessionTable,
        drbg: HmacDrbg,
    ) -> None:
        self.recorder = recorder
        self.audit_key = audit_key
        self.states = states
        self.factory = factory
        self.operators = operators
        self.keys = keys
        self.sessions = sessions
        self.drbg = drbg

    def zeroise(self) -> None:
        """Overwrite every SSP in memory and flash: keys, operators, sessions, DRBG state."""
        try:
            self.audit_key.rotate()
        except AuditError:  # the ring cannot take the handover: the old key is wiped regardless
            self.recorder.unrecorded += 1
        self.sessions.clear()
        self.keys.zeroise()
        self.operators.zeroise()
        self.drbg.uninstantiate()
        self.factory.zeroise()
        self.states.initialised = False
