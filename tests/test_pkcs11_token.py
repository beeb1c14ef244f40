"""The device as a PKCS#11 token, driven by real clients through p11-kit's client module.

A device subprocess on a pty, ``cmsim pkcs11-server`` in front of it, and pkcs11-tool (OpenSC) and
python-pkcs11 loading ``p11-kit-client.so``. Expected values come from elsewhere: hashlib for digests,
the ``cryptography`` library for signatures, the device's own API for its keys, the verified audit
export for the records. The Debian packages come from ``make pkcs11-deps``; when they are absent the
tests fail, they never skip.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PASSWORDS, initialise_device
from host_tools.audit_drain import drain, fetch_public_key
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from module.wire.audit.export import RecordItem, iter_export
from module.wire.audit.record import decode_record
from module.wire.defs import Command, KeyType, Status

FAST = ["--pbkdf2-iterations", "1000"]
MODULE_PATHS = ["/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so", "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
                "/usr/lib/pkcs11/p11-kit-client.so"]
ALICE_PIN = f"alice:{PASSWORDS['alice']}"
OFFICER_PIN = f"officer:{PASSWORDS['officer']}"
P256_OID = bytes.fromhex("06082a8648ce3d030107")


def client_module() -> str:
    for path in MODULE_PATHS:
        if os.path.exists(path):
            return path
    pytest.fail("p11-kit-client.so is missing: run `make pkcs11-deps` (Debian p11-kit-modules)")


def tool() -> str:
    path = shutil.which("pkcs11-tool")
    if path is None:
        pytest.fail("pkcs11-tool is missing: run `make pkcs11-deps` (Debian opensc)")
    return path


@dataclass
class Token:
    device: DeviceProcess
    server: subprocess.Popen[bytes]
    socket: str

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "P11_KIT_SERVER_ADDRESS": f"unix:path={self.socket}"}

    def tool(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([tool(), "--module", client_module(), *args], env=self.env, capture_output=True,
                           text=True, timeout=60)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r


def start_token(device: DeviceProcess, sock: Path) -> Token:
    server = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "pkcs11-server", "--port", device.port,
                               "--socket", str(sock)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    assert line.startswith("listening on"), server.stderr.read().decode() if server.stderr else line
    return Token(device, server, str(sock))


def stop(token: Token) -> None:
    token.server.send_signal(signal.SIGTERM)
    token.server.wait(10)
    for stream in (token.server.stdout, token.server.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture(scope="module")
def token(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    # On TCP: the PKCS#11 server and the test are two hosts at once, each on its own connection (a pty is one host's).
    with running_device(tmp_path_factory.mktemp("state"), args=[*FAST, "--seal", str(seal_file), "--tcp", "127.0.0.1:0"]) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
        t = start_token(proc, tmp_path_factory.mktemp("p11") / "token.sock")
        yield t
        stop(t)


def audit_records(token: Token) -> list:  # type: ignore[type-arg]
    """Drain and verify the device's trail (as the Auditor); the decoded service records."""
    with Device.open(token.device.port) as dev:
        key = fetch_public_key(dev)
        out = io.BytesIO()
        with dev.login("audrey", PASSWORDS["audrey"]) as auditor:
            result = drain(auditor, key, out, acknowledge=False)
    assert result.verify.ok, result.verify.message
    out.seek(0)
    return [decode_record(item.data) for item in iter_export(out) if isinstance(item, RecordItem)]


# --------------------------------------------------------------------- pkcs11-tool
def test_list_slots_shows_the_device(token: Token) -> None:
    out = token.tool("--list-slots").stdout
    assert "cmsim CMSIM-0001" in out and "serial num         : CMSIM-0001" in out
    assert "token initialized" in out and "rng" in out


