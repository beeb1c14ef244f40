"""The PKCS#11 RPC server on a Unix socket: p11-kit's ``p11-kit-client.so`` connects here; or one
connection on stdin/stdout (:func:`serve_stdio`), for a p11-kit module config's ``remote: |command``,
where p11-kit runs the command with both on one end of a socket pair.

Connection: the client sends one byte, the protocol version it wants; the server answers with the
version it will speak (min of both; this server speaks version 0, the PKCS#11 2.40 calls, which is what
Debian's p11-kit 0.24 sends). Then messages: a 12-byte header (call code, options length, body
length, all 32-bit big-endian), the options (the client's module name, ignored), the body (see
:mod:`host_tools.pkcs11.codec`). The response echoes the call code. A refused call is answered with the
ERROR call carrying its CK_RV; a request that does not parse closes the connection.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Protocol

from host_tools.pkcs11.codec import CALLS, HANDSHAKE, ProtocolError, Reader, Writer, error_body
from host_tools.pkcs11.constants import CKR
from host_tools.pkcs11.objects import P11Error
from host_tools.pkcs11.token import Application, DeviceLink, ckr_for
from host_tools.errors import CmsimError

__all__ = ["PROTOCOL_VERSION", "Pkcs11Server", "handle_call", "serve_connection", "serve_stdio"]

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 0
MAX_BODY = 1 << 24

Handler = Callable[[Application, Reader, Writer], None]


def _out(app: Application, r: Reader, w: Writer, kind: str, data: bytes | None, room: int) -> None:
    """Answer an output buffer: the length alone for a size query or a too-small buffer (the operation
    stays active: the device is not asked), else the finished operation's output."""
    need = app.output_size(r_session(r), kind, data)
    if room < need:
        w.byte_array(None, need)
        return
    w.byte_array(app.finish(r_session(r), kind, data))


def r_session(r: Reader) -> int:
    return int(getattr(r, "session_handle"))


def _init(app: Application, r: Reader, w: Writer) -> None:
    handshake = r.byte_array()
    r.byte()
    r.byte_array()
    r.done()
    if handshake != HANDSHAKE:
        raise P11Error(CKR.GENERAL_ERROR, "not the p11-kit RPC handshake")
    app.initialize()


def _get_info(app: Application, r: Reader, w: Writer) -> None:
    r.done()
    info = app.info()
    w.version(2, 40)
    w.space_string(info["manufacturer"], 32)
    w.ulong(0)
    w.space_string(info["description"], 32)
    w.version(0, 1)


def _slot_list(app: Application, r: Reader, w: Writer) -> None:
    r.byte()
    room = r.ulong_buffer()
    r.done()
    slots = app.slot_list()
    w.ulong_array(slots if room >= len(slots) else None, len(slots))


def _slot_info(app: Application, r: Reader, w: Writer) -> None:
    slot = r.ulong()
    r.done()
    info = app.slot_info(slot)
    w.space_string(info["description"], 64)
    w.space_string("cmsim", 32)
    w.ulong(info["flags"])
    w.version(0, 1)
    w.version(*info["firmware"])


def _token_info(app: Application, r: Reader, w: Writer) -> None:
    slot = r.ulong()
    r.done()
    t = app.token_info(slot)
    w.space_string(t["label"], 32)
    w.space_string("cmsim", 32)
    w.space_string(t["model"], 16)
    w.space_string(t["serial"], 16)
    w.ulong(t["flags"])
    unavailable = 0xFFFFFFFFFFFFFFFF
    for value in (0, t["sessions"], 0, t["rw_sessions"], 256, 3, unavailable, unavailable, unavailable, unavailable):
        w.ulong(value)  # max sessions (0: no limit given), sessions, max rw, rw, PIN lengths, memory
    w.version(0, 1)
    w.version(*t["firmware"])
    w.space_string("", 16)  # no clock on the token


def _mech_list(app: Application, r: Reader, w: Writer) -> None:
    slot = r.ulong()
    room = r.ulong_buffer()
    r.done()
    mechs = app.mechanism_list(slot)
    w.ulong_array(mechs if room >= len(mechs) else None, len(mechs))


def _mech_info(app: Application, r: Reader, w: Writer) -> None:
    slot, mech = r.ulong(), r.ulong()
    r.done()
    lo, hi, flags = app.mechanism_info(slot, mech)
    w.ulong(lo)
    w.ulong(hi)
    w.ulong(flags)


def _init_token(app: Application, r: Reader, w: Writer) -> None:
    slot = r.ulong()
    r.byte_array()
    r.zero_string()
    r.done()
    app.init_token(slot)


