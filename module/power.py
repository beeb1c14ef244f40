"""Power: the boot counter, power-on (audit trail opened, persistent state loaded, every
pre-operational self-test run, a usable state reached) and power-off (volatile secrets forgotten)."""

from __future__ import annotations

import json

from module.audit.ring import AuditRingCorrupted
from module.audit_key import AuditKey
from module.config import ModuleConfig
from module.drbg import HmacDrbg
from module.factory import FactoryState
from module.fsm import Trigger
from module.identity import IdentityKey
from module.keystore import KeyStore
from module.operators import OperatorStore
from module.ports import Flash
from module.recorder import AuditRecorder
from module.selftests import SelfTests
from module.sessions import SessionTable
from module.states import ModuleState
from module.version import MODULE_NAME
from module.wire.defs import AuditEvent, State

__all__ = ["BOOT_FLASH_NAME", "Power"]

BOOT_FLASH_NAME = "boot"


class Power:
    def __init__(
        self,
        *,
        flash: Flash,
        config: ModuleConfig,
        recorder: AuditRecorder,
        states: ModuleState,
        selftests: SelfTests,
        factory: FactoryState,
        audit_key: AuditKey,
        identity: IdentityKey,
        operators: OperatorStore,
        keys: KeyStore,
        sessions: SessionTable,
        drbg: HmacDrbg,
    ) -> None:
        self.flash = flash
        self.config = config
        self.recorder = recorder
        self.states = states
        self.selftests = selftests
        self.factory = factory
        self.audit_key = audit_key
        self.identity = identity
        self.operators = operators
        self.keys = keys
        self.sessions = sessions
        self.drbg = drbg

    def on(self) -> None:
        """Boot: count the boot, run every pre-operational self-test, land in a usable state."""
        if self.states.state is not State.POWER_OFF:
            return
        self.recorder.boot = self._bump_boot_counter()
        self.recorder.fault = ""
        if not self._open_audit():
            return
        self.states.transition(Trigger.POWER_ON, "power on")
        self.recorder.event(AuditEvent.POWER_ON, detail=f"boot {self.recorder.boot}")
        trail = self.recorder.chained
        if trail is not None and trail.status().torn_slot_discarded is not None:
            torn = trail.status().torn_slot_discarded
            self.recorder.event(AuditEvent.AUDIT_TORN_SLOT,
                                detail=f"torn append of seq {torn} discarded (power lost mid-write)")
        self._load_persistent()
        self.run_self_tests(pre_operational=True)

    def off(self) -> None:
        """Authentication and every volatile secret are forgotten at power-off."""
        if self.states.state is State.POWER_OFF:
            return
        self.recorder.event(AuditEvent.POWER_OFF, detail="power off")
        self.states.transition(Trigger.POWER_OFF, "power off")
        self.recorder.sink.close()
        self.sessions.clear()
        self.drbg.uninstantiate()
        self.operators.wipe_memory()
        self.keys.wipe_memory()
        self.factory.wipe_memory()
        self.identity.wipe_memory()

    def reload(self) -> None:
        """Memory back to what flash holds: after a call whose writes could not be committed
        (none of them reached flash), so that memory and flash agree again."""
        self.factory.wipe_memory()  # the stores' load() wipes what they held
        if self.recorder.chained is not None:
            self.recorder.sink.open(self.recorder.boot)
        self._load_persistent()

    def run_self_tests(self, *, pre_operational: bool) -> bool:
        """The pre-operational suite, then the error state or a usable one; True when all passed."""
        personalization = f"{MODULE_NAME} {self.config.serial} boot {self.recorder.boot}".encode()
        failure = self.selftests.run(personalization)
        if failure is None:
            failure = self.identity.ensure()  # needs the DRBG the suite just instantiated
        if failure is not None:
            self.states.enter_error(failure)
            return False
        if not self.states.initialised:
            self.factory.ensure()
            self.states.transition(Trigger.SELF_TEST_PASS_FACTORY, "self-tests passed")
        else:
            self.states.transition(Trigger.SELF_TEST_PASS_INITIALISED, "self-tests passed")
        self.states.last_error = {} if pre_operational else self.states.last_error
        return True

    def self_test_on_demand(self) -> bool:
        self.states.transition(Trigger.SELF_TEST_REQUESTED, "self-test on demand")
        return self.run_self_tests(pre_operational=False)

    def _open_audit(self) -> bool:
        """Open the sink for this boot. A corrupted ring is never repaired silently: the module
        stops in HARD_ERROR and says why in status; the ring cannot take the record of its own
        corruption, so the events count as unrecorded."""
        try:
            self.recorder.sink.open(self.recorder.boot)
        except AuditRingCorrupted as exc:
            self.recorder.fault = str(exc)
            self.states.transition(Trigger.POWER_ON, "power on")
            self.states.last_error = {"test": "audit ring", "message": f"corrupted: {exc}"}
            self.states.transition(Trigger.HARD_FAULT, "audit ring corrupted")
            return False
        return True

    def _bump_boot_counter(self) -> int:
        raw = self.flash.read(BOOT_FLASH_NAME)
        doc = json.loads(raw.decode()) if raw else {"boots": 0}
        doc["boots"] = int(doc["boots"]) + 1
        self.flash.write(BOOT_FLASH_NAME, json.dumps(doc).encode())
        return int(doc["boots"])

    def _load_persistent(self) -> None:
        self.operators.load()
        self.keys.load()
        self.states.initialised = any(not op.factory for op in self.operators.all())
        self.factory.load()
        self.audit_key.load()
        self.identity.load()
