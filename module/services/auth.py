"""Login (mutual challenge-response), logout, and the failed-attempt policy."""

from __future__ import annotations

import hmac
import struct
from collections.abc import Mapping
from typing import Any

from module.errors import ServiceError
from module.services.context import CallContext, AuthPorts
from module.services.registry import ServiceResult
from module.sessions import Session
from module.wire.defs import AuditEvent, Role, Status
from module.wire.handshake import (
    CHALLENGE_SIZE,
    SessionKeys,
    derive_session_keys,
    host_proof,
    module_proof,
    transcript,
)


def auth_begin(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Open a half-open session. Unknown operators get a plausible answer (no enumeration)."""
    name: str = params["operator"]
    host_challenge: bytes = params["host_challenge"]
    room = module.sessions.make_room()
    if room is False:
        raise ServiceError(Status.SESSION_LIMIT, f"all {module.sessions.capacity} session slots in use")
    if isinstance(room, Session):
        module.event(AuditEvent.SESSION_EXPIRED, operator=room.operator, session_id=room.session_id,
                     detail="unfinished login evicted")
    op = module.operators.get(name)
    now = module.clock.monotonic_ns()
    if op is not None:
        _check_not_delayed_or_locked(module, op.name, now)
    session_id = _new_session_id(module)
    module_challenge = module.random_bytes(CHALLENGE_SIZE)
    context = transcript(name, session_id, host_challenge, module_challenge)
    if op is not None:
        keys = derive_session_keys(bytes(op.static_key), context)
        role, salt, iterations = op.role, op.salt, op.iterations
    else:
        keys = derive_session_keys(module.random_bytes(32), context)
        role, salt, iterations = Role.NONE, module.enumeration_salt(name), module.config.auth.pbkdf2_iterations
    module.sessions.add(
        Session(
            session_id=session_id,
            operator=name,
            role=role,
            context=context,
            host_to_module=bytearray(keys.host_to_module),
            module_to_host=bytearray(keys.module_to_host),
            proof_key=bytearray(keys.proof),
            created_ns=now,
            last_used_ns=now,
            known_operator=op is not None,
        )
    )
    return ServiceResult(
        {"session_id": session_id, "salt": salt, "iterations": iterations, "module_challenge": module_challenge}
    )


def auth_finish(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    session_id: int = params["session_id"]
    proof: bytes = params["host_proof"]
    sess = module.sessions.get(session_id)
    if sess is None or sess.authenticated:
        raise ServiceError(Status.SESSION_INVALID, "no login in progress with this session id")
    ctx.operator = sess.operator
    now = module.clock.monotonic_ns()
    op = module.operators.get(sess.operator)
    keys = SessionKeys(bytes(sess.host_to_module), bytes(sess.module_to_host), bytes(sess.proof_key))
    expected = host_proof(keys, sess.context)
    if op is None or not hmac.compare_digest(expected, proof):
        module.sessions.close(session_id)
        if op is not None:
            _record_failure(module, op.name, now)
        module.event(AuditEvent.LOGIN_FAILURE, status=Status.AUTH_FAILED, operator=sess.operator, session_id=session_id)
        raise ServiceError(Status.AUTH_FAILED, "authentication failed")
    _check_not_delayed_or_locked(module, op.name, now)
    if op.failures:
        op.failures = 0
        module.operators.save()
    sess.authenticated = True
    sess.last_used_ns = now
    ctx.session, ctx.role = sess, sess.role
    module.event(AuditEvent.LOGIN_SUCCESS, operator=op.name, role=op.role, session_id=session_id)
    return ServiceResult(
        {"module_proof": module_proof(keys, sess.context), "role": int(op.role), "factory_credential": op.factory}
    )


def logout(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    assert ctx.session is not None
    module.sessions.close(ctx.session.session_id)
    return ServiceResult({"closed": True})


def _new_session_id(module: AuthPorts) -> int:
    while True:
        (candidate,) = struct.unpack(">I", module.random_bytes(4))
        if candidate and candidate not in module.sessions:
            return int(candidate)


def _check_not_delayed_or_locked(module: AuthPorts, name: str, now: int) -> None:
    op = module.operators.get(name)
    if op is None:
        return
    policy = module.config.auth
    if op.locked:
        if op.locked_at_ns is None:
            op.locked_at_ns = now  # locked in an earlier boot: the lock period restarts now
        if now - op.locked_at_ns < policy.lockout_s * 1e9:
            raise ServiceError(Status.OPERATOR_LOCKED, "operator locked after repeated failures")
        op.locked, op.failures, op.locked_at_ns = False, 0, None
        module.operators.save()
    if op.last_failure_ns is not None and now - op.last_failure_ns < policy.failure_delay_s * 1e9:
        raise ServiceError(Status.AUTH_DELAYED, f"wait {policy.failure_delay_s:g} s after a failed attempt")


def _record_failure(module: AuthPorts, name: str, now: int) -> None:
    op = module.operators.get(name)
    if op is None:
        return
    op.failures += 1
    op.last_failure_ns = now
    if op.failures >= module.config.auth.lockout_threshold and not op.locked:
        op.locked, op.locked_at_ns = True, now
        module.sessions.close_operator(name)
        module.event(AuditEvent.OPERATOR_LOCKOUT, status=Status.OPERATOR_LOCKED, operator=name, role=op.role)
    module.operators.save()
