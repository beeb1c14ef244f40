"""Dispatch: one service call from request to released answer, in named steps: refuse what
cannot be recorded, expire idle sessions, identify the caller, check state, role and parameters,
run the handler, write the call's record, commit the call's flash writes and its record as one
crash-consistent step (:class:`module.ports.JournalledFlash`), release (or withhold) the answer.

Also the record of a call refused on the line before dispatch (:meth:`Dispatcher.record_refusal`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from module.audit.ring import AuditError, AuditRingCorrupted
from module.audit.sink import AuditEntry, RecordKind
from module.errors import SelfTestFailure, ServiceError
from module.fsm import ERROR_STATES, data_output_allowed
from module.lab import LabBreaks
from module.ports import Clock, FlashError, JournalledFlash
from module.recorder import AuditRecorder
from module.services.context import CallContext, ServicePorts
from module.services.registry import ServiceResult, ServiceSpec, validate_params
from module.sessions import SessionTable
from module.states import ModuleState
from module.wire.defs import AuditEvent, Command, Role, State, Status
from module.wire.messages import Reply
from module.wire.audit.digest import call_digests

__all__ = ["Dispatcher", "PoweredOff", "MAX_KEY_ID"]

MAX_KEY_ID = 2**32 - 1  # Param("key_id", P.UINT) with the default bound


class PoweredOff(Exception):
    """A call reached a module that is powered off: nothing answers, nothing is recorded."""


@dataclass
class _Outcome:
    """What running a call came to, before its record is written."""

    status: Status
    public_params: Mapping[str, Any]
    approved: bool = False
    message: str = ""
    result: ServiceResult = field(default_factory=ServiceResult)
    digest_key: bytes | None = None  # the caller's session's, copied before a handler can close the session


class Dispatcher:
    def __init__(
        self,
        *,
        services: Mapping[int, ServiceSpec],
        ports: ServicePorts,
        states: ModuleState,
        recorder: AuditRecorder,
        sessions: SessionTable,
        clock: Clock,
        breaks: LabBreaks,
        flash: JournalledFlash | None = None,
        reload: Callable[[], None] | None = None,
    ) -> None:
        self.services = services
        self.ports = ports  # what every handler is given
        self.states = states
        self.recorder = recorder
        self.sessions = sessions
        self.clock = clock
        self.breaks = breaks
        self.flash = flash  # each call's writes, its record's included, commit as one step
        self.reload = reload  # memory back to flash when that step could not be committed

    def call(self, command: int, params: Mapping[str, Any] | None = None, session_id: int = 0) -> Reply:
        """Run one service call and answer it; raises :class:`PoweredOff` when the module is off.

        A call that gets as far as running (or is refused for state, session, role or parameters)
        leaves one service record, committed with the call's effect before its answer is released.
        When that record cannot be written the answer is withheld (AUDIT_FULL, the effect rolled
        back, or FLASH_FAILURE), except for the services
        that drain the ring, which are answered with the missing record counted. Three other paths
        leave no service record: with the drop-next-service-record lab break armed (one shot);
        when the audit trail could not be opened at power-on (the call is counted in
        ``unrecorded_events``, and only drain services run); and when a full ring refuses the
        call before anything runs (AUDIT_FULL, counted by the sink, which later writes one
        LOSS(REFUSED) record with the count)."""
        if self.states.state is State.POWER_OFF:
            raise PoweredOff("the module is powered off")
        params = dict(params or {})
        spec = self.services.get(command)
        drains = bool(spec and spec.drains_audit)
        refused = self._refuse_unrecordable(spec, drains) or self._refuse_public_excess(spec, session_id)
        if refused is not None:
            return refused
        if self.flash is not None:
            self.flash.begin()
        try:
            now = self.clock.monotonic_ns()
            self._expire_sessions(now)
            ctx = CallContext(session=None, operator="", role=Role.NONE, command=command)
            state_before = self.states.state
            outcome = self._run(spec, command, params, ctx, session_id, now)
            if outcome.result.data and not data_output_allowed(self.states.state, spec.states if spec else frozenset()):
                outcome = _Outcome(Status.MODULE_ERROR, outcome.public_params,
                                   message=f"data output inhibited in {self.states.state.name}",
                                   digest_key=outcome.digest_key)
            response = Reply(outcome.status, outcome.approved, outcome.result.data, outcome.message)
            entry = self._service_record(command, session_id, ctx, outcome, response)
            return self._release(entry, response, drains, state_before)
        finally:
            if self.flash is not None and self.flash.active:  # a power cut on the way: nothing of it stays
                self.flash.abort()

    def record_refusal(self, command: int, session_id: int, status: Status, message: str, *,
                       channel_ok: bool = False) -> Reply:
        """A call the line refused before dispatch (a message that failed the secure channel, or
        parameters that do not decode): answered with ``status``, recorded like any other call.

        Only a frame that passed the channel check (``channel_ok``) is recorded against its
        session's operator; one that failed it proves nothing about who sent it, so it is recorded
        with no operator (the session id field holds the claim) and a note naming that session."""
        if self.states.state is State.POWER_OFF:
            raise PoweredOff("the module is powered off")
        sess = self.sessions.get(session_id) if session_id and channel_ok else None
        known = sess is not None and sess.authenticated
        detail = message if channel_ok or not session_id else f"claimed session {session_id}: {message}"
        entry = AuditEntry(
            kind=RecordKind.SERVICE, code=command, status=status, approved=False, session_id=session_id,
            operator=sess.operator if sess is not None and known else "",
            role=sess.role if sess is not None and known else Role.NONE, detail=detail[:120],
        )
        if self.recorder.fault:
            self.recorder.unrecorded += 1
        elif not self.recorder.sink.has_room(1) or (
            not known and not self.recorder.sink.admits_public(self.clock.monotonic_ns())
        ):  # anyone can send these: held to the public share and rate like any unauthenticated call
            self.recorder.sink.count_refusal()
        else:
            try:
                self.recorder.append(entry)
            except (AuditError, FlashError):
                self.recorder.unrecorded += 1
        return Reply(status, False, {}, message)

    # ------------------------------------------------------------------ steps of a call
    def _refuse_unrecordable(self, spec: ServiceSpec | None, drains: bool) -> Reply | None:
        """Before anything runs: no trail to write to, or (under block) a ring too full for the call."""
        if self.recorder.fault:  # only status (and what may run unrecorded) answers
            if drains:
                return None
            self.recorder.unrecorded += 1
            return Reply(Status.MODULE_ERROR, False, {}, f"audit trail unusable: {self.recorder.fault}")
        sink = self.recorder.sink
        if not drains and (
            not sink.has_room(spec.audit_records if spec else 1)
            or (sink.would_block() and not (spec and spec.allowed_when_audit_full))
        ):
            # The refusal is counted, not recorded (records would eat the reserve the drain
            # needs); the sink writes one chained LOSS(REFUSED) record with the count as soon
            # as it has room again.
            sink.count_refusal()
            return Reply(Status.AUDIT_FULL, False, {}, "audit ring full: export and acknowledge records")
        return None

    def _refuse_public_excess(self, spec: ServiceSpec | None, session_id: int) -> Reply | None:
        """A call without an authenticated session over the public rate or share: refused, counted.

        Anyone can send these, so they must not be able to wrap away or block out what the
        authenticated operators' calls record; the count reaches the trail as one LOSS(REFUSED)."""
        sess = self.sessions.get(session_id) if session_id else None
        if sess is not None and sess.authenticated:
            return None
        # the login (protocol 2 starts with IDENTITY, to check the pin) stays open, so a drain can always log in
        handshake = spec is not None and spec.command in (Command.IDENTITY, Command.AUTH_BEGIN, Command.AUTH_FINISH)
        sink = self.recorder.sink
        if sink.admits_public(self.clock.monotonic_ns(), share=not handshake):
            return None
        sink.count_refusal()
        return Reply(Status.AUDIT_FULL, False, {}, "unauthenticated calls over their rate or share of the "
                     "audit trail: refused and counted; log in, or retry later")

    def _expire_sessions(self, now: int) -> None:
        for gone in self.sessions.expire(now):
            self.recorder.event(
                AuditEvent.SESSION_EXPIRED, operator=gone.operator, role=gone.role, session_id=gone.session_id,
                detail="idle timeout" if gone.authenticated else "handshake timeout",
            )

    def _run(self, spec: ServiceSpec | None, command: int, params: Mapping[str, Any], ctx: CallContext,
             session_id: int, now: int) -> _Outcome:
        """Identify, check state, authorise, validate, run; any failure becomes a status."""
        public_params: Mapping[str, Any] = _strip_secret(spec, params)
        key: bytes | None = None
        try:
            if spec is None:
                raise ServiceError(Status.UNKNOWN_COMMAND, f"no service with code 0x{command:02x}")
            self._identify(spec, ctx, session_id, now)
            key = bytes(ctx.session.digest_key) if ctx.session else None
            self._check_state(spec)
            self._authorise(spec, ctx)
            typed, public_params = validate_params(spec, params)
            result = spec.handler(self.ports, ctx, typed)
        except Exception as exc:  # mapped in _failure; a defect stops the module in HARD_ERROR
            status, message = self._failure(exc)
            return _Outcome(status, public_params, message=message, digest_key=key)
        return _Outcome(Status.OK, public_params, approved=spec.approved and result.approved, result=result,
                        digest_key=key)

    def _failure(self, exc: Exception) -> tuple[Status, str]:
        """The status and message a failed call answers with; failed tests and defects enter an error state."""
        if isinstance(exc, ServiceError):
            return exc.status, exc.message
        if isinstance(exc, SelfTestFailure):
            self.states.enter_error(exc)
            return Status.SELF_TEST_FAILED, f"{exc.test}: {exc.message}"
        if isinstance(exc, FlashError):
            return Status.FLASH_FAILURE, f"flash write failed, nothing changed: {exc}"
        if isinstance(exc, AuditRingCorrupted):  # a stored record failed its check when read back
            self.states.enter_error(SelfTestFailure("audit ring", f"corrupted: {exc}", hard=True))
            return Status.MODULE_ERROR, f"audit ring corrupted: {exc}"
        # a defect: stop in the hard error state rather than go on unsure
        self.states.enter_error(SelfTestFailure("internal", f"{type(exc).__name__}: {exc}", hard=True))
        return Status.INTERNAL_ERROR, f"internal error ({type(exc).__name__}); module stopped"

    def _service_record(self, command: int, session_id: int, ctx: CallContext, outcome: _Outcome,
                        response: Reply) -> AuditEntry:
        ok = outcome.status is Status.OK
        spec = self.services.get(command)
        # keyed by the caller's session, so an export alone checks no guess (module.wire.audit.digest)
        request_digest, response_digest = call_digests(outcome.digest_key, spec is not None and spec.public,
                                                       outcome.public_params, response.data)
        return AuditEntry(
            kind=RecordKind.SERVICE,
            code=command,
            status=outcome.status,
            approved=outcome.approved,
            session_id=ctx.session.session_id if ctx.session else session_id,
            operator=ctx.operator,
            role=ctx.role,
            key_ids=tuple(outcome.result.key_ids) or _key_ids_of(outcome.public_params),
            request_digest=request_digest,
            response_digest=response_digest,
            detail=(outcome.result.audit_detail if ok else outcome.message)[:120],
        )

    def _release(self, entry: AuditEntry, response: Reply, drains: bool, state_before: State) -> Reply:
        """Write-ahead: the answer goes out only once its record is in flash, committed in one
        step with the call's effect (every flash write the call made), so that after a power loss
        flash holds both or neither."""
        if self.breaks.drop_next_service_record:
            self.breaks.drop_next_service_record = False
            return self._commit(response, state_before)
        try:
            self.recorder.append(entry)
        except AuditError:
            # The call's events took the room its record needed (the sink counted the refusal).
            # A drain service is still answered, so an exhausted ring can always be drained;
            # any other result is withheld, as it could not be recorded.
            if not drains:
                withheld = Reply(Status.AUDIT_FULL, False, {}, "audit ring exhausted: result withheld")
                if self.flash is None or self.states.state is not state_before or self.reload is None:
                    return self._commit(withheld, state_before, withheld)
                # nothing of the call is kept, its effect included: as if refused before it ran
                self.flash.abort()
                self._roll_back(state_before, "audit ring exhausted")
                self.recorder.sink.count_refusal()
                return withheld
            if self.recorder.fault:
                self.recorder.unrecorded += 1
        except FlashError as exc:
            return self._commit(response, state_before, Reply(
                Status.FLASH_FAILURE, False, {}, f"audit record could not be written, result withheld: {exc}"))
        return self._commit(response, state_before)

    def _commit(self, response: Reply, state_before: State, instead: Reply | None = None) -> Reply:
        """Commit the call's writes; answer ``instead`` if given. When the commit fails nothing of
        the call reached flash: memory is reloaded from flash (or, when the call moved the module
        to another state, the module stops in HARD_ERROR, which only a power cycle leaves) and the
        call is answered FLASH_FAILURE, nothing changed."""
        if self.flash is None or not self.flash.active:
            return instead or response
        try:
            self.flash.commit()
        except FlashError as exc:
            self._roll_back(state_before, str(exc))
            return Reply(Status.FLASH_FAILURE, False, {}, f"flash write failed, nothing changed: {exc}")
        return instead or response

    def _roll_back(self, state_before: State, why: str) -> None:
        stopped = self.states.state is not state_before
        if not stopped and self.reload is not None:
            try:
                self.reload()
            except (AuditError, FlashError) as exc:
                why, stopped = f"{why}; reloading from flash failed: {exc}", True
        if stopped or self.reload is None:
            self.states.enter_error(SelfTestFailure("flash", f"a call's writes could not be committed: {why}",
                                                    hard=True))

    # ------------------------------------------------------------------ access control
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

    def _check_state(self, spec: ServiceSpec) -> None:
        refusal = self.state_refusal(spec.command)
        if refusal is not None:
            raise ServiceError(*refusal)

    def state_refusal(self, command: int) -> tuple[Status, str] | None:
        """The state refusal a request for ``command`` gets now (None: the state allows it, or no
        such service); the endpoint asks before it answers a retransmit from its cache."""
        spec = self.services.get(command)
        state = self.states.state
        if spec is None or state in spec.states:
            return None
        return (Status.MODULE_ERROR if state in ERROR_STATES else Status.INVALID_STATE,
                f"{spec.name} is not available in state {state.name}")

    def _authorise(self, spec: ServiceSpec, ctx: CallContext) -> None:
        if spec.public or spec.command is Command.AUTH_FINISH:
            return
        if ctx.session is None:
            raise ServiceError(Status.NOT_AUTHENTICATED, f"{spec.name} needs an authenticated session")
        if ctx.role not in spec.roles:
            raise ServiceError(Status.ACCESS_DENIED, f"role {ctx.role.name} may not call {spec.name}")
        if ctx.session.factory and not spec.factory_credential:
            raise ServiceError(Status.ACCESS_DENIED, f"the factory credential may not call {spec.name}: initialise first")


def _strip_secret(spec: ServiceSpec | None, params: Mapping[str, Any]) -> dict[str, Any]:
    secret = {p.name for p in spec.params if p.secret} if spec else set()
    return {k: v for k, v in params.items() if k not in secret}


def _key_ids_of(params: Mapping[str, Any]) -> tuple[int, ...]:
    """Key ids named by a refused call, as far as they could be ids at all (0..2^32-1, the
    parameters' declared range): an arbitrary number from an unchecked request is not recorded."""
    ids = []
    for name in ("key_id", "wrap_key_id", "base_key_id"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_KEY_ID:
            ids.append(value)
    return tuple(ids)
