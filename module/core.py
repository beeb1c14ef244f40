"""The module: its parts composed behind one object, the API the device, the endpoint and the
tests use. Each part has one job and its own file:

- :mod:`module.power` boot counter, power-on and power-off, the self-test run and its outcome
- :mod:`module.selftests` the pre-operational suite and the pairwise consistency test
- :mod:`module.rng` the DRBG seeded from the health-tested entropy source
- :mod:`module.dispatch` one service call: access control, handler, record, answer
- :mod:`module.states` the state machine's position, the last error, entering an error state
- :mod:`module.recorder` events and records into the audit sink
- :mod:`module.audit_key` the audit signing key: provision, rotate, retire
- :mod:`module.identity` the device identity key hosts pin (made once, kept across zeroisation)
- :mod:`module.factory` the factory Crypto Officer and the enumeration-salt secret
- :mod:`module.zeroisation` every SSP overwritten
- :mod:`module.status` what GET_STATUS reports
- :mod:`module.lab` one-shot self-test faults and deliberate defects (test and lab use)

Everything enters through :meth:`Module.call` (one service call, one response) or through the
power methods. The module does no I/O of its own: flash, clock, entropy and its own code image
come in through ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.audit.sink import AuditSink
from module.audit.trail import AuditTrail
from module.audit_key import AUDIT_KEY_FLASH_NAME, AuditKey
from module.config import ModuleConfig
from module.dispatch import Dispatcher, PoweredOff
from module.drbg import HmacDrbg
from module.entropy import HealthTestedSource
from module.factory import FactoryState
from module.fsm import Trigger
from module.identity import DeviceIdentity, IdentityKey
from module.keystore import KeyStore
from module.lab import LAB_BREAKS, FaultPlan, LabBreaks, LabHooks
from module.operators import OperatorStore
from module.ports import Clock, CodeImage, EntropySource, Flash, JournalledFlash
from module.power import BOOT_FLASH_NAME, Power
from module.recorder import AuditRecorder
from module.rng import Rng
from module.selftests import SelfTests
from module.services.catalog import SERVICES
from module.services.context import CallContext
from module.services.registry import ServiceSpec
from module.sessions import SessionTable
from module.states import ModuleState
from module.status import status_data
from module.wire.defs import AuditEvent, KeyType, Role, State, Status
from module.wire.messages import Reply
from module.zeroisation import Zeroisation

__all__ = ["Module", "ModuleConfig", "CallContext", "FaultPlan", "LabBreaks", "LAB_BREAKS", "PoweredOff",
           "AUDIT_KEY_FLASH_NAME", "BOOT_FLASH_NAME"]


class Module:
    def __init__(
        self,
        *,
        flash: Flash,
        clock: Clock,
        entropy: EntropySource,
        code: CodeImage,
        seal: bytes | None,
        config: ModuleConfig | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.config = config or ModuleConfig()
        # every part writes through the journal, so each call's writes are one crash-consistent step
        self.flash, self.clock, self.code, self.seal = JournalledFlash(flash), clock, code, seal
        self.entropy = HealthTestedSource(entropy)
        # The module's own sink is the hash-chained ring in flash; tests of the core and the
        # benchmarks' "audit off" baseline may plug in another AuditSink.
        sink: AuditSink = audit if audit is not None else AuditTrail(self.flash, self.config.serial, self.config.audit)
        self.recorder = AuditRecorder(sink, clock)
        self.faults, self.breaks = FaultPlan(), LabBreaks()
        self.operators = OperatorStore(self.flash)
        self.keys = KeyStore(self.flash, self.config.max_keys)
        self.sessions = SessionTable(
            self.config.max_sessions,
            int(self.config.session_idle_timeout_s * 1e9),
            int(self.config.handshake_timeout_s * 1e9),
            per_operator=self.config.max_sessions_per_operator,
            officer_reserve=self.config.officer_reserved_sessions,
            max_unfinished=self.config.max_unfinished_logins,
            login_guard_ns=int(self.config.login_guard_s * 1e9),
        )
        self.drbg = HmacDrbg(reseed_interval=self.config.drbg_reseed_interval)
        self.services: Mapping[int, ServiceSpec] = SERVICES
        self._compose()

    def _compose(self) -> None:
        """Wire the parts to the shared stores; each part gets only what its job needs."""
        rec = self.recorder
        self.states = ModuleState(rec, self.drbg)
        self.rng = Rng(self.drbg, self.entropy, rec)
        self.selftests = SelfTests(code=self.code, seal=self.seal, entropy=self.entropy, rng=self.rng, recorder=rec,
                                   clock=self.clock, faults=self.faults, breaks=self.breaks)
        self.factory = FactoryState(self.flash, self.config, self.operators, self.rng)
        self.audit_key = AuditKey(self.flash, rec, self.rng)
        self.identity_key = IdentityKey(self.flash, self.rng, self.selftests)
        self.power = Power(flash=self.flash, config=self.config, recorder=rec, states=self.states,
                           selftests=self.selftests, factory=self.factory, audit_key=self.audit_key,
                           identity=self.identity_key,
                           drbg=self.drbg, operators=self.operators, keys=self.keys, sessions=self.sessions)
        self.zeroisation = Zeroisation(recorder=rec, audit_key=self.audit_key, states=self.states,
                                       factory=self.factory, drbg=self.drbg, operators=self.operators,
                                       keys=self.keys, sessions=self.sessions)
        self.lab = LabHooks(rec, self.faults, self.breaks)
        self.dispatcher = Dispatcher(services=self.services, ports=self, states=self.states, recorder=rec,
                                     sessions=self.sessions, clock=self.clock, breaks=self.breaks,
                                     flash=self.flash, reload=self.power.reload)

    # ------------------------------------------------------------------ what the parts hold
    @property
    def audit(self) -> AuditSink:
        return self.recorder.sink

    @property
    def audit_fault(self) -> str:
        """Why the audit trail could not be opened (the module is then in HARD_ERROR)."""
        return self.recorder.fault

    @property
    def unrecorded_events(self) -> int:
        """Events the sink could not take (ring exhausted or flash failure)."""
        return self.recorder.unrecorded

    @property
    def trail(self) -> AuditTrail:
        """The hash-chained trail, for the audit services (refused when another sink is plugged in)."""
        return self.recorder.trail

    @property
    def identity(self) -> DeviceIdentity | None:
        """The device identity key (made at the first power-on, kept across zeroisation)."""
        return self.identity_key.current

    @property
    def state(self) -> State:
        return self.states.state

    @state.setter
    def state(self, value: State) -> None:
        self.states.state = value

    @property
    def initialised(self) -> bool:
        return self.states.initialised

    @initialised.setter
    def initialised(self, value: bool) -> None:
        self.states.initialised = value

    @property
    def last_error(self) -> dict[str, str]:
        return self.states.last_error

    @property
    def boot_counter(self) -> int:
        return self.recorder.boot

    @property
    def self_test_ms(self) -> float:
        return self.selftests.self_test_ms

    # ------------------------------------------------------------------ power and calls
    def power_on(self) -> None:
        """Boot: count the boot, run every pre-operational self-test, land in a usable state."""
        self.power.on()

    def power_off(self) -> None:
        """Authentication and every volatile secret are forgotten at power-off."""
        self.power.off()

    def call(self, command: int, params: Mapping[str, Any] | None = None, session_id: int = 0) -> Reply:
        """Run one service call (see :meth:`module.dispatch.Dispatcher.call` for what it records)."""
        return self.dispatcher.call(command, params, session_id)

    def record_refusal(self, command: int, session_id: int, status: Status, message: str, *,
                       channel_ok: bool = False) -> Reply:
        """A call the line refused before dispatch: answered with ``status`` and recorded."""
        return self.dispatcher.record_refusal(command, session_id, status, message, channel_ok=channel_ok)

    def refuse_for_state(self, command: int, session_id: int) -> Reply | None:
        """The refusal a new request for ``command`` would get in the current state, recorded;
        None when the state allows it (the endpoint checks a retransmit with it)."""
        refusal = self.dispatcher.state_refusal(command)
        return None if refusal is None else self.record_refusal(command, session_id, *refusal, channel_ok=True)

    # ------------------------------------------------------------------ ports for the handlers
    def random_bytes(self, n: int) -> bytes:
        return self.rng.random_bytes(n)

    def pairwise_consistency(self, key_type: KeyType, private: bytes, public: bytes) -> None:
        self.selftests.pairwise_consistency(key_type, private, public)

    def run_on_demand_self_test(self) -> bool:
        return self.power.self_test_on_demand()

    def transition(self, trigger: Trigger, reason: str) -> None:
        self.states.transition(trigger, reason)

    def event(
        self,
        code: AuditEvent,
        *,
        status: Status = Status.OK,
        detail: str = "",
        operator: str = "",
        role: Role = Role.NONE,
        session_id: int = 0,
        key_ids: tuple[int, ...] = (),
    ) -> None:
        """Record an event; one the sink cannot take is counted (status shows it), never raised."""
        self.recorder.event(code, status=status, detail=detail, operator=operator, role=role,
                            session_id=session_id, key_ids=key_ids)

    def audit_times(self) -> dict[str, int]:
        """Boot counter and clock readings for a record the trail writes on the core's behalf."""
        return self.recorder.times()

    def provision_audit_key(self) -> None:
        self.audit_key.provision()

    def enumeration_salt(self, operator: str) -> bytes:
        return self.factory.enumeration_salt(operator)

    def zeroise(self) -> None:
        self.zeroisation.zeroise()

    def status_data(self) -> dict[str, Any]:
        return status_data(config=self.config, states=self.states, recorder=self.recorder, sessions=self.sessions,
                           keys=self.keys, self_test_ms=self.self_test_ms,
                           identity=self.identity)

    # ------------------------------------------------------------------ lab hooks
    def record_fault(self, description: str) -> None:
        """A fault the hardware around the module injected (lab mode): recorded like any other."""
        self.lab.record_fault(description)

    def inject_fault(self, fault: str, target: str = "") -> None:
        """Arm a one-shot self-test fault (test and lab use); the arming itself is audited."""
        self.lab.inject_fault(fault, target)

    def lab_break(self, what: str) -> None:
        """Turn on one of :data:`LAB_BREAKS` (lab port only); recorded before it takes effect."""
        self.lab.lab_break(what)
