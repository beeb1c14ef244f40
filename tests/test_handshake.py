"""The v2 login against a passive observer, a flash thief and an old state directory.

Expected values are computed here with hashlib, hmac and plain ECDH, not with module.wire.handshake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import PASSWORDS, ModuleFactory, initialise
from firmware_sim.device import EndpointLine, InProcessTransport
from host_tools.client import Client
from host_tools.errors import AuthenticationError
from host_tools.link import WireTransport
from module.core import Module
from module.endpoint import Endpoint
from module.ports import MemoryFlash
from module.wire.channel import reply_of, request_params
from module.wire.defs import Command
from module.wire.frame import Frame, FrameDecoder

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class TappedLine(EndpointLine):
    """The in-process line, with everything the device wrote back kept too: a wiretap."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self.answers: list[bytes] = []

    def read(self, timeout: float) -> bytes:
        out = super().read(timeout)
        self.answers.append(out)
        return out


def frames(chunks: list[bytes]) -> list[Frame]:
    decoder = FrameDecoder()
    return [f for chunk in chunks for f in decoder.feed(chunk) if isinstance(f, Frame)]


def lp(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def one_step_kdf(z: bytes, th: bytes) -> bytes:
    return b"".join(hashlib.sha256(struct.pack(">I", i) + z + b"cmsim session keys v2" + th).digest() for i in (1, 2, 3))


def values(value: Any) -> Iterator[bytes]:
    """Every byte string and string in a decoded map, however deeply nested."""
    if isinstance(value, (bytes, str)):
        yield value.encode() if isinstance(value, str) else value
    elif isinstance(value, dict):
        for item in value.values():
            yield from values(item)
    elif isinstance(value, list):
        for item in value:
            yield from values(item)


def test_a_recorded_login_does_not_let_the_observer_check_the_password(make_module: ModuleFactory) -> None:
    module = make_module()
    initialise(module)
    draws: list[bytes] = []
    real = module.random_bytes

    def recording(n: int) -> bytes:  # in-process only: the test's view of the device's DRBG output
        out = real(n)
        draws.append(out)
        return out

    module.random_bytes = recording  # type: ignore[method-assign]
    line = TappedLine(Endpoint(module))
    Client(WireTransport(line, timeout=0.05, retries=0)).login("alice", PASSWORDS["alice"]).logout()
    sent, received = frames(line.written), frames(line.answers)
    begin = next(f for f in sent if f.code == Command.AUTH_BEGIN)
    finish = next(f for f in sent if f.code == Command.AUTH_FINISH)
    request = request_params(begin.payload)
    reply = reply_of(next(f for f in received if f.session_id == 0 and f.seq == begin.seq)).data
    serial = module.config.serial
    th = hashlib.sha256(b"cmsim handshake v2" + lp(serial.encode()) + lp(b"alice")
                        + struct.pack(">I", reply["session_id"]) + request["host_ephemeral"] + request["host_nonce"]
                        + reply["module_ephemeral"] + reply["module_nonce"] + reply["salt"]
                        + struct.pack(">I", reply["iterations"])).digest()
    # The observer knows the right password and so the auth key; it tries every value on the line,
    # and the auth key, as the key-derivation input (and directly as the AES key).
    auth_key = hashlib.pbkdf2_hmac("sha256", PASSWORDS["alice"].encode(), reply["salt"], reply["iterations"], 32)
    candidates = [*values(request), *values(reply), auth_key, th,
                  *(f.payload for f in sent + received), *(f.header() for f in sent + received)]
    nonce = b"H2M\x00" + struct.pack(">Q", finish.seq)

    def opens(key: bytes) -> bool:
        try:
            AESGCM(key).decrypt(nonce, finish.payload, finish.header())
            return True
        except InvalidTag:
            return False

    tries = [one_step_kdf(c, th)[:32] for c in candidates]
    tries += [hashlib.sha256(c).digest() for c in candidates] + [c for c in candidates if len(c) == 32]
    assert len(tries) > 40 and not any(opens(key) for key in tries)
    # With the device's ephemeral secret (40 DRBG bytes, FIPS 186-5 A.2.1) the same steps succeed:
    # the ephemeral secret is exactly what the transcript lacks.
    (seed,) = [d for d in draws if len(d) == 40]
    private = ec.derive_private_key(int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1, ec.SECP256R1())
    z = private.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                                                 request["host_ephemeral"]))
    plaintext = AESGCM(one_step_kdf(z, th)[:32]).decrypt(nonce, finish.payload, finish.header())
    assert request_params(plaintext) == {"auth_key": auth_key}


def test_the_flash_holds_a_verifier_that_does_not_log_in(make_module: ModuleFactory) -> None:
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    stored = {op["name"]: op for op in json.loads((flash.read("operators") or b"").decode())}
    alice = stored["alice"]
    auth_key = hashlib.pbkdf2_hmac("sha256", PASSWORDS["alice"].encode(), bytes.fromhex(alice["salt"]),
                                   alice["iterations"], 32)
    assert "static_key" not in alice
    assert bytes.fromhex(alice["verifier"]) == hmac.new(auth_key, b"cmsim verifier v2", hashlib.sha256).digest()
    # The thief sends what it stole as the auth key: refused.
    begin = client.call(Command.AUTH_BEGIN, {"operator": "alice", "host_ephemeral": _point(), "host_nonce": bytes(16)})
    refused = client.transport.call(int(Command.AUTH_FINISH), {"auth_key": bytes.fromhex(alice["verifier"])},
                                    begin.data["session_id"])
    assert refused.status.name == "AUTH_FAILED"


def _point() -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(Encoding.X962,
                                                                            PublicFormat.UncompressedPoint)


def test_operators_stored_by_protocol_1_are_migrated_and_still_log_in(make_module: ModuleFactory) -> None:
    """A state directory from before the verifier: its entry held the PBKDF2 output itself."""
    flash = MemoryFlash()
    salt = bytes(range(16))
    static_key = hashlib.pbkdf2_hmac("sha256", b"old-pass-1234", salt, 1000, 32)
    flash.write("operators", json.dumps([
        {"name": "officer", "role": 1, "salt": salt.hex(), "iterations": 1000, "static_key": static_key.hex(),
         "failures": 0, "locked": False, "factory": False}]).encode())
    module = make_module(flash=flash)
    client = Client(InProcessTransport(module))
    with client.login("officer", "old-pass-1234") as officer:
        assert officer.role.name == "CRYPTO_OFFICER"
    (entry,) = json.loads((flash.read("operators") or b"").decode())
    assert "static_key" not in entry  # what logged in under protocol 1 does not stay in flash
    with pytest.raises(AuthenticationError):
        client.login("officer", "wrong-pass-1234")


def test_the_identity_survives_zeroisation_and_a_power_cycle(make_module: ModuleFactory) -> None:
    module: Module = make_module()
    client = initialise(module)
    before = client.identity().fingerprint
    assert before == hashlib.sha256(client.identity().public_key).hexdigest()
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.zeroise()
    module.power_off()
    module.power_on()
    after = Client(InProcessTransport(module)).identity()
    assert after.fingerprint == before and module.status_data()["identity_fingerprint"] == before
