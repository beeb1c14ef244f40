"""Where the module is in its life: the state (moved only through module/fsm.py's table), the
last error, whether it has been initialised, and how it enters an error state."""

from __future__ import annotations

from module.audit.ring import AuditError
from module.drbg import HmacDrbg
from module.errors import SelfTestFailure
from module.fsm import Trigger, next_state
from module.ports import FlashError
from module.recorder import AuditRecorder
from module.wire.defs import AuditEvent, State, Status

__all__ = ["ModuleState"]


class ModuleState:
    def __init__(self, recorder: AuditRecorder, drbg: HmacDrbg) -> None:
        self.recorder = recorder
        self.drbg = drbg
        self.state = State.POWER_OFF
        self.last_error: dict[str, str] = {}
        self.initialised = False

    def transition(self, trigger: Trigger, reason: str) -> None:
        """Move by the transition table and record the change."""
        before = self.state
        self.state = next_state(before, trigger)
        self.recorder.event(AuditEvent.STATE_CHANGE, detail=f"{before.name}->{self.state.name} ({trigger.name}: {reason})")
        trail = self.recorder.chained
        if trail is not None and trail.signing_suspended and self.state in (State.OPERATIONAL, State.UNINITIALISED):
            try:  # the self-tests passed: the first signature again covers the error state's records
                trail.resume_signing(**self.recorder.times())
            except (AuditError, FlashError):
                self.recorder.unrecorded += 1

    def enter_error(self, failure: SelfTestFailure) -> None:
        """A failed test or a defect: soft or hard error state, DRBG wiped, signing suspended (no
        cryptography in an error state), and a chained but unsigned ERROR checkpoint."""
        self.last_error = {"test": failure.test, "message": failure.message}
        trigger = Trigger.HARD_FAULT if failure.hard else Trigger.SOFT_FAULT
        if self.state is State.SOFT_ERROR and not failure.hard:
            return
        self.recorder.event(AuditEvent.ERROR_ENTERED, status=Status.SELF_TEST_FAILED,
                            detail=f"{failure.test}: {failure.message}")
        self.drbg.uninstantiate()
        trail = self.recorder.chained
        if trail is not None:
            trail.suspend_signing()
        self.transition(trigger, failure.test)
        if trail is not None:
            try:  # chained, unsigned: the first checkpoint signed after recovery (or a later boot) covers it
                trail.error_checkpoint(**self.recorder.times())
            except (AuditError, FlashError):
                self.recorder.unrecorded += 1
