"""Device keys as PKCS#11 objects, and the mechanisms this token offers.

Handles: a key's private or secret object is ``2*key_id + 1``, a key pair's public object
``2*key_id + 2`` (stable across sessions and connections). CKA_ID is the key id, big-endian, minimal
length. CKA_SENSITIVE is always true (the module never outputs a key in the clear); CKA_EXTRACTABLE is
the key's exportability (it can leave only wrapped, AES-KWP). Uses map onto CKA_SIGN/VERIFY/...
"""

from __future__ import annotations

from dataclasses import dataclass

from host_tools.api import KeyInfo
from host_tools.pkcs11.codec import Attribute, encode_bool, encode_ulong
from host_tools.pkcs11.constants import CK_UNAVAILABLE, CKA, CKF, CKK, CKM, CKO, CKR
from module.wire.defs import DigestAlg, KeyType, KeyUse

__all__ = ["CURVE_OIDS", "ECDSA_SIZES", "KEY_TYPES", "MECHANISMS", "MechanismSpec", "object_handles", "split_handle",
           "key_id_bytes", "attributes_of", "P11Error", "der_octet_string", "undo_octet_string"]


class P11Error(Exception):
    """A call's outcome other than CKR_OK."""

    def __init__(self, rv: int, why: str = "") -> None:
        super().__init__(f"{CKR(rv).name if rv in CKR._value2member_map_ else hex(rv)}{': ' + why if why else ''}")
        self.rv = rv


# DER of the named curves' OIDs (CKA_EC_PARAMS): prime256v1, secp384r1, and id-Ed25519 (RFC 8410).
CURVE_OIDS: dict[KeyType, bytes] = {
    KeyType.EC_P256: bytes.fromhex("06082a8648ce3d030107"),
    KeyType.EC_P384: bytes.fromhex("06052b81040022"),
    KeyType.ED25519: bytes.fromhex("06032b6570"),
}

# Device key type -> (object class of the private/secret half, CKK).
KEY_TYPES: dict[KeyType, tuple[CKO, CKK]] = {
    KeyType.EC_P256: (CKO.PRIVATE_KEY, CKK.EC),
    KeyType.EC_P384: (CKO.PRIVATE_KEY, CKK.EC),
    KeyType.ED25519: (CKO.PRIVATE_KEY, CKK.EC_EDWARDS),
    KeyType.AES_256: (CKO.SECRET_KEY, CKK.AES),
    KeyType.HMAC_SHA256: (CKO.SECRET_KEY, CKK.SHA256_HMAC),
    KeyType.HMAC_SHA384: (CKO.SECRET_KEY, CKK.SHA384_HMAC),
    KeyType.HMAC_SHA512: (CKO.SECRET_KEY, CKK.SHA512_HMAC),
    KeyType.GENERIC_SECRET: (CKO.SECRET_KEY, CKK.GENERIC_SECRET),
}
SECRET_SIZES = {KeyType.AES_256: 32, KeyType.HMAC_SHA256: 32, KeyType.HMAC_SHA384: 48, KeyType.HMAC_SHA512: 64,
                KeyType.GENERIC_SECRET: 32}
GEN_MECHANISM = {KeyType.EC_P256: CKM.EC_KEY_PAIR_GEN, KeyType.EC_P384: CKM.EC_KEY_PAIR_GEN,
                 KeyType.ED25519: CKM.EC_EDWARDS_KEY_PAIR_GEN, KeyType.AES_256: CKM.AES_KEY_GEN,
                 KeyType.HMAC_SHA256: CKM.GENERIC_SECRET_KEY_GEN, KeyType.HMAC_SHA384: CKM.GENERIC_SECRET_KEY_GEN,
                 KeyType.HMAC_SHA512: CKM.GENERIC_SECRET_KEY_GEN}


@dataclass(frozen=True)
class MechanismSpec:
    """What C_GetMechanismInfo answers, and which device key types and digest the mechanism works on."""

    min_key: int
    max_key: int
    flags: int
    key_types: tuple[KeyType, ...] = ()
    digest: DigestAlg | None = None
    output: int = 0  # fixed output length (signature, digest, MAC), 0 when it depends on the input or key
    prehashed: bool = False  # the input is the caller's digest (CKM_ECDSA): single-part only


