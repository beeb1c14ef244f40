"""Login sessions: a bounded table with idle timeouts.

A session is created half-open by AUTH_BEGIN (its keys already agreed by ECDH) and becomes
authenticated only after the host's auth key, sent inside the channel, matches the verifier. Session keys are kept in bytearrays and wiped when the session ends; the
secure channel of the serial protocol uses them for per-message AES-GCM protection.

Two bounds, so neither kind can crowd out the other: authenticated sessions (per operator, and
with slots only a Crypto Officer can take, checked once the role is proved, so the limits say
nothing about an id before its password does) and unfinished logins (for all callers together:
the module tells callers apart only by session; a login that has begun is kept for a guard time
against other ids' logins, so a flood of AUTH_BEGINs is refused rather than the login it follows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from module.wire.defs import Role

__all__ = ["Session", "SessionTable"]


@dataclass
class Session:
    session_id: int
    operator: str
    role: Role
    context: bytes  # the handshake transcript hash TH (module.wire.handshake.transcript_hash)
    host_to_module: bytearray
    module_to_host: bytearray
    confirm_key: bytearray
    digest_key: bytearray  # the key of this session's audit digests (module.wire.audit.digest)
    created_ns: int
    last_used_ns: int
    authenticated: bool = False
    known_operator: bool = True
    factory: bool = False  # logged in with the factory credential: INITIALISE, LOGOUT and public services only
    counters: dict[str, int] = field(default_factory=lambda: {"in": 0, "out": 0})

    def wipe(self) -> None:
        for secret in (self.host_to_module, self.module_to_host, self.confirm_key, self.digest_key):
            secret[:] = bytes(len(secret))


class SessionTable:
    def __init__(self, capacity: int, idle_timeout_ns: int, handshake_timeout_ns: int, *, per_operator: int,
                 officer_reserve: int, max_unfinished: int, login_guard_ns: int) -> None:
        self.capacity = capacity  # authenticated sessions
        self.per_operator = per_operator
        self.officer_reserve = officer_reserve
        self.max_unfinished = max_unfinished  # half-open logins, apart from the sessions
        self.login_guard_ns = login_guard_ns
        self.idle_timeout_ns = idle_timeout_ns
        self.handshake_timeout_ns = handshake_timeout_ns
        self._sessions: dict[int, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_id: int) -> bool:
        return session_id in self._sessions

    def expire(self, now_ns: int) -> list[Session]:
        """Drop sessions idle too long (or half-open too long); returns them for auditing."""
        gone = []
        for sid, sess in list(self._sessions.items()):
            limit = self.idle_timeout_ns if sess.authenticated else self.handshake_timeout_ns
            if now_ns - sess.last_used_ns > limit:
                gone.append(self._sessions.pop(sid))
                sess.wipe()
        return gone

    def make_room(self, now_ns: int) -> Session | bool:
        """Room for one more unfinished login: True if there is a free place; else the oldest
        unfinished login past the guard time, evicted (returned, for the audit), so stale
        logins never lock real operators out; False if every place holds a login younger than
        the guard (the newcomer is refused, not a login that has begun)."""
        pending = [s for s in self._sessions.values() if not s.authenticated]
        if len(pending) < self.max_unfinished:
            return True
        oldest = min(pending, key=lambda s: s.created_ns)
        if now_ns - oldest.created_ns <= self.login_guard_ns:
            return False
        self.close(oldest.session_id)
        return oldest

    def refusal(self, operator: str, role: Role) -> str | None:
        """Why ``operator`` (in ``role``, already proved) may not have one more authenticated
        session now, or None: the table is full, only the Crypto Officers' reserve is left, or
        the operator holds its share."""
        held = [s for s in self._sessions.values() if s.authenticated]
        if len(held) >= self.capacity:
            return f"all {self.capacity} session slots in use"
        if role is not Role.CRYPTO_OFFICER and len(held) >= self.capacity - self.officer_reserve:
            return f"the last {self.officer_reserve} session slot(s) are kept for a Crypto Officer"
        if sum(1 for s in held if s.operator == operator) >= self.per_operator:
            return f"an operator holds at most {self.per_operator} sessions"
        return None

    def add(self, session: Session) -> None:
        self._sessions[session.session_id] = session

    def get(self, session_id: int) -> Session | None:
        return self._sessions.get(session_id)

    def close(self, session_id: int) -> None:
        sess = self._sessions.pop(session_id, None)
        if sess is not None:
            sess.wipe()

    def close_operator(self, operator: str) -> None:
        for sid, sess in list(self._sessions.items()):
            if sess.operator == operator:
                self.close(sid)

    def half_open(self, operator: str) -> list[Session]:
        """The unfinished logins for ``operator`` (at most one while AUTH_BEGIN keeps the rule)."""
        return [s for s in self._sessions.values() if s.operator == operator and not s.authenticated]

    def clear(self) -> None:
        for sid in list(self._sessions):
            self.close(sid)

    def all(self) -> list[Session]:
        return list(self._sessions.values())
