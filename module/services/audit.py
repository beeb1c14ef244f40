"""Audit services: public key, paged export, checkpoint, digest-bound acknowledgement, policy.

The trail (:class:`module.audit.trail.AuditTrail`) does the work; these handlers turn its
exceptions into status codes and say in the call's own record what was drained or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.audit.ring import AuditRingExhausted
from module.audit.trail import AckDigestMismatch, AuditKeyMissing, AuditRangeError
from module.errors import ServiceError
from module.services.context import CallContext, AuditPorts
from module.services.registry import ServiceResult
from module.wire.defs import AuditPolicy, Status

MAX_EXPORT_PAGE = 256  # records per AUDIT_EXPORT answer (at most 512 bytes each)


def _no_key() -> ServiceError:
    return ServiceError(Status.INVALID_STATE, "no audit signing key yet: it is made at initialisation")


def public_key(module: AuditPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """The Ed25519 public key and the statement, signed by it, that binds it to this serial."""
    trail = module.trail
    try:
        return ServiceResult({"public_key": trail.public_key(), "statement": trail.key_statement(),
                              "serial": module.config.serial})
    except AuditKeyMissing:
        raise _no_key() from None


def export(module: AuditPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """A page of encoded records from ``from_seq`` (or the oldest retained) with its chain anchor."""
    trail = module.trail
    limit = params.get("max_records", 64)
    start, anchor = trail.anchor(params.get("from_seq", 0))
    records = trail.export(start, limit)
    status = trail.status()
    return ServiceResult(
        {"first_seq": start, "anchor": anchor, "records": records, "next_seq": status.next_seq,
         "oldest_retained": status.oldest_retained},
        audit_detail=f"exported {len(records)} from seq {start}",
    )


def checkpoint(module: AuditPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """A signed checkpoint now, binding the host's nonce (freshness); it is itself a record."""
    trail = module.trail
    try:
        record = trail.checkpoint(params.get("nonce", b""), **module.audit_times(),
                                  session_id=ctx.session.session_id if ctx.session else 0)
    except AuditKeyMissing:
        raise _no_key() from None
    except AuditRingExhausted:
        raise ServiceError(Status.AUDIT_FULL, "audit ring exhausted: acknowledge records first") from None
    seq = trail.status().next_seq - 1
    return ServiceResult({"checkpoint": record, "seq": seq}, audit_detail=f"checkpoint at seq {seq}")


def acknowledge(module: AuditPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Free records through ``seq``, only if the host names the chain hash there and ``seq`` is the
    checkpoint this session asked for with its own nonce (it verified an export through it)."""
    trail = module.trail
    seq: int = params["seq"]
    try:
        trail.acknowledge(seq, params["head"], session_id=ctx.session.session_id if ctx.session else 0)
    except AckDigestMismatch as exc:
        raise ServiceError(Status.AUDIT_DIGEST_MISMATCH, str(exc)) from None
    except AuditRangeError as exc:
        raise ServiceError(Status.INVALID_PARAMETER, str(exc)) from None
    status = trail.status()
    return ServiceResult({"acked_through": seq, "oldest_retained": status.oldest_retained},
                         audit_detail=f"acknowledged through seq {seq}")


def set_policy(module: AuditPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Full-ring policy and high-water mark; kept in flash, bound into every later checkpoint."""
    trail = module.trail
    before = trail.status()
    policy: AuditPolicy = params["policy"]
    permille = params.get("high_water_permille")
    if permille is not None and not 1 <= permille <= 1000:
        raise ServiceError(Status.INVALID_PARAMETER, "parameter 'high_water_permille' must be 1..1000")
    trail.set_policy(policy.name.lower(), None if permille is None else permille / 1000)
    after = trail.status()
    return ServiceResult(
        {"policy": int(policy), "high_water_permille": round(after.high_water * 1000),
         "policy_digest": trail.policy_digest()},
        audit_detail=f"policy {before.policy}->{after.policy}, high water {round(after.high_water * 1000)}/1000",
    )