# ECDSA key type -> (digest length of the curve's hash, raw r || s signature length)
ECDSA_SIZES: dict[KeyType, tuple[int, int]] = {KeyType.EC_P256: (32, 64), KeyType.EC_P384: (48, 96)}


_EC = CKF.EC_F_P | CKF.EC_NAMEDCURVE | CKF.EC_UNCOMPRESS
# What the device does. p11-kit 0.24's client forwards only some of them (it refuses a mechanism it does
# not know how to serialise: CKM_ECDSA_SHA256/384 and CKM_AES_GCM); CKM_ECDSA, whose input is the
# caller's digest, goes to the device's SIGN and VERIFY with ``prehashed`` (signature size by curve).
MECHANISMS: dict[int, MechanismSpec] = {
    CKM.EC_KEY_PAIR_GEN: MechanismSpec(256, 384, CKF.HW | CKF.GENERATE_KEY_PAIR | _EC),
    CKM.ECDSA: MechanismSpec(256, 384, CKF.HW | CKF.SIGN | CKF.VERIFY | _EC, (KeyType.EC_P256, KeyType.EC_P384),
                             prehashed=True),
    CKM.ECDSA_SHA256: MechanismSpec(256, 256, CKF.HW | CKF.SIGN | CKF.VERIFY | _EC, (KeyType.EC_P256,), output=64),
    CKM.ECDSA_SHA384: MechanismSpec(384, 384, CKF.HW | CKF.SIGN | CKF.VERIFY | _EC, (KeyType.EC_P384,), output=96),
    CKM.SHA256: MechanismSpec(0, 0, CKF.HW | CKF.DIGEST, digest=DigestAlg.SHA2_256, output=32),
    CKM.SHA384: MechanismSpec(0, 0, CKF.HW | CKF.DIGEST, digest=DigestAlg.SHA2_384, output=48),
    CKM.SHA512: MechanismSpec(0, 0, CKF.HW | CKF.DIGEST, digest=DigestAlg.SHA2_512, output=64),
    CKM.AES_KEY_GEN: MechanismSpec(32, 32, CKF.HW | CKF.GENERATE),
    CKM.AES_GCM: MechanismSpec(32, 32, CKF.HW | CKF.ENCRYPT | CKF.DECRYPT, (KeyType.AES_256,)),
    CKM.GENERIC_SECRET_KEY_GEN: MechanismSpec(32, 64, CKF.HW | CKF.GENERATE),
    CKM.SHA256_HMAC: MechanismSpec(32, 32, CKF.HW | CKF.SIGN | CKF.VERIFY, (KeyType.HMAC_SHA256,), output=32),
    CKM.SHA384_HMAC: MechanismSpec(48, 48, CKF.HW | CKF.SIGN | CKF.VERIFY, (KeyType.HMAC_SHA384,), output=48),
    CKM.SHA512_HMAC: MechanismSpec(64, 64, CKF.HW | CKF.SIGN | CKF.VERIFY, (KeyType.HMAC_SHA512,), output=64),
}


def key_id_bytes(key_id: int) -> bytes:
    return key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big")


def object_handles(info: KeyInfo) -> list[int]:
    """The handles of a key's objects: its private or secret half, and a key pair's public half."""
    if info.key_type not in KEY_TYPES:
        return []  # ML-DSA and ML-KEM keys have no PKCS#11 2.40 key type: not shown
    handles = [2 * info.key_id + 1]
    if KEY_TYPES[info.key_type][0] is CKO.PRIVATE_KEY:
        handles.append(2 * info.key_id + 2)
    return handles


def split_handle(handle: int) -> tuple[int, bool]:
    """(key id, whether it is the public half); raises for handle 0."""
    if handle <= 0:
        raise P11Error(CKR.OBJECT_HANDLE_INVALID)
    return (handle - 1) // 2, handle % 2 == 0


def der_octet_string(data: bytes) -> bytes:
    n = len(data)
    length = bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
    return b"\x04" + length + data


def undo_octet_string(data: bytes) -> bytes:
    """A point given DER-wrapped (as CKA_EC_POINT is) or raw."""
    if len(data) > 2 and data[0] == 0x04 and data[1] in (len(data) - 2, 0x81):
        return data[3:] if data[1] == 0x81 else data[2:]
    return data


def _b(v: bool) -> bytes:
    return encode_bool(v)


