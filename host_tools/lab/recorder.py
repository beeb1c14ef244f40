"""A recording transport: every request the harness sends, with what it expects the trail to say.

It sits between :class:`host_tools.client.Client` and the wire transport, so logins, typed calls
and raw calls all pass through it. Each logical request (a retransmission is the same request) is
one :class:`CallRecord`: command, session, the operator and role the session belongs to, the
answer's status and indicator, and the request and response digests the module's record must
carry (``module.wire.audit.digest``: keyed by the session's digest key, which this transport
learns at each login's ``bind_session``, as only the host that logged in can; secret parameters
left out; as ``docs/audit-format.md`` describes). The audit step matches these against the
exported trail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from host_tools.errors import CmsimError
from module.wire.defs import Command, Role, Status
from module.wire.handshake import SessionKeys
from module.wire.messages import Reply
from module.wire.audit.digest import call_digests

__all__ = ["CallRecord", "RecordingTransport", "command_name"]


def command_name(code: int) -> str:
    try:
        return Command(code).name
    except ValueError:
        return f"0x{code:02x}"


@dataclass
class CallRecord:
    index: int
    command: int
    session_id: int
    operator: str | None  # None: not predicted (see RecordingTransport.call)
    role: Role | None
    status: Status | None  # None: no answer (transport failure)
    approved: bool
    request_digest: bytes | None
    response_digest: bytes | None
    step: str
    at: float

    def describe(self) -> str:
        who = self.operator if self.operator else "no session"
        status = self.status.name if self.status is not None else "no answer"
        return f"request #{self.index} {command_name(self.command)} ({who}, session {self.session_id:#x}) -> {status}"


class RecordingTransport:
    """A :class:`host_tools.client.CallTransport` that records every call before passing it on."""

    def __init__(self, inner: Any, secret_params: Mapping[int, frozenset[str]], public: frozenset[int]) -> None:
        self.inner = inner
        self.secret_params = secret_params
        self.public = public  # codes of the services callable without a session (unkeyed digests)
        self.digest_keys: dict[int, bytes] = {}  # session id -> its digest key, from bind_session
        self.calls: list[CallRecord] = []
        self.sessions: dict[int, tuple[str, Role]] = {}
        self.step = ""
        self._login: str | None = None  # operator of the login in progress (AUTH_BEGIN/AUTH_FINISH)
        self.on_call: Callable[[CallRecord], None] | None = None

    # ----------------------------------------------------------- recording
    def expect_login(self, operator: str) -> None:
        self._login = operator

    def name_session(self, session_id: int, operator: str, role: Role) -> None:
        self.sessions[session_id] = (operator, role)

    def _digests(self, command: int, session_id: int, params: Mapping[str, Any],
                 data: Mapping[str, Any]) -> tuple[bytes | None, bytes | None]:
        """The digests the module's record must carry; None for a session this host has no key of."""
        key = self.digest_keys.get(session_id) if session_id else None
        if session_id and key is None:
            return None, None
        secret = self.secret_params.get(command, frozenset())
        return call_digests(key, command in self.public, {k: v for k, v in params.items() if k not in secret}, data)

    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
        operator: str | None
        role: Role | None
        if session_id:
            operator, role = self.sessions.get(session_id, (None, None))
        else:
            operator, role = "", Role.NONE
        record = CallRecord(len(self.calls), int(command), session_id, operator, role, None, False,
                            self._digests(command, session_id, params, {})[0], None, self.step, time.monotonic())
        self.calls.append(record)
        try:
            reply = self.inner.call(command, params, session_id)
        except CmsimError:
            raise
        record.status, record.approved = reply.status, reply.approved
        record.response_digest = self._digests(command, session_id, params, reply.data)[1]
        if command == Command.AUTH_FINISH and session_id not in self.sessions:
            # The module records a finished login against the operator who logged in (and, on
            # success, the role and the new session); a failed one against the operator, role NONE.
            record.operator = self._login
            record.role = Role(int(reply.data.get("role", 0))) if reply.status is Status.OK else Role.NONE
            self._login = None
        elif reply.status is Status.SESSION_INVALID and session_id:
            record.operator, record.role = "", Role.NONE  # the module no longer knows the session
        if self.on_call is not None:
            self.on_call(record)
        return reply

    def note(self, command: int, session_id: int, reply: Reply, *, live: bool) -> CallRecord:
        """A request the harness put on the line itself (a retransmit or a stale frame), so the
        trail's record of its refusal has its request. ``live``: the module still holds the
        session (recorded against its operator); otherwise no operator. Digests are not predicted."""
        operator, role = self.sessions.get(session_id, (None, None)) if live else ("", Role.NONE)
        record = CallRecord(len(self.calls), int(command), session_id, operator, role, reply.status, reply.approved,
                            None, None, self.step, time.monotonic())
        self.calls.append(record)
        if self.on_call is not None:
            self.on_call(record)
        return record

    # ------------------------------------------------------ pass-through
    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        self.digest_keys[session_id] = keys.digest
        self.inner.bind_session(session_id, keys)

    def unbind_session(self, session_id: int) -> None:
        self.inner.unbind_session(session_id)

    def close(self) -> None:
        self.inner.close()
