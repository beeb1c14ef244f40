"""Operator management by the Crypto Officer (and password change by the operator)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.errors import ServiceError
from module.services.lifecycle import new_operator
from module.services.auth import prove_current_password
from module.services.context import AuthPorts, CallContext, OperatorPorts
from module.services.registry import ServiceResult
from module.wire.defs import Role, Status


def create(module: OperatorPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    role: Role = params["role"]
    if role is Role.NONE:
        raise ServiceError(Status.INVALID_PARAMETER, "an operator needs a role")
    name: str = params["operator"]
    if module.operators.get(name) is not None:
        raise ServiceError(Status.OPERATOR_EXISTS, f"operator {name!r} exists")
    module.operators.add(new_operator(module, name, role, params["password"]))
    return ServiceResult({"operator": name, "role": int(role)})


def delete(module: OperatorPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    name: str = params["operator"]
    op = module.operators.get(name)
    if op is None:
        raise ServiceError(Status.OPERATOR_NOT_FOUND, f"no operator {name!r}")
    if op.role is Role.CRYPTO_OFFICER and module.operators.count(Role.CRYPTO_OFFICER) == 1:
        raise ServiceError(Status.LAST_CRYPTO_OFFICER, "the module must keep one Crypto Officer")
    module.keys.disown(name)  # first: a later operator with this id must never inherit the keys
    module.operators.remove(name)
    module.sessions.close_operator(name)
    return ServiceResult({"operator": name})


def change_password(module: AuthPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Anyone may change their own password (proving the current one, so a stolen session cannot
    keep the account); only a Crypto Officer may change another's. Either way the operator's
    other sessions are closed."""
    name: str = params.get("operator", ctx.operator)
    if name != ctx.operator and ctx.role is not Role.CRYPTO_OFFICER:
        raise ServiceError(Status.ACCESS_DENIED, "only a Crypto Officer changes another operator's password")
    op = module.operators.get(name)
    if op is None:
        raise ServiceError(Status.OPERATOR_NOT_FOUND, f"no operator {name!r}")
    if name == ctx.operator:
        current = params.get("current_password")
        if current is None:
            raise ServiceError(Status.INVALID_PARAMETER, "changing your own password needs current_password")
        prove_current_password(module, name, current)
    fresh = new_operator(module, name, op.role, params["password"])
    op.wipe()
    op.salt, op.iterations, op.verifier = fresh.salt, fresh.iterations, fresh.verifier
    module.operators.save()
    keep = ctx.session.session_id if ctx.session is not None and name == ctx.operator else None
    for sess in module.sessions.all():
        if sess.operator == name and sess.session_id != keep:
            module.sessions.close(sess.session_id)
    return ServiceResult({"operator": name})


def list_operators(module: OperatorPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    return ServiceResult(
        {
            "operators": [
                {"operator": op.name, "role": int(op.role), "locked": op.locked, "failures": op.failures}
                for op in module.operators.all()
            ]
        }
    )


def unlock(module: OperatorPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    name: str = params["operator"]
    op = module.operators.get(name)
    if op is None:
        raise ServiceError(Status.OPERATOR_NOT_FOUND, f"no operator {name!r}")
    op.locked, op.failures, op.locked_at_ns, op.last_failure_ns = False, 0, None, None
    module.operators.save()
    return ServiceResult({"operator": name})
