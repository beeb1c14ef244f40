"""Login (ECDH key establishment signed by the device identity, then the auth key inside the
channel, checked against the stored verifier), logout, and the failed-attempt policy."""

from __future__ import annotations

import hmac
import struct
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from module.errors import ServiceError
from module.operators import Decoy, Operator
from module.services.context import CallContext, AuthPorts
from module.services.registry import ServiceResult
from module.sessions import Session
from module.wire.defs import AuditEvent, Role, Status
from module.wire.handshake import (
    EPHEMERAL_RANDOM_SIZE,
    NONCE_SIZE,
    SessionKeys,
    derive_auth_key,
    derive_session_keys,
    ephemeral_from_random,
    module_confirm,
    shared_secret,
    transcript_hash,
    verifier_of,
)


def auth_begin(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Open a half-open session with agreed keys. Unknown operators get the same flow (no enumeration)."""
    name: str = params["operator"]
    host_ephemeral: bytes = params["host_ephemeral"]
    host_nonce: bytes = params["host_nonce"]
    if module.identity is None:
        raise ServiceError(Status.INVALID_STATE, "the device has no identity key yet")
    ephemeral = ephemeral_from_random(module.random_bytes(EPHEMERAL_RANDOM_SIZE))
    try:
        z = shared_secret(ephemeral, host_ephemeral)
    except ValueError:
        raise ServiceError(Status.INVALID_PARAMETER, "host_ephemeral is not a P-256 point") from None
    for earlier in module.sessions.half_open(name):  # one half-open login per id: the newer replaces it
        module.sessions.close(earlier.session_id)
        module.event(AuditEvent.SESSION_EXPIRED, operator=name, session_id=earlier.session_id,
                     detail="unfinished login replaced by a newer one")
    now = module.clock.monotonic_ns()
    room = module.sessions.make_room(now)
    if room is False:
        raise ServiceError(Status.SESSION_LIMIT, f"all {module.sessions.max_unfinished} unfinished logins are "
                           f"younger than {module.config.login_guard_s:g} s: retry later")
    if isinstance(room, Session):
        module.event(AuditEvent.SESSION_EXPIRED, operator=room.operator, session_id=room.session_id,
                     detail="unfinished login evicted")
    op = module.operators.get(name)
    if op is not None:
        role, salt, iterations = op.role, op.salt, op.iterations
    else:
        role, salt, iterations = Role.NONE, module.enumeration_salt(name), _decoy_iterations(module, name)
    session_id = _new_session_id(module)
    module_nonce = module.random_bytes(NONCE_SIZE)
    module_ephemeral = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    th = transcript_hash(module.config.serial, name, session_id, host_ephemeral, host_nonce,
                         module_ephemeral, module_nonce, salt, iterations)
    keys = derive_session_keys(z, th)
    module.sessions.add(
        Session(
            session_id=session_id,
            operator=name,
            role=role,
            context=th,
            host_to_module=bytearray(keys.host_to_module),
            module_to_host=bytearray(keys.module_to_host),
            confirm_key=bytearray(keys.confirm),
            digest_key=bytearray(keys.digest),
            created_ns=now,
            last_used_ns=now,
            known_operator=op is not None,
        )
    )
    return ServiceResult({"session_id": session_id, "module_ephemeral": module_ephemeral, "module_nonce": module_nonce,
                          "salt": salt, "iterations": iterations, "signature": module.identity.sign(th)})


def auth_finish(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """The auth key, received inside the half-open session's channel, against the stored verifier."""
    auth_key: bytes = params["auth_key"]
    sess = ctx.session
    if sess is None or sess.authenticated:
        raise ServiceError(Status.SESSION_INVALID, "no login in progress with this session id")
    session_id = sess.session_id
    ctx.operator = sess.operator
    now = module.clock.monotonic_ns()
    op = module.operators.get(sess.operator)
    stale = op is not None and (op.failures > 0 or op.locked)  # what a success must clear in flash
    # Delay and lock first, before the auth key is looked at, and every failure answers alike:
    # the answer never says whether a guess made within the delay (or while locked) was right.
    refusal = _delayed_or_locked(module, sess.operator, now)
    if refusal is not None:
        _fail(module, sess, refusal)
    candidate = verifier_of(auth_key)
    if op is None or not hmac.compare_digest(candidate, bytes(op.verifier)):
        _fail(module, sess, "wrong auth key", locked=_record_failure(module, sess.operator, now))
    if stale:
        op.failures, op.locked, op.locked_at_ns = 0, False, None
        module.operators.save()
    full = module.sessions.refusal(op.name, op.role)  # only now: the limits say nothing before the proof
    if full is not None:
        module.sessions.close(session_id)
        raise ServiceError(Status.SESSION_LIMIT, full)
    sess.authenticated = True
    sess.factory = op.factory
    sess.last_used_ns = now
    ctx.role = sess.role
    module.event(AuditEvent.LOGIN_SUCCESS, operator=op.name, role=op.role, session_id=session_id)
    keys = SessionKeys(bytes(sess.host_to_module), bytes(sess.module_to_host), bytes(sess.confirm_key),
                       bytes(sess.digest_key))
    return ServiceResult(
        {"role": int(op.role), "factory_credential": op.factory, "module_confirm": module_confirm(keys, sess.context)}
    )


def prove_current_password(module: AuthPorts, name: str, password: str) -> None:
    """An operator's own password change proves the current password, as a login attempt would:
    delay and lock checked first, a wrong one counted as a failure, every failure AUTH_FAILED."""
    now = module.clock.monotonic_ns()
    op = module.operators.get(name)
    reason = _delayed_or_locked(module, name, now)
    if reason is None and op is not None:
        candidate = verifier_of(derive_auth_key(password, op.salt, op.iterations))
        if hmac.compare_digest(candidate, bytes(op.verifier)):
            return  # the change that follows saves the table, and with it what the check cleared
        locked = _record_failure(module, name, now)
        reason = "wrong current password"
    else:
        locked = False
    module.operators.save()  # once, for every failure alike (see _fail)
    code, status = _failure_event(locked)
    module.event(code, status=status, operator=name, role=op.role if locked and op is not None else Role.NONE,
                 detail=reason or "no operator")
    raise ServiceError(Status.AUTH_FAILED, "the current password is not right")


def logout(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    assert ctx.session is not None
    module.sessions.close(ctx.session.session_id)
    return ServiceResult({"closed": True})


def _new_session_id(module: AuthPorts) -> int:
    while True:
        (candidate,) = struct.unpack(">I", module.random_bytes(4))
        if candidate and candidate not in module.sessions:
            return int(candidate)


def _fail(module: AuthPorts, sess: Session, reason: str, *, locked: bool = False) -> NoReturn:
    """Close the half-open login and answer AUTH_FAILED; only the audit record says why.

    Every failure does the same flash work, whether the guess was evaluated or refused (delayed,
    locked), whether the id is known or not, and whether it locks the id or not: one rewrite of
    the operator table (with what the check changed, e.g. a lock restarted after a power cycle,
    or as it was) and one audit record, an OPERATOR_LOCKOUT in place of the LOGIN_FAILURE when
    this failure locked the id (known or unknown)."""
    module.operators.save()
    module.sessions.close(sess.session_id)
    code, status = _failure_event(locked)
    module.event(code, status=status, operator=sess.operator, role=sess.role if locked else Role.NONE,
                 session_id=sess.session_id, detail=reason)
    raise ServiceError(Status.AUTH_FAILED, "authentication failed")


def _failure_event(locked: bool) -> tuple[AuditEvent, Status]:
    """How a failed attempt is recorded: as the lockout when it locked the id (one record either
    way, so a locking failure writes no more than any other)."""
    if locked:
        return AuditEvent.OPERATOR_LOCKOUT, Status.OPERATOR_LOCKED
    return AuditEvent.LOGIN_FAILURE, Status.AUTH_FAILED


def _decoy_iterations(module: AuthPorts, name: str) -> int:
    """The iteration count an unknown id announces: a known operator's, picked by the id's keyed
    tag (stable per id), so the counts unknown ids announce are the counts known ids announce."""
    known = module.operators.all()
    if not known:
        return module.config.auth.pbkdf2_iterations
    tag = module.enumeration_salt(name)
    return known[int.from_bytes(tag[:4], "big") % len(known)].iterations


def _attempts(module: AuthPorts, name: str) -> Operator | Decoy:
    """Where ``name``'s failed attempts are counted: the operator, or the decoy of an unknown id."""
    op = module.operators.get(name)
    return op if op is not None else module.operators.decoy(module.enumeration_salt(name))


def _never_locked(module: AuthPorts, name: str) -> bool:
    """Whether ``name`` is a Crypto Officer with no other Crypto Officer unlocked: locking it would
    leave no one to unlock anyone, so it gets only the escalating delay (which alone keeps the
    FIPS 140-3 bound, section 4.2 of the policy)."""
    op = module.operators.get(name)
    return op is not None and op.role is Role.CRYPTO_OFFICER and not any(
        other.role is Role.CRYPTO_OFFICER and not other.locked and other.name != name
        for other in module.operators.all())


def _delayed_or_locked(module: AuthPorts, name: str, now: int) -> str | None:
    """Why no auth key may be evaluated for ``name`` now (locked, or within the failure delay), or
    None. What it changes (a lock ended or lifted) is in memory only: the caller saves it once."""
    op = _attempts(module, name)
    policy = module.config.auth
    if op.locked and _never_locked(module, name):
        # locked while another officer was unlocked, and that one is gone or locked since
        op.locked, op.locked_at_ns = False, None
    if op.locked:
        if op.locked_at_ns is None:
            op.locked_at_ns = now  # locked in an earlier boot: the lock period restarts now
        if now - op.locked_at_ns < policy.lockout_s * 1e9:
            return "operator locked after repeated failures"
        op.locked, op.failures, op.locked_at_ns = False, 0, None
    delay = policy.delay_after(op.failures)
    if op.last_failure_ns is None and op.failures >= policy.lockout_threshold:
        op.last_failure_ns = now  # escalated in an earlier boot: the delay restarts now
        return f"within {delay:g} s of power-on after repeated failures"
    if op.last_failure_ns is not None and now - op.last_failure_ns < delay * 1e9:
        return f"within {delay:g} s of a failed attempt"
    return None


def _record_failure(module: AuthPorts, name: str, now: int) -> bool:
    """Count a failure, for a known id or an unknown one alike, in memory: the caller saves the
    operator table once (an unknown id's count is not stored, but the table is rewritten all the
    same) and records the failure. True when this failure locked the id."""
    op = _attempts(module, name)
    op.failures += 1
    op.last_failure_ns = now
    if op.failures >= module.config.auth.lockout_threshold and not op.locked and not _never_locked(module, name):
        op.locked, op.locked_at_ns = True, now
        if isinstance(op, Operator):
            module.sessions.close_operator(name)
        return True
    return False
