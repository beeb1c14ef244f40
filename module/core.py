"""The module: state machine, self-tests, dispatch and access control, around the registry.

Everything enters through :meth:`Module.call` (one service call, one response, exactly one audit
record) or through the power methods. The module does no I/O of its own: flash, clock, entropy
and its own code image come in through ports.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from module import algorithms, cast
from module.audit.ring import AuditError, AuditRingCorrupted
from module.audit.sink import AuditEntry, AuditSink, RecordKind
from module.audit.trail import AuditConfig, AuditTrail
from module.drbg import DrbgHealthTestError, HmacDrbg, health_test, load_drbg_kat
from module.entropy import EntropyHealthError, HealthTestedSource
from module.errors import SelfTestFailure, ServiceError
from module.fsm import ERROR_STATES, Trigger, next_state
from module.identity import IDENTITY_FLASH_NAME, SEED_SIZE, DeviceIdentity
from module.integrity import check_seal
from module.keystore import KeyStore
from module.operators import AuthPolicy, Operator, OperatorStore
from module.ports import Clock, CodeImage, EntropySource, Flash, FlashError
from module.services.registry import ServiceResult, ServiceSpec, validate_params
from module.sessions import Session, SessionTable
from module.version import FIRMWARE_VERSION, MODULE_NAME
from module.wire.defs import AuditEvent, Command, KeyType, Role, State, Status
from module.wire.handshake import SALT_SIZE, derive_auth_key, verifier_of
from module.wire.messages import Reply
from module.wire.params import ParamsError, digest_map

__all__ = ["Module", "ModuleConfig", "CallContext", "FaultPlan", "LabBreaks", "LAB_BREAKS", "PoweredOff"]

BOOT_FLASH_NAME = "boot"
MAX_KEY_ID = 2**32 - 1  # Param("key_id", P.UINT) with the default bound
INTEGRITY_CAST = "HMAC-SHA-256"  # the algorithm of the integrity test, known-answer tested before it
AUDIT_KEY_FLASH_NAME = "audit_key"  # the audit signing key's Ed25519 seed (an SSP)


class PoweredOff(Exception):
    """A call reached a module that is powered off: nothing answers, nothing is recorded."""


@dataclass(frozen=True)
class ModuleConfig:
    serial: str = "CMSIM-0001"
    max_sessions: int = 8
    session_idle_timeout_s: float = 300.0
    handshake_timeout_s: float = 30.0
    max_keys: int = 1024
    max_random_bytes: int = 4096
    factory_operator: str = "co"
    factory_password: str = "cmsim-factory"
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    drbg_reseed_interval: int = 2**20
    audit: AuditConfig = field(default_factory=AuditConfig)


@dataclass
class FaultPlan:
    """Test and lab hooks that make a chosen self-test fail on its next run (one shot each)."""

    corrupt_casts: set[str] = field(default_factory=set)
    corrupt_integrity: bool = False
    corrupt_drbg_kat: bool = False
    corrupt_pct: bool = False


@dataclass
class LabBreaks:
    """Deliberate defects, to prove the lab harness fails when the module misbehaves. Off by default;
    only the lab port of a device started with ``--lab`` turns them on, and turning one on is audited."""

    ignore_self_test_failures: bool = False  # a failing CAST is recorded, but the module carries on
    drop_next_service_record: bool = False  # the next service call leaves no record (one shot)


LAB_BREAKS = {"ignore-self-test-failures": "ignore_self_test_failures",
              "drop-next-service-record": "drop_next_service_record"}


@dataclass
class CallContext:
    """Who is calling, as far as the module has established it."""

    session: Session | None
    operator: str
    role: Role
    command: int


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
        self.flash = flash
        self.clock = clock
        self._entropy_port = entropy
        self.entropy = HealthTestedSource(entropy)
        self.code = code
        self.seal = seal
        # The module's own sink is the hash-chained ring in flash; tests of the core and the
        # benchmarks' "audit off" baseline may plug in another AuditSink.
        self.audit: AuditSink = audit if audit is not None else AuditTrail(flash, self.config.serial, self.config.audit)
        self.audit_fault = ""  # why the audit trail could not be opened (the module is then in HARD_ERROR)
        self.unrecorded_events = 0  # events the sink could not take (ring exhausted or flash failure)
        self.faults = FaultPlan()
        self.breaks = LabBreaks()
        self.state = State.POWER_OFF
        self.boot_counter = 0
        self.last_error: dict[str, str] = {}
        self.operators = OperatorStore(flash)
        self.keys = KeyStore(flash, self.config.max_keys)
        self.sessions = SessionTable(
            self.config.max_sessions,
            int(self.config.session_idle_timeout_s * 1e9),
            int(self.config.handshake_timeout_s * 1e9),
        )
        self.drbg = HmacDrbg(reseed_interval=self.config.drbg_reseed_interval)
        self.self_test_ms = 0.0
        self.initialised = False
        self._enumeration_key = bytearray()
        self.identity: DeviceIdentity | None = None  # loaded at power-on, made at the first one
        from module.services.catalog import SERVICES

        self.services: Mapping[int, ServiceSpec] = SERVICES

    # ------------------------------------------------------------------ power
    def power_on(self) -> None:
        """Boot: count the boot, run every pre-operational self-test, land in a usable state."""
        if self.state is not State.POWER_OFF:
            return
        self.boot_counter = self._bump_boot_counter()
        self.audit_fault = ""
        try:
            self.audit.open(self.boot_counter)
        except AuditRingCorrupted as exc:
            # Never repaired silently: the module stops in HARD_ERROR and says why in status.
            # The ring cannot take the record of its own corruption; the count shows in status.
            self.audit_fault = str(exc)
            self._transition(Trigger.POWER_ON, "power on")
            self.last_error = {"test": "audit ring", "message": f"corrupted: {exc}"}
            self._transition(Trigger.HARD_FAULT, "audit ring corrupted")
            return
        self._transition(Trigger.POWER_ON, "power on")
        self.event(AuditEvent.POWER_ON, detail=f"boot {self.boot_counter}")
        if isinstance(self.audit, AuditTrail) and self.audit.status().torn_slot_discarded is not None:
            torn = self.audit.status().torn_slot_discarded
            self.event(AuditEvent.AUDIT_TORN_SLOT, detail=f"torn append of seq {torn} discarded (power lost mid-write)")
        self._load_persistent()
        self._run_self_tests(pre_operational=True)

    def power_off(self) -> None:
        """Authentication and every volatile secret are forgotten at power-off."""
        if self.state is State.POWER_OFF:
            return
        self.event(AuditEvent.POWER_OFF, detail="power off")
        self._transition(Trigger.POWER_OFF, "power off")
        self.audit.close()
        self.sessions.clear()
        self.drbg.uninstantiate()
        self.operators.wipe_memory()
        self.keys.wipe_memory()
        self.identity = None
        _wipe(self._enumeration_key)

    def _bump_boot_counter(self) -> int:
        raw = self.flash.read(BOOT_FLASH_NAME)
        doc = json.loads(raw.decode()) if raw else {"boots": 0}
        doc["boots"] = int(doc["boots"]) + 1
        self.flash.write(BOOT_FLASH_NAME, json.dumps(doc).encode())
        return int(doc["boots"])

    def _load_persistent(self) -> None:
        self.operators.load()
        self.keys.load()
        self.initialised = any(not op.factory for op in self.operators.all())
        raw = self.flash.read("module_secret")
        self._enumeration_key = bytearray(raw) if raw else bytearray()
        identity_seed = self.flash.read(IDENTITY_FLASH_NAME)
        self.identity = DeviceIdentity(identity_seed) if identity_seed else None
        seed = self.flash.read(AUDIT_KEY_FLASH_NAME)
        if seed and isinstance(self.audit, AuditTrail):
            self.audit.set_signing_key(seed)

    # ------------------------------------------------------------ self-tests
    def _run_self_tests(self, *, pre_operational: bool) -> bool:
        """Integrity, entropy start-up, DRBG health and every CAST; True when all passed."""
        started = time.perf_counter()
        failure: SelfTestFailure | None = None
        try:
            # The integrity test's own algorithm is tested first (FIPS 140-3 IG 10.3.A).
            self._self_test_cast(INTEGRITY_CAST)
            self._self_test_integrity()
            self._self_test_entropy()
            self._self_test_drbg()
            for name in cast.CAST_NAMES:
                if name != INTEGRITY_CAST:
                    self._self_test_cast(name)
            self._instantiate_drbg()
            self._ensure_identity()
        except SelfTestFailure as exc:
            failure = exc
        self.self_test_ms = (time.perf_counter() - started) * 1000
        if failure is not None:
            self._enter_error(failure)
            return False
        if not self.initialised:
            self._ensure_factory_state()
            self._transition(Trigger.SELF_TEST_PASS_FACTORY, "self-tests passed")
        else:
            self._transition(Trigger.SELF_TEST_PASS_INITIALISED, "self-tests passed")
        self.last_error = {} if pre_operational else self.last_error
        return True

    def _self_test_result(self, name: str, passed: bool, message: str = "") -> None:
        detail = f"{name}: {'pass' if passed else 'FAIL ' + message}"
        self.event(AuditEvent.SELF_TEST_RESULT, status=Status.OK if passed else Status.SELF_TEST_FAILED, detail=detail)

    def _self_test_integrity(self) -> None:
        problem = check_seal(self.code, self.seal)
        if self.faults.corrupt_integrity:
            self.faults.corrupt_integrity = False
            problem = "integrity seal does not match the module code (injected fault)"
        self._self_test_result("integrity HMAC-SHA-256", problem is None, problem or "")
        if problem is not None:
            raise SelfTestFailure("integrity", problem, hard=True)

    def _self_test_entropy(self) -> None:
        self.entropy.reset()
        try:
            self.entropy.startup_test()
        except EntropyHealthError as exc:
            self._self_test_result(f"entropy start-up {exc.test}", False, str(exc))
            raise SelfTestFailure(f"entropy {exc.test}", str(exc)) from None
        self._self_test_result("entropy start-up RCT+APT", True)

    def _self_test_drbg(self) -> None:
        kat = load_drbg_kat()
        if self.faults.corrupt_drbg_kat:
            self.faults.corrupt_drbg_kat = False
            kat = kat.corrupted()
        try:
            health_test(kat)
        except DrbgHealthTestError as exc:
            self._self_test_result("HMAC_DRBG health test", False, str(exc))
            raise SelfTestFailure("HMAC_DRBG", str(exc)) from None
        self._self_test_result("HMAC_DRBG health test", True)

    def _self_test_cast(self, name: str) -> None:
        corrupt = name in self.faults.corrupt_casts
        self.faults.corrupt_casts.discard(name)
        try:
            cast.run_cast(name, corrupt=corrupt)
        except cast.CastFailed as exc:
            self._self_test_result(f"CAST {name}", False, str(exc))
            if self.breaks.ignore_self_test_failures:
                return
            raise SelfTestFailure(f"CAST {name}", str(exc)) from None
        self._self_test_result(f"CAST {name}", True)

    def _instantiate_drbg(self) -> None:
        try:
            entropy = self.entropy.entropy_input(384)
            nonce = self.entropy.entropy_input(128)
        except EntropyHealthError as exc:
            raise SelfTestFailure(f"entropy {exc.test}", str(exc)) from None
        personalization = f"{MODULE_NAME} {self.config.serial} boot {self.boot_counter}".encode()
        self.drbg.instantiate(entropy, nonce, personalization)

    def random_bytes(self, n: int) -> bytes:
        """DRBG output, reseeding from the health-tested source when the interval runs out."""
        from module.drbg import DrbgReseedRequired

        try:
            try:
                return self.drbg.generate(n)
            except DrbgReseedRequired:
                self.drbg.reseed(self.entropy.entropy_input(384))
                return self.drbg.generate(n)
        except EntropyHealthError as exc:
            self.event(AuditEvent.ENTROPY_HEALTH_FAILURE, status=Status.ENTROPY_FAILURE, detail=str(exc))
            raise SelfTestFailure(f"entropy {exc.test}", str(exc)) from None

    def pairwise_consistency(self, key_type: KeyType, private: bytes, public: bytes) -> None:
        corrupt = self.faults.corrupt_pct
        self.faults.corrupt_pct = False
        try:
            algorithms.pairwise_consistency_test(key_type, private, public, corrupt=corrupt)
        except algorithms.PairwiseConsistencyFailed as exc:
            self.event(AuditEvent.PCT_RESULT, status=Status.SELF_TEST_FAILED, detail=f"{key_type.name}: FAIL {exc}")
            raise SelfTestFailure(f"PCT {key_type.name}", str(exc)) from None
        self.event(AuditEvent.PCT_RESULT, detail=f"{key_type.name}: pass")

    def _enter_error(self, failure: SelfTestFailure) -> None:
        self.last_error = {"test": failure.test, "message": failure.message}
        trigger = Trigger.HARD_FAULT if failure.hard else Trigger.SOFT_FAULT
        if self.state is State.SOFT_ERROR and not failure.hard:
            return
        self.event(AuditEvent.ERROR_ENTERED, status=Status.SELF_TEST_FAILED, detail=f"{failure.test}: {failure.message}")
        self.drbg.uninstantiate()
        self._transition(trigger, failure.test)
        if isinstance(self.audit, AuditTrail):
            try:  # the last signed word before the error state: what the trail held when it struck
                self.audit.error_checkpoint(**self.audit_times())
            except (AuditError, FlashError):
                self.unrecorded_events += 1

    def run_on_demand_self_test(self) -> bool:
        self._transition(Trigger.SELF_TEST_REQUESTED, "self-test on demand")
        return self._run_self_tests(pre_operational=False)

    def _ensure_identity(self) -> None:
        """The first power-on with a working DRBG makes the device identity (kept across zeroisation)."""
        if self.identity is not None:
            return
        seed = self.random_bytes(SEED_SIZE)
        identity = DeviceIdentity(seed)
        self.pairwise_consistency(KeyType.ED25519, seed, identity.public_key)
        self.flash.write(IDENTITY_FLASH_NAME, seed)
        self.identity = identity

    def _ensure_factory_state(self) -> None:
        """A factory-fresh module has one Crypto Officer with the documented factory credential."""
        if not self._enumeration_key:
            secret = self.random_bytes(32)
            self.flash.write("module_secret", secret)
            self._enumeration_key = bytearray(secret)
        if self.operators.count(Role.CRYPTO_OFFICER) == 0:
            salt = self.random_bytes(SALT_SIZE)
            iterations = self.config.auth.pbkdf2_iterations
            verifier = verifier_of(derive_auth_key(self.config.factory_password, salt, iterations))
            self.operators.add(
                Operator(self.config.factory_operator, Role.CRYPTO_OFFICER, salt, iterations, bytearray(verifier),
                         factory=True)
            )

    # ---------------------------------------------------------------- states
    def _transition(self, trigger: Trigger, reason: str) -> None:
        before = self.state
        self.state = next_state(before, trigger)
        self.event(AuditEvent.STATE_CHANGE, detail=f"{before.name}->{self.state.name} ({trigger.name}: {reason})")

    def transition(self, trigger: Trigger, reason: str) -> None:
        self._transition(trigger, reason)

    def enter_error(self, failure: SelfTestFailure) -> None:
        self._enter_error(failure)

    # ----------------------------------------------------------------- audit
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
        """Record an event. One the sink cannot take is counted (status shows it), never raised:
        an event happens whether or not it could be written down."""
        if self.audit_fault:
            self.unrecorded_events += 1
            return
        try:
            self._append(
                AuditEntry(
                    kind=RecordKind.EVENT,
                    code=int(code),
                    status=status,
                    approved=False,
                    session_id=session_id,
                    operator=operator,
                    role=role,
                    key_ids=key_ids,
                    detail=detail[:120],
                )
            )
        except (AuditError, FlashError):
            self.unrecorded_events += 1

    def _append(self, entry: AuditEntry) -> None:
        """Write-ahead: returns only once the record is in flash (raises AuditError, FlashError)."""
        self.audit.append(entry, **self.audit_times())

    def audit_times(self) -> dict[str, int]:
        """Boot counter and clock readings for a record the trail writes on the core's behalf."""
        return {"boot": self.boot_counter, "tick_ns": self.clock.monotonic_ns(), "utc_ns": self.clock.utc_ns()}

    def provision_audit_key(self) -> None:
        """At initialisation: the module's first audit signing key, unless it already has one
        (a zeroisation leaves the key that its handover named, for the next initialisation)."""
        if not isinstance(self.audit, AuditTrail) or self.audit.has_signing_key:
            return
        seed = self.random_bytes(32)
        self.flash.write(AUDIT_KEY_FLASH_NAME, seed)
        self.audit.rotate_key(seed, **self.audit_times())

    def rotate_audit_key(self) -> None:
        """At zeroisation: the old key signs a handover to a fresh one and is destroyed. From an
        error state (no DRBG to make a successor) it signs a last checkpoint and is destroyed."""
        if not isinstance(self.audit, AuditTrail):
            return
        if not self.drbg.instantiated:
            try:
                self.audit.retire_key(**self.audit_times())
            finally:
                self.flash.delete(AUDIT_KEY_FLASH_NAME)
            self.event(AuditEvent.AUDIT_KEY_ROTATED, detail="audit signing key destroyed at zeroisation")
            return
        seed = self.random_bytes(32)
        try:
            self.audit.rotate_key(seed, **self.audit_times())
        finally:  # the old seed is gone from the trail either way; flash must not keep it
            self.flash.write(AUDIT_KEY_FLASH_NAME, seed)
        self.event(AuditEvent.AUDIT_KEY_ROTATED, detail="audit signing key replaced at zeroisation")

    @property
    def trail(self) -> AuditTrail:
        """The hash-chained trail, for the audit services (refused when another sink is plugged in)."""
        if not isinstance(self.audit, AuditTrail):
            raise ServiceError(Status.INVALID_STATE, "this module runs without its audit trail")
        return self.audit

    def record_fault(self, description: str) -> None:
        """A fault the hardware around the module injected (lab mode): recorded like any other."""
        self.event(AuditEvent.FAULT_INJECTED, detail=description)

    def inject_fault(self, fault: str, target: str = "") -> None:
        """Arm a one-shot self-test fault (test and lab use); the arming itself is audited."""
        if fault == "cast":
            if target not in cast.CAST_NAMES:
                raise ValueError(f"unknown CAST {target!r}")
            self.faults.corrupt_casts.add(target)
        elif fault == "integrity":
            self.faults.corrupt_integrity = True
        elif fault == "drbg":
            self.faults.corrupt_drbg_kat = True
        elif fault == "pct":
            self.faults.corrupt_pct = True
        else:
            raise ValueError(f"unknown fault {fault!r}")
        self.event(AuditEvent.FAULT_INJECTED, detail=f"{fault} {target}".strip())

    def lab_break(self, what: str) -> None:
        """Turn on one of :data:`LAB_BREAKS` (lab port only); recorded before it takes effect."""
        if what not in LAB_BREAKS:
            raise ValueError(f"unknown break {what!r}; one of {sorted(LAB_BREAKS)}")
        self.event(AuditEvent.FAULT_INJECTED, detail=f"break {what}")
        setattr(self.breaks, LAB_BREAKS[what], True)

    # -------------------------------------------------------------- dispatch
    def call(self, command: int, params: Mapping[str, Any] | None = None, session_id: int = 0) -> Reply:
        """Run one service call. Always returns a response and leaves exactly one service record."""
        if self.state is State.POWER_OFF:
            raise PoweredOff("the module is powered off")
        params = dict(params or {})
        spec = self.services.get(command)
        drains = bool(spec and spec.drains_audit)
        if self.audit_fault:  # no trail to write to: only status (and what may run unrecorded) answers
            if not drains:
                self.unrecorded_events += 1
                return Reply(Status.MODULE_ERROR, False, {}, f"audit trail unusable: {self.audit_fault}")
        elif not drains and (
            not self.audit.has_room(spec.audit_records if spec else 1)
            or (self.audit.would_block() and not (spec and spec.allowed_when_audit_full))
        ):
            # Under block, a full ring refuses before anything runs. The refusal is counted, not
            # recorded (records would eat the reserve the drain needs); the sink writes one chained
            # LOSS(REFUSED) record with the count as soon as it has room again.
            self.audit.count_refusal()
            return Reply(Status.AUDIT_FULL, False, {}, "audit ring full: export and acknowledge records")
        now = self.clock.monotonic_ns()
        for gone in self.sessions.expire(now):
            self.event(
                AuditEvent.SESSION_EXPIRED, operator=gone.operator, role=gone.role, session_id=gone.session_id,
                detail="idle timeout" if gone.authenticated else "handshake timeout",
            )
        ctx = CallContext(session=None, operator="", role=Role.NONE, command=command)
        result = ServiceResult()
        public_params: Mapping[str, Any] = _strip_secret(spec, params)
        approved = False
        message = ""
        try:
            if spec is None:
                raise ServiceError(Status.UNKNOWN_COMMAND, f"no service with code 0x{command:02x}")
            self._identify(spec, ctx, session_id, now)
            if self.state not in spec.states:
                raise ServiceError(
                    Status.MODULE_ERROR if self.state in ERROR_STATES else Status.INVALID_STATE,
                    f"{spec.name} is not available in state {self.state.name}",
                )
            self._authorise(spec, ctx)
            typed, public_params = validate_params(spec, params)
            result = spec.handler(self, ctx, typed)
            status = Status.OK
            approved = spec.approved
        except ServiceError as exc:
            status, message = exc.status, exc.message
        except SelfTestFailure as exc:
            self._enter_error(exc)
            status, message = Status.SELF_TEST_FAILED, f"{exc.test}: {exc.message}"
        except FlashError as exc:
            status, message = Status.FLASH_FAILURE, f"flash write failed, nothing changed: {exc}"
        except AuditRingCorrupted as exc:  # a stored record failed its check when read back
            self._enter_error(SelfTestFailure("audit ring", f"corrupted: {exc}", hard=True))
            status, message = Status.MODULE_ERROR, f"audit ring corrupted: {exc}"
        except Exception as exc:  # a defect: stop in the hard error state rather than go on unsure
            self._enter_error(SelfTestFailure("internal", f"{type(exc).__name__}: {exc}", hard=True))
            status, message = Status.INTERNAL_ERROR, f"internal error ({type(exc).__name__}); module stopped"
        if status is not Status.OK:
            result = ServiceResult(key_ids=result.key_ids)
        response = Reply(status, approved, result.data, message)
        entry = AuditEntry(
            kind=RecordKind.SERVICE,
            code=command,
            status=status,
            approved=approved,
            session_id=ctx.session.session_id if ctx.session else session_id,
            operator=ctx.operator,
            role=ctx.role,
            key_ids=tuple(result.key_ids) or _key_ids_of(public_params),
            request_digest=_digest(public_params),
            response_digest=_digest(response.data),
            detail=(message if status is not Status.OK else result.audit_detail)[:120],
        )
        if self.breaks.drop_next_service_record:
            self.breaks.drop_next_service_record = False
            return response
        try:
            self._append(entry)
        except AuditError:
            # The call's events took the room its record needed (the sink counted the refusal).
            # A drain service is still answered, so an exhausted ring can always be drained;
            # any other result is withheld, as it could not be recorded.
            if not drains:
                return Reply(Status.AUDIT_FULL, False, {}, "audit ring exhausted: result withheld")
            if self.audit_fault:
                self.unrecorded_events += 1
        except FlashError as exc:
            # Write-ahead: a result whose record is not in flash is not released.
            return Reply(Status.FLASH_FAILURE, False, {}, f"audit record could not be written, result withheld: {exc}")
        return response

    def record_refusal(self, command: int, session_id: int, status: Status, message: str) -> Reply:
        """A call the line refused before dispatch (a message that failed the secure channel, or
        parameters that do not decode): answered with ``status``, recorded like any other call."""
        if self.state is State.POWER_OFF:
            raise PoweredOff("the module is powered off")
        sess = self.sessions.get(session_id) if session_id else None
        known = sess is not None and sess.authenticated
        entry = AuditEntry(
            kind=RecordKind.SERVICE, code=command, status=status, approved=False, session_id=session_id,
            operator=sess.operator if sess is not None and known else "",
            role=sess.role if sess is not None and known else Role.NONE, detail=message[:120],
        )
        if self.audit_fault:
            self.unrecorded_events += 1
        elif not self.audit.has_room(1):
            self.audit.count_refusal()
        else:
            try:
                self._append(entry)
            except (AuditError, FlashError):
                self.unrecorded_events += 1
        return Reply(status, False, {}, message)

    def _identify(self, spec: ServiceSpec, ctx: CallContext, session_id: int, now: int) -> None:
        """Attach the caller's session (if any) so even a refusal is recorded against it."""
        if not session_id:
            return
        sess = self.sessions.get(session_id)
        if sess is not None and sess.authenticated:
            sess.last_used_ns = now
            ctx.session, ctx.operator, ctx.role = sess, sess.operator, sess.role
        elif sess is not None and spec.command is Command.AUTH_FINISH:
            ctx.session = sess  # the half-open login AUTH_FINISH completes (role NONE until it does)
        else:
            raise ServiceError(Status.SESSION_INVALID, "unknown, closed or expired session")

    def _authorise(self, spec: ServiceSpec, ctx: CallContext) -> None:
        if spec.public or spec.command is Command.AUTH_FINISH:
            return
        if ctx.session is None:
            raise ServiceError(Status.NOT_AUTHENTICATED, f"{spec.name} needs an authenticated session")
        if ctx.role not in spec.roles:
            raise ServiceError(Status.ACCESS_DENIED, f"role {ctx.role.name} may not call {spec.name}")

    # ---------------------------------------------------------------- helpers
    def enumeration_salt(self, operator: str) -> bytes:
        """A stable fake salt for unknown operators, so AUTH_BEGIN does not reveal who exists."""
        return hashlib.sha256(bytes(self._enumeration_key) + operator.encode()).digest()[:SALT_SIZE]

    def zeroise(self) -> None:
        """Overwrite every SSP in memory and flash: keys, operators, sessions, DRBG state."""
        try:
            self.rotate_audit_key()
        except AuditError:  # the ring cannot take the handover: the old key is wiped regardless
            self.unrecorded_events += 1
        self.sessions.clear()
        self.keys.zeroise()
        self.operators.zeroise()
        self.drbg.uninstantiate()
        _wipe(self._enumeration_key)
        self.flash.delete("module_secret")
        self.initialised = False

    def status_data(self) -> dict[str, Any]:
        return {
            "module": MODULE_NAME,
            "version": FIRMWARE_VERSION,
            "serial": self.config.serial,
            "state": int(self.state),
            "state_name": self.state.name,
            "approved_mode": self.state is State.OPERATIONAL,
            "initialised": self.initialised,
            "boot_counter": self.boot_counter,
            "sessions": len(self.sessions),
            "keys": len(self.keys) if self.state in (State.OPERATIONAL, State.UNINITIALISED) else 0,
            "last_error": (f"{self.last_error['test']}: {self.last_error['message']}" if self.last_error else ""),
            "self_test_ms": int(self.self_test_ms),
            "lab_mode": isinstance(self.audit, AuditTrail) and self.audit.config.lab_mode,
            "identity_fingerprint": self.identity.fingerprint if self.identity is not None else "",
            "audit": self._audit_status(),
        }

    def _audit_status(self) -> dict[str, Any]:
        """What a host needs to drain in time: fill, policy, losses, refusals, the chain head."""
        info: dict[str, Any] = {"fault": self.audit_fault, "unrecorded_events": self.unrecorded_events}
        if isinstance(self.audit, AuditTrail) and not self.audit_fault and self.state is not State.POWER_OFF:
            st = self.audit.status()
            info |= {
                "next_seq": st.next_seq, "oldest_retained": st.oldest_retained, "used": st.used,
                "capacity": st.capacity, "policy": st.policy, "high_water_permille": round(st.high_water * 1000),
                "high_water_reached": st.high_water_reached, "would_block": st.would_block,
                "records_lost": st.records_lost, "records_refused": st.records_refused, "head": st.head,
                "signing_key": st.signing_key,
            }
            if st.acked_through is not None:
                info["acked_through"] = st.acked_through
        return info


def _strip_secret(spec: ServiceSpec | None, params: Mapping[str, Any]) -> dict[str, Any]:
    secret = {p.name for p in spec.params if p.secret} if spec else set()
    return {k: v for k, v in params.items() if k not in secret}


def _digest(values: Mapping[str, Any]) -> bytes:
    try:
        return digest_map(values)
    except (ParamsError, TypeError):
        return hashlib.sha256(b"cmsim: unencodable parameters").digest()


def _key_ids_of(params: Mapping[str, Any]) -> tuple[int, ...]:
    """Key ids named by a refused call, as far as they could be ids at all (0..2^32-1, the
    parameters' declared range): an arbitrary number from an unchecked request is not recorded."""
    ids = []
    for name in ("key_id", "wrap_key_id", "base_key_id"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_KEY_ID:
            ids.append(value)
    return tuple(ids)


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))
