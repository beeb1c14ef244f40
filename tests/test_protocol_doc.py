"""docs/protocol.md cannot drift: generated sections match the code, examples decode as described."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import re
import struct
from pathlib import Path
from types import ModuleType

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware_sim.serve import FRAME_TIMEOUT
from module.core import ModuleConfig
from module.wire.channel import HOST_TO_MODULE, open_payload, reply_of, request_params
from module.wire.defs import Command, Status
from module.wire.frame import HEADER_SIZE, MAX_PAYLOAD, Flags, Frame, FrameDecoder

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def example(name: str) -> bytes:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- begin: {name} -->\n```hex\n(.*?)```", text, re.S)
    assert match, name
    return bytes.fromhex("".join(match.group(1).split()))


def test_generated_sections_match_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert generator().render(text) == text, "run `make docs` and commit docs/protocol.md"


def test_every_status_and_command_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for status in Status:
        assert re.search(rf"\| 0x{status.value:02X} \| `{status.name}` \| \S", text), status
    for command in Command:
        assert f"| 0x{command.value:02X} | `{command.name}` |" in text, command


def test_clear_request_example() -> None:
    (frame,) = FrameDecoder().feed(example("example-clear-request"))
    assert not isinstance(frame, Exception)
    assert (frame.version, frame.flags, frame.session_id, frame.seq, frame.code) == (2, Flags.NONE, 0, 1, Command.GET_STATUS)
    assert frame.payload == bytes.fromhex("0600000000") and request_params(frame.payload) == {}
    assert frame.header().hex() == "02" "00" "00000000" "00000001" "0001" "00000005"  # as the prose says


def test_refusal_example() -> None:
    (frame,) = FrameDecoder().feed(example("example-refusal"))
    assert not isinstance(frame, Exception)
    assert frame.flags == Flags.RESPONSE and frame.seq == 2
    reply = reply_of(frame)
    assert reply.status is Status.NOT_AUTHENTICATED and reply.data == {} and not reply.approved
    assert reply.message == "Random bytes needs an authenticated session"


def test_protected_request_example() -> None:
    (frame,) = FrameDecoder().feed(example("example-protected-request"))
    assert not isinstance(frame, Exception)
    assert frame.flags == Flags.ENCRYPTED and (frame.session_id, frame.seq) == (0x01020304, 1)
    assert frame.code == Command.RANDOM
    plaintext = open_payload(frame, AESGCM(bytes(range(32))), HOST_TO_MODULE)
    assert request_params(plaintext) == {"length": 32}


def test_figures_in_the_prose() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"{MAX_PAYLOAD:,} bytes" in text and HEADER_SIZE == 16 and "Header (16 bytes" in text
    assert f"no byte for {FRAME_TIMEOUT:g} s" in text
    assert f"at most {ModuleConfig().max_sessions} sessions are open" in text


# ------------------------------------------------------------------ the login example, recomputed
def handshake_values() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- begin: example-handshake-values -->\n(.*?)<!-- end", text, re.S)
    assert block
    return dict(re.findall(r"^\| (.+?) \| `([0-9a-f]+)` \|$", block.group(1), re.M))


def one_frame(name: str) -> Frame:
    (frame,) = FrameDecoder().feed(example(name))
    assert isinstance(frame, Frame)
    return frame


def lp(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def test_the_login_example_recomputes_from_its_inputs_alone() -> None:
    """Every step of section 4 done here with hashlib, hmac and plain ECDH from the documented
    inputs, not with module.wire.handshake: the prose, the values table and the frames agree."""
    v = {k: bytes.fromhex(x) if "private" not in k else int(x, 16) for k, x in handshake_values().items()}
    begin, begin_reply = one_frame("example-auth-begin"), one_frame("example-auth-begin-reply")
    assert (begin.version, begin.session_id, begin.seq, begin.code) == (2, 0, 0x2A5F0C31, Command.AUTH_BEGIN)
    request = request_params(begin.payload)
    assert request == {"operator": "alice", "host_ephemeral": v["host_ephemeral"], "host_nonce": bytes(range(16))}
    reply = reply_of(begin_reply).data
    assert begin_reply.seq == begin.seq and reply["salt"] == bytes(range(32, 48)) and reply["iterations"] == 100_000
    # FIPS 186-5 A.2.1 from the documented 40 random bytes, for both ephemeral keys
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    assert v["module ephemeral private d"] == int.from_bytes(bytes(range(0x80, 0xA8)), "big") % (n - 1) + 1
    assert v["host ephemeral private d"] == int.from_bytes(bytes(range(0x20, 0x48)), "big") % (n - 1) + 1
    module_private = ec.derive_private_key(v["module ephemeral private d"], ec.SECP256R1())
    assert module_private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) \
        == reply["module_ephemeral"] == v["module_ephemeral"]
    th = hashlib.sha256(b"cmsim handshake v2" + lp(b"CMSIM-0001") + lp(b"alice") + struct.pack(">I", reply["session_id"])
                        + request["host_ephemeral"] + request["host_nonce"] + reply["module_ephemeral"]
                        + reply["module_nonce"] + reply["salt"] + struct.pack(">I", reply["iterations"])).digest()
    assert th == v["TH"]
    identity = Ed25519PrivateKey.from_private_bytes(bytes(range(0x40, 0x60))).public_key()
    assert identity.public_bytes(Encoding.Raw, PublicFormat.Raw) == v["identity public key"]
    assert hashlib.sha256(v["identity public key"]).digest() == v["fingerprint"]
    identity.verify(reply["signature"], th)  # raises if the example's signature were wrong
    host_private = ec.derive_private_key(v["host ephemeral private d"], ec.SECP256R1())
    z = host_private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                                                      reply["module_ephemeral"]))
    assert z == v["Z"]
    fixed_info = b"cmsim session keys v2" + th
    okm = b"".join(hashlib.sha256(struct.pack(">I", i) + z + fixed_info).digest() for i in (1, 2, 3))
    assert (okm[:32], okm[32:64], okm[64:]) == (v["host_to_module key"], v["module_to_host key"], v["confirm key"])
    # the audit digest key: its own one-step KDF, one block (docs/audit-format.md)
    assert hashlib.sha256(struct.pack(">I", 1) + z + b"cmsim audit digest key v1" + th).digest() == v["audit digest key"]
    finish = one_frame("example-auth-finish")
    assert (finish.session_id, finish.seq, finish.code, finish.flags) == (0x01020304, 1, Command.AUTH_FINISH,
                                                                          Flags.ENCRYPTED)
    auth_key = hashlib.pbkdf2_hmac("sha256", b"alice-pass-12", reply["salt"], 100_000, 32)
    assert request_params(open_payload(finish, AESGCM(okm[:32]), HOST_TO_MODULE)) == {"auth_key": auth_key}
    assert hmac.new(auth_key, b"cmsim verifier v2", hashlib.sha256).digest() == v["verifier"]
    finish_reply = reply_of(one_frame("example-auth-finish-reply"), AESGCM(okm[32:64]))
    assert finish_reply.data == {"role": 2, "factory_credential": False,
                                 "module_confirm": hmac.new(okm[64:], b"module confirm" + th, hashlib.sha256).digest()}