def _init_pin(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    pin = r.byte_array()
    r.done()
    app.init_pin(h, pin)


def _set_pin(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    old, new = r.byte_array(), r.byte_array()
    r.done()
    app.set_pin(h, old, new)


def _open_session(app: Application, r: Reader, w: Writer) -> None:
    slot, flags = r.ulong(), r.ulong()
    r.done()
    w.ulong(app.open_session(slot, flags))


def _close_session(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    r.done()
    app.close_session(h)


def _close_all(app: Application, r: Reader, w: Writer) -> None:
    slot = r.ulong()
    r.done()
    app.close_all_sessions(slot)


def _session_info(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    r.done()
    for value in app.session_info(h):
        w.ulong(value)


def _login(app: Application, r: Reader, w: Writer) -> None:
    h, user = r.ulong(), r.ulong()
    pin = r.byte_array()
    r.done()
    app.login(h, user, pin)


def _logout(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    r.done()
    app.logout(h)


def _create_object(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    r.attribute_array()
    r.done()
    app.session(h)
    raise P11Error(CKR.FUNCTION_NOT_SUPPORTED, "keys enter the device only generated or unwrapped")


def _copy_object(app: Application, r: Reader, w: Writer) -> None:
    h, obj = r.ulong(), r.ulong()
    r.attribute_array()
    r.done()
    app.session(h)
    app.key(obj)
    raise P11Error(CKR.ACTION_PROHIBITED, "device keys are not copyable")


def _destroy(app: Application, r: Reader, w: Writer) -> None:
    h, obj = r.ulong(), r.ulong()
    r.done()
    app.destroy(h, obj)


def _object_size(app: Application, r: Reader, w: Writer) -> None:
    h, obj = r.ulong(), r.ulong()
    r.done()
    w.ulong(app.object_size(h, obj))


def _get_attrs(app: Application, r: Reader, w: Writer) -> None:
    h, obj = r.ulong(), r.ulong()
    wanted = r.attribute_buffer()
    r.done()
    attrs, rv = app.get_attributes(h, obj, wanted)
    w.attribute_array(attrs)
    w.ulong(rv)


def _set_attrs(app: Application, r: Reader, w: Writer) -> None:
    h, obj = r.ulong(), r.ulong()
    r.attribute_array()
    r.done()
    app.set_attributes(h, obj)


def _find_init(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    template = r.attribute_array()
    r.done()
    app.find_init(h, template)


def _find(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    room = r.ulong_buffer()
    r.done()
    w.ulong_array(app.find(h, room))


def _find_final(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    r.done()
    app.find_final(h)


def _op_init(kind: str, with_key: bool = True) -> Handler:
    def handler(app: Application, r: Reader, w: Writer) -> None:
        h = r.ulong()
        mech = r.mechanism()
        key = r.ulong() if with_key else None
        r.done()
        app.op_init(h, kind, mech, key)
    return handler


def _op_single(kind: str) -> Handler:
    def handler(app: Application, r: Reader, w: Writer) -> None:
        h = r.ulong()
        data = r.byte_array()
        room = r.byte_buffer()
        r.done()
        r.session_handle = h  # type: ignore[attr-defined]
        _out(app, r, w, kind, data, room)
    return handler


def _op_update(kind: str) -> Handler:
    def handler(app: Application, r: Reader, w: Writer) -> None:
        h = r.ulong()
        data = r.byte_array()
        r.done()
        app.update(h, kind, data or b"")
    return handler


def _op_final(kind: str) -> Handler:
    def handler(app: Application, r: Reader, w: Writer) -> None:
        h = r.ulong()
        room = r.byte_buffer()
        r.done()
        r.session_handle = h  # type: ignore[attr-defined]
        _out(app, r, w, kind, None, room)
    return handler


def _verify(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    data, sig = r.byte_array(), r.byte_array()
    r.done()
    app.verify(h, data, sig)


def _verify_final(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    sig = r.byte_array()
    r.done()
    app.verify(h, None, sig)


def _gen_key(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    mech = r.mechanism()
    template = r.attribute_array()
    r.done()
    w.ulong(app.generate_key(h, mech, template))


def _gen_pair(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    mech = r.mechanism()
    public, private = r.attribute_array(), r.attribute_array()
    r.done()
    pub, priv = app.generate_key_pair(h, mech, public, private)
    w.ulong(pub)
    w.ulong(priv)


def _seed(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    r.byte_array()
    r.done()
    app.session(h)
    raise P11Error(CKR.RANDOM_SEED_NOT_SUPPORTED)


def _random(app: Application, r: Reader, w: Writer) -> None:
    h = r.ulong()
    room = r.byte_buffer()
    r.done()
    w.byte_array(app.random(h, room))


def _finalize(app: Application, r: Reader, w: Writer) -> None:
    r.done()
    app.finalize()


HANDLERS: dict[str, Handler] = {
    "C_Initialize": _init, "C_Finalize": _finalize, "C_GetInfo": _get_info, "C_GetSlotList": _slot_list,
    "C_GetSlotInfo": _slot_info, "C_GetTokenInfo": _token_info, "C_GetMechanismList": _mech_list,
    "C_GetMechanismInfo": _mech_info, "C_InitToken": _init_token, "C_OpenSession": _open_session,
    "C_CloseSession": _close_session, "C_CloseAllSessions": _close_all, "C_GetSessionInfo": _session_info,
    "C_InitPIN": _init_pin, "C_SetPIN": _set_pin, "C_Login": _login, "C_Logout": _logout,
    "C_CreateObject": _create_object, "C_CopyObject": _copy_object, "C_DestroyObject": _destroy,
    "C_GetObjectSize": _object_size, "C_GetAttributeValue": _get_attrs, "C_SetAttributeValue": _set_attrs,
    "C_FindObjectsInit": _find_init, "C_FindObjects": _find, "C_FindObjectsFinal": _find_final,
    "C_EncryptInit": _op_init("encrypt"), "C_Encrypt": _op_single("encrypt"),
    "C_EncryptUpdate": _op_update("encrypt"), "C_EncryptFinal": _op_final("encrypt"),
    "C_DecryptInit": _op_init("decrypt"), "C_Decrypt": _op_single("decrypt"),
    "C_DecryptUpdate": _op_update("decrypt"), "C_DecryptFinal": _op_final("decrypt"),
    "C_DigestInit": _op_init("digest", with_key=False), "C_Digest": _op_single("digest"),
    "C_DigestUpdate": _op_update("digest"), "C_DigestFinal": _op_final("digest"),
    "C_SignInit": _op_init("sign"), "C_Sign": _op_single("sign"), "C_SignUpdate": _op_update("sign"),
    "C_SignFinal": _op_final("sign"), "C_VerifyInit": _op_init("verify"), "C_Verify": _verify,
    "C_VerifyUpdate": _op_update("verify"), "C_VerifyFinal": _verify_final,
    "C_GenerateKey": _gen_key, "C_GenerateKeyPair": _gen_pair, "C_SeedRandom": _seed,
    "C_GenerateRandom": _random,
}


def handle_call(app: Application, body: bytes) -> bytes:
    """One request body -> one response body. Raises ProtocolError when the request does not parse."""
    r = Reader.request(body)
    name, _, response_sig = CALLS[r.call_id]
    handler = HANDLERS.get(name)
    if handler is None:
        log.debug("%s: not supported", name)
        return error_body(CKR.FUNCTION_NOT_SUPPORTED)
    w = Writer(r.call_id, response_sig)
    try:
        handler(app, r, w)
    except ProtocolError:
        raise
    except (P11Error, CmsimError) as exc:
        rv = ckr_for(exc)
        log.info("%s: %s", name, exc if isinstance(exc, P11Error) else f"{CKR(rv).name} ({exc})")
        return error_body(rv)
    return w.body()


class Connection(Protocol):
    """What a connection needs: a socket, or stdin/stdout (:class:`StdioConnection`)."""

    def recv(self, n: int) -> bytes: ...

    def sendall(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class StdioConnection:
    """Reads file descriptor 0 and writes 1: a socket pair's end under p11-kit's ``remote:``, or pipes."""

    def __init__(self, read_fd: int = 0, write_fd: int = 1) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    def recv(self, n: int) -> bytes:
        return os.read(self.read_fd, n)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view):]

    def close(self) -> None:
        for fd in {self.read_fd, self.write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass  # closed by the other side already; nothing is left to flush


def _read_exact(conn: Connection, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = conn.recv(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def serve_connection(conn: Connection, link: DeviceLink) -> None:
    """Version byte, then request after request until the client hangs up."""
    app = Application(link)
    try:
        first = _read_exact(conn, 1)
        if first is None:
            return
        conn.sendall(bytes([min(first[0], PROTOCOL_VERSION)]))
        while True:
            header = _read_exact(conn, 12)
            if header is None:
                return
            code, olen, blen = struct.unpack(">III", header)
            if code == 0 or olen > MAX_BODY or blen > MAX_BODY:
                log.warning("closing a connection: bad message header")
                return
            if olen and _read_exact(conn, olen) is None:
                return
            body = _read_exact(conn, blen) if blen else b""
            if body is None:
                return
            try:
                response = handle_call(app, body)
            except ProtocolError as exc:
                log.warning("closing a connection: %s", exc)
                return
            conn.sendall(struct.pack(">III", code, 0, len(response)) + response)
    except OSError as exc:
        log.info("connection ended: %s", exc)
    finally:
        app.close()
        conn.close()


def serve_stdio(link: DeviceLink) -> None:
    """One client on stdin/stdout, until it hangs up (p11-kit's ``remote: |command`` starts one per
    application that loads the module)."""
    serve_connection(StdioConnection(), link)


class Pkcs11Server:
    """Listens on ``path``; one thread per connection, the device shared through ``link``."""

    def __init__(self, link: DeviceLink, path: str) -> None:
        self.link = link
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # the socket is the token: only its owner may connect
        try:
            self.sock.bind(path)
        finally:
            os.umask(old)
        self.sock.listen(16)
        self._stop = threading.Event()

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                break
            threading.Thread(target=serve_connection, args=(conn, self.link), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
