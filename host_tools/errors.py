"""One exception tree for the host side; device status codes map onto it in one place."""

from __future__ import annotations

from module.wire.defs import Status

__all__ = [
    "CmsimError",
    "TransportError",
    "InvalidResponseError",
    "LineAttackError",
    "IdentityMismatchError",
    "DeviceError",
    "AuthenticationError",
    "AccessDeniedError",
    "ModuleErrorStateError",
    "InvalidStateError",
    "AuditFullError",
    "KeyError_",
    "error_for_status",
]


class CmsimError(Exception):
    """Base of every error the host tools raise."""


class TransportError(CmsimError):
    """The line failed: timeout, closed port, framing."""


class InvalidResponseError(CmsimError):
    """The device answered something the protocol does not allow (e.g. a bad module proof)."""


class LineAttackError(InvalidResponseError):
    """An answer that only someone on the line could have made: a clear reply carrying data inside
    a session, a reflected request, a bad handshake signature or key confirmation, a downgrade."""


class IdentityMismatchError(CmsimError):
    """The device's identity key is not the one pinned for its serial (or the one expected)."""

    def __init__(self, serial: str, expected: str, actual: str) -> None:
        super().__init__(f"device {serial!r} presents identity {actual}, but {expected} is pinned for it: "
                         "possibly an impostor on the line; if the device was really replaced, remove its "
                         "entry from known_devices.json")
        self.serial, self.expected, self.actual = serial, expected, actual


class DeviceError(CmsimError):
    """The device refused or failed a request; ``status`` says why."""

    def __init__(self, status: Status, message: str = "") -> None:
        super().__init__(f"{status.name} (0x{int(status):02x}){': ' + message if message else ''}")
        self.status = status
        self.message = message


class AuthenticationError(DeviceError):
    """Login failed, was delayed, or the operator is locked."""


class AccessDeniedError(DeviceError):
    """No session, or the session's role may not call the service."""


class ModuleErrorStateError(DeviceError):
    """The module is in an error state and outputs nothing but status."""


class InvalidStateError(DeviceError):
    """The service is not available in the module's current state."""


class AuditFullError(DeviceError):
    """The audit ring is full under the block policy: drain it first."""


class KeyError_(DeviceError):
    """A key is missing, of the wrong type, or its attributes forbid the use."""


_BY_STATUS: dict[Status, type[DeviceError]] = {
    Status.AUTH_FAILED: AuthenticationError,
    Status.AUTH_DELAYED: AuthenticationError,
    Status.OPERATOR_LOCKED: AuthenticationError,
    Status.NOT_AUTHENTICATED: AccessDeniedError,
    Status.ACCESS_DENIED: AccessDeniedError,
    Status.SESSION_INVALID: AccessDeniedError,
    Status.MODULE_ERROR: ModuleErrorStateError,
    Status.SELF_TEST_FAILED: ModuleErrorStateError,
    Status.INVALID_STATE: InvalidStateError,
    Status.AUDIT_FULL: AuditFullError,
    Status.KEY_NOT_FOUND: KeyError_,
    Status.KEY_USE_DENIED: KeyError_,
    Status.KEY_NOT_EXPORTABLE: KeyError_,
    Status.KEY_TYPE_MISMATCH: KeyError_,
}


def error_for_status(status: Status, message: str = "") -> DeviceError:
    return _BY_STATUS.get(status, DeviceError)(status, message)
