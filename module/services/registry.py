"""Types of the service registry: one declaration per service drives everything about it.

A :class:`ServiceSpec` says what a service is (code, name, roles, states, approved or not, SSPs
touched and how, audit category, parameters) and which handler runs it. Dispatch, access
control, parameter checking, the security-policy tables and the lab harness's role matrix all
read the same declarations from :mod:`module.services.catalog`.
"""

from __future__ import annotations

import builtins
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum, unique
from typing import Any

from module.errors import ServiceError
from module.services.context import CallContext, ServicePorts
from module.wire.defs import MAX_PARAM_LEN, Command, Role, SspAccess, State, Status

__all__ = [
    "ParamType",
    "Param",
    "SspUse",
    "AuditCategory",
    "KeyScope",
    "ServiceResult",
    "ServiceSpec",
    "Handler",
    "validate_params",
]


class ParamType(Enum):
    BYTES = "bytes"
    UINT = "uint"
    STR = "str"
    BOOL = "bool"


@unique
class AuditCategory(IntEnum):
    INFORMATION = 1  # status, version
    SELF_TEST = 2
    AUTHENTICATION = 3
    OPERATOR_MANAGEMENT = 4
    KEY_MANAGEMENT = 5
    CRYPTOGRAPHIC = 6
    AUDIT = 7
    LIFE_CYCLE = 8  # initialise, zeroise


@dataclass(frozen=True)
class Param:
    """One request parameter. ``secret`` parameters never enter the audit digest."""

    name: str
    type: ParamType
    required: bool = True
    secret: bool = False
    enum: builtins.type[IntEnum] | None = None
    max_len: int = MAX_PARAM_LEN  # bytes or characters
    min_len: int = 0
    max_value: int = 2**32 - 1
    doc: str = ""

    def check(self, value: object) -> object:
        """Return the value in its internal form or raise INVALID_PARAMETER naming the problem."""
        expected = {
            ParamType.BYTES: (bytes, bytearray),
            ParamType.UINT: (int,),
            ParamType.STR: (str,),
            ParamType.BOOL: (bool,),
        }[self.type]
        if isinstance(value, bool) and self.type is ParamType.UINT:
            raise _bad(self.name, "must be an unsigned integer")
        if not isinstance(value, expected):
            raise _bad(self.name, f"must be {self.type.value}")
        if isinstance(value, (bytes, bytearray, str)) and not self.min_len <= len(value) <= self.max_len:
            raise _bad(self.name, f"length must be {self.min_len}..{self.max_len}")
        if isinstance(value, str) and not self.secret:
            bad = next((c for c in value if _is_control(c)), None)
            if bad is not None:  # ids and labels end up in records, logs and tables: one line each
                raise _bad(self.name, f"contains a control character (U+{ord(bad):04X})")
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= self.max_value:
                raise _bad(self.name, f"must be 0..{self.max_value}")
            if self.enum is not None:
                try:
                    return self.enum(value)
                except ValueError:
                    raise _bad(self.name, f"{value} is not a valid {self.enum.__name__}") from None
        return bytes(value) if isinstance(value, bytearray) else value


def _is_control(char: str) -> bool:
    """C0 (below 0x20), DEL, C1 and the Unicode line and paragraph separators."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _bad(name: str, why: str) -> ServiceError:
    return ServiceError(Status.INVALID_PARAMETER, f"parameter {name!r} {why}")


class KeyScope(Enum):
    """Which stored keys a service reaches for its caller (module/keystore.py has the rule)."""

    NONE = "none"  # names no stored key
    OWN = "own"  # only keys the caller owns; new keys become the caller's
    MANAGE = "own; any for a Crypto Officer"  # see and delete (never use) any key as Crypto Officer


@dataclass(frozen=True)
class SspUse:
    ssp: str
    access: SspAccess


@dataclass
class ServiceResult:
    data: dict[str, Any] = field(default_factory=dict)
    key_ids: tuple[int, ...] = ()
    audit_detail: str = ""  # short non-secret note for the call's record ("acknowledged through 41")
    # False: this call of an approved service used a method outside the approved ones (the spec's
    # not_approved_when says which); the indicator is per call (FIPS 140-3 IG 2.4.C).
    approved: bool = True


# A handler sees only the ports its family declares (module/services/context.py), never the core.
Handler = Callable[[ServicePorts, CallContext, Mapping[str, Any]], ServiceResult]


@dataclass(frozen=True)
class ServiceSpec:
    command: Command
    name: str
    summary: str
    roles: frozenset[Role]  # Role.NONE: callable without a session
    states: frozenset[State]
    approved: bool
    audit_category: AuditCategory
    handler: Handler
    params: tuple[Param, ...] = ()
    ssps: tuple[SspUse, ...] = ()
    allowed_when_audit_full: bool = False  # under the block policy, still served when the ring is full
    # Needed to drain an exhausted ring (status, public key, export, acknowledge): served even
    # when its own record cannot be written (the refusal counter then counts the record).
    drains_audit: bool = False
    audit_records: int = 2  # most records one call writes (its own and its events): room checked first
    key_scope: KeyScope = KeyScope.NONE  # enforced by the handler (services/keys.py own_key, managed_key)
    not_approved_when: str = ""  # the calls of an approved service that answer "not approved", for the policy
    # The factory credential may call it (besides the public services); it may call nothing else.
    factory_credential: bool = False

    @property
    def public(self) -> bool:
        return Role.NONE in self.roles


def validate_params(spec: ServiceSpec, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check params against the declaration. Returns (typed params, non-secret params for the digest)."""
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ServiceError(Status.INVALID_PARAMETER, f"unknown parameter(s) {', '.join(unknown)}")
    typed: dict[str, Any] = {}
    public: dict[str, Any] = {}
    for param in spec.params:
        if param.name not in params:
            if param.required:
                raise _bad(param.name, "is required")
            continue
        typed[param.name] = param.check(params[param.name])
        if not param.secret:
            raw = params[param.name]
            public[param.name] = bytes(raw) if isinstance(raw, bytearray) else raw
    return typed, public
