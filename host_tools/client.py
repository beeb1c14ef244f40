"""The host client: login and service calls over any transport that carries one call at a time.

This layer knows the published wire format (``module.wire``) and nothing of the module's
internals; the serial transport and the in-process transport both plug in underneath.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from host_tools.api import SessionServices
from host_tools.errors import CmsimError, DeviceError, LineAttackError, error_for_status
from host_tools.known_devices import KnownDevices
from module.wire.defs import Command, Role, Status
from module.wire.handshake import (
    HOST_MIN_ITERATIONS,
    NONCE_SIZE,
    SessionKeys,
    derive_auth_key,
    derive_session_keys,
    fingerprint,
    identity_statement,
    module_confirm,
    shared_secret,
    transcript_hash,
)
from module.wire.messages import Reply

__all__ = ["Reply", "CallTransport", "Client", "OperatorSession", "CheckedIdentity"]

log = logging.getLogger(__name__)


class CallTransport(Protocol):
    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply: ...

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        """At AUTH_BEGIN's answer: the session's keys, for a transport that protects its messages."""
        ...

    def unbind_session(self, session_id: int) -> None: ...


@dataclass(frozen=True)
class CheckedIdentity:
    """What the device's IDENTITY answer says, after its signature and the pin were checked."""

    serial: str
    public_key: bytes
    fingerprint: str
    audit_public_key: bytes
    lab_mode: bool
    newly_pinned: bool
    signature: bytes = b""  # the identity key's signature over (serial, audit key, lab flag)


def _verify(public_key: bytes, signature: bytes, data: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        raise LineAttackError(f"the {what} is not signed by the device's identity key") from None


class Client:
    """Calls and logins over one transport.

    ``known_devices`` is the pin store (default: ``$CMSIM_HOME/known_devices.json``);
    ``expect_fingerprint`` pins explicitly (a device with another identity is refused);
    ``min_iterations`` is the lowest PBKDF2 count a login accepts (a lower one is a downgrade);
    default ``CMSIM_MIN_ITERATIONS`` from the environment, else 100,000 (the module's default).
    """

    def __init__(self, transport: CallTransport, *, known_devices: KnownDevices | None = None,
                 expect_fingerprint: str | None = None, min_iterations: int | None = None) -> None:
        self.transport = transport
        self.known_devices = known_devices if known_devices is not None else KnownDevices()
        self.expect_fingerprint = expect_fingerprint
        if min_iterations is None:
            min_iterations = int(os.environ.get("CMSIM_MIN_ITERATIONS") or HOST_MIN_ITERATIONS)
        self.min_iterations = min_iterations
        self._identity: CheckedIdentity | None = None

    def call(self, command: Command, params: Mapping[str, Any] | None = None, session_id: int = 0) -> Reply:
        """One call; a refusal raises the DeviceError subclass for its status."""
        reply = self.transport.call(int(command), dict(params or {}), session_id)
        if reply.status is not Status.OK:
            raise error_for_status(reply.status, reply.message)
        return reply

    def status(self) -> dict[str, Any]:
        return self.call(Command.GET_STATUS).data

    def identity(self, *, refresh: bool = False) -> CheckedIdentity:
        """The device's identity, its statement's signature checked and its fingerprint checked
        against the pin (pinned on first contact); an impostor raises IdentityMismatchError."""
        if self._identity is not None and not refresh:
            return self._identity
        d = self.call(Command.IDENTITY).data
        serial, public_key = str(d["serial"]), bytes(d["identity_public_key"])
        audit_key, lab_mode = bytes(d["audit_public_key"]), bool(d["lab_mode"])
        _verify(public_key, bytes(d["signature"]), identity_statement(serial, audit_key, lab_mode), "identity statement")
        fp = fingerprint(public_key)
        newly = self.known_devices.check(serial, fp, self.expect_fingerprint)
        self._identity = CheckedIdentity(serial, public_key, fp, audit_key, lab_mode, newly, bytes(d["signature"]))
        return self._identity

    def login(self, operator: str, password: str) -> OperatorSession:
        """ECDH with the device, checked against its pinned identity before the password is used;
        the auth key then travels inside the new session only."""
        device = self.identity()
        host_private = ec.generate_private_key(ec.SECP256R1())
        host_ephemeral = host_private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        host_nonce = os.urandom(NONCE_SIZE)
        try:
            begin = self.call(Command.AUTH_BEGIN, {"operator": operator, "host_ephemeral": host_ephemeral,
                                                   "host_nonce": host_nonce}).data
        except DeviceError as exc:
            log.info("login as %s refused: %s", operator, exc.status.name)
            raise
        session_id, iterations = int(begin["session_id"]), int(begin["iterations"])
        salt, module_ephemeral = bytes(begin["salt"]), bytes(begin["module_ephemeral"])
        th = transcript_hash(device.serial, operator, session_id, host_ephemeral, host_nonce, module_ephemeral,
                             bytes(begin["module_nonce"]), salt, iterations)
        _verify(device.public_key, bytes(begin["signature"]), th, "login handshake")
        if iterations < self.min_iterations:
            raise LineAttackError(f"the device announced {iterations} PBKDF2 iterations, below this host's "
                                  f"minimum of {self.min_iterations} (a downgrade)")
        try:
            keys = derive_session_keys(shared_secret(host_private, module_ephemeral), th)
        except ValueError:
            raise LineAttackError("the device's ephemeral key is not a P-256 point") from None
        self.transport.bind_session(session_id, keys)
        try:
            finish = self.call(Command.AUTH_FINISH, {"auth_key": derive_auth_key(password, salt, iterations)},
                               session_id).data
            if not hmac.compare_digest(bytes(finish["module_confirm"]), module_confirm(keys, th)):
                log.warning("login as %s: the device's key confirmation does not match (session %d)",
                            operator, session_id)
                raise LineAttackError("the device's key confirmation does not match")
        except DeviceError as exc:
            self.transport.unbind_session(session_id)
            log.info("login as %s refused: %s", operator, exc.status.name)
            raise
        except BaseException:
            self.transport.unbind_session(session_id)
            raise
        role = Role(finish["role"])
        log.info("logged in as %s (session %d, role %s)", operator, session_id, role.name)
        return OperatorSession(self, session_id, operator, role, digest_key=keys.digest)


# Services after whose success the module holds no session at all (the factory credential is
# replaced, or every SSP is gone), so there is nothing left to log out of.
ENDS_ALL_SESSIONS = frozenset({Command.INITIALISE, Command.ZEROISE})


class OperatorSession(SessionServices):
    """One operator's logged-in session on the host (the device keeps its own, module/sessions.py); use it
    as a context manager so it is always logged out.

    ``digest_key`` is the session's audit digest key, kept after logout: with it this host (and only
    a holder of it) recomputes its calls' digests in an exported trail (host_tools/audit_digest.py)."""

    def __init__(self, client: Client, session_id: int, operator: str, role: Role, *, digest_key: bytes) -> None:
        self.client = client
        self.session_id = session_id
        self.operator = operator
        self.role = role
        self.digest_key = digest_key
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
            except DeviceError as exc:
                # A LOGOUT whose answer was lost is retransmitted to a session the device has closed:
                # SESSION_INVALID then means what the host asked for (the keys are dropped either way).
                if exc.status is not Status.SESSION_INVALID:
                    raise
                log.info("session %d of %s was already closed on the device", self.session_id, self.operator)
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
