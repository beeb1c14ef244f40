"""Secrets hygiene: no key, password, derived credential or plaintext in an audit record, an error
message, a status reply or a log line; after zeroisation no former key bytes in the state directory;
secret comparisons constant-time.

The run drives an in-process module on a real state directory through the full frame codec and
secure channel, records every secret it used or that the module made, then scans everything."""

from __future__ import annotations

import ast
import base64
import io
from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise
from firmware_sim.device import EndpointLine
from firmware_sim.flash import DirectoryFlash
from host_tools.audit_drain import export_through
from host_tools.client import Client
from host_tools.errors import AuthenticationError, DeviceError
from host_tools.link import WireTransport
from module.endpoint import Endpoint
from module.wire.defs import Command, DigestAlg, KdfAlg, KeyType, Role, Status
from module.wire.handshake import SessionKeys, derive_auth_key
from module.wire.messages import Reply

ROOT = Path(__file__).resolve().parent.parent
PLAINTEXTS = [b"top secret plaintext: launch codes 0000", b"another secret message 4242 xyz"]
NEW_PASSWORD = "bob-secret-pass-7"


def forms(secret: bytes) -> list[bytes]:
    """The ways a secret could leak into text or binary: raw, hex (both cases), base64."""
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret)]


class Recorder(WireTransport):
    """The wire transport, keeping every reply and every session key it was given."""

    replies: list[Reply]
    session_keys: list[SessionKeys]

    def call(self, command: int, params: object, session_id: int) -> Reply:  # type: ignore[override]
        reply = super().call(command, params, session_id)  # type: ignore[arg-type]
        self.replies.append(reply)
        return reply

    def bind_session(self, session_id: int, keys: SessionKeys) -> None:
        self.session_keys.append(keys)
        super().bind_session(session_id, keys)


