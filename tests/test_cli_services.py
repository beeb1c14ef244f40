"""Every service the device has, from the shell, in forms other tools read: keys by label, uses by
name, public keys as PEM/DER/raw and ECDSA signatures as DER (checked by the real `openssl`
binary), ECDH key agreement and ML-KEM encapsulation (checked by both ends deriving one key)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from host_tools.cli import EXIT_DEVICE, main
from host_tools.device_process import DeviceProcess, running_device

FAST = ["--pbkdf2-iterations", "1000"]
CO_PW, ALICE_PW = "s3cret-pass-1", "alice-pass-12"


pytestmark = pytest.mark.usefixtures("known_device")  # output read whole: no first-contact notice in it


def cli(port: str, *args: str, input: bytes | None = None) -> Result:
    env: dict[str, str | None] = {"CMSIM_PORT": port, "CMSIM_PASSWORD": ALICE_PW, "CMSIM_OPERATOR": None}
    return CliRunner().invoke(main, ["--operator", "alice", *args], env=env, input=input, catch_exceptions=False)


def ok(r: Result) -> Result:
    assert r.exit_code == 0, r.output
    return r


def js(port: str, *args: str) -> Any:
    return json.loads(ok(cli(port, "--json", *args)).output)


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    with running_device(tmp_path_factory.mktemp("state"), args=[*FAST, "--seal", str(seal_file)]) as proc:
        env: dict[str, str | None] = {"CMSIM_PORT": proc.port, "CMSIM_PASSWORD": CO_PW, "PW": ALICE_PW}
        runner = CliRunner()
        assert runner.invoke(main, ["init", "--operator", "co"], env=env).exit_code == 0
        r = runner.invoke(main, ["--operator", "co", "operator", "add", "alice", "--role", "user", "--password-env",
                                 "PW"], env=env)
        assert r.exit_code == 0, r.output
        yield proc


def test_openssl_verifies_a_cmsim_signature(device: DeviceProcess, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl binary is part of this machine's toolchain"
    ok(cli(device.port, "key", "generate", "--type", "ecdsa-p256", "--label", "release-key", "--use", "sign"))
    msg, sig, pub = tmp_path / "msg", tmp_path / "sig.der", tmp_path / "pub.pem"
    msg.write_bytes(b"release 1.0\n")
    ok(cli(device.port, "sign", "--key", "release-key", "--format", "der", "--in", str(msg), "--out", str(sig)))
    ok(cli(device.port, "key", "pubkey", "release-key", "--format", "pem", "--out", str(pub)))
    good = subprocess.run([openssl, "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), str(msg)],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "Verified OK" in good.stdout, good.stdout + good.stderr
    msg.write_bytes(b"release 1.1\n")
    bad = subprocess.run([openssl, "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), str(msg)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0  # the check can fail: openssl is really verifying
    # and back: the DER signature and the PEM key verify through cmsim as well
    msg.write_bytes(b"release 1.0\n")
    assert "valid" in ok(cli(device.port, "verify", "--pubkey", str(pub), "--type", "ecdsa-p256", "--signature",
                             str(sig), "--format", "der", "--in", str(msg))).output


def test_public_key_forms_agree(device: DeviceProcess, tmp_path: Path) -> None:
    info = js(device.port, "key", "generate", "--type", "ecdsa-p384", "--label", "p384")
    raw = bytes.fromhex(info["public_key"])
    der, pem, rawfile = tmp_path / "k.der", tmp_path / "k.pem", tmp_path / "k.raw"
    for fmt, path in (("der", der), ("pem", pem), ("raw", rawfile)):
        ok(cli(device.port, "key", "pubkey", str(info["key_id"]), "--format", fmt, "--out", str(path)))
    assert rawfile.read_bytes() == raw
    from_der = serialization.load_der_public_key(der.read_bytes())
    from_pem = serialization.load_pem_public_key(pem.read_bytes())
    assert isinstance(from_der, ec.EllipticCurvePublicKey) and from_der.curve.name == "secp384r1"
    point = from_der.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert point == raw and from_pem.public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint) == raw
    secret = js(device.port, "key", "generate", "--type", "aes-256")
    r = cli(device.port, "key", "pubkey", str(secret["key_id"]))
    assert r.exit_code == EXIT_DEVICE and "no public key" in r.output


def test_keys_by_label_and_uses_by_name(device: DeviceProcess, tmp_path: Path) -> None:
    made = js(device.port, "key", "generate", "--type", "ed25519", "--label", "sign-only", "--use", "sign")
    assert made["uses"] == ["sign"]
    assert js(device.port, "key", "show", "sign-only")["key_id"] == made["key_id"]
    sig = tmp_path / "sig"
    ok(cli(device.port, "sign", "--key", "sign-only", "--out", str(sig), input=b"m"))
    assert sig.stat().st_size == 64  # an Ed25519 signature
    denied = cli(device.port, "verify", "--key", "sign-only", "--signature", str(sig), input=b"m")
    assert denied.exit_code == EXIT_DEVICE and "KEY_USE_DENIED" in denied.output  # no "verify" use was given
    full = js(device.port, "key", "generate", "--type", "ed25519", "--label", "both", "--use", "sign", "--use",
              "verify")
    assert full["uses"] == ["sign", "verify"]
    ok(cli(device.port, "sign", "--key", "both", "--out", str(sig), input=b"m"))
    assert "valid" in ok(cli(device.port, "verify", "--key", "both", "--signature", str(sig), input=b"m")).output
    missing = cli(device.port, "encrypt", "--key", "no-such-label", input=b"x")
    assert missing.exit_code == EXIT_DEVICE and "no key labelled" in missing.output
    js(device.port, "key", "generate", "--type", "aes-256", "--label", "twice")
    js(device.port, "key", "generate", "--type", "aes-256", "--label", "twice")
    dup = cli(device.port, "encrypt", "--key", "twice", input=b"x")
    assert dup.exit_code == EXIT_DEVICE and "give its number" in dup.output


def _same_secret(port: str, first: int, second: int) -> None:
    """Two stored shared secrets are equal: AES keys derived from each with one context decrypt each other's output."""
    a = js(port, "derive", "--base", str(first), "--type", "aes-256", "--info", "check")["key_id"]
    b = js(port, "derive", "--base", str(second), "--type", "aes-256", "--info", "check")["key_id"]
    box = ok(cli(port, "encrypt", "--key", str(a), input=b"the same secret")).stdout_bytes
    assert ok(cli(port, "decrypt", "--key", str(b), input=box)).stdout_bytes == b"the same secret"


