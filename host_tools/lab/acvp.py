"""`cmsim acvp-wrapper`: the "module wrapper" end of BoringSSL's / AWS-LC's ``acvptool``, over the serial line.

acvptool runs a wrapper program and talks to it on stdin/stdout (its ``subprocess`` package,
``Transact``; the C++ reference is ``util/fipstools/acvp/modulewrapper``). A request is a
little-endian uint32 count of arguments, that many little-endian uint32 lengths, then the
argument bytes; the first argument is the command name ("getConfig", "SHA2-256",
"ECDSA/sigVer", ...). A reply has the same shape without a name. The protocol has no error
reply: like the reference wrapper, this one writes a line on stderr and exits (1: a malformed
request or a wrong argument count, 2: an unknown command, 3: the operation failed).

Each request becomes service calls of one authenticated User session. Keys that acvptool hands
over in clear enter the module only through its approved key entry: KEY_IMPORT wrapped with
AES-KWP under a KEK that an ECDH + HKDF exchange with the module established
(:mod:`host_tools.lab.keytransport`); every such key is deleted again after the request.
A result that must go back (an HKDF output, an ECDH Z, an unwrapped KWP payload) leaves by KEY_EXPORT
under the same KEK, which the module allows only for keys whose value is known outside it already
(made from a test key imported under the KEK, or agreed with the server's peer key). A key pair the
module generated is not such a key: keyGen answers a handle for it, sigGen signs with it, and
:meth:`AcvpWrapper.close` deletes it.
:data:`COMMANDS` is the one table of commands (both dialects), their argument counts and the
services they use; :data:`CONFIG` registers only what they can answer, and :data:`LAB_CONFIG` (hmacDRBG,
PBKDF: the lab-only LAB_ALGORITHM_TEST) is added only for a device in lab mode.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from host_tools.archive import Archive
from host_tools.audit_drain import fetch_public_key
from host_tools.client import OperatorSession
from host_tools.lab.keytransport import KeyTransport
from module.wire.defs import Command, DigestAlg, KdfAlg, KeyType, KeyUse, LabAlgorithm, Status
from module.wire.messages import Reply

__all__ = ["CONFIG", "LAB_CONFIG", "COMMANDS", "DIALECTS", "registration", "CommandSpec", "command_table", "read_request", "read_reply", "write_reply", "encode_request",
           "AcvpWrapper", "WrapperError", "serve", "archiving_drain", "MAX_ARGS", "MAX_ARG_LENGTH"]

MAX_ARGS = 16
MAX_ARG_LENGTH = 1 << 20
MAX_NAME_LENGTH = 64
MESSAGE_BITS_MAX = 65536  # the DIGEST service takes messages of up to 64 KiB; advertised in bits
PAYLOAD_BITS_MAX = 65536  # GCM plaintext and AAD advertised up to 8 KiB, well inside one frame

DIGESTS = {
    "SHA2-256": (DigestAlg.SHA2_256, 32), "SHA2-384": (DigestAlg.SHA2_384, 48), "SHA2-512": (DigestAlg.SHA2_512, 64),
    "SHA3-256": (DigestAlg.SHA3_256, 32), "SHA3-384": (DigestAlg.SHA3_384, 48), "SHA3-512": (DigestAlg.SHA3_512, 64),
}
ECDSA = {("P-256", "SHA2-256"): (KeyType.EC_P256, 32), ("P-384", "SHA2-384"): (KeyType.EC_P384, 48)}
EC_CURVES = {"P-256": (KeyType.EC_P256, 32), "P-384": (KeyType.EC_P384, 48)}
HMACS = {"HMAC-SHA2-256": (KeyType.HMAC_SHA256, 32), "HMAC-SHA2-384": (KeyType.HMAC_SHA384, 48),
         "HMAC-SHA2-512": (KeyType.HMAC_SHA512, 64)}
# Secrets of these lengths can be stored (and so wrapped, unwrapped or derived): the module's fixed key sizes.
SECRET_TYPES = {32: KeyType.GENERIC_SECRET, 48: KeyType.HMAC_SHA384, 64: KeyType.HMAC_SHA512}
GCM_NONCE, GCM_TAG, AES_KEY = 12, 16, 32
# keyGen answers D with a handle of this form (51 bytes: longer than any P-256/P-384 scalar or Ed25519 seed,
# so sigGen never mistakes one for a key given in clear); acvptool passes D back to sigGen as opaque bytes.
HANDLE_PREFIX = b"cmsim-acvp-wrapper key handle "
HANDLE_DIGITS = 21
HANDLE_LENGTH = len(HANDLE_PREFIX) + HANDLE_DIGITS


def _is_handle(private: bytes) -> bool:
    return len(private) == HANDLE_LENGTH and private.startswith(HANDLE_PREFIX)


def _sha(name: str, revision: str) -> dict[str, Any]:
    return {"algorithm": name, "revision": revision,
            "messageLength": [{"min": 0, "max": MESSAGE_BITS_MAX, "increment": 8}]}


def _fixed(bits: int) -> list[dict[str, int]]:
    return [{"min": bits, "max": bits, "increment": 8}]


_ECDSA_CAPS = [{"curve": ["P-256"], "hashAlg": ["SHA2-256"]}, {"curve": ["P-384"], "hashAlg": ["SHA2-384"]}]
_GCM = {"algorithm": "ACVP-AES-GCM", "revision": "1.0", "keyLen": [256],
        "payloadLen": [{"min": 0, "max": PAYLOAD_BITS_MAX, "increment": 8}],
        "aadLen": [{"min": 0, "max": PAYLOAD_BITS_MAX, "increment": 8}], "tagLen": [128], "ivLen": [96]}

# The fixed info each acvptool builds for KDA HKDF: BoringSSL's hkdf.go sends uPartyInfo || vPartyInfo,
# AWS-LC's appends L as a 32-bit big-endian number; the registration must say which.
KDA_PATTERNS = {"BoringSSL": "uPartyInfo||vPartyInfo", "AWS-LC": "uPartyInfo||vPartyInfo||l"}
DIALECTS = tuple(KDA_PATTERNS)


def registration(dialect: str = "BoringSSL", *, lab: bool = False) -> list[dict[str, Any]]:
    """The getConfig answer for one acvptool: KDA's fixed-info pattern as that tool builds it, and for AWS-LC
    no GCM encryption with an internal IV (its aead.go sends AES-GCM/seal with an empty nonce and reports no
    IV, which no answer can make verifiable). ``lab``: the device is in lab mode, so the lab-only algorithm
    test (:data:`LAB_CONFIG`, hmacDRBG and PBKDF) can be answered and is registered too."""
    if dialect not in KDA_PATTERNS:
        raise ValueError(f"dialect {dialect!r}: one of {DIALECTS}")
    out = []
    for c in [*CONFIG, *(LAB_CONFIG if lab else [])]:
        if c["algorithm"] == "KDA":
            c = {**c, "fixedInfoPattern": KDA_PATTERNS[dialect]}
        elif c["algorithm"] == "ACVP-AES-GCM" and c["ivGen"] == "internal" and dialect == "AWS-LC":
            c = {**c, "direction": ["decrypt"]}
        out.append(dict(c))
    return out


# ACVP registration form (one object per algorithm and mode), as acvptool's getConfig expects (BoringSSL's
# dialect; :func:`registration` gives AWS-LC's). No keyGen mode (ECDSA or EdDSA): its server check needs the
# generated private key, which the module never lets out where the host could read it; the keyGen commands
# still answer, with a key handle, for sigGen.
CONFIG: list[dict[str, Any]] = [
    *(_sha(n, "1.0") for n in ("SHA2-256", "SHA2-384", "SHA2-512")),
    *(_sha(n, "2.0") for n in ("SHA3-256", "SHA3-384", "SHA3-512")),
    *({"algorithm": name, "revision": "1.0", "keyLen": _fixed(8 * size), "macLen": [8 * size]}
      for name, (_, size) in HMACS.items()),
    {**_GCM, "direction": ["encrypt", "decrypt"], "ivGen": "internal", "ivGenMode": "8.2.2"},
    {**_GCM, "direction": ["decrypt"], "ivGen": "external"},
    {"algorithm": "ACVP-AES-KWP", "revision": "1.0", "direction": ["encrypt", "decrypt"], "kwCipher": ["cipher"],
     "keyLen": [256], "payloadLen": [8 * n for n in SECRET_TYPES]},
    {"algorithm": "KDA", "mode": "HKDF", "revision": "Sp800-56Cr1", "fixedInfoPattern": KDA_PATTERNS["BoringSSL"],
     "encoding": ["concatenation"], "hmacAlg": ["SHA2-256"], "macSaltMethods": ["default", "random"], "l": 256,
     "z": _fixed(256)},
    {"algorithm": "KAS-ECC-SSC", "revision": "Sp800-56Ar3", "scheme": {
        "ephemeralUnified": {"kasRole": ["initiator", "responder"]},
        "staticUnified": {"kasRole": ["initiator", "responder"]}}, "domainParameterGenerationMethods": ["P-256"]},
    {"algorithm": "ECDSA", "mode": "keyVer", "revision": "FIPS186-5", "curve": ["P-256"]},
    {"algorithm": "ECDSA", "mode": "sigGen", "revision": "FIPS186-5", "capabilities": _ECDSA_CAPS},
    {"algorithm": "ECDSA", "mode": "sigVer", "revision": "FIPS186-5", "capabilities": _ECDSA_CAPS},
    {"algorithm": "EDDSA", "mode": "sigGen", "revision": "1.0", "curve": ["ED-25519"], "pure": True, "preHash": False},
    {"algorithm": "EDDSA", "mode": "sigVer", "revision": "1.0", "curve": ["ED-25519"], "pure": True, "preHash": False},
    {"algorithm": "ML-KEM", "mode": "encapDecap", "revision": "FIPS203", "parameterSets": ["ML-KEM-768"],
     "functions": ["encapsulationKeyCheck"]},
]


# The module's own HMAC_DRBG (SHA-256, no derivation function, no prediction resistance) and PBKDF2
# (HMAC-SHA2-256), reachable only through LAB_ALGORITHM_TEST, which exists on a lab-mode device only.
# The DRBG takes 256-bit entropy and 128-bit nonces here (the module's minimums; ACVP tests one length each);
# two output lengths, ACVP's own sample (256 bits) and NIST CAVP's (1,024 bits).
DRBG_HASHES = ("SHA2-256",)
_DRBG_CAPABILITY = {"mode": "SHA2-256", "derFuncEnabled": False, "entropyInputLen": [256], "nonceLen": [128],
                    "persoStringLen": [0, 256], "additionalInputLen": [0, 256]}
PBKDF_HMACS = ("SHA2-256",)
PBKDF_ITERATIONS_MAX = 100_000  # module/services/labtest.py MAX_ITERATIONS: no more than the login's own count
LAB_CONFIG: list[dict[str, Any]] = [
    {"algorithm": "hmacDRBG", "revision": "1.0", "predResistanceEnabled": [False], "reseedImplemented": True,
     "capabilities": [{**_DRBG_CAPABILITY, "returnedBitsLen": bits} for bits in (256, 1024)]},
    {"algorithm": "PBKDF", "revision": "1.0", "capabilities": [{
        "iterationCount": [{"min": 1, "max": PBKDF_ITERATIONS_MAX, "increment": 1}],
        "keyLen": [{"min": 112, "max": 4096, "increment": 8}], "passwordLen": [{"min": 8, "max": 128, "increment": 1}],
        "saltLen": [{"min": 128, "max": 4096, "increment": 8}], "hmacAlg": list(PBKDF_HMACS)}]},
]


class WrapperError(Exception):
    """Ends the wrapper with ``code`` (1 malformed request, 2 unknown command, 3 operation failed)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_request(stream: BinaryIO) -> list[bytes] | None:
    """One request's arguments (the name first); None at a clean end of input."""
    return _read_parts(stream, name_first=True)


