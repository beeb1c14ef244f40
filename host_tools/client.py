"""The host client: login and service calls over any transport that carries one call at a time.

This layer knows the published wire format (``module.wire``) and nothing of the module's
internals; the serial transport and the in-process transport both plug in underneath.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from host_tools.api import SessionServices
from host_tools.errors import CmsimError, DeviceError, InvalidResponseError, error_for_status
from module.wire.defs import Command, Role, Status
from module.wire.messages import Reply
from module.wire.handshake import (
    CHALLENGE_SIZE,
    SessionKeys,
    derive_session_keys,
    derive_static_key,
    host_proof,
    module_proof,
    transcript,
)

__all__ = ["Reply", "CallTransport", "Client", "OperatorSession"]

log = logging.getLogger(__name__)


class CallTransport(Protocol):
    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply: ...

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        """After a login: the session's keys, for a transport that protects its messages."""
        ...

    def unbind_session(self, session_id: int) -> None: ...


class Client:
    def __init__(self, transport: CallTransport) -> None:
        self.transport = transport

    def call(self, command: Command, params: Mapping[str, Any] | None = None, session_id: int = 0) -> Reply:
        """One call; a refusal raises the DeviceError subclass for its status."""
        reply = self.transport.call(int(command), dict(params or {}), session_id)
        if reply.status is not Status.OK:
            raise error_for_status(reply.status, reply.message)
        return reply

    def status(self) -> dict[str, Any]:
        return self.call(Command.GET_STATUS).data

    def login(self, operator: str, password: str) -> OperatorSession:
        """Mutual challenge-response: the password never leaves this process."""
        host_challenge = os.urandom(CHALLENGE_SIZE)
        try:
            begin = self.call(Command.AUTH_BEGIN, {"operator": operator, "host_challenge": host_challenge}).data
            session_id = int(begin["session_id"])
            context = transcript(operator, session_id, host_challenge, begin["module_challenge"])
            static_key = derive_static_key(password, begin["salt"], int(begin["iterations"]))
            keys = derive_session_keys(static_key, context)
            finish = self.call(
                Command.AUTH_FINISH, {"session_id": session_id, "host_proof": host_proof(keys, context)}
            ).data
        except DeviceError as exc:
            log.info("login as %s refused: %s", operator, exc.status.name)
            raise
        if not hmac.compare_digest(finish["module_proof"], module_proof(keys, context)):
            log.warning("login as %s: the module's proof does not verify (session %d)", operator, session_id)
            raise InvalidResponseError("the module failed to prove knowledge of the operator's key")
        self.transport.bind_session(session_id, keys)
        role = Role(finish["role"])
        log.info("logged in as %s (session %d, role %s)", operator, session_id, role.name)
        return OperatorSession(self, session_id, operator, role)


# Services after whose success the module holds no session at all (the factory credential is
# replaced, or every SSP is gone), so there is nothing left to log out of.
ENDS_ALL_SESSIONS = frozenset({Command.INITIALISE, Command.ZEROISE})


class OperatorSession(SessionServices):
    """One operator's logged-in session on the host (the device keeps its own, module/sessions.py); use it
    as a context manager so it is always logged out."""

    def __init__(self, client: Client, session_id: int, operator: str, role: Role) -> None:
        self.client = client
        self.session_id = session_id
        self.operator = operator
        self.role = role
        self.open = True

    def call(self, command: Command, params: Mapping[str, Any] | None = None) -> Reply:
        reply = self.client.call(command, params, self.session_id)
        if command in ENDS_ALL_SESSIONS:
            self.open = False  # the module closed every session, this one included
            self.client.transport.unbind_session(self.session_id)
            log.info("session %d of %s ended by %s", self.session_id, self.operator, command.name)
        return reply

    def logout(self) -> None:
        if self.open:
            self.open = False
            try:
                self.client.call(Command.LOGOUT, {}, self.session_id)
            finally:
                self.client.transport.unbind_session(self.session_id)
            log.info("logged out %s (session %d)", self.operator, self.session_id)

    def __enter__(self) -> OperatorSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.open:
            try:
                self.logout()
            except CmsimError:  # closing must not mask the error that ended the block
                if exc is None:
                    raise
