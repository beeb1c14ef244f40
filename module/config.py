"""The module's configuration: limits and policies fixed when the module is built."""

from __future__ import annotations

from dataclasses import dataclass, field

from module.audit.trail import AuditConfig
from module.operators import AuthPolicy

__all__ = ["ModuleConfig"]


@dataclass(frozen=True)
class ModuleConfig:
    serial: str = "CMSIM-0001"
    # Authenticated sessions: at most max_sessions at once, at most max_sessions_per_operator of
    # one operator, and the last officer_reserved_sessions of them for Crypto Officers only.
    max_sessions: int = 16
    max_sessions_per_operator: int = 8
    officer_reserved_sessions: int = 1
    session_idle_timeout_s: float = 300.0
    # Unfinished logins (AUTH_BEGIN done, AUTH_FINISH not yet): bounded apart from the sessions,
    # for all callers together (the module tells callers apart only by session); each is kept
    # at least login_guard_s against other ids' logins, and ends after handshake_timeout_s.
    max_unfinished_logins: int = 32
    login_guard_s: float = 2.0
    handshake_timeout_s: float = 30.0
    max_keys: int = 1024
    max_random_bytes: int = 4096
    # AES-GCM with random 96-bit IVs: at most 2^32 invocations per key (SP 800-38D 8.3). The count
    # is reserved in flash this many invocations ahead (one key-store write per step); a power
    # cut forfeits the rest of a step rather than ever reusing a count.
    gcm_invocation_limit: int = 2**32
    gcm_reservation_step: int = 4096
    factory_operator: str = "co"
    factory_password: str = "cmsim-factory"
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    drbg_reseed_interval: int = 2**20
    audit: AuditConfig = field(default_factory=AuditConfig)
