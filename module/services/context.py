"""What a service handler may touch: the caller, and per service family the narrow set of ports
and stores it needs. Handlers are typed against these protocols, never against the module core,
so the catalogue and its handlers import nothing that imports them back.

The module core satisfies every protocol here (structurally, checked by mypy where the dispatcher
is built); typed against them, a handler cannot name the power methods, the dispatcher, the lab
hooks or the raw audit sink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from module.audit.trail import AuditTrail
from module.config import ModuleConfig
from module.fsm import Trigger
from module.identity import DeviceIdentity
from module.keystore import KeyStore
from module.operators import OperatorStore
from module.ports import Clock
from module.sessions import Session, SessionTable
from module.wire.defs import AuditEvent, KeyType, Role, State, Status

__all__ = [
    "CallContext",
    "AuditPorts",
    "AuthPorts",
    "InfoPorts",
    "KeyPorts",
    "LifecyclePorts",
    "OperatorPorts",
    "ServicePorts",
]


@dataclass
class CallContext:
    """Who is calling, as far as the module has established it."""

    session: Session | None
    operator: str
    role: Role
    command: int


class _Configured(Protocol):
    @property
    def config(self) -> ModuleConfig: ...


class _Random(Protocol):
    def random_bytes(self, n: int) -> bytes:
        """DRBG output (a failing entropy source raises SelfTestFailure)."""
        ...


class _Events(Protocol):
    def event(
        self,
        code: AuditEvent,
        *,
        status: Status = ...,
        detail: str = ...,
        operator: str = ...,
        role: Role = ...,
        session_id: int = ...,
        key_ids: tuple[int, ...] = ...,
    ) -> None:
        """Record an event in the audit trail (never raises)."""
        ...


class KeyPorts(_Configured, _Random, Protocol):
    """Key management, cryptographic and non-approved services: the key store, the DRBG and the PCT."""

    @property
    def keys(self) -> KeyStore: ...

    def pairwise_consistency(self, key_type: KeyType, private: bytes, public: bytes) -> None:
        """The pairwise consistency test a new key pair passes before it is stored."""
        ...


class OperatorPorts(_Configured, _Random, Protocol):
    """Operator management: the operator store, the sessions an operator change closes and the key
    store, whose keys a deleted operator leaves to no one."""

    @property
    def operators(self) -> OperatorStore: ...

    @property
    def sessions(self) -> SessionTable: ...

    @property
    def keys(self) -> KeyStore: ...


class _Identified(Protocol):
    @property
    def identity(self) -> DeviceIdentity | None:
        """The device identity key (None only before the first power-on made it)."""
        ...


class AuthPorts(OperatorPorts, _Events, _Identified, Protocol):
    """Login and logout: operators, sessions, the identity key that signs the handshake, the clock
    for delays and lockouts, events."""

    @property
    def clock(self) -> Clock: ...

    def enumeration_salt(self, operator: str) -> bytes:
        """The stable fake salt answered for an unknown operator."""
        ...


class LifecyclePorts(OperatorPorts, _Events, Protocol):
    """Initialise and zeroise: the life-cycle flag, the audit key, zeroisation, the state machine."""

    initialised: bool

    @property
    def state(self) -> State: ...

    def provision_audit_key(self) -> None: ...

    def zeroise(self) -> None: ...

    def transition(self, trigger: Trigger, reason: str) -> None:
        """Move the state machine (module/fsm.py) and record the change."""
        ...


class AuditPorts(_Configured, Protocol):
    """Audit services: the hash-chained trail and the times its own records carry."""

    @property
    def trail(self) -> AuditTrail: ...

    def audit_times(self) -> dict[str, int]: ...


class InfoPorts(_Configured, _Identified, Protocol):
    """Status, version, self-test on demand, the identity statement (which names the audit key)."""

    @property
    def trail(self) -> AuditTrail: ...

    @property
    def self_test_ms(self) -> float: ...

    def status_data(self) -> dict[str, Any]: ...

    def run_on_demand_self_test(self) -> bool: ...


class ServicePorts(KeyPorts, AuthPorts, LifecyclePorts, AuditPorts, InfoPorts, Protocol):
    """Everything any handler may use: what the dispatcher hands to every handler."""