def read_reply(stream: BinaryIO) -> list[bytes] | None:
    """One reply's parts (what acvptool reads back); None at a clean end of input."""
    return _read_parts(stream, name_first=False)


def _read_parts(stream: BinaryIO, *, name_first: bool) -> list[bytes] | None:
    head = _read_exact(stream, 4)
    if head is None:
        return None
    (count,) = struct.unpack("<I", head)
    if count == 0 or count > MAX_ARGS:
        raise WrapperError(1, f"a request with {count} arguments (1..{MAX_ARGS} allowed)")
    raw = _read_exact(stream, 4 * count)
    if raw is None:
        raise WrapperError(1, "input ended inside a request's lengths")
    lengths = struct.unpack(f"<{count}I", raw)
    if (name_first and lengths[0] > MAX_NAME_LENGTH) or any(n > MAX_ARG_LENGTH for n in lengths):
        raise WrapperError(1, f"argument lengths {list(lengths)} exceed the limits")
    args = []
    for n in lengths:
        data = _read_exact(stream, n) if n else b""
        if data is None:
            raise WrapperError(1, "input ended inside a request's arguments")
        args.append(data)
    return args


def encode_request(args: list[bytes]) -> bytes:
    """What acvptool writes (used by the tests, and handy for driving the wrapper by hand)."""
    return struct.pack(f"<{len(args) + 1}I", len(args), *(len(a) for a in args)) + b"".join(args)


