"""One device as one PKCS#11 slot and token: the calls, translated into the device's services.

Each RPC connection is one application (its own login and sessions, as a process is to a real
token). Every PKCS#11 call that needs the device makes one service call (C_FindObjectsInit: KEY_LIST,
plus KEY_ATTRIBUTES for a key not yet seen when the template asks more than class, key type, label or
id), so each lands in the module's audit trail under the logged-in operator. Calls answered from what
the token already knows (slot, token and mechanism info, size queries, C_*Init) reach no device.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from host_tools.api import Ciphertext, KeyInfo
from host_tools.client import Client, OperatorSession
from host_tools.errors import DeviceError, TransportError
from host_tools.pkcs11.codec import Attribute, GcmParams, Mechanism
from host_tools.pkcs11.constants import CKA, CKF, CKK, CKM, CKO, CKR, CKS, CKU
from host_tools.pkcs11.objects import (
    CURVE_OIDS,
    ECDSA_SIZES,
    KEY_TYPES,
    MECHANISMS,
    MechanismSpec,
    P11Error,
    attributes_of,
    key_id_bytes,
    lookup,
    object_handles,
    split_handle,
)
from module.wire.defs import Command, KeyType, KeyUse, Role, State, Status

__all__ = ["DeviceLink", "Application", "SLOT_ID", "ckr_for"]

log = logging.getLogger(__name__)
T = TypeVar("T")

SLOT_ID = 1
GCM_IV = 12
GCM_TAG = 16

# Device refusals as PKCS#11 return codes.
_CKR_FOR_STATUS = {
    Status.INVALID_PARAMETER: CKR.ARGUMENTS_BAD,
    Status.INVALID_STATE: CKR.DEVICE_ERROR,
    Status.MODULE_ERROR: CKR.DEVICE_ERROR,
    Status.NOT_AUTHENTICATED: CKR.USER_NOT_LOGGED_IN,
    Status.ACCESS_DENIED: CKR.USER_NOT_LOGGED_IN,
    Status.AUTH_FAILED: CKR.PIN_INCORRECT,
    Status.AUTH_DELAYED: CKR.FUNCTION_FAILED,  # too soon after a failed login: retry in a moment
    Status.OPERATOR_LOCKED: CKR.PIN_LOCKED,
    Status.SESSION_INVALID: CKR.USER_NOT_LOGGED_IN,
    Status.SESSION_LIMIT: CKR.SESSION_COUNT,
    Status.CREDENTIAL_REJECTED: CKR.PIN_INVALID,
    Status.KEY_NOT_FOUND: CKR.OBJECT_HANDLE_INVALID,
    Status.KEY_USE_DENIED: CKR.KEY_FUNCTION_NOT_PERMITTED,
    Status.KEY_NOT_EXPORTABLE: CKR.KEY_UNEXTRACTABLE,
    Status.KEY_TYPE_MISMATCH: CKR.KEY_TYPE_INCONSISTENT,
    Status.KEYSTORE_FULL: CKR.DEVICE_MEMORY,
    Status.DECRYPT_FAILED: CKR.ENCRYPTED_DATA_INVALID,
    Status.INVALID_KEY_DATA: CKR.ARGUMENTS_BAD,
    Status.AUDIT_FULL: CKR.DEVICE_MEMORY,
}


def ckr_for(exc: Exception) -> int:
    if isinstance(exc, P11Error):
        return exc.rv
    if isinstance(exc, DeviceError):
        return _CKR_FOR_STATUS.get(exc.status, CKR.DEVICE_ERROR)
    if isinstance(exc, TransportError):
        return CKR.DEVICE_REMOVED
    return CKR.GENERAL_ERROR


class DeviceLink:
    """The device behind the token: one line, so one call at a time, shared by every connection."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.gone = False
        version = self.run(lambda: client.call(Command.GET_VERSION).data)
        self.serial = str(version.get("serial", ""))
        self.model = str(version.get("module", version.get("name", "cmsim")))
        self.firmware = str(version.get("version", "0.0"))
        self.state = State(int(self.run(lambda: client.call(Command.GET_STATUS).data)["state"]))

    def run(self, call: Callable[[], T]) -> T:
        """One device call; a dead line marks the device gone (CKR_DEVICE_REMOVED from then on)."""
        if self.gone:
            raise P11Error(CKR.DEVICE_REMOVED, "the device went away")
        with self.lock:
            try:
                return call()
            except TransportError:
                self.gone = True
                raise P11Error(CKR.DEVICE_REMOVED, "the device went away") from None

    def login(self, operator: str, password: str) -> OperatorSession:
        """The one place the token logs in (the host driver's handshake, whatever its version)."""
        return self.run(lambda: self.client.login(operator, password))


