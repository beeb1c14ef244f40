"""Life-cycle services: initialise into the approved mode, zeroise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.errors import ServiceError
from module.fsm import Trigger
from module.operators import Operator, check_password_policy
from module.services.context import CallContext, LifecyclePorts, OperatorPorts
from module.services.registry import ServiceResult
from module.wire.defs import AuditEvent, Role, Status
from module.wire.handshake import SALT_SIZE, derive_auth_key, verifier_of


def new_operator(module: OperatorPorts, name: str, role: Role, password: str) -> Operator:
    """Check the credential policy and derive the stored verifier (neither password nor auth key is kept)."""
    check_password_policy(password, module.config.auth, module.config.factory_password)
    salt = module.random_bytes(SALT_SIZE)
    iterations = module.config.auth.pbkdf2_iterations
    verifier = verifier_of(derive_auth_key(password, salt, iterations))
    return Operator(name, role, salt, iterations, bytearray(verifier))


def initialise(module: LifecyclePorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """The factory Crypto Officer names the first real Crypto Officer; the factory account goes."""
    factory = module.operators.get(ctx.operator)
    if factory is None or not factory.factory:
        raise ServiceError(Status.ACCESS_DENIED, "only the factory Crypto Officer initialises the module")
    name: str = params["operator"]
    if module.operators.get(name) is not None and name != factory.name:
        raise ServiceError(Status.OPERATOR_EXISTS, f"operator {name!r} exists")
    officer = new_operator(module, name, Role.CRYPTO_OFFICER, params["password"])
    module.operators.remove(factory.name)
    module.operators.add(officer)
    module.sessions.clear()
    module.initialised = True
    module.provision_audit_key()
    module.transition(Trigger.INITIALISE, f"initialised by {officer.name}")
    return ServiceResult({"operator": officer.name, "state": int(module.state)})


def zeroise(module: LifecyclePorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Overwrite every SSP; the module then waits for a power cycle, which brings the factory state."""
    module.zeroise()
    module.event(AuditEvent.ZEROISATION, operator=ctx.operator, role=ctx.role, detail="all SSPs zeroised")
    module.transition(Trigger.ZEROISE, f"zeroised by {ctx.operator}")
    return ServiceResult({"zeroised": True})