def test_ecdh_key_agreement(device: DeviceProcess, tmp_path: Path) -> None:
    a = js(device.port, "key", "generate", "--type", "ecdsa-p256", "--label", "ecdh-a", "--use", "agree")
    b = js(device.port, "key", "generate", "--type", "ecdsa-p256", "--label", "ecdh-b", "--use", "agree")
    assert a["uses"] == ["agree"]
    pub_a, pub_b = tmp_path / "a.pem", tmp_path / "b.der"
    ok(cli(device.port, "key", "pubkey", "ecdh-a", "--out", str(pub_a)))
    ok(cli(device.port, "key", "pubkey", "ecdh-b", "--format", "der", "--out", str(pub_b)))
    ab = js(device.port, "key", "agree", "--key", "ecdh-a", "--peer", str(pub_b))
    ba = js(device.port, "key", "agree", "--key", str(b["key_id"]), "--peer", str(pub_a))
    assert ab["key_id"] != ba["key_id"] and a["key_id"] != b["key_id"]
    _same_secret(device.port, ab["key_id"], ba["key_id"])


def test_ml_kem_encapsulate_and_decapsulate(device: DeviceProcess, tmp_path: Path) -> None:
    js(device.port, "key", "generate", "--type", "ml-kem-768", "--label", "kem")
    pub, ct = tmp_path / "kem.pem", tmp_path / "ct"
    ok(cli(device.port, "key", "pubkey", "kem", "--out", str(pub)))
    ok(cli(device.port, "encapsulate", "--pubkey", str(pub), "--label", "sent", "--out", str(ct)))
    assert ct.stat().st_size == 1088  # FIPS 203: an ML-KEM-768 ciphertext
    got = js(device.port, "decapsulate", "--key", "kem", "--in", str(ct), "--label", "received")
    sent = next(k for k in js(device.port, "key", "list")["keys"] if k["label"] == "sent")
    _same_secret(device.port, sent["key_id"], got["key_id"])