@dataclass
class Operation:
    kind: str  # sign, verify, digest, encrypt, decrypt
    mechanism: int
    key: KeyInfo | None = None
    data: bytearray = field(default_factory=bytearray)
    aad: bytes = b""


@dataclass
class Session:
    handle: int
    flags: int
    find: list[int] | None = None
    ops: dict[str, Operation] = field(default_factory=dict)


def _firmware_version(text: str) -> tuple[int, int]:
    parts = [int(p) if p.isdigit() else 0 for p in text.split(".")[:2]] + [0, 0]
    return parts[0] & 0xFF, parts[1] & 0xFF


class Application:
    """One connected PKCS#11 application: C_Initialize .. C_Finalize."""

    def __init__(self, link: DeviceLink) -> None:
        self.link = link
        self.initialized = False
        self.sessions: dict[int, Session] = {}
        self._next_session = 1
        self.login_session: OperatorSession | None = None
        self.user_type: int | None = None
        self.keys: dict[int, KeyInfo] = {}

    # ------------------------------------------------------------------ helpers
    def _require_init(self) -> None:
        if not self.initialized:
            raise P11Error(CKR.CRYPTOKI_NOT_INITIALIZED)

    def _slot(self, slot: int) -> None:
        self._require_init()
        if slot != SLOT_ID:
            raise P11Error(CKR.SLOT_ID_INVALID)

    def session(self, handle: int) -> Session:
        self._require_init()
        if handle not in self.sessions:
            raise P11Error(CKR.SESSION_HANDLE_INVALID)
        return self.sessions[handle]

    def _operator(self) -> OperatorSession:
        if self.login_session is None or not self.login_session.open:
            raise P11Error(CKR.USER_NOT_LOGGED_IN)
        return self.login_session

    def device(self, call: Callable[[OperatorSession], T]) -> T:
        """One service call as the logged-in operator."""
        operator = self._operator()
        try:
            return self.link.run(lambda: call(operator))
        except DeviceError as exc:
            if exc.status is Status.SESSION_INVALID:  # expired on the device: the token is logged out
                self._forget_login()
            raise

    def key(self, handle: int) -> tuple[KeyInfo, bool]:
        key_id, public = split_handle(handle)
        info = self.keys.get(key_id)
        if info is None:
            try:
                info = self.device(lambda s: s.key_attributes(key_id))
            except DeviceError as exc:
                if exc.status is Status.KEY_NOT_FOUND:
                    raise P11Error(CKR.OBJECT_HANDLE_INVALID) from None
                raise
            self.keys[key_id] = info
        if handle not in object_handles(info):
            raise P11Error(CKR.OBJECT_HANDLE_INVALID)
        return info, public

    def _forget_login(self) -> None:
        self.login_session = None
        self.user_type = None
        self.keys.clear()
        for s in self.sessions.values():
            s.ops.clear()
            s.find = None

    # ------------------------------------------------------------ general
    def initialize(self) -> None:
        if self.initialized:
            raise P11Error(CKR.CRYPTOKI_ALREADY_INITIALIZED)
        self.initialized = True

    def finalize(self) -> None:
        self._require_init()
        self.close()
        self.initialized = False

    def close(self) -> None:
        """The connection ended: log out, drop the sessions."""
        self.sessions.clear()
        self._logout()

    def _logout(self) -> None:
        session = self.login_session
        self._forget_login()
        if session is not None and session.open and not self.link.gone:
            try:
                self.link.run(session.logout)
            except (P11Error, DeviceError) as exc:
                log.info("logout refused: %s", exc)

    def info(self) -> dict[str, Any]:
        self._require_init()
        return {"manufacturer": "cmsim", "description": "cmsim PKCS#11 token (p11-kit RPC)"}

    def slot_list(self) -> list[int]:
        self._require_init()
        return [SLOT_ID]

    def slot_info(self, slot: int) -> dict[str, Any]:
        self._slot(slot)
        flags = CKF.HW_SLOT | (0 if self.link.gone else CKF.TOKEN_PRESENT)
        return {"description": f"cmsim {self.link.serial}", "flags": flags,
                "firmware": _firmware_version(self.link.firmware)}

    def token_info(self, slot: int) -> dict[str, Any]:
        self._slot(slot)
        if self.link.gone:
            raise P11Error(CKR.DEVICE_REMOVED)
        flags = CKF.RNG | CKF.LOGIN_REQUIRED | CKF.USER_PIN_INITIALIZED
        if self.link.state is not State.UNINITIALISED:
            flags |= CKF.TOKEN_INITIALIZED
        return {"label": f"cmsim {self.link.serial}", "model": self.link.model, "serial": self.link.serial,
                "flags": flags, "sessions": len(self.sessions),
                "rw_sessions": sum(1 for s in self.sessions.values() if s.flags & CKF.RW_SESSION),
                "firmware": _firmware_version(self.link.firmware)}

    def mechanism_list(self, slot: int) -> list[int]:
        self._slot(slot)
        return sorted(MECHANISMS)

    def mechanism_info(self, slot: int, mech: int) -> tuple[int, int, int]:
        self._slot(slot)
        spec = MECHANISMS.get(mech)
        if spec is None:
            raise P11Error(CKR.MECHANISM_INVALID)
        return spec.min_key, spec.max_key, spec.flags

    # ------------------------------------------------------------ token management
    def init_token(self, slot: int) -> None:
        """Re-initialising would zeroise every key and operator: not offered through PKCS#11."""
        self._slot(slot)
        raise P11Error(CKR.FUNCTION_NOT_SUPPORTED, "initialise the module with `cmsim init`")

    def init_pin(self, handle: int, pin: bytes | None) -> None:
        """C_InitPIN: the Crypto Officer creates the User ``operator`` with ``password`` (PIN operator:password)."""
        self.session(handle)
        if self.user_type != CKU.SO:
            raise P11Error(CKR.USER_NOT_LOGGED_IN)
        operator, password = _split_pin(pin)
        self.device(lambda s: s.create_operator(operator, Role.USER, password))

    def set_pin(self, handle: int, old: bytes | None, new: bytes | None) -> None:
        """C_SetPIN: the logged-in operator's new password (new PIN operator:password, same operator)."""
        self.session(handle)
        session = self._operator()
        operator, password = _split_pin(new)
        if operator != session.operator:
            raise P11Error(CKR.PIN_INVALID, "the new PIN must name the logged-in operator")
        _, current = _split_pin(old)
        self.device(lambda s: s.change_password(password, current_password=current))

    # ------------------------------------------------------------ sessions
    def open_session(self, slot: int, flags: int) -> int:
        self._slot(slot)
        if not flags & CKF.SERIAL_SESSION:
            raise P11Error(CKR.SESSION_PARALLEL_NOT_SUPPORTED)
        if self.link.gone:
            raise P11Error(CKR.DEVICE_REMOVED)
        handle = self._next_session
        self._next_session += 1
        self.sessions[handle] = Session(handle, flags)
        return handle

    def close_session(self, handle: int) -> None:
        self.session(handle)
        del self.sessions[handle]
        if not self.sessions:
            self._logout()  # PKCS#11: closing the last session logs the application out

    def close_all_sessions(self, slot: int) -> None:
        self._slot(slot)
        self.sessions.clear()
        self._logout()

    def session_info(self, handle: int) -> tuple[int, int, int, int]:
        s = self.session(handle)
        rw = bool(s.flags & CKF.RW_SESSION)
        if self.user_type == CKU.SO:
            state = CKS.RW_SO_FUNCTIONS
        elif self.user_type == CKU.USER:
            state = CKS.RW_USER_FUNCTIONS if rw else CKS.RO_USER_FUNCTIONS
        else:
            state = CKS.RW_PUBLIC_SESSION if rw else CKS.RO_PUBLIC_SESSION
        return SLOT_ID, state, s.flags, 0

    def login(self, handle: int, user_type: int, pin: bytes | None) -> None:
        self.session(handle)
        if user_type not in (CKU.SO, CKU.USER):
            raise P11Error(CKR.USER_TYPE_INVALID)
        if self.login_session is not None:
            raise P11Error(CKR.USER_ALREADY_LOGGED_IN if self.user_type == user_type
                           else CKR.USER_ANOTHER_ALREADY_LOGGED_IN)
        if user_type == CKU.SO and any(not s.flags & CKF.RW_SESSION for s in self.sessions.values()):
            raise P11Error(CKR.SESSION_READ_ONLY_EXISTS)
        operator, password = _split_pin(pin)
        session = self.link.login(operator, password)
        wanted = Role.CRYPTO_OFFICER if user_type == CKU.SO else Role.USER
        if session.role is not wanted:
            self.link.run(session.logout)
            log.info("login as %s refused: role %s is not %s", operator, session.role.name, wanted.name)
            raise P11Error(CKR.PIN_INCORRECT, f"{operator} is not a {wanted.name}")
        self.login_session, self.user_type = session, user_type

    def logout(self, handle: int) -> None:
        self.session(handle)
        self._operator()
        self._logout()

    # ------------------------------------------------------------ objects
    def find_init(self, handle: int, template: list[Attribute]) -> None:
        s = self.session(handle)
        if s.find is not None:
            raise P11Error(CKR.OPERATION_ACTIVE)
        if self.login_session is None:
            s.find = []  # every object of this token is private: none is visible before C_Login
            return
        listed = self.device(lambda o: o.list_keys())
        wanted = {a.type: a.value for a in template}
        shallow = {CKA.CLASS, CKA.KEY_TYPE, CKA.LABEL, CKA.ID, CKA.TOKEN}
        found: list[int] = []
        for key_id, key_type, label in listed:
            if key_type not in KEY_TYPES:
                continue
            info = self.keys.get(key_id)
            if info is None and set(wanted) - shallow:
                info = self.device(lambda o: o.key_attributes(key_id))
                self.keys[key_id] = info
            stub = info or KeyInfo(key_id, key_type, label)
            for h in object_handles(stub):
                attrs = attributes_of(stub, h % 2 == 0)
                if all(attrs.get(t, b"\x00missing") == v for t, v in wanted.items()):
                    found.append(h)
        s.find = found

    def find(self, handle: int, count: int) -> list[int]:
        s = self.session(handle)
        if s.find is None:
            raise P11Error(CKR.OPERATION_NOT_INITIALIZED)
        out, s.find = s.find[:count], s.find[count:]
        return out

    def find_final(self, handle: int) -> None:
        s = self.session(handle)
        if s.find is None:
            raise P11Error(CKR.OPERATION_NOT_INITIALIZED)
        s.find = None

    def get_attributes(self, handle: int, obj: int, wanted: list[tuple[int, int]]) -> tuple[list[Attribute], int]:
        self.session(handle)
        info, public = self.key(obj)
        return lookup(attributes_of(info, public), wanted)

    def set_attributes(self, handle: int, obj: int) -> None:
        self.session(handle)
        self.key(obj)
        raise P11Error(CKR.ACTION_PROHIBITED, "a device key's attributes are fixed at generation")

    def destroy(self, handle: int, obj: int) -> None:
        self.session(handle)
        info, _ = self.key(obj)
        self.device(lambda o: o.delete_key(info.key_id))
        self.keys.pop(info.key_id, None)

    def object_size(self, handle: int, obj: int) -> int:
        self.session(handle)
        self.key(obj)
        raise P11Error(CKR.FUNCTION_NOT_SUPPORTED)

    # ------------------------------------------------------------ key generation
    def generate_key_pair(self, handle: int, mech: Mechanism, public: list[Attribute],
                          private: list[Attribute]) -> tuple[int, int]:
        self._writable(handle)
        if mech.type != CKM.EC_KEY_PAIR_GEN:
            raise P11Error(CKR.MECHANISM_INVALID)
        params = next((a.value for a in public if a.type == CKA.EC_PARAMS), None)
        if params is None:
            raise P11Error(CKR.TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS names the curve")
        key_type = next((t for t, oid in CURVE_OIDS.items() if oid == params and t is not KeyType.ED25519), None)
        if key_type is None:
            raise P11Error(CKR.CURVE_NOT_SUPPORTED)
        allowed = KeyUse.SIGN | KeyUse.VERIFY | (KeyUse.AGREE if key_type is KeyType.EC_P256 else KeyUse.NONE)
        uses = _uses_from(public + private, KeyUse.SIGN | KeyUse.VERIFY, allowed)
        info = self._generate(key_type, public + private, uses)
        return 2 * info.key_id + 2, 2 * info.key_id + 1

    def generate_key(self, handle: int, mech: Mechanism, template: list[Attribute]) -> int:
        self._writable(handle)
        values = {a.type: a for a in template}
        if mech.type == CKM.AES_KEY_GEN:
            length = values[CKA.VALUE_LEN].as_ulong() if CKA.VALUE_LEN in values else 32
            if length != 32:
                raise P11Error(CKR.KEY_SIZE_RANGE, "AES-256 only")
            key_type, default = KeyType.AES_256, KeyUse.ENCRYPT | KeyUse.DECRYPT
        elif mech.type == CKM.GENERIC_SECRET_KEY_GEN:
            ckk = values[CKA.KEY_TYPE].as_ulong() if CKA.KEY_TYPE in values else None
            by_ckk = {CKK.SHA256_HMAC: KeyType.HMAC_SHA256, CKK.SHA384_HMAC: KeyType.HMAC_SHA384,
                      CKK.SHA512_HMAC: KeyType.HMAC_SHA512}
            if ckk not in by_ckk:
                raise P11Error(CKR.TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE must be CKK_SHA256/384/512_HMAC")
            key_type, default = by_ckk[CKK(ckk)], KeyUse.MAC
        else:
            raise P11Error(CKR.MECHANISM_INVALID)
        allowed = default | (KeyUse.WRAP | KeyUse.UNWRAP if key_type is KeyType.AES_256 else KeyUse.NONE)
        return 2 * self._generate(key_type, template, _uses_from(template, default, allowed)).key_id + 1

    def _writable(self, handle: int) -> None:
        s = self.session(handle)
        if not s.flags & CKF.RW_SESSION:
            raise P11Error(CKR.SESSION_READ_ONLY)

    def _generate(self, key_type: KeyType, template: list[Attribute], uses: KeyUse) -> KeyInfo:
        values = {a.type: a for a in template}
        if CKA.ID in values and values[CKA.ID].value:
            raise P11Error(CKR.ATTRIBUTE_READ_ONLY, "the device assigns CKA_ID (the key id)")
        if CKA.TOKEN in values and not values[CKA.TOKEN].as_bool():
            raise P11Error(CKR.TEMPLATE_INCONSISTENT, "every key lives on the device (CKA_TOKEN true)")
        if CKA.SENSITIVE in values and not values[CKA.SENSITIVE].as_bool():
            raise P11Error(CKR.TEMPLATE_INCONSISTENT, "keys are always sensitive")
        labels = [a.value for a in template if a.type == CKA.LABEL and a.value]
        label = (labels[-1] or b"").decode("utf-8", "replace") if labels else ""
        exportable = CKA.EXTRACTABLE in values and values[CKA.EXTRACTABLE].as_bool()
        info = self.device(lambda o: o.generate_key(key_type, label=label, exportable=exportable, uses=uses))
        self.keys[info.key_id] = info
        return info

    # ------------------------------------------------------------ crypto operations
    def op_init(self, handle: int, kind: str, mech: Mechanism, key_handle: int | None) -> None:
        s = self.session(handle)
        if kind in s.ops:
            raise P11Error(CKR.OPERATION_ACTIVE)
        spec = MECHANISMS.get(mech.type)
        if spec is None or not spec.flags & _KIND_FLAGS[kind]:
            raise P11Error(CKR.MECHANISM_INVALID)
        op = Operation(kind, mech.type)
        if key_handle is not None:
            try:
                info, public = self.key(key_handle)
            except P11Error as exc:
                raise P11Error(CKR.KEY_HANDLE_INVALID if exc.rv == CKR.OBJECT_HANDLE_INVALID else exc.rv) from None
            if info.key_type not in spec.key_types:
                raise P11Error(CKR.KEY_TYPE_INCONSISTENT)
            attrs = attributes_of(info, public)
            if attrs.get(_KIND_ATTR[kind]) != b"\x01":
                raise P11Error(CKR.KEY_FUNCTION_NOT_PERMITTED)
            op.key = info
        if mech.type == CKM.AES_GCM:
            if not isinstance(mech.parameter, GcmParams):
                raise P11Error(CKR.MECHANISM_PARAM_INVALID)
            if mech.parameter.tag_bits not in (0, 128):
                raise P11Error(CKR.MECHANISM_PARAM_INVALID, "the tag is 128 bits")
            op.aad = mech.parameter.aad
        elif mech.parameter:
            raise P11Error(CKR.MECHANISM_PARAM_INVALID)
        s.ops[kind] = op

    def _op(self, handle: int, kind: str) -> tuple[Session, Operation]:
        s = self.session(handle)
        if kind not in s.ops:
            raise P11Error(CKR.OPERATION_NOT_INITIALIZED)
        return s, s.ops[kind]

    def update(self, handle: int, kind: str, data: bytes) -> None:
        s, op = self._op(handle, kind)
        if kind in ("encrypt", "decrypt"):
            s.ops.pop(kind)
            raise P11Error(CKR.FUNCTION_NOT_SUPPORTED, "GCM through this token is single-part")
        op.data += data

    def output_size(self, handle: int, kind: str, data: bytes | None) -> int:
        """The length the finished operation will return (checked before the device is asked)."""
        _, op = self._op(handle, kind)
        spec = MECHANISMS[op.mechanism]
        if spec.output:
            return spec.output
        if spec.prehashed:
            assert op.key is not None
            return ECDSA_SIZES[op.key.key_type][1]
        n = len(op.data) + len(data or b"")
        return GCM_IV + n + GCM_TAG if kind == "encrypt" else max(0, n - GCM_IV - GCM_TAG)

    def finish(self, handle: int, kind: str, data: bytes | None) -> bytes:
        """C_Sign, C_Digest, C_Encrypt, C_Decrypt (and their Final): one device call; the operation ends."""
        s, op = self._op(handle, kind)
        message = bytes(op.data) + (data or b"")
        try:
            return self._run_op(op, message)
        finally:
            s.ops.pop(kind, None)

    def _run_op(self, op: Operation, message: bytes) -> bytes:
        spec = MECHANISMS[op.mechanism]
        if op.kind == "digest":
            assert spec.digest is not None
            digest = spec.digest
            return self.device(lambda o: o.digest(digest, message))
        assert op.key is not None
        key_id = op.key.key_id
        if op.kind == "sign":
            if op.key.key_type in (KeyType.HMAC_SHA256, KeyType.HMAC_SHA384, KeyType.HMAC_SHA512):
                return self.device(lambda o: o.mac(key_id, message))
            prehashed = _check_digest(spec, op.key, message)
            return self.device(lambda o: o.sign(key_id, message, prehashed=prehashed))
        if op.kind == "encrypt":
            ct = self.device(lambda o: o.encrypt(key_id, message, op.aad))
            return ct.iv + ct.ciphertext
        if len(message) < GCM_IV + GCM_TAG:
            raise P11Error(CKR.ENCRYPTED_DATA_LEN_RANGE)
        box = Ciphertext(message[:GCM_IV], message[GCM_IV:])
        return self.device(lambda o: o.decrypt(key_id, box, op.aad))

    def verify(self, handle: int, data: bytes | None, signature: bytes | None) -> None:
        s, op = self._op(handle, "verify")
        message = bytes(op.data) + (data or b"")
        s.ops.pop("verify", None)
        spec = MECHANISMS[op.mechanism]
        sig = signature or b""
        assert op.key is not None
        key = op.key
        prehashed = _check_digest(spec, key, message)
        if len(sig) != (ECDSA_SIZES[key.key_type][1] if prehashed else spec.output):
            raise P11Error(CKR.SIGNATURE_LEN_RANGE)
        if key.key_type in (KeyType.HMAC_SHA256, KeyType.HMAC_SHA384, KeyType.HMAC_SHA512):
            valid = self.device(lambda o: o.mac_verify(key.key_id, message, sig))
        else:
            valid = self.device(lambda o: o.verify(message, sig, key_id=key.key_id, prehashed=prehashed))
        if not valid:
            raise P11Error(CKR.SIGNATURE_INVALID)

    def random(self, handle: int, length: int) -> bytes:
        self.session(handle)
        if length == 0:
            return b""
        return self.device(lambda o: o.random(length))


def _check_digest(spec: MechanismSpec, key: KeyInfo, data: bytes) -> bool:
    """Whether the input is a caller's digest (CKM_ECDSA); it must be the curve's hash length."""
    if not spec.prehashed:
        return False
    if len(data) != ECDSA_SIZES[key.key_type][0]:
        raise P11Error(CKR.DATA_LEN_RANGE, f"CKM_ECDSA signs a {ECDSA_SIZES[key.key_type][0]}-byte digest with this key")
    return True


_KIND_FLAGS = {"sign": CKF.SIGN, "verify": CKF.VERIFY, "digest": CKF.DIGEST, "encrypt": CKF.ENCRYPT,
               "decrypt": CKF.DECRYPT}
_KIND_ATTR = {"sign": CKA.SIGN, "verify": CKA.VERIFY, "encrypt": CKA.ENCRYPT, "decrypt": CKA.DECRYPT}

_USE_ATTRS = {CKA.SIGN: KeyUse.SIGN, CKA.VERIFY: KeyUse.VERIFY, CKA.ENCRYPT: KeyUse.ENCRYPT,
              CKA.DECRYPT: KeyUse.DECRYPT, CKA.WRAP: KeyUse.WRAP, CKA.UNWRAP: KeyUse.UNWRAP,
              CKA.DERIVE: KeyUse.AGREE}


def _uses_from(template: list[Attribute], default: KeyUse, allowed: KeyUse | None = None) -> KeyUse:
    """The device uses for a template: the uses it sets true (within ``allowed``), else the type's
    default purpose less the uses it sets false. The device takes one purpose per key (SP 800-57),
    so a template that asks for two (CKA_SIGN and CKA_DERIVE, say) is refused by the device."""
    allowed = default if allowed is None else allowed
    mac = bool(default & KeyUse.MAC)
    asked, denied = KeyUse.NONE, KeyUse.NONE
    for attr in template:
        use = _USE_ATTRS.get(CKA(attr.type)) if attr.type in CKA._value2member_map_ else None
        if use is None:
            continue
        if mac and use in (KeyUse.SIGN, KeyUse.VERIFY):
            use = KeyUse.MAC
        elif not use & allowed:
            continue
        if attr.as_bool():
            asked |= use
        else:
            denied |= use
    # a template asking for two purposes (CKA_SIGN with CKA_DERIVE, as some tools set) gets the type's main one
    uses = (asked & default or asked) if asked else default & ~denied
    if uses == KeyUse.NONE:
        raise P11Error(CKR.TEMPLATE_INCONSISTENT, "the template leaves the key no use")
    return uses


def _split_pin(pin: bytes | None) -> tuple[str, str]:
    """The PIN carries ``operator:password`` (the first colon splits them)."""
    text = (pin or b"").decode("utf-8", "replace")
    operator, sep, password = text.partition(":")
    if not sep or not operator or not password:
        raise P11Error(CKR.PIN_INCORRECT, "the PIN is operator:password")
    return operator, password


_ = (CKO, key_id_bytes)