def attributes_of(info: KeyInfo, public: bool) -> dict[int, bytes | None]:
    """Every attribute of the object; None marks a sensitive one (CKR_ATTRIBUTE_SENSITIVE)."""
    cls, ckk = KEY_TYPES[info.key_type]
    uses = info.uses
    common: dict[int, bytes | None] = {
        CKA.TOKEN: _b(True), CKA.LABEL: info.label.encode(), CKA.ID: key_id_bytes(info.key_id),
        CKA.KEY_TYPE: encode_ulong(ckk), CKA.LOCAL: _b(info.origin == "generated"),
        CKA.MODIFIABLE: _b(False), CKA.COPYABLE: _b(False), CKA.DESTROYABLE: _b(True),
        CKA.START_DATE: b"", CKA.END_DATE: b"",
        CKA.KEY_GEN_MECHANISM: encode_ulong(GEN_MECHANISM[info.key_type] if info.origin == "generated"
                                            and info.key_type in GEN_MECHANISM else CK_UNAVAILABLE),
        CKA.DERIVE: _b(bool(uses & (KeyUse.DERIVE | KeyUse.AGREE))),
    }
    if public:
        common.update({CKA.CLASS: encode_ulong(CKO.PUBLIC_KEY), CKA.PRIVATE: _b(False),
                       CKA.VERIFY: _b(bool(uses & KeyUse.VERIFY)), CKA.ENCRYPT: _b(False), CKA.WRAP: _b(False),
                       CKA.VERIFY_RECOVER: _b(False), CKA.DERIVE: _b(False)})
    else:
        common.update({CKA.CLASS: encode_ulong(cls), CKA.PRIVATE: _b(True), CKA.SENSITIVE: _b(True),
                       CKA.ALWAYS_SENSITIVE: _b(True), CKA.EXTRACTABLE: _b(info.exportable),
                       CKA.NEVER_EXTRACTABLE: _b(not info.exportable), CKA.SIGN: _b(bool(uses & (KeyUse.SIGN | KeyUse.MAC))),
                       CKA.DECRYPT: _b(bool(uses & KeyUse.DECRYPT)), CKA.UNWRAP: _b(bool(uses & KeyUse.UNWRAP)),
                       CKA.SIGN_RECOVER: _b(False), CKA.ALWAYS_AUTHENTICATE: _b(False),
                       CKA.WRAP_WITH_TRUSTED: _b(False), CKA.VALUE: None})
        if cls is CKO.SECRET_KEY:
            common.update({CKA.ENCRYPT: _b(bool(uses & KeyUse.ENCRYPT)), CKA.WRAP: _b(bool(uses & KeyUse.WRAP)),
                           CKA.VERIFY: _b(bool(uses & (KeyUse.VERIFY | KeyUse.MAC))),
                           CKA.VALUE_LEN: encode_ulong(SECRET_SIZES[info.key_type])})
    if info.key_type in CURVE_OIDS:
        common[CKA.EC_PARAMS] = CURVE_OIDS[info.key_type]
        if public:
            common[CKA.EC_POINT] = der_octet_string(info.public_key)
            if info.key_type is KeyType.ED25519:
                common[CKA.VALUE] = info.public_key
    return common


def lookup(attrs: dict[int, bytes | None], wanted: list[tuple[int, int]]) -> tuple[list[Attribute], int]:
    """C_GetAttributeValue's answer for (type, buffer length) pairs: the attributes and the CK_RV."""
    out: list[Attribute] = []
    rv = CKR.OK
    for attr_type, room in wanted:
        if attr_type not in attrs:
            out.append(Attribute(attr_type, None, CK_UNAVAILABLE))
            rv = rv if rv != CKR.OK else CKR.ATTRIBUTE_TYPE_INVALID
            continue
        value = attrs[attr_type]
        if value is None:
            out.append(Attribute(attr_type, None, CK_UNAVAILABLE))
            rv = CKR.ATTRIBUTE_SENSITIVE
        elif room == 0:
            out.append(Attribute(attr_type, None, len(value)))  # the caller asks for the length
        elif room < len(value):
            out.append(Attribute(attr_type, None, CK_UNAVAILABLE))
            rv = CKR.BUFFER_TOO_SMALL if rv == CKR.OK else rv
        else:
            out.append(Attribute.of(attr_type, value))
    return out, rv
