"""`cmsim acvp-wrapper`: the "module wrapper" end of BoringSSL's / AWS-LC's ``acvptool``, over the serial line.

acvptool runs a wrapper program and talks to it on stdin/stdout (its ``subprocess`` package,
``Transact``; the C++ reference is ``util/fipstools/acvp/modulewrapper``). A request is a
little-endian uint32 count of arguments, that many little-endian uint32 lengths, then the
argument bytes; the first argument is the command name ("getConfig", "SHA2-256",
"ECDSA/sigVer", ...). A reply has the same shape without a name. The protocol has no error
reply: like the reference wrapper, this one writes a line on stderr and exits (1: a malformed
request, 2: an unknown command, 3: the operation failed).

Each request is forwarded to the device as one (or, for a Monte Carlo step, 1,000) service calls
of an authenticated session. Supported (``getConfig`` lists them in ACVP registration form):

    SHA2-256, SHA2-384, SHA2-512, SHA3-256, SHA3-384, SHA3-512   DIGEST (and "<name>/MCT")
    ECDSA/sigVer  (P-256 with SHA2-256, P-384 with SHA2-384)     VERIFY with a given public key
    EDDSA/ED-25519/sigVer                                        VERIFY with a given public key
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from module.wire.defs import Command, DigestAlg, KeyType, Status
from module.wire.messages import Reply

__all__ = ["CONFIG", "read_request", "read_reply", "write_reply", "encode_request", "AcvpWrapper", "WrapperError", "serve",
           "MAX_ARGS", "MAX_ARG_LENGTH"]

MAX_ARGS = 16
MAX_ARG_LENGTH = 1 << 20
MAX_NAME_LENGTH = 64
MESSAGE_BITS_MAX = 65536  # the DIGEST service takes messages of up to 64 KiB; advertised in bits

DIGESTS = {
    "SHA2-256": (DigestAlg.SHA2_256, 32), "SHA2-384": (DigestAlg.SHA2_384, 48), "SHA2-512": (DigestAlg.SHA2_512, 64),
    "SHA3-256": (DigestAlg.SHA3_256, 32), "SHA3-384": (DigestAlg.SHA3_384, 48), "SHA3-512": (DigestAlg.SHA3_512, 64),
}
ECDSA = {("P-256", "SHA2-256"): (KeyType.EC_P256, 32), ("P-384", "SHA2-384"): (KeyType.EC_P384, 48)}


def _sha(name: str, revision: str) -> dict[str, Any]:
    return {"algorithm": name, "revision": revision,
            "messageLength": [{"min": 0, "max": MESSAGE_BITS_MAX, "increment": 8}]}


# ACVP registration form (one object per algorithm and mode), as acvptool's getConfig expects.
CONFIG: list[dict[str, Any]] = [
    *(_sha(n, "1.0") for n in ("SHA2-256", "SHA2-384", "SHA2-512")),
    *(_sha(n, "2.0") for n in ("SHA3-256", "SHA3-384", "SHA3-512")),
    {"algorithm": "ECDSA", "mode": "sigVer", "revision": "FIPS186-5",
     "capabilities": [{"curve": ["P-256"], "hashAlg": ["SHA2-256"]}, {"curve": ["P-384"], "hashAlg": ["SHA2-384"]}]},
    {"algorithm": "EDDSA", "mode": "sigVer", "revision": "1.0", "curve": ["ED-25519"], "pure": True, "preHash": False},
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


class AcvpWrapper:
    """Maps acvptool commands onto service calls; ``call`` runs one call in an authenticated session."""

    def __init__(self, call: Caller) -> None:
        self.call = call
        self.requests = 0

    def handle(self, args: list[bytes]) -> list[bytes]:
        try:
            name = args[0].decode("ascii")
        except UnicodeDecodeError:
            raise WrapperError(1, "the command name is not ASCII") from None
        rest = args[1:]
        self.requests += 1
        if name == "getConfig":
            return [json.dumps(CONFIG, separators=(",", ":")).encode()]
        base, _, variant = name.partition("/")
        if base in DIGESTS and variant in ("", "MCT"):
            self._arity(name, rest, 1)
            return [self._mct(base, rest[0]) if variant == "MCT" else self._digest(base, rest[0])]
        if name == "ECDSA/sigVer":
            self._arity(name, rest, 7)
            return [self._ecdsa_sigver(*rest)]
        if name == "EDDSA/ED-25519/sigVer":
            self._arity(name, rest, 3)
            message, public, signature = rest
            return [self._verify(KeyType.ED25519, public, message, signature)]
        raise WrapperError(2, f"unknown command {name!r} (supported: getConfig, "
                              f"{', '.join(DIGESTS)} and their /MCT, ECDSA/sigVer, EDDSA/ED-25519/sigVer)")

    @staticmethod
    def _arity(name: str, args: list[bytes], n: int) -> None:
        if len(args) != n:
            raise WrapperError(3, f"{name} takes {n} arguments, got {len(args)}")

    def _device(self, command: Command, params: dict[str, Any]) -> Reply:
        reply = self.call(command, params)
        if reply.status is not Status.OK:
            hint = " (drain the audit trail, or set the wrap policy, before long runs)" \
                if reply.status is Status.AUDIT_FULL else ""
            raise WrapperError(3, f"{command.name} refused: {reply.status.name} {reply.message}{hint}")
        return reply

    def _digest(self, name: str, message: bytes) -> bytes:
        return bytes(self._device(Command.DIGEST, {"algorithm": int(DIGESTS[name][0]), "message": message})
                     .data["digest"])

    def _mct(self, name: str, seed: bytes) -> bytes:
        """One Monte Carlo step: 1,000 iterations (SHAVS for SHA-2: MD_i = H(MD_i-3 || MD_i-2 || MD_i-1);
        SHA3VS for SHA-3: MD_i = H(MD_i-1)), every hash computed by the device."""
        size = DIGESTS[name][1]
        if len(seed) != size:
            raise WrapperError(3, f"{name}/MCT seed of {len(seed)} bytes, expected {size}")
        if name.startswith("SHA2"):
            a = b = c = seed
            for _ in range(1000):
                a, b, c = b, c, self._digest(name, a + b + c)
            return c
        md = seed
        for _ in range(1000):
            md = self._digest(name, md)
        return md

    def _ecdsa_sigver(self, curve: bytes, hash_alg: bytes, message: bytes, qx: bytes, qy: bytes, r: bytes,
                      s: bytes) -> bytes:
        spec = ECDSA.get((curve.decode(errors="replace"), hash_alg.decode(errors="replace")))
        if spec is None:
            raise WrapperError(3, f"ECDSA/sigVer with {curve!r}/{hash_alg!r}: the module pairs P-256 with SHA2-256 "
                                  "and P-384 with SHA2-384 only")
        key_type, size = spec
        if max(len(qx), len(qy)) > size:
            return b"\x00"  # not a point of this curve
        point = b"\x04" + qx.rjust(size, b"\0") + qy.rjust(size, b"\0")
        signature = r.rjust(size, b"\0") + s.rjust(size, b"\0") if max(len(r), len(s)) <= size else r + s
        return self._verify(key_type, point, message, signature)

    def _verify(self, key_type: KeyType, public: bytes, message: bytes, signature: bytes) -> bytes:
        reply = self.call(Command.VERIFY, {"key_type": int(key_type), "public_key": public, "message": message,
                                           "signature": signature})
        if reply.status in (Status.INVALID_PARAMETER, Status.INVALID_KEY_DATA):
            return b"\x00"  # a malformed key or signature is a verification failure, not a tool error
        if reply.status is not Status.OK:
            raise WrapperError(3, f"VERIFY refused: {reply.status.name} {reply.message}")
        return b"\x01" if reply.data.get("valid") else b"\x00"


def serve(stdin: BinaryIO, stdout: BinaryIO, wrapper: AcvpWrapper, log: Callable[[str], None] | None = None) -> int:
    """Answer requests until the input ends (0) or one cannot be answered (its exit code)."""
    say = log or (lambda message: print(f"cmsim acvp-wrapper: {message}", file=sys.stderr))
    while True:
        try:
            args = read_request(stdin)
            if args is None:
                return 0
            write_reply(stdout, wrapper.handle(args))
        except WrapperError as exc:
            say(str(exc))
            return exc.code
