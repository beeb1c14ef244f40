"""The PKCS#11 RPC message codec of p11-kit (draft-ueno-pkcs11-rpc), version 0.

A message body is a 32-bit call id, the call's signature as a byte array, then the arguments in
signature order. Integers are big-endian; CK_ULONG ('u') travels as 64 bits; a byte array is a 32-bit
length (0xffffffff for NULL) and the bytes; 'ay' is preceded by a validity byte (0: no data, just a
32-bit length, which is how a too-small or size-query output buffer is answered); 'fy'/'fu' (an output
buffer) is the 32-bit number of elements the caller has room for, 0 for a size query; 'fA' is a count
and (type, buffer length) pairs; 'aA' is a count and attributes: type (32 bits), validity byte, length
(32 bits, the C ulValueLen), then the value encoded by the attribute's value type (a byte for booleans,
64 bits for CK_ULONG attributes, a byte array otherwise). 'M' is the mechanism type (32 bits) and its
parameter: a byte array for mechanisms without a structured one, a typed encoding for CK_GCM_PARAMS and
CK_ECDH1_DERIVE_PARAMS. Sources: p11-kit's p11-kit/rpc-message.h (call ids and signatures, in sync with
the draft's appendix), rpc-message.c (value encodings), rpc-server.c (output-buffer conventions).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from host_tools.pkcs11.constants import CK_UNAVAILABLE, CKA, CKM

__all__ = ["CALLS", "CALL_IDS", "ERROR_CALL", "ProtocolError", "Attribute", "Mechanism", "GcmParams",
           "EcdhParams", "Reader", "Writer", "attribute_kind", "encode_bool", "encode_ulong"]

ERROR_CALL = 0
HANDSHAKE = b"PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1"  # what C_Initialize carries in its first 'ay'

# Call id -> (name, request signature, response signature); ids are the order of p11-kit's enum.
_TABLE = [
    ("C_Initialize", "ayyay", ""), ("C_Finalize", "", ""), ("C_GetInfo", "", "vsusv"),
    ("C_GetSlotList", "yfu", "au"), ("C_GetSlotInfo", "u", "ssuvv"), ("C_GetTokenInfo", "u", "ssssuuuuuuuuuuuvvs"),
    ("C_GetMechanismList", "ufu", "au"), ("C_GetMechanismInfo", "uu", "uuu"), ("C_InitToken", "uayz", ""),
    ("C_OpenSession", "uu", "u"), ("C_CloseSession", "u", ""), ("C_CloseAllSessions", "u", ""),
    ("C_GetSessionInfo", "u", "uuuu"), ("C_InitPIN", "uay", ""), ("C_SetPIN", "uayay", ""),
    ("C_GetOperationState", "ufy", "ay"), ("C_SetOperationState", "uayuu", ""), ("C_Login", "uuay", ""),
    ("C_Logout", "u", ""), ("C_CreateObject", "uaA", "u"), ("C_CopyObject", "uuaA", "u"),
    ("C_DestroyObject", "uu", ""), ("C_GetObjectSize", "uu", "u"), ("C_GetAttributeValue", "uufA", "aAu"),
    ("C_SetAttributeValue", "uuaA", ""), ("C_FindObjectsInit", "uaA", ""), ("C_FindObjects", "ufu", "au"),
    ("C_FindObjectsFinal", "u", ""), ("C_EncryptInit", "uMu", ""), ("C_Encrypt", "uayfy", "ay"),
    ("C_EncryptUpdate", "uayfy", "ay"), ("C_EncryptFinal", "ufy", "ay"), ("C_DecryptInit", "uMu", ""),
    ("C_Decrypt", "uayfy", "ay"), ("C_DecryptUpdate", "uayfy", "ay"), ("C_DecryptFinal", "ufy", "ay"),
    ("C_DigestInit", "uM", ""), ("C_Digest", "uayfy", "ay"), ("C_DigestUpdate", "uay", ""),
    ("C_DigestKey", "uu", ""), ("C_DigestFinal", "ufy", "ay"), ("C_SignInit", "uMu", ""),
    ("C_Sign", "uayfy", "ay"), ("C_SignUpdate", "uay", ""), ("C_SignFinal", "ufy", "ay"),
    ("C_SignRecoverInit", "uMu", ""), ("C_SignRecover", "uayfy", "ay"), ("C_VerifyInit", "uMu", ""),
    ("C_Verify", "uayay", ""), ("C_VerifyUpdate", "uay", ""), ("C_VerifyFinal", "uay", ""),
    ("C_VerifyRecoverInit", "uMu", ""), ("C_VerifyRecover", "uayfy", "ay"),
    ("C_DigestEncryptUpdate", "uayfy", "ay"), ("C_DecryptDigestUpdate", "uayfy", "ay"),
    ("C_SignEncryptUpdate", "uayfy", "ay"), ("C_DecryptVerifyUpdate", "uayfy", "ay"),
    ("C_GenerateKey", "uMaA", "u"), ("C_GenerateKeyPair", "uMaAaA", "uu"), ("C_WrapKey", "uMuufy", "ay"),
    ("C_UnwrapKey", "uMuayaA", "u"), ("C_DeriveKey", "uMuaA", "u"), ("C_SeedRandom", "uay", ""),
    ("C_GenerateRandom", "ufy", "ay"), ("C_WaitForSlotEvent", "u", "u"),
]
CALLS: dict[int, tuple[str, str, str]] = {i + 1: row for i, row in enumerate(_TABLE)}
CALL_IDS: dict[str, int] = {name: call_id for call_id, (name, _, _) in CALLS.items()}
MAX_CALL_V0 = len(_TABLE)  # 65, C_WaitForSlotEvent: the last call of protocol version 0


class ProtocolError(Exception):
    """The message does not parse: the connection cannot continue (p11-kit closes it too)."""


# Which attribute values travel as a byte, as 64 bits, or as nested arrays (rpc-message.c's type map).
_BYTE_ATTRS = frozenset({CKA.TOKEN, CKA.PRIVATE, 0x86, CKA.SENSITIVE, CKA.ENCRYPT, CKA.DECRYPT, CKA.WRAP,
                         CKA.UNWRAP, CKA.SIGN, CKA.SIGN_RECOVER, CKA.VERIFY, CKA.VERIFY_RECOVER, CKA.DERIVE,
                         CKA.EXTRACTABLE, CKA.LOCAL, CKA.NEVER_EXTRACTABLE, CKA.ALWAYS_SENSITIVE, CKA.MODIFIABLE,
                         CKA.COPYABLE, 0x200, CKA.ALWAYS_AUTHENTICATE, CKA.WRAP_WITH_TRUSTED, 0x301, 0x302, 0x405})
_ULONG_ATTRS = frozenset({CKA.CLASS, 0x80, 0x87, 0x88, CKA.KEY_TYPE, 0x121, 0x133, 0x134, 0x160, CKA.VALUE_LEN,
                          CKA.KEY_GEN_MECHANISM, 0x201, 0x300, 0x400, 0x401, 0x402, 0x403, 0x404, 0x406, 0x500})
_ARRAY_ATTRS = frozenset({CKA.WRAP_TEMPLATE, CKA.UNWRAP_TEMPLATE, CKA.DERIVE_TEMPLATE})
_DATE_ATTRS = frozenset({CKA.START_DATE, CKA.END_DATE})


def attribute_kind(attr_type: int) -> str:
    """'y' (CK_BBOOL), 'u' (CK_ULONG), 'A' (attribute array), 'm' (mechanism list), 'd' (date) or 'b' (bytes)."""
    if attr_type in _BYTE_ATTRS:
        return "y"
    if attr_type in _ULONG_ATTRS:
        return "u"
    if attr_type in _ARRAY_ATTRS:
        return "A"
    if attr_type == CKA.ALLOWED_MECHANISMS:
        return "m"
    if attr_type in _DATE_ATTRS:
        return "d"
    return "b"


def encode_bool(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def encode_ulong(value: int) -> bytes:
    """A CK_ULONG attribute value as the C memory it stands for (little-endian 64-bit on this platform)."""
    return value.to_bytes(8, "little")


@dataclass
class Attribute:
    """One CK_ATTRIBUTE. ``value`` holds the C bytes (CK_ULONG little-endian, CK_BBOOL one byte);
    ``None`` is an absent value (a size query, or an attribute not available); ``length`` the ulValueLen."""

    type: int
    value: bytes | None
    length: int

    @classmethod
    def of(cls, attr_type: int, value: bytes) -> Attribute:
        return cls(attr_type, value, len(value))

    def as_bool(self) -> bool:
        return bool(self.value and self.value[0])

    def as_ulong(self) -> int:
        return int.from_bytes(self.value or b"", "little")


@dataclass(frozen=True)
class GcmParams:
    iv: bytes
    iv_bits: int
    aad: bytes
    tag_bits: int


@dataclass(frozen=True)
class EcdhParams:
    kdf: int
    shared_data: bytes
    public_data: bytes


@dataclass
class Mechanism:
    type: int
    parameter: bytes | GcmParams | EcdhParams | None = None


@dataclass
class Reader:
    """Reads a request body against its call's signature."""

    data: bytes
    pos: int = 0
    signature: str = ""
    call_id: int = 0
    _sig_pos: int = field(default=0, repr=False)

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("message too short")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def _expect(self, part: str) -> None:
        if self.signature[self._sig_pos:self._sig_pos + len(part)] != part:
            raise ProtocolError(f"read {part!r} where the signature has {self.signature[self._sig_pos:]!r}")
        self._sig_pos += len(part)

    def uint32(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def uint64(self) -> int:
        return int(struct.unpack(">Q", self._take(8))[0])

    def raw_byte_array(self) -> bytes | None:
        n = self.uint32()
        if n == 0xFFFFFFFF:
            return None
        if n >= 0x7FFFFFFF:
            raise ProtocolError("byte array too long")
        return self._take(n)

    @classmethod
    def request(cls, body: bytes) -> Reader:
        r = cls(body)
        r.call_id = r.uint32()
        if r.call_id == ERROR_CALL or r.call_id > MAX_CALL_V0:
            raise ProtocolError(f"bad call id {r.call_id}")
        sent = r.raw_byte_array()
        r.signature = CALLS[r.call_id][1]
        if sent is None or sent.decode("ascii", "replace") != r.signature:
            raise ProtocolError(f"signature {sent!r} does not match {CALLS[r.call_id][0]}")
        return r

    def done(self) -> None:
        if self._sig_pos != len(self.signature) or self.pos != len(self.data):
            raise ProtocolError("request has unread arguments or trailing bytes")

    # ---------------------------------------------------------------- signature parts
    def byte(self) -> int:
        self._expect("y")
        return self._take(1)[0]

    def ulong(self) -> int:
        self._expect("u")
        return self.uint64()

    def byte_array(self) -> bytes | None:
        """'ay': None when the caller passed NULL."""
        self._expect("ay")
        if not self._take(1)[0]:
            self.uint32()  # the length the NULL array stood for
            return None
        return self.raw_byte_array() or b""

    def byte_buffer(self) -> int:
        """'fy': how many bytes the caller has room for (0: it asks for the length)."""
        self._expect("fy")
        return self.uint32()

    def ulong_buffer(self) -> int:
        self._expect("fu")
        return self.uint32()

    def zero_string(self) -> bytes:
        self._expect("z")
        return self.raw_byte_array() or b""

    def attribute_buffer(self) -> list[tuple[int, int]]:
        """'fA': (type, buffer length) per attribute asked for."""
        self._expect("fA")
        return [(self.uint32(), self.uint32()) for _ in range(self.uint32())]

    def attribute_array(self) -> list[Attribute]:
        self._expect("aA")
        return self._attributes()

    def _attributes(self) -> list[Attribute]:
        return [self._attribute() for _ in range(self.uint32())]

    def _attribute(self) -> Attribute:
        attr_type = self.uint32()
        if not self._take(1)[0]:
            return Attribute(attr_type, None, CK_UNAVAILABLE)
        length = self.uint32()
        kind = attribute_kind(attr_type)
        if kind == "y":
            return Attribute(attr_type, self._take(1), length)
        if kind == "u":
            return Attribute(attr_type, encode_ulong(self.uint64()), length)
        if kind == "A":  # nested templates: kept only as a marker, this token does not honour them
            self._attributes()
            return Attribute(attr_type, b"", length)
        if kind == "m":
            mechs = [self.uint64() for _ in range(self.uint32())]
            return Attribute(attr_type, b"".join(encode_ulong(m) for m in mechs), length)
        value = self.raw_byte_array()
        return Attribute(attr_type, value, length if value is None else len(value))

    def mechanism(self) -> Mechanism:
        self._expect("M")
        mech_type = self.uint32()
        if mech_type == CKM.AES_GCM:
            iv = self.raw_byte_array() or b""
            iv_bits = self.uint64()
            aad = self.raw_byte_array() or b""
            return Mechanism(mech_type, GcmParams(iv, iv_bits, aad, self.uint64()))
        if mech_type == CKM.ECDH1_DERIVE:
            kdf = self.uint64()
            shared = self.raw_byte_array() or b""
            return Mechanism(mech_type, EcdhParams(kdf, shared, self.raw_byte_array() or b""))
        return Mechanism(mech_type, self.raw_byte_array())


class Writer:
    """Writes a response body: the call id, its response signature, then the values in order."""

    def __init__(self, call_id: int, signature: str) -> None:
        self.signature = signature
        self._sig_pos = 0
        self.parts: list[bytes] = [struct.pack(">I", call_id), self._array(signature.encode("ascii"))]

    @staticmethod
    def _array(data: bytes | None) -> bytes:
        if data is None:
            return b"\xff\xff\xff\xff"
        return struct.pack(">I", len(data)) + data

    def _expect(self, part: str) -> None:
        if self.signature[self._sig_pos:self._sig_pos + len(part)] != part:
            raise AssertionError(f"wrote {part!r} where the signature has {self.signature[self._sig_pos:]!r}")
        self._sig_pos += len(part)

    def body(self) -> bytes:
        if self._sig_pos != len(self.signature):
            raise AssertionError(f"response misses {self.signature[self._sig_pos:]!r}")
        return b"".join(self.parts)

    def byte(self, value: int) -> None:
        self._expect("y")
        self.parts.append(bytes([value]))

    def ulong(self, value: int) -> None:
        self._expect("u")
        self.parts.append(struct.pack(">Q", value))

    def version(self, major: int, minor: int) -> None:
        self._expect("v")
        self.parts.append(bytes([major, minor]))

    def space_string(self, text: str, width: int) -> None:
        self._expect("s")
        raw = text.encode("utf-8")[:width]
        self.parts.append(self._array(raw.ljust(width, b" ")))

    def byte_array(self, data: bytes | None, length: int = 0) -> None:
        """'ay'; None with a length answers a size query or a too-small buffer (the client tells which)."""
        self._expect("ay")
        if data is None:
            self.parts.append(b"\x00" + struct.pack(">I", length))
        else:
            self.parts.append(b"\x01" + self._array(data))

    def ulong_array(self, values: list[int] | None, length: int = 0) -> None:
        self._expect("au")
        if values is None:
            self.parts.append(b"\x00" + struct.pack(">I", length))
        else:
            self.parts.append(b"\x01" + struct.pack(">I", len(values)) + b"".join(struct.pack(">Q", v) for v in values))

    def attribute_array(self, attrs: list[Attribute]) -> None:
        self._expect("aA")
        self.parts.append(struct.pack(">I", len(attrs)))
        for attr in attrs:
            self.parts.append(struct.pack(">I", attr.type))
            if attr.length == CK_UNAVAILABLE:
                self.parts.append(b"\x00")
                continue
            self.parts.append(b"\x01" + struct.pack(">I", attr.length))
            kind = attribute_kind(attr.type)
            if kind == "y":
                self.parts.append((attr.value or b"\x00")[:1])
            elif kind == "u":
                self.parts.append(struct.pack(">Q", int.from_bytes(attr.value or b"", "little")))
            elif kind in ("A", "m"):
                self.parts.append(struct.pack(">I", 0))  # this token never holds templates or mechanism lists
            else:
                self.parts.append(self._array(attr.value))


def error_body(rv: int) -> bytes:
    """The P11_RPC_CALL_ERROR response: call id 0, signature "u", the CK_RV."""
    w = Writer(ERROR_CALL, "u")
    w.ulong(rv)
    return w.body()