def test_keypairgen_list_and_audit(token: Token) -> None:
    out = token.tool("--login", "--pin", ALICE_PIN, "--keypairgen", "--key-type", "EC:prime256v1",
                     "--label", "tool-ec").stdout
    assert "Key pair generated" in out and "tool-ec" in out
    listed = token.tool("--login", "--pin", ALICE_PIN, "--list-objects").stdout
    assert "Private Key Object; EC" in listed and "Public Key Object; EC" in listed and "tool-ec" in listed
    with Device.open(token.device.port) as dev, dev.login("alice", PASSWORDS["alice"]) as alice:
        keys = [k for k in alice.list_keys() if k[2] == "tool-ec"]
        assert len(keys) == 1 and keys[0][1] is KeyType.EC_P256
        public = alice.key_attributes(keys[0][0]).public_key
    assert public.hex() in listed.replace(" ", "")  # CKA_EC_POINT is the device's public key
    generated = [r for r in audit_records(token) if r.code == Command.KEY_GENERATE and r.operator == "alice"]
    assert any(int(k) == keys[0][0] for r in generated for k in r.key_ids)


def test_generate_random_is_one_audited_call(token: Token) -> None:
    before = len([r for r in audit_records(token) if r.code == Command.RANDOM and r.operator == "alice"])
    r = subprocess.run([tool(), "--module", client_module(), "--login", "--pin", ALICE_PIN, "--generate-random", "48"],
                       env=token.env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 48 and len(set(r.stdout)) > 8
    after = [r for r in audit_records(token) if r.code == Command.RANDOM and r.operator == "alice"]
    assert len(after) == before + 1 and after[-1].status == Status.OK


def _tool_key(token: Token, label: str) -> tuple[int, bytes]:
    """(key id, public point) of the pkcs11-tool key ``label``, as the device's own API reports them."""
    with Device.open(token.device.port) as dev, dev.login("alice", PASSWORDS["alice"]) as alice:
        (key_id,) = [k[0] for k in alice.list_keys() if k[2] == label]
        return key_id, alice.key_attributes(key_id).public_key


def test_pkcs11_tool_ecdsa_sign_verify_checked_by_openssl(token: Token, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    token.tool("--login", "--pin", ALICE_PIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "tool-sign")
    key_id, point = _tool_key(token, "tool-sign")
    cka_id = key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big").hex()
    data = tmp_path / "data"
    data.write_bytes(b"signed through pkcs11-tool and p11-kit\n" * 40)
    digest = tmp_path / "data.sha256"
    digest.write_bytes(hashlib.sha256(data.read_bytes()).digest())
    sig = tmp_path / "sig"
    before = len([r for r in audit_records(token) if r.code == Command.SIGN and r.operator == "alice"])
    token.tool("--login", "--pin", ALICE_PIN, "--sign", "--mechanism", "ECDSA", "--id", cka_id,
               "-i", str(digest), "-o", str(sig))
    raw = sig.read_bytes()
    assert len(raw) == 64  # r || s, as PKCS#11 gives an ECDSA signature
    out = token.tool("--login", "--pin", ALICE_PIN, "--verify", "--mechanism", "ECDSA", "--id", cka_id,
                     "-i", str(digest), "--signature-file", str(sig))
    assert "Signature is valid" in out.stdout
    bad = tmp_path / "bad"
    bad.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    r = token.tool("--login", "--pin", ALICE_PIN, "--verify", "--mechanism", "ECDSA", "--id", cka_id,
                   "-i", str(digest), "--signature-file", str(bad), check=False)
    assert "Invalid signature" in r.stdout and "Signature is valid" not in r.stdout  # CKR_SIGNATURE_INVALID
    r = token.tool("--login", "--pin", ALICE_PIN, "--sign", "--mechanism", "ECDSA", "--id", cka_id,
                   "-i", str(data), "-o", str(tmp_path / "none"), check=False)
    assert r.returncode != 0 and "CKR_DATA_LEN_RANGE" in r.stdout + r.stderr  # the message, not its digest
    # OpenSSL checks the signature of the whole file against the public key the device reports
    pem = tmp_path / "pub.pem"
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    pem.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    der = tmp_path / "sig.der"
    der.write_bytes(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")))
    checked = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pem), "-signature", str(der), str(data)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout, checked.stdout + checked.stderr
    records = audit_records(token)
    signs = [r for r in records if r.code == Command.SIGN and r.operator == "alice"]
    assert len(signs) == before + 1  # the refused message never reached the device
    assert signs[-1].status == Status.OK and [int(k) for k in signs[-1].key_ids] == [key_id]
    verifies = [r for r in records if r.code == Command.VERIFY and r.operator == "alice"
                and key_id in [int(k) for k in r.key_ids]]
    assert [v.status for v in verifies] == [Status.OK, Status.OK]  # valid and invalid: both answered


def test_pkcs11_tool_self_test(token: Token) -> None:
    """OpenSC's own --test (random, digests; its signature tests cover RSA only, which the module has not)."""
    out = token.tool("--login", "--pin", ALICE_PIN, "--test").stdout
    assert "No errors" in out and "SHA256: OK" in out


ENGINE_PATHS = ["/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so", "/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so"]


def test_openssl_pkcs11_engine_signs_with_a_device_key(token: Token, tmp_path: Path) -> None:
    """OpenSSL 3 signs through libp11's engine (CKM_ECDSA on its own SHA-256); openssl dgst -verify checks it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    engine = next((p for p in ENGINE_PATHS if os.path.exists(p)), None)
    if engine is None:
        pytest.fail("the OpenSSL pkcs11 engine is missing: run `make pkcs11-deps` (Debian libengine-pkcs11-openssl)")
    token.tool("--login", "--pin", ALICE_PIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "engine-ec")
    key_id, point = _tool_key(token, "engine-ec")
    conf = tmp_path / "openssl.cnf"
    conf.write_text("openssl_conf = init\n[init]\nengines = engines\n[engines]\npkcs11 = pkcs11\n"
                    f"[pkcs11]\nengine_id = pkcs11\ndynamic_path = {engine}\nMODULE_PATH = {client_module()}\n"
                    "init = 0\n")
    cka_id = "".join(f"%{b:02x}" for b in key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big"))
    uri = f"pkcs11:id={cka_id};type=private?pin-value={ALICE_PIN}"
    data = tmp_path / "data"
    data.write_bytes(b"signed by OpenSSL through the device\n" * 25)
    sig = tmp_path / "sig.der"
    env = {**token.env, "OPENSSL_CONF": str(conf)}
    before = len([r for r in audit_records(token) if r.code == Command.SIGN and r.operator == "alice"])
    signed = subprocess.run(["openssl", "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri,
                             "-out", str(sig), str(data)], env=env, capture_output=True, text=True, timeout=60)
    assert signed.returncode == 0, signed.stdout + signed.stderr
    pem = tmp_path / "pub.pem"
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    pem.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    checked = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pem), "-signature", str(sig), str(data)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "Verified OK" in checked.stdout, checked.stdout + checked.stderr
    signs = [r for r in audit_records(token) if r.code == Command.SIGN and r.operator == "alice"]
    assert len(signs) == before + 1 and [int(k) for k in signs[-1].key_ids] == [key_id]


# --------------------------------------------------------------------- python-pkcs11
def test_python_pkcs11_digest_random_hmac_attributes(token: Token) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType as KT, Mechanism, MechanismFlag, ObjectClass

    os.environ["P11_KIT_SERVER_ADDRESS"] = f"unix:path={token.socket}"
    lib = pkcs11.lib(client_module())
    tok = lib.get_token(token_label="cmsim CMSIM-0001")
    with tok.open(rw=True, user_pin=ALICE_PIN) as s:
        for mech, name in ((Mechanism.SHA256, "sha256"), (Mechanism.SHA384, "sha384"), (Mechanism.SHA512, "sha512")):
            assert s.digest(b"abc" * 100, mechanism=mech) == hashlib.new(name, b"abc" * 100).digest()
        assert len(s.generate_random(256)) == 32
        hkey = s.generate_key(KT.SHA256_HMAC, 256, label="py-hmac", store=True, mechanism=Mechanism.GENERIC_SECRET_KEY_GEN,
                              capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                              template={Attribute.KEY_TYPE: KT.SHA256_HMAC})
        mac = hkey.sign(b"data", mechanism=Mechanism.SHA256_HMAC)
        assert len(mac) == 32 and hkey.verify(b"data", mac, mechanism=Mechanism.SHA256_HMAC)
        assert not hkey.verify(b"datA", mac, mechanism=Mechanism.SHA256_HMAC)
        pub, priv = s.generate_keypair(KT.EC, 256, store=True, label="py-ec",
                                       public_template={Attribute.EC_PARAMS: P256_OID})
        assert priv[Attribute.SENSITIVE] and not priv[Attribute.EXTRACTABLE] and priv[Attribute.SIGN]
        assert pub[Attribute.EC_PARAMS] == P256_OID and pub[Attribute.VERIFY]
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            priv[Attribute.VALUE]
        found = list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: "py-ec"}))
        assert [o[Attribute.ID] for o in found] == [priv[Attribute.ID]]
        digest = hashlib.sha256(b"py message").digest()
        signature = priv.sign(digest, mechanism=Mechanism.ECDSA)  # CKM_ECDSA: the caller's digest
        assert len(signature) == 64 and pub.verify(digest, signature, mechanism=Mechanism.ECDSA)
        with pytest.raises(pkcs11.exceptions.DataLenRange):
            priv.sign(b"m", mechanism=Mechanism.ECDSA)  # not a SHA-256 digest
        assert Mechanism.ECDSA in tok.slot.get_mechanisms()
        info = tok.slot.get_mechanism_info(Mechanism.ECDSA)
        assert (info.min_key_length, info.max_key_length) == (256, 384)
        assert MechanismFlag.SIGN in info.flags and MechanismFlag.VERIFY in info.flags
    with Device.open(token.device.port) as dev, dev.login("alice", PASSWORDS["alice"]) as alice:
        ids = {k[2]: k[0] for k in alice.list_keys()}
        assert alice.mac_verify(ids["py-hmac"], b"data", mac)  # the device itself agrees


# --------------------------------------------------------------------- the RPC protocol directly
class Rpc:
    """A minimal p11-kit RPC client written from the draft, independent of the server's codec."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall(b"\x00")
        assert self.sock.recv(1) == b"\x00"
        self.code = 16

    @staticmethod
    def u(v: int) -> bytes:
        return struct.pack(">Q", v)

    @staticmethod
    def ay(b: bytes) -> bytes:
        return b"\x01" + struct.pack(">I", len(b)) + b

    def call(self, call_id: int, sig: str, args: bytes) -> tuple[int, bytes]:
        body = struct.pack(">I", call_id) + struct.pack(">I", len(sig)) + sig.encode() + args
        self.code += 1
        self.sock.sendall(struct.pack(">III", self.code, 0, len(body)) + body)
        header = self._read(12)
        code, olen, blen = struct.unpack(">III", header)
        assert code == self.code
        self._read(olen)
        resp = self._read(blen)
        (rid,) = struct.unpack(">I", resp[:4])
        n = struct.unpack(">I", resp[4:8])[0]
        payload = resp[8 + n:]
        if rid == 0:
            return struct.unpack(">Q", payload)[0], b""
        return 0, payload

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "connection closed"
            data += chunk
        return data

    def open_logged_in(self, pin: str) -> int:
        hs = b"PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1"
        assert self.call(1, "ayyay", self.ay(hs) + b"\x00" + self.ay(b""))[0] == 0
        rv, out = self.call(10, "uu", self.u(1) + self.u(6))  # C_OpenSession, CKF_SERIAL|CKF_RW
        assert rv == 0
        session = struct.unpack(">Q", out)[0]
        assert self.call(18, "uuay", self.u(session) + self.u(1) + self.ay(pin.encode()))[0] == 0
        return session


def _ec_keygen(rpc: Rpc, session: int, label: bytes) -> tuple[int, int]:
    pub_t = struct.pack(">I", 2) + struct.pack(">IBI", 0x180, 1, len(P256_OID)) + struct.pack(">I", len(P256_OID)) + P256_OID
    pub_t += struct.pack(">IBI", 0x3, 1, len(label)) + struct.pack(">I", len(label)) + label
    priv_t = struct.pack(">I", 1) + struct.pack(">IBIB", 0x108, 1, 1, 1)  # CKA_SIGN true
    mech = struct.pack(">I", 0x1040) + b"\xff\xff\xff\xff"
    rv, out = rpc.call(59, "uMaAaA", rpc.u(session) + mech + pub_t + priv_t)
    assert rv == 0
    return struct.unpack(">QQ", out)


def test_ecdsa_sign_size_query_and_bad_handles(token: Token) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    rpc = Rpc(token.socket)
    s = rpc.open_logged_in(ALICE_PIN)
    pub, priv = _ec_keygen(rpc, s, b"rpc-ec")
    no_param = b"\xff\xff\xff\xff"
    assert rpc.call(42, "uMu", rpc.u(s) + struct.pack(">I", 0x1044) + no_param + rpc.u(priv))[0] == 0
    rv, out = rpc.call(43, "uayfy", rpc.u(s) + rpc.ay(b"message") + struct.pack(">I", 10))  # room for 10 bytes
    assert rv == 0 and out == b"\x00" + struct.pack(">I", 64)  # no data, the length: CKR_BUFFER_TOO_SMALL
    rv, out = rpc.call(43, "uayfy", rpc.u(s) + rpc.ay(b"message") + struct.pack(">I", 64))  # the operation lived on
    assert rv == 0 and out[:5] == b"\x01" + struct.pack(">I", 64)
    sig = out[5:]
    with Device.open(token.device.port) as dev, dev.login("alice", PASSWORDS["alice"]) as alice:
        public = alice.key_attributes((priv - 1) // 2).public_key
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")), b"message",
               ec.ECDSA(hashes.SHA256()))
    assert rpc.call(43, "uayfy", rpc.u(s) + rpc.ay(b"x") + struct.pack(">I", 64))[0] == 0x91  # finished: not initialised
    rv, _ = rpc.call(24, "uufA", rpc.u(s) + rpc.u(999_999) + struct.pack(">I", 1) + struct.pack(">II", 0x3, 0))
    assert rv == 0x82  # CKR_OBJECT_HANDLE_INVALID
    rv, _ = rpc.call(42, "uMu", rpc.u(s) + struct.pack(">I", 0x1044) + no_param + rpc.u(999_999))
    assert rv == 0x60  # CKR_KEY_HANDLE_INVALID
    rv, _ = rpc.call(42, "uMu", rpc.u(s) + struct.pack(">I", 0x1045) + no_param + rpc.u(priv))
    assert rv == 0x63  # ECDSA-SHA384 with a P-256 key: CKR_KEY_TYPE_INCONSISTENT
    rv, _ = rpc.call(42, "uMu", rpc.u(s) + struct.pack(">I", 0x1040) + no_param + rpc.u(priv))
    assert rv == 0x70  # CKM_EC_KEY_PAIR_GEN does not sign: CKR_MECHANISM_INVALID
    rv, _ = rpc.call(42, "uMu", rpc.u(s + 7) + struct.pack(">I", 0x1044) + no_param + rpc.u(priv))
    assert rv == 0xB3  # CKR_SESSION_HANDLE_INVALID
    del pub


def test_a_device_that_went_away_is_device_removed(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(seal_file)]) as proc:
        with Device.open(proc.port) as dev:
            initialise_device(dev)
        t = start_token(proc, tmp_path / "gone.sock")
        try:
            rpc = Rpc(t.socket)
            s = rpc.open_logged_in(ALICE_PIN)
            proc.power_cut()
            rv, _ = rpc.call(64, "ufy", rpc.u(s) + struct.pack(">I", 16))  # C_GenerateRandom
            assert rv == 0x32  # CKR_DEVICE_REMOVED
            assert rpc.call(64, "ufy", rpc.u(s) + struct.pack(">I", 16))[0] == 0x32  # and stays so, no crash
            assert t.server.poll() is None
        finally:
            stop(t)


# ------------------------------------------------------------------ what the installed p11-kit client forwards
# Mechanisms a PKCS#11 application might ask this token for (PKCS#11 3.0/3.2 numbers). The client
# forwards a mechanism only if rpc-message.c lists it as taking no parameter or as one it can
# serialise (p11_rpc_mechanism_is_supported); it drops the others from C_GetMechanismList
# (mechanism_list_purge) and refuses them in every C_*Init with CKR_MECHANISM_INVALID, unsent.
CANDIDATES = {
    "CKM_ML_KEM_KEY_PAIR_GEN": 0x0F, "CKM_ML_KEM": 0x17, "CKM_ML_DSA_KEY_PAIR_GEN": 0x1C, "CKM_ML_DSA": 0x1D,
    "CKM_SHA256": 0x250, "CKM_SHA256_HMAC": 0x251, "CKM_SHA384": 0x260, "CKM_SHA384_HMAC": 0x261,
    "CKM_SHA512": 0x270, "CKM_SHA512_HMAC": 0x271,
    "CKM_SHA3_256": 0x2B0, "CKM_SHA3_384": 0x2C0, "CKM_SHA3_512": 0x2D0, "CKM_GENERIC_SECRET_KEY_GEN": 0x350,
    "CKM_EC_KEY_PAIR_GEN": 0x1040, "CKM_ECDSA": 0x1041, "CKM_ECDSA_SHA256": 0x1044, "CKM_ECDSA_SHA384": 0x1045,
    "CKM_ECDH1_DERIVE": 0x1050, "CKM_EC_EDWARDS_KEY_PAIR_GEN": 0x1055, "CKM_EDDSA": 0x1057,
    "CKM_AES_KEY_GEN": 0x1080, "CKM_AES_GCM": 0x1087, "CKM_AES_KEY_WRAP_KWP": 0x210B, "CKM_HKDF_DERIVE": 0x402A,
}
# What Debian 12's p11-kit 0.24.1 client passes, measured by the test below (the README's table says the
# same): parameterless mechanisms of its list only. Every parameterised one here (CKM_ECDH1_DERIVE,
# CKM_HKDF_DERIVE, CKM_AES_GCM, CKM_AES_KEY_WRAP_KWP, CKM_EDDSA's optional one) and every one the list does not
# know yet (CKM_ECDSA_SHA256/384, Edwards keys, SHA-3, ML-DSA, ML-KEM) is dropped.
FORWARDED_BY_0_24 = {"CKM_SHA256", "CKM_SHA256_HMAC", "CKM_SHA384", "CKM_SHA384_HMAC", "CKM_SHA512",
                     "CKM_SHA512_HMAC", "CKM_GENERIC_SECRET_KEY_GEN", "CKM_EC_KEY_PAIR_GEN", "CKM_ECDSA",
                     "CKM_AES_KEY_GEN"}


# C_GetMechanismList through the client library itself (ctypes; python-pkcs11's get_mechanisms reads its
# whole first-call buffer, including the entries the client purged, so it cannot tell what was forwarded).
PROBE_SCRIPT = """
import ctypes, sys
ul = ctypes.c_ulong
class FunctionList(ctypes.Structure):
    _fields_ = [("version", ctypes.c_ubyte * 2), ("f", ctypes.c_void_p * 8)]
lib = ctypes.CDLL(sys.argv[1])
table = ctypes.POINTER(FunctionList)()
assert lib.C_GetFunctionList(ctypes.byref(table)) == 0
def fn(i, *args):
    return ctypes.CFUNCTYPE(ul, *args)(table.contents.f[i])
assert fn(0, ctypes.c_void_p)(None) == 0
n = ul(0)
get_slots = fn(4, ctypes.c_ubyte, ctypes.POINTER(ul), ctypes.POINTER(ul))
assert get_slots(1, None, ctypes.byref(n)) == 0 and n.value == 1
slot = (ul * 1)()
assert get_slots(1, slot, ctypes.byref(n)) == 0
get_mechs = fn(7, ul, ctypes.POINTER(ul), ctypes.POINTER(ul))
assert get_mechs(slot[0], None, ctypes.byref(n)) == 0
mechs = (ul * n.value)()
assert get_mechs(slot[0], mechs, ctypes.byref(n)) == 0
print(" ".join(str(mechs[i]) for i in range(n.value)))
fn(1, ctypes.c_void_p)(None)
"""


class _AdvertisingApplication:
    """A token that advertises every candidate: the server's side of the probe, no device behind it."""

    def __init__(self, link: object) -> None:
        pass

    def initialize(self) -> None: ...

    def finalize(self) -> None: ...

    def close(self) -> None: ...

    def info(self) -> dict[str, str]:
        return {"manufacturer": "probe", "description": "probe"}

    def slot_list(self) -> list[int]:
        return [1]

    def slot_info(self, slot: int) -> dict[str, object]:
        return {"description": "probe", "flags": 1, "firmware": (0, 1)}

    def token_info(self, slot: int) -> dict[str, object]:
        return {"label": "probe", "model": "probe", "serial": "1", "flags": 0x400, "sessions": 0,
                "rw_sessions": 0, "firmware": (0, 1)}

    def mechanism_list(self, slot: int) -> list[int]:
        return sorted(CANDIDATES.values())

    def mechanism_info(self, slot: int, mech: int) -> tuple[int, int, int]:
        return 0, 0, 0x1


def test_which_mechanisms_the_installed_p11_kit_client_forwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured, not assumed: a server advertising every candidate, and the mechanism list an application
    gets through the installed p11-kit-client.so."""
    import threading

    from host_tools.pkcs11 import server as server_module

    monkeypatch.setattr(server_module, "Application", _AdvertisingApplication)
    sock = tmp_path / "probe.sock"
    probe = server_module.Pkcs11Server(None, str(sock))  # type: ignore[arg-type]
    thread = threading.Thread(target=probe.serve_forever, daemon=True)
    thread.start()
    try:
        script = PROBE_SCRIPT
        r = subprocess.run([sys.executable, "-c", script, client_module()], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "P11_KIT_SERVER_ADDRESS": f"unix:path={sock}"})
    finally:
        probe.close()
    assert r.returncode == 0, r.stderr
    forwarded = {int(m) for m in r.stdout.split()}
    assert forwarded <= set(CANDIDATES.values())
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "p11-kit-modules"], capture_output=True, text=True)
    names = {name for name, value in CANDIDATES.items() if value in forwarded}
    if version.stdout.startswith("0.24."):
        assert names == FORWARDED_BY_0_24, sorted(names ^ FORWARDED_BY_0_24)
    else:  # another client: at least what 0.24 forwards (newer ones serialise more)
        assert FORWARDED_BY_0_24 <= names, sorted(FORWARDED_BY_0_24 - names)

# ------------------------------------------------------------------ p11-kit's remote: module config
PROXY_PATHS = ["/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so", "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
               "/usr/lib/p11-kit-proxy.so"]
PACKAGE_MODULES = "/usr/share/p11-kit/modules"  # p11-kit's package module config directory (Debian)


def proxy_module() -> str:
    for path in PROXY_PATHS:
        if os.path.exists(path):
            return path
    pytest.fail("p11-kit-proxy.so is missing: run `make pkcs11-deps` (Debian p11-kit-modules)")


def _with_module_config(config_dir: Path, home: Path, command: list[str]) -> list[str]:
    """The command, seeing the module configs of ``config_dir``. p11-kit reads a user's
    ~/.config/pkcs11/modules, but skips user config when running as root ("skipping user config in
    program running as root", conf.c): then the command runs in a private mount namespace with
    ``config_dir`` bound over the package module directory, which nothing outside it sees."""
    if os.geteuid() != 0:
        user = home / ".config" / "pkcs11" / "modules"
        user.mkdir(parents=True, exist_ok=True)
        for f in config_dir.iterdir():
            shutil.copy(f, user / f.name)
        return command
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"as root p11-kit ignores user module configs, and this root may not unshare a mount "
                    f"namespace to show it one: {probe.stderr.strip()}")
    return ["unshare", "--mount", "--", "sh", "-c", f'mount --bind "$0" {PACKAGE_MODULES} && exec "$@"',
            str(config_dir), *command]


def test_a_p11_kit_remote_module_config_starts_the_server_per_application(token: Token, tmp_path: Path) -> None:
    """`remote: |cmsim pkcs11-server --stdio`: p11-kit's proxy module spawns the server for pkcs11-tool,
    speaks the RPC over the server's stdin/stdout, and ends it when the application finalizes."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

    config_dir, home = tmp_path / "modules", tmp_path / "home"
    config_dir.mkdir()
    home.mkdir()
    cmsim = Path(sys.executable).with_name("cmsim")
    (config_dir / "cmsim.module").write_text(f"remote: |{cmsim} pkcs11-server --stdio --port {token.device.port}\n")
    env = {**os.environ, "HOME": str(home), "CMSIM_HOME": str(tmp_path / "cmsim-home")}
    env.pop("P11_KIT_SERVER_ADDRESS", None)  # nothing but the module config points at the server

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = _with_module_config(config_dir, home, [tool(), "--module", proxy_module(), *args])
        r = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    slots = run("--list-slots").stdout
    assert "cmsim CMSIM-0001" in slots and "serial num         : CMSIM-0001" in slots
    before = len([r for r in audit_records(token) if r.code == Command.SIGN and r.operator == "alice"])
    run("--token-label", "cmsim CMSIM-0001", "--login", "--pin", ALICE_PIN, "--keypairgen", "--key-type",
        "EC:prime256v1", "--label", "remote-k")
    key_id, point = _tool_key(token, "remote-k")
    digest = tmp_path / "data.sha256"
    digest.write_bytes(hashlib.sha256(b"through a remote: module").digest())
    cka_id = key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big").hex()
    run("--token-label", "cmsim CMSIM-0001", "--login", "--pin", ALICE_PIN, "--sign", "--mechanism", "ECDSA",
        "--id", cka_id, "-i", str(digest), "-o", str(tmp_path / "sig"))
    raw = (tmp_path / "sig").read_bytes()
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point).verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")), digest.read_bytes(),
        ec.ECDSA(Prehashed(hashes.SHA256())))
    signs = [r for r in audit_records(token) if r.code == Command.SIGN and r.operator == "alice"]
    assert len(signs) == before + 1 and [int(k) for k in signs[-1].key_ids] == [key_id]
    left = subprocess.run(["pgrep", "-f", f"pkcs11-server --stdio --port {token.device.port}"], capture_output=True)
    assert left.returncode == 1, left.stdout  # every spawned server ended with its application