def test_no_secret_leaks_and_zeroisation_leaves_nothing(make_module: ModuleFactory, tmp_path: Path) -> None:
    state = tmp_path / "state"
    module = make_module(flash=DirectoryFlash(state))
    initialise(module)
    transport = Recorder(EndpointLine(Endpoint(module)), timeout=0.05, retries=0)
    transport.replies, transport.session_keys = [], []
    dev = Client(transport)
    with dev.login("alice", PASSWORDS["alice"]) as alice:
        aes = alice.generate_key(KeyType.AES_256, exportable=True)
        for plaintext in PLAINTEXTS:
            box = alice.encrypt(aes.key_id, plaintext)
            assert alice.decrypt(aes.key_id, box) == plaintext
        hmac_key = alice.generate_key(KeyType.HMAC_SHA256)
        alice.mac(hmac_key.key_id, PLAINTEXTS[0])
        ec = alice.generate_key(KeyType.EC_P256)
        alice.sign(ec.key_id, PLAINTEXTS[1])
        secret = alice.generate_key(KeyType.GENERIC_SECRET, exportable=True)
        alice.derive(secret.key_id, KdfAlg.HKDF_SHA256, KeyType.AES_256, info=b"ctx")
        alice.digest(DigestAlg.SHA2_256, PLAINTEXTS[0])
        with pytest.raises(DeviceError) as refused:  # a failing decrypt
            alice.call(Command.DECRYPT, {"key_id": aes.key_id, "iv": bytes(12), "ciphertext": bytes(32)})
        assert refused.value.status is Status.DECRYPT_FAILED
    with dev.login("officer", PASSWORDS["officer"]) as officer:
        officer.create_operator("bob", Role.USER, NEW_PASSWORD)
        with pytest.raises(DeviceError) as refused:  # refused: its message must not echo it
            officer.create_operator("weak", Role.USER, "short")
        assert refused.value.status is Status.CREDENTIAL_REJECTED
    for wrong in ("wrong-password-1", NEW_PASSWORD + "x"):
        with pytest.raises(AuthenticationError) as failed:
            dev.login("bob", wrong)
        assert failed.value.status is Status.AUTH_FAILED
        module.clock.advance(module.config.auth.failure_delay_s + 0.001)  # type: ignore[attr-defined]  # past the delay
    status = dev.status()

    secrets: dict[str, bytes] = {}
    for name, password in {**PASSWORDS, "bob": NEW_PASSWORD, "weak": "short-pw"}.items():
        secrets[f"password of {name}"] = password.encode()
    for i, plaintext in enumerate(PLAINTEXTS):
        secrets[f"plaintext {i}"] = plaintext
    for key in module.keys.all():
        secrets[f"key {key.key_id} ({key.key_type.name})"] = bytes(key.material)
    for op in module.operators.all():
        secrets[f"verifier of {op.name}"] = bytes(op.verifier)
        if op.name in PASSWORDS:  # what logs in: never in flash, in an audit record or in an answer
            secrets[f"auth key of {op.name}"] = derive_auth_key(PASSWORDS[op.name], op.salt, op.iterations)
    for i, keys in enumerate(transport.session_keys):
        for part in ("host_to_module", "module_to_host", "confirm", "digest"):
            secrets[f"session {i} {part} key"] = getattr(keys, part)
    audit_seed = module.flash.read("audit_key")
    assert audit_seed
    secrets["audit signing key seed"] = audit_seed
    module_secret = module.flash.read("module_secret")  # what unknown operators' salts come from
    assert module_secret
    secrets["module secret"] = module_secret

    # Everything the module says or writes that is not a service's output.
    with dev.login("audrey", PASSWORDS["audrey"]) as auditor:
        out = io.BytesIO()
        export_through(auditor, out, module.config.serial, module.trail.status().next_seq - 1)
    surfaces = {
        "audit export": out.getvalue(),
        "error messages": "\n".join(r.message for r in transport.replies).encode(),
        "status reply": repr(status).encode(),
    }
    for surface, blob in surfaces.items():
        for name, value in secrets.items():
            if name.startswith("password of weak"):
                continue
            for form in forms(value):
                assert form not in blob, f"{name} appears in the {surface}"
    assert b"short" not in surfaces["error messages"]  # the refused password is not echoed

    # Zeroisation: no former key, verifier, auth key or seed left in any file of the state directory.
    with dev.login("officer", PASSWORDS["officer"]) as officer:
        officer.zeroise()
    files = {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    assert files, "the state directory holds the audit trail and the boot counter"
    for path, blob in files.items():
        for name, value in secrets.items():
            if name.startswith(("key ", "verifier of", "auth key of", "audit signing", "module secret")):
                for form in forms(value):
                    assert form not in blob, f"{name} is still in {path.name} after zeroisation"
    print(f"scanned for {len(secrets)} secrets in {len(surfaces)} surfaces and {len(files)} files")


def test_device_log_holds_no_secret(tmp_path: Path) -> None:
    """The device's own log (stderr, at debug level) over a whole session."""
    from firmware_sim.integrity import write_seal
    from host_tools.device import Device
    from host_tools.device_process import running_device

    seal = tmp_path / "seal"
    write_seal(seal)
    args = ["--pbkdf2-iterations", "1000", "--seal", str(seal), "--log-level", "debug"]
    with running_device(tmp_path / "state", args=args) as proc:
        with Device.open(proc.port) as dev:
            with dev.login("co", "cmsim-factory") as factory:
                factory.initialise("officer", "officer-secret-pw")
            with dev.login("officer", "officer-secret-pw") as officer:
                officer.create_operator("alice", Role.USER, "alice-secret-pw")
            with dev.login("alice", "alice-secret-pw") as alice:
                key = alice.generate_key(KeyType.AES_256)
                alice.encrypt(key.key_id, PLAINTEXTS[0])
        proc.stop()
        assert proc.process.stderr is not None
        log = proc.process.stderr.read()
    assert b"powered on" in log  # the log is there, and says what happened
    for secret in (b"officer-secret-pw", b"alice-secret-pw", b"cmsim-factory", PLAINTEXTS[0]):
        assert secret not in log


# Names of values an attacker may not learn a byte of by timing. (Chain heads, module tags and
# signatures are public; AES-GCM tags are checked inside OpenSSL.)
SECRET_NAMES = ("mac", "proof", "password", "verifier", "auth_key", "confirm", "secret")


def test_secret_comparisons_are_constant_time() -> None:
    """No ==/!= on a value whose name says it is a MAC, a proof, a password or a secret: those go
    through hmac.compare_digest."""
    offenders = []
    for folder in ("module", "host_tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Compare) or not any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                    continue
                # an UPPER_CASE name is a constant (CKM.GENERIC_SECRET_KEY_GEN, say), not a secret value
                names = [name.lower() for n in [node.left, *node.comparators] if isinstance(n, (ast.Name, ast.Attribute))
                         for name in [n.id if isinstance(n, ast.Name) else n.attr] if not name.isupper()]
                if any(any(word in name for word in SECRET_NAMES) for name in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], "compare with hmac.compare_digest: " + ", ".join(offenders)
    # That the comparisons that are made check every byte is behaviour: tests/test_near_misses.py.