def write_reply(stream: BinaryIO, parts: list[bytes]) -> None:
    if not parts or len(parts) > MAX_ARGS:
        raise WrapperError(3, f"a reply of {len(parts)} parts")
    stream.write(struct.pack(f"<{len(parts) + 1}I", len(parts), *(len(p) for p in parts)) + b"".join(parts))
    stream.flush()


Caller = Callable[[Command, dict[str, Any]], Reply]
Handler = Callable[["AcvpWrapper", list[bytes]], list[bytes]]


@dataclass(frozen=True)
class CommandSpec:
    """One wrapper command: its argument count (checked strictly), which acvptool sends it, what it serves."""

    name: str
    arity: int
    dialect: str  # "both", "BoringSSL" or "AWS-LC"
    algorithm: str  # the ACVP algorithm (and mode) it answers
    services: tuple[Command, ...]
    handler: Handler
    arguments: tuple[str, ...] = ()
    outputs: str = ""


class _Caller:
    """The wrapper's session as the key transport sees it (it calls as one operator only)."""

    def __init__(self, call: Caller) -> None:
        self._call = call

    def raw(self, command: Command | int, params: Mapping[str, Any] | None = None, who: str | None = None) -> Reply:
        return self._call(Command(command), dict(params or {}))


def _flag(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def _u32(raw: bytes, what: str) -> int:
    if len(raw) != 4:
        raise WrapperError(3, f"{what} must be a 4-byte little-endian number")
    return int(struct.unpack("<I", raw)[0])


def _text(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace")


class AcvpWrapper:
    """Maps acvptool commands onto service calls; ``call`` runs one call in an authenticated session.

    ``dialect`` picks the registration for BoringSSL's or AWS-LC's acvptool (KDA's fixed info, and GCM
    internal-IV encryption for BoringSSL only); the commands of both are always answered. ``lab`` says the
    device is in lab mode: only then are hmacDRBG and PBKDF registered (their commands reach LAB_ALGORITHM_TEST,
    which a device not in lab mode answers UNKNOWN_COMMAND; the wrapper then exits 3).

    ``drain``, when given, empties the audit trail into an archive (returning how many records it
    kept). The wrapper then looks at the ring's fill now and then (GET_STATUS, sooner the fuller it
    is) and drains once the high-water mark is passed, so a long run under the default ``block``
    policy keeps every record and is never refused; should the ring fill anyway (another client),
    an AUDIT_FULL answer is drained and the call repeated once.
    """

    def __init__(self, call: Caller, drain: Callable[[], int] | None = None, dialect: str = "BoringSSL", *,
                 lab: bool = False) -> None:
        self.call = call
        self.drain = drain
        self.config = registration(dialect, lab=lab)
        self.requests = 0
        self.drained = 0  # records the drain archived
        self.drains = 0
        self._until_look = 0  # device calls before the next look at the ring
        self._keys: KeyTransport | None = None
        self._generated: dict[bytes, tuple[KeyType, int]] = {}  # keyGen handle -> (key type, key id)
        self._handles = 0

    def handle(self, args: list[bytes]) -> list[bytes]:
        try:
            name = args[0].decode("ascii")
        except UnicodeDecodeError:
            raise WrapperError(1, "the command name is not ASCII") from None
        self.requests += 1
        if name == "getConfig":
            self._arity(name, args[1:], 0)
            return [json.dumps(self.config, separators=(",", ":")).encode()]
        spec = COMMANDS.get(name)
        if spec is None:
            raise WrapperError(2, f"unknown command {name!r} (docs/lab.md lists the supported ones)")
        self._arity(name, args[1:], spec.arity)
        return spec.handler(self, args[1:])

    @staticmethod
    def _arity(name: str, args: list[bytes], n: int) -> None:
        if len(args) != n:
            raise WrapperError(1, f"{name} takes {n} arguments, got {len(args)}")

    # ------------------------------------------------------------ calls
    def _raw(self, command: Command, params: dict[str, Any]) -> Reply:
        if self.drain is not None:
            self._look_at_the_ring()
        reply = self.call(command, params)
        if reply.status is Status.AUDIT_FULL and self.drain is not None:
            self._drain()
            reply = self.call(command, params)
        return reply

    def _drain(self) -> None:
        assert self.drain is not None
        self.drained += self.drain()
        self.drains += 1

    def _look_at_the_ring(self) -> None:
        if self._until_look > 0:
            self._until_look -= 1
            return
        audit = self.call(Command.GET_STATUS, {}).data.get("audit", {})
        if audit.get("high_water_reached"):
            self._drain()
            audit = self.call(Command.GET_STATUS, {}).data.get("audit", {})
        # each call adds about one record: look again well before the free slots run out
        self._until_look = max(0, (int(audit.get("capacity", 0)) - int(audit.get("used", 0))) // 4)

    def _device(self, command: Command, params: dict[str, Any]) -> Reply:
        reply = self._raw(command, params)
        if reply.status is not Status.OK:
            hint = " (drain the audit trail: `cmsim audit archive` between vector sets, or a wrapper with a drain)" \
                if reply.status is Status.AUDIT_FULL else ""
            raise WrapperError(3, f"{command.name} refused: {reply.status.name} {reply.message}{hint}")
        return reply

    def _transport(self) -> KeyTransport:
        if self._keys is None:
            self._keys = KeyTransport(_Caller(self._raw), "acvp")
            self._keys.establish()
        return self._keys

    def _import(self, key_type: KeyType, material: bytes, uses: KeyUse, *, exportable: bool = False) -> int:
        """A plaintext test key in through the approved key entry (wrapped under the KEK)."""
        reply = self._transport().import_key(key_type, material, uses, exportable=exportable)
        if reply.status is not Status.OK:
            raise WrapperError(3, f"KEY_IMPORT of a {key_type.name} test key refused: {reply.status.name} "
                                  f"{reply.message}")
        return int(reply.data["key_id"])

    def _export(self, key_id: int) -> bytes:
        material = self._transport().export_key(key_id)
        if material is None:
            raise WrapperError(3, f"KEY_EXPORT of key {key_id} refused")
        return material

    def _delete(self, *key_ids: int) -> None:
        for key_id in key_ids:
            self._device(Command.KEY_DELETE, {"key_id": key_id})

    def close(self) -> None:
        """Delete the key pairs keyGen made and the key-transport keys (the KEK and what made it)."""
        while self._generated:
            _, (_, key_id) = self._generated.popitem()
            self._delete(key_id)
        if self._keys is not None:
            self._keys.close()
            self._keys = None

    # ----------------------------------------------------------- digests
    def _digest(self, name: str, message: bytes) -> bytes:
        return bytes(self._device(Command.DIGEST, {"algorithm": int(DIGESTS[name][0]), "message": message})
                     .data["digest"])

    def sha(self, name: str, args: list[bytes]) -> list[bytes]:
        return [self._digest(name, args[0])]

    def sha_mct(self, name: str, args: list[bytes]) -> list[bytes]:
        """One Monte Carlo step: 1,000 iterations (SHAVS for SHA-2: MD_i = H(MD_i-3 || MD_i-2 || MD_i-1);
        SHA3VS for SHA-3: MD_i = H(MD_i-1)), every hash computed by the device."""
        seed = args[0]
        size = DIGESTS[name][1]
        if len(seed) != size:
            raise WrapperError(3, f"{name}/MCT seed of {len(seed)} bytes, expected {size}")
        if name.startswith("SHA2"):
            a = b = c = seed
            for _ in range(1000):
                a, b, c = b, c, self._digest(name, a + b + c)
            return [c]
        md = seed
        for _ in range(1000):
            md = self._digest(name, md)
        return [md]

    # ---------------------------------------------------------------- HMAC
    def hmac(self, name: str, args: list[bytes]) -> list[bytes]:
        message, key = args
        key_type, size = HMACS[name]
        if len(key) != size:
            raise WrapperError(3, f"{name} with a {8 * len(key)}-bit key: the module's {key_type.name} keys are "
                                  f"{8 * size} bits (registered keyLen)")
        key_id = self._import(key_type, key, KeyUse.MAC)
        try:
            return [bytes(self._device(Command.MAC_GENERATE, {"key_id": key_id, "message": message}).data["mac"])]
        finally:
            self._delete(key_id)

    # ------------------------------------------------------------- AES-GCM
    def _gcm_key(self, tag_length: bytes, key: bytes, nonce: bytes, *, random_nonce: bool) -> int:
        if _u32(tag_length, "the tag length") != GCM_TAG or len(key) != AES_KEY:
            raise WrapperError(3, "AES-GCM: the module does AES-256 with 128-bit tags only")
        if random_nonce and nonce:
            raise WrapperError(3, "AES-GCM-randnonce takes an empty nonce (the module draws it)")
        return self._import(KeyType.AES_256, key, KeyUse.ENCRYPT | KeyUse.DECRYPT)

    def gcm_seal_random_nonce(self, args: list[bytes]) -> list[bytes]:
        """ENCRYPT draws the IV (SP 800-38D 8.2.2); the reply is ciphertext || tag || nonce."""
        tag_length, key, plaintext, nonce, aad = args
        key_id = self._gcm_key(tag_length, key, nonce, random_nonce=True)
        try:
            data = self._device(Command.ENCRYPT, {"key_id": key_id, "plaintext": plaintext, "aad": aad}).data
            return [bytes(data["ciphertext"]) + bytes(data["iv"])]
        finally:
            self._delete(key_id)

    def gcm_open(self, args: list[bytes], *, random_nonce: bool = False) -> list[bytes]:
        tag_length, key, ciphertext, nonce, aad = args
        key_id = self._gcm_key(tag_length, key, nonce, random_nonce=random_nonce)
        if random_nonce:
            ciphertext, nonce = ciphertext[:-GCM_NONCE], ciphertext[-GCM_NONCE:]
        try:
            if len(nonce) != GCM_NONCE or len(ciphertext) < GCM_TAG:
                return [b"\x00", b""]
            reply = self._raw(Command.DECRYPT, {"key_id": key_id, "iv": nonce, "ciphertext": ciphertext, "aad": aad})
            if reply.status is Status.DECRYPT_FAILED:
                return [b"\x00", b""]
            if reply.status is not Status.OK:
                raise WrapperError(3, f"DECRYPT refused: {reply.status.name} {reply.message}")
            return [b"\x01", bytes(reply.data["plaintext"])]
        finally:
            self._delete(key_id)

    # ------------------------------------------------------------ AES-KWP
    def _kwp_key(self, key: bytes) -> int:
        if len(key) != AES_KEY:
            raise WrapperError(3, "AES-KWP: the module wraps with AES-256 keys only")
        return self._import(KeyType.AES_256, key, KeyUse.WRAP | KeyUse.UNWRAP)

    def kwp_seal(self, args: list[bytes]) -> list[bytes]:
        """KEY_EXPORT of the payload (entered as a key of its length) under the given wrapping key."""
        _, key, plaintext, _, _ = args
        key_type = SECRET_TYPES.get(len(plaintext))
        if key_type is None:
            raise WrapperError(3, f"AES-KWP payload of {len(plaintext)} bytes: the module wraps keys of "
                                  f"{', '.join(map(str, SECRET_TYPES))} bytes (registered payloadLen)")
        wrap_id = self._kwp_key(key)
        payload_id = self._import(key_type, plaintext, KeyUse.DERIVE if key_type is KeyType.GENERIC_SECRET
                                  else KeyUse.MAC, exportable=True)
        try:
            reply = self._device(Command.KEY_EXPORT, {"key_id": payload_id, "wrap_key_id": wrap_id})
            return [bytes(reply.data["wrapped"])]
        finally:
            self._delete(payload_id, wrap_id)

    def kwp_open(self, args: list[bytes]) -> list[bytes]:
        """KEY_IMPORT of the ciphertext under the given wrapping key; a failed integrity check is a 0 flag."""
        _, key, ciphertext, _, _ = args
        key_type = SECRET_TYPES.get(len(ciphertext) - 8)
        if key_type is None:
            return [b"\x00", b""]
        wrap_id = self._kwp_key(key)
        try:
            reply = self._raw(Command.KEY_IMPORT, {
                "wrap_key_id": wrap_id, "wrapped": ciphertext, "key_type": int(key_type), "exportable": True,
                "uses": int(KeyUse.DERIVE if key_type is KeyType.GENERIC_SECRET else KeyUse.MAC)})
            if reply.status in (Status.DECRYPT_FAILED, Status.INVALID_KEY_DATA):
                return [b"\x00", b""]
            if reply.status is not Status.OK:
                raise WrapperError(3, f"KEY_IMPORT refused: {reply.status.name} {reply.message}")
            payload_id = int(reply.data["key_id"])
            try:
                return [b"\x01", self._export(payload_id)]
            finally:
                self._delete(payload_id)
        finally:
            self._delete(wrap_id)

    # --------------------------------------------------------------- KDFs
    def hkdf(self, args: list[bytes]) -> list[bytes]:
        """KDA HKDF: Z enters as a GENERIC_SECRET, DERIVE makes an exportable key of the length asked for."""
        z, salt, info, length_raw = args
        length = _u32(length_raw, "the output length")
        key_type = SECRET_TYPES.get(length)
        if len(z) != 32 or key_type is None:
            raise WrapperError(3, "HKDF/SHA2-256: the module derives from 256-bit secrets into keys of "
                                  f"{', '.join(map(str, SECRET_TYPES))} bytes")
        z_id = self._import(KeyType.GENERIC_SECRET, z, KeyUse.DERIVE, exportable=True)  # the output inherits it
        try:
            reply = self._device(Command.DERIVE, {"base_key_id": z_id, "kdf": int(KdfAlg.HKDF_SHA256),
                                                  "key_type": int(key_type), "salt": salt, "info": info,
                                                  "exportable": True})
            derived = int(reply.data["key_id"])
            try:
                return [self._export(derived)]
            finally:
                self._delete(derived)
        finally:
            self._delete(z_id)

    def ecdh(self, args: list[bytes]) -> list[bytes]:
        """KAS-ECC-SSC P-256: KEY_AGREE with a generated (or, for VAL, an imported) key; Z leaves wrapped.

        Z may leave under the host-known KEK even from a generated key: it is agreed with a peer key the
        host chose (the server's), so the module counts its value as known outside. The generated private
        key itself never leaves; the server checks Z with its own private key and the returned X, Y."""
        x, y, private = args
        if max(len(x), len(y)) > 32:
            raise WrapperError(3, "ECDH/P-256: a coordinate longer than 32 bytes")
        if private:
            key_id = self._import(KeyType.EC_P256, private.rjust(32, b"\0"), KeyUse.AGREE, exportable=True)
            public = bytes(self._device(Command.KEY_ATTRIBUTES, {"key_id": key_id}).data["public_key"])
        else:
            # exportable, as Z inherits its inputs' exportability and leaves (wrapped) for the check;
            # the pair itself is never exported (and could not be: it is not known outside)
            data = self._device(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "exportable": True,
                                                       "uses": int(KeyUse.AGREE)}).data
            key_id, public = int(data["key_id"]), bytes(data["public_key"])
        try:
            point = b"\x04" + x.rjust(32, b"\0") + y.rjust(32, b"\0")
            secret = int(self._device(Command.KEY_AGREE, {"key_id": key_id, "peer_public_key": point,
                                                          "exportable": True}).data["key_id"])
            try:
                return [public[1:33], public[33:], self._export(secret)]
            finally:
                self._delete(secret)
        finally:
            self._delete(key_id)

    # ----------------------------------------------------------- signatures
    def _generate(self, key_type: KeyType) -> tuple[bytes, bytes]:
        """KEY_GENERATE of a signing key pair that stays in the module until :meth:`close`; (its handle, the
        public key). The private key cannot leave: the KEK is known to the host, so the module wraps under it
        only keys the host knows already, and a generated key is not one."""
        data = self._device(Command.KEY_GENERATE, {"key_type": int(key_type), "uses": int(KeyUse.SIGN)}).data
        self._handles += 1
        handle = HANDLE_PREFIX + str(self._handles).rjust(HANDLE_DIGITS, "0").encode()
        self._generated[handle] = (key_type, int(data["key_id"]))
        return handle, bytes(data["public_key"])

    def _sign(self, key_type: KeyType, private: bytes, message: bytes) -> bytes:
        """SIGN with the key behind a keyGen handle, or with a private key given in clear (entered, then deleted)."""
        if _is_handle(private):
            stored = self._generated.get(private)
            if stored is None or stored[0] is not key_type:
                raise WrapperError(3, f"{key_type.name} signing with {private!r}: not a key handle this wrapper's "
                                      "keyGen gave for that algorithm")
            return self._signature(stored[1], message)
        key_id = self._import(key_type, private, KeyUse.SIGN)
        try:
            return self._signature(key_id, message)
        finally:
            self._delete(key_id)

    def _signature(self, key_id: int, message: bytes) -> bytes:
        return bytes(self._device(Command.SIGN, {"key_id": key_id, "message": message}).data["signature"])

    def _verify(self, key_type: KeyType, public: bytes, message: bytes, signature: bytes) -> bytes:
        reply = self._raw(Command.VERIFY, {"key_type": int(key_type), "public_key": public, "message": message,
                                           "signature": signature})
        if reply.status in (Status.INVALID_PARAMETER, Status.INVALID_KEY_DATA):
            return b"\x00"  # a malformed key or signature is a verification failure, not a tool error
        if reply.status is not Status.OK:
            raise WrapperError(3, f"VERIFY refused: {reply.status.name} {reply.message}")
        return _flag(bool(reply.data.get("valid")))

    @staticmethod
    def _curve(curve: bytes) -> tuple[KeyType, int]:
        spec = EC_CURVES.get(_text(curve))
        if spec is None:
            raise WrapperError(3, f"ECDSA with curve {curve!r}: the module implements P-256 and P-384 only")
        return spec

    @staticmethod
    def _pair(curve: bytes, hash_alg: bytes) -> tuple[KeyType, int]:
        spec = ECDSA.get((_text(curve), _text(hash_alg)))
        if spec is None:
            raise WrapperError(3, f"ECDSA with {curve!r}/{hash_alg!r}: the module pairs P-256 with SHA2-256 "
                                  "and P-384 with SHA2-384 only")
        return spec

    def ecdsa_keygen(self, args: list[bytes]) -> list[bytes]:
        """The key for a sigGen group: D is a handle (the private key stays in the module), X and Y are Q."""
        key_type, size = self._curve(args[0])
        handle, public = self._generate(key_type)
        return [handle, public[1:1 + size], public[1 + size:]]

    def ecdsa_keyver(self, args: list[bytes]) -> list[bytes]:
        """P-256 only: KEY_AGREE runs the full SP 800-56A public-key validation on the given point."""
        curve, qx, qy = args
        if _text(curve) != "P-256":
            raise WrapperError(3, "ECDSA/keyVer: the module validates P-256 points only (through KEY_AGREE)")
        if max(len(qx), len(qy)) > 32:
            return [b"\x00"]
        data = self._device(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "uses": int(KeyUse.AGREE)}).data
        key_id = int(data["key_id"])
        try:
            reply = self._raw(Command.KEY_AGREE, {"key_id": key_id,
                                                  "peer_public_key": b"\x04" + qx.rjust(32, b"\0") + qy.rjust(32, b"\0")})
            if reply.status is Status.INVALID_KEY_DATA:
                return [b"\x00"]
            if reply.status is not Status.OK:
                raise WrapperError(3, f"KEY_AGREE refused: {reply.status.name} {reply.message}")
            self._delete(int(reply.data["key_id"]))
            return [b"\x01"]
        finally:
            self._delete(key_id)

    def ecdsa_siggen(self, args: list[bytes]) -> list[bytes]:
        """SIGN with the key behind the handle ECDSA/keyGen gave (or a private key in clear, entered for the
        call); the module's nonces are RFC 6979."""
        curve, private, hash_alg, message = args
        key_type, size = self._pair(curve, hash_alg)
        if not _is_handle(private):
            if len(private) > size:
                raise WrapperError(3, "ECDSA/sigGen: a private key longer than the curve's order")
            private = private.rjust(size, b"\0")
        signature = self._sign(key_type, private, message)
        return [signature[:size], signature[size:]]

    def ecdsa_sigver(self, args: list[bytes]) -> list[bytes]:
        curve, hash_alg, message, qx, qy, r, s = args
        key_type, size = self._pair(curve, hash_alg)
        if max(len(qx), len(qy)) > size:
            return [b"\x00"]  # not a point of this curve
        point = b"\x04" + qx.rjust(size, b"\0") + qy.rjust(size, b"\0")
        signature = r.rjust(size, b"\0") + s.rjust(size, b"\0") if max(len(r), len(s)) <= size else r + s
        return [self._verify(key_type, point, message, signature)]

    @staticmethod
    def _ed25519(curve: bytes) -> None:
        if _text(curve) != "ED-25519":
            raise WrapperError(3, f"EdDSA with curve {curve!r}: the module implements ED-25519 only")

    @staticmethod
    def _pure(prehash: bytes, context: bytes = b"") -> None:
        if prehash not in (b"", b"\x00") or context:
            raise WrapperError(3, "EdDSA: the module signs pure Ed25519 only (no pre-hash, no context)")

    def eddsa_keygen(self, args: list[bytes]) -> list[bytes]:
        """The key for a sigGen group: D is a handle (the private key stays in the module), then Q."""
        if args:
            self._ed25519(args[0])
        return list(self._generate(KeyType.ED25519))

    def eddsa_siggen(self, args: list[bytes]) -> list[bytes]:
        if len(args) == 5:  # BoringSSL: curve, D, message, prehash flag, context
            curve, seed, message, prehash, context = args
            self._ed25519(curve)
            self._pure(prehash, context)
        else:  # AWS-LC: D, message
            seed, message = args
        return [self._sign(KeyType.ED25519, seed, message)]

    def eddsa_sigver(self, args: list[bytes]) -> list[bytes]:
        if len(args) == 5:  # BoringSSL: curve, message, Q, signature, prehash flag
            curve, message, public, signature, prehash = args
            self._ed25519(curve)
            self._pure(prehash)
        else:  # AWS-LC: message, Q, signature
            message, public, signature = args
        return [self._verify(KeyType.ED25519, public, message, signature)]

    # ------------------------------------------------- lab-only algorithm test
    def _lab_test(self, algorithm: LabAlgorithm, params: dict[str, Any]) -> bytes:
        reply = self._raw(Command.LAB_ALGORITHM_TEST, {"algorithm": int(algorithm), **params})
        if reply.status is Status.UNKNOWN_COMMAND:
            raise WrapperError(3, "LAB_ALGORITHM_TEST: the device is not in lab mode (hmacDRBG and PBKDF need a "
                                  "device started with --lab)")
        if reply.status is not Status.OK:
            raise WrapperError(3, f"LAB_ALGORITHM_TEST refused: {reply.status.name} {reply.message}")
        return bytes(reply.data["output"])

    def hmac_drbg(self, name: str, args: list[bytes]) -> list[bytes]:
        """drbg.go: instantiate (entropy, nonce, personalisation), reseed for the -reseed form, generate twice."""
        if name not in DRBG_HASHES:
            raise WrapperError(3, f"hmacDRBG/{name}: the module's HMAC_DRBG is SHA2-256 only")
        if len(args) == 8:  # hmacDRBG-reseed: output length, entropy, perso, reseed AD, reseed entropy, ad1, ad2, nonce
            length, entropy, perso, reseed_ad, reseed_entropy, ad1, ad2, nonce = args
            reseed = {"reseed_entropy": reseed_entropy, "reseed_additional": reseed_ad}
        else:  # output length, entropy, perso, ad1, ad2, nonce
            length, entropy, perso, ad1, ad2, nonce = args
            reseed = {}
        params = {"length": _u32(length, "the output length"), "entropy": entropy, "nonce": nonce,
                  "personalization": perso, "additional_1": ad1, "additional_2": ad2, **reseed}
        return [self._lab_test(LabAlgorithm.HMAC_DRBG_SHA256, params)]

    def pbkdf(self, args: list[bytes]) -> list[bytes]:
        """pbkdf.go: HMAC name, key length in bits, salt, password, iteration count."""
        hmac_name, key_bits_raw, salt, password, iterations_raw = args
        key_bits, iterations = _u32(key_bits_raw, "the key length"), _u32(iterations_raw, "the iteration count")
        if _text(hmac_name) not in PBKDF_HMACS:
            raise WrapperError(3, f"PBKDF with {hmac_name!r}: the module's PBKDF2 is HMAC-SHA2-256 only")
        if key_bits % 8 or iterations > PBKDF_ITERATIONS_MAX:
            raise WrapperError(3, f"PBKDF: whole-byte keys and at most {PBKDF_ITERATIONS_MAX} iterations (registered)")
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            raise WrapperError(3, "PBKDF: the password is not text (ACVP passwords are strings)") from None
        return [self._lab_test(LabAlgorithm.PBKDF2_HMAC_SHA256, {"length": key_bits // 8, "salt": salt,
                                                                  "password": text, "iterations": iterations})]

    # --------------------------------------------------------------- ML-KEM
    def mlkem_encap_key_check(self, args: list[bytes]) -> list[bytes]:
        """ENCAPSULATE runs FIPS 203's encapsulation-key check; the secret it stores is deleted again."""
        reply = self._raw(Command.ENCAPSULATE, {"public_key": args[0]})
        if reply.status is Status.INVALID_KEY_DATA:
            return [b"\x00"]
        if reply.status is not Status.OK:
            raise WrapperError(3, f"ENCAPSULATE refused: {reply.status.name} {reply.message}")
        self._delete(int(reply.data["key_id"]))
        return [b"\x01"]


def _named(method: Callable[[AcvpWrapper, str, list[bytes]], list[bytes]], name: str) -> Handler:
    return lambda wrapper, args: method(wrapper, name, args)


def _commands() -> dict[str, CommandSpec]:
    """The request names and arguments are those of ACVP.md (BoringSSL) and AWS-LC's subprocess/*.go."""
    C = Command
    specs: list[CommandSpec] = []

    def add(name: str, arguments: tuple[str, ...], outputs: str, dialect: str, algorithm: str,
            services: tuple[Command, ...], handler: Handler) -> None:
        specs.append(CommandSpec(name, len(arguments), dialect, algorithm, services, handler, arguments, outputs))

    entry = (C.KEY_IMPORT, C.KEY_DELETE)  # every keyed command enters its key and deletes it again
    generate = (C.KEY_GENERATE, C.KEY_DELETE)  # key pairs stay in the module (D is a handle), deleted at close
    aead = ("tag length", "key", "input", "nonce", "ad")
    kw = ("(dummy)", "key", "input", "(dummy)", "(dummy)")
    for name in DIGESTS:
        add(name, ("message",), "digest", "both", name, (C.DIGEST,), _named(AcvpWrapper.sha, name))
        add(f"{name}/MCT", ("seed",), "digest after 1,000 iterations", "both", f"{name} (MCT)", (C.DIGEST,),
            _named(AcvpWrapper.sha_mct, name))
    for name in HMACS:
        add(name, ("message", "key"), "MAC", "both", name, (C.MAC_GENERATE, *entry), _named(AcvpWrapper.hmac, name))
    add("AES-GCM-randnonce/seal", aead, "ciphertext, tag and nonce", "BoringSSL", "ACVP-AES-GCM encrypt (internal IV)",
        (C.ENCRYPT, *entry), AcvpWrapper.gcm_seal_random_nonce)
    add("AES-GCM-randnonce/open", aead, "flag, plaintext", "BoringSSL", "ACVP-AES-GCM decrypt (internal IV)",
        (C.DECRYPT, *entry), lambda w, a: w.gcm_open(a, random_nonce=True))
    add("AES-GCM/open", aead, "flag, plaintext", "both", "ACVP-AES-GCM decrypt (external IV; AWS-LC: also internal)", (C.DECRYPT, *entry),
        AcvpWrapper.gcm_open)
    add("AES-KWP/seal", kw, "ciphertext", "both", "ACVP-AES-KWP encrypt", (C.KEY_EXPORT, *entry),
        AcvpWrapper.kwp_seal)
    add("AES-KWP/open", kw, "flag, plaintext", "both", "ACVP-AES-KWP decrypt",
        (C.KEY_IMPORT, C.KEY_EXPORT, C.KEY_DELETE), AcvpWrapper.kwp_open)
    hkdf = ("Z", "salt", "fixed info", "output bytes")
    add("HKDF/SHA2-256", hkdf, "DKM", "BoringSSL", "KDA HKDF", (C.DERIVE, C.KEY_EXPORT, *entry), AcvpWrapper.hkdf)
    add("KDA/HKDF/SHA2-256", hkdf, "DKM", "AWS-LC", "KDA HKDF", (C.DERIVE, C.KEY_EXPORT, *entry), AcvpWrapper.hkdf)
    add("ECDH/P-256", ("peer X", "peer Y", "private key or empty"), "X, Y, Z", "both", "KAS-ECC-SSC",
        (C.KEY_GENERATE, C.KEY_AGREE, C.KEY_ATTRIBUTES, C.KEY_EXPORT, *entry), AcvpWrapper.ecdh)
    add("ECDSA/keyGen", ("curve",), "D (a handle), X, Y", "both", "ECDSA sigGen (the key for a group)", generate,
        AcvpWrapper.ecdsa_keygen)
    add("ECDSA/keyVer", ("curve", "X", "Y"), "flag", "both", "ECDSA keyVer",
        (C.KEY_GENERATE, C.KEY_AGREE, C.KEY_DELETE), AcvpWrapper.ecdsa_keyver)
    add("ECDSA/sigGen", ("curve", "D or handle", "hash", "message"), "R, S", "both", "ECDSA sigGen", (C.SIGN, *entry),
        AcvpWrapper.ecdsa_siggen)
    add("ECDSA/sigVer", ("curve", "hash", "message", "X", "Y", "R", "S"), "flag", "both", "ECDSA sigVer",
        (C.VERIFY,), AcvpWrapper.ecdsa_sigver)
    add("EDDSA/keyGen", ("curve",), "D (a handle), Q", "BoringSSL", "EDDSA sigGen (the key for a group)", generate,
        AcvpWrapper.eddsa_keygen)
    add("EDDSA/ED-25519/keyGen", (), "D (a handle), Q", "AWS-LC", "EDDSA sigGen (the key for a group)", generate,
        AcvpWrapper.eddsa_keygen)
    add("EDDSA/sigGen", ("curve", "D or handle", "message", "pre-hash flag", "context"), "signature", "BoringSSL",
        "EDDSA sigGen", (C.SIGN, *entry), AcvpWrapper.eddsa_siggen)
    add("EDDSA/ED-25519/sigGen", ("D or handle", "message"), "signature", "AWS-LC", "EDDSA sigGen", (C.SIGN, *entry),
        AcvpWrapper.eddsa_siggen)
    add("EDDSA/sigVer", ("curve", "message", "Q", "signature", "pre-hash flag"), "flag", "BoringSSL",
        "EDDSA sigVer", (C.VERIFY,), AcvpWrapper.eddsa_sigver)
    add("EDDSA/ED-25519/sigVer", ("message", "Q", "signature"), "flag", "AWS-LC", "EDDSA sigVer", (C.VERIFY,),
        AcvpWrapper.eddsa_sigver)
    lab = (C.LAB_ALGORITHM_TEST,)
    for name in DRBG_HASHES:
        add(f"hmacDRBG/{name}", ("output length", "entropy", "personalisation", "ad1", "ad2", "nonce"), "output",
            "both", "hmacDRBG (lab mode only)", lab, _named(AcvpWrapper.hmac_drbg, name))
        add(f"hmacDRBG-reseed/{name}", ("output length", "entropy", "personalisation", "reseed AD", "reseed entropy",
                                        "ad1", "ad2", "nonce"), "output", "both", "hmacDRBG, reseed (lab mode only)",
            lab, _named(AcvpWrapper.hmac_drbg, name))
    add("PBKDF", ("HMAC name", "key length (bits)", "salt", "password", "iteration count"), "derived key", "both",
        "PBKDF (lab mode only)", lab, AcvpWrapper.pbkdf)
    for name, dialect in (("ML-KEM-768/encapKeyCheck", "BoringSSL"), ("ML-KEM/ML-KEM-768/encapKeyCheck", "AWS-LC")):
        add(name, ("encapsulation key",), "flag", dialect, "ML-KEM encapDecap (encapsulationKeyCheck)",
            (C.ENCAPSULATE, C.KEY_DELETE), AcvpWrapper.mlkem_encap_key_check)
    return {spec.name: spec for spec in specs}


# Every command the wrapper answers besides getConfig (docs/lab.md's table is checked against it).
COMMANDS: dict[str, CommandSpec] = _commands()


def command_table() -> str:
    """The Markdown table of docs/lab.md: every command, its dialect, arguments, algorithm and services."""
    rows = ["| command | acvptool | arguments -> outputs | ACVP algorithm | services |", "|---|---|---|---|---|"]
    for spec in COMMANDS.values():
        arguments = ", ".join(spec.arguments) or "none"
        services = ", ".join(c.name for c in spec.services)
        rows.append(f"| `{spec.name}` | {spec.dialect} | {arguments} -> {spec.outputs} | {spec.algorithm} | {services} |")
    return "\n".join(rows) + "\n"


def archiving_drain(archive: Archive, auditor: OperatorSession, *, allow_lab: bool = False) -> Callable[[], int]:
    """A ``drain`` for :class:`AcvpWrapper`: pull the trail into ``archive`` (verified, then acknowledged).

    ``auditor`` is a session of an Auditor or Crypto Officer (the drain services are theirs, not the
    User's). The archive is bound to the device's audit key at the first drain, from its self-signed
    statement, unless it was bound already. ``allow_lab`` accepts a lab-mode device's trail (its checkpoints
    say lab mode, which the archive otherwise refuses): needed for a run with the lab-only algorithm test."""

    def drain() -> int:
        key = archive.trusted_key()
        if key is None:
            key = fetch_public_key(auditor)  # through the session: past the public share a clear call is refused
            archive.bind(key)
        return archive.archive(auditor, key, allow_lab=allow_lab).stored

    return drain


def serve(stdin: BinaryIO, stdout: BinaryIO, wrapper: AcvpWrapper, log: Callable[[str], None] | None = None) -> int:
    """Answer requests until the input ends (0) or one cannot be answered (its exit code); either way the
    key transport's keys are deleted from the module before returning."""
    say = log or (lambda message: print(f"cmsim acvp-wrapper: {message}", file=sys.stderr))
    code = 0
    while True:
        try:
            args = read_request(stdin)
            if args is None:
                break
            write_reply(stdout, wrapper.handle(args))
        except WrapperError as exc:
            say(str(exc))
            code = exc.code
            break
    try:
        wrapper.close()
    except WrapperError as exc:
        say(f"deleting the key-transport keys: {exc}")
        code = code or exc.code
    return code