# ------------------------------------------------------------------ the README, pasted
def test_the_readmes_token_block_runs_as_pasted(tmp_path: Path) -> None:
    """The "use it as a PKCS#11 token" block in a new `bash`, as tests/test_readme_paste.py pastes the
    README's first block: a system PATH, a fresh HOME and CMSIM_HOME, no CMSIM_* variables."""
    import json
    import re

    from test_readme_paste import README, _fresh_env, _paste

    client_module(), tool()  # the Debian packages the block needs (make pkcs11-deps)
    blocks = re.findall(r"<!-- test: pkcs11 -->\n```sh\n(.*?)^```", README.read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    assert len(blocks) == 1
    env = _fresh_env(tmp_path)
    del env["CMSIM_HOME"]  # the block makes its own
    result = _paste(blocks[0], env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "command not found" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    # --list-slots: the token is named after the device's serial, which `cmsim device start` chose
    # at random for the block's fresh state directory
    assert re.search(r"token label +: cmsim CMSIM-[0-9A-F]{8}\b", result.stdout), result.stdout
    assert "Signature is valid" in result.stdout  # pkcs11-tool --verify
    assert "Verified OK" in result.stdout  # openssl dgst -verify with the token's public key
    home = [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")]
    assert len(home) == 1
    assert {"token.sock"} & {p.name for p in home[0].iterdir()} == set()  # the server removed its socket
    assert {"sig", "sig.der", "pub.der", "audit.db"} <= {p.name for p in home[0].iterdir()}
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"seq"')]
    # `audit query --service sign`: the block's two C_Sign calls, one SIGN record each, under alice
    assert [(r["name"], r["status"], r["operator"], r["role"]) for r in records] == [("SIGN", "OK", "alice", "USER")] * 2


# Last of the shared-device tests: a failed login delays the next one (the module answers AUTH_FAILED within the delay).
def test_wrong_pin_is_pin_incorrect(token: Token) -> None:
    so_keygen = ("--login", "--login-type", "so", "--keypairgen", "--key-type", "EC:prime256v1", "--label", "co-ec")
    r = token.tool(*so_keygen, "--so-pin", ALICE_PIN, check=False)
    assert r.returncode != 0 and "CKR_PIN_INCORRECT" in r.stdout + r.stderr  # a User is not the SO
    r = token.tool("--login", "--login-type", "so", "--so-pin", OFFICER_PIN, "--list-objects", check=False)
    assert "CKR_SESSION_READ_ONLY_EXISTS" in r.stderr  # PKCS#11: the SO logs in on read-write sessions only
    assert "co-ec" in token.tool(*so_keygen, "--so-pin", OFFICER_PIN).stdout  # the Crypto Officer generates
    r = token.tool("--login", "--pin", "alice:not-her-password", "--list-objects", check=False)
    assert r.returncode != 0 and "CKR_PIN_INCORRECT" in r.stdout + r.stderr
    r = token.tool("--login", "--pin", "alice-without-a-colon", "--list-objects", check=False)
    assert r.returncode != 0 and "CKR_PIN_INCORRECT" in r.stdout + r.stderr
