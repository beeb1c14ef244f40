"""`cmsim acvp-wrapper`: acvptool's module-wrapper framing, the getConfig answer, and requests
forwarded to a real device over its pty (digests, a Monte Carlo step, ECDSA and EdDSA SigVer)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from firmware_sim.integrity import write_seal
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device
from host_tools.lab.acvp import (
    COMMANDS,
    CONFIG,
    AcvpWrapper,
    WrapperError,
    command_table,
    encode_request,
    read_reply,
    read_request,
    serve,
    write_reply,
)
from host_tools.archive import Archive, QueryFilter
from module.wire.defs import Command, Role, Status

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "alice-pass-12"


def no_device(*args: object) -> object:
    raise AssertionError("this request must not reach the device")


# ------------------------------------------------------------------ framing
def test_request_framing_is_little_endian_count_lengths_then_bytes() -> None:
    raw = encode_request([b"SHA2-256", b"abc"])
    assert raw == struct.pack("<III", 2, 8, 3) + b"SHA2-256abc"
    assert read_request(io.BytesIO(raw)) == [b"SHA2-256", b"abc"]
    assert read_request(io.BytesIO(encode_request([b"getConfig"]))) == [b"getConfig"]
    assert read_request(io.BytesIO(encode_request([b"X", b""]))) == [b"X", b""]  # an empty argument
    assert read_request(io.BytesIO(b"")) is None  # a clean end of input


def test_reply_framing() -> None:
    out = io.BytesIO()
    write_reply(out, [b"\x01", b"", b"xyz"])
    assert out.getvalue() == struct.pack("<IIII", 3, 1, 0, 3) + b"\x01xyz"
    assert read_reply(io.BytesIO(out.getvalue())) == [b"\x01", b"", b"xyz"]


@pytest.mark.parametrize("raw", [
    struct.pack("<I", 0),  # no arguments at all
    struct.pack("<I", 17),  # more than the limit
    struct.pack("<II", 2, 8),  # cut inside the lengths
    struct.pack("<III", 2, 8, 3) + b"SHA2-2",  # cut inside the arguments
    struct.pack("<II", 1, 1000),  # a command name longer than any
])
def test_malformed_requests_end_the_wrapper_with_code_1(raw: bytes) -> None:
    with pytest.raises(WrapperError) as info:
        read_request(io.BytesIO(raw))
    assert info.value.code == 1


def test_get_config_lists_the_implemented_capabilities_in_registration_form() -> None:
    wrapper = AcvpWrapper(no_device)  # type: ignore[arg-type]
    (blob,) = wrapper.handle([b"getConfig"])
    config = json.loads(blob)
    assert config == CONFIG
    names = {(c["algorithm"], c.get("mode")) for c in config}
    assert names == {("SHA2-256", None), ("SHA2-384", None), ("SHA2-512", None), ("SHA3-256", None),
                     ("SHA3-384", None), ("SHA3-512", None), ("HMAC-SHA2-256", None), ("HMAC-SHA2-384", None),
                     ("HMAC-SHA2-512", None), ("ACVP-AES-GCM", None), ("ACVP-AES-KWP", None), ("KDA", "HKDF"),
                     ("KAS-ECC-SSC", None), ("ECDSA", "keyVer"), ("ECDSA", "sigGen"), ("ECDSA", "sigVer"),
                     ("EDDSA", "sigGen"), ("EDDSA", "sigVer"), ("ML-KEM", "encapDecap")}
    # no keyGen mode: its check needs the generated private key, which never leaves the module
    assert not any(c.get("mode") == "keyGen" for c in config)
    for entry in config:
        assert entry["revision"]
        if entry["algorithm"].startswith("SHA"):
            assert entry["messageLength"] == [{"min": 0, "max": 65536, "increment": 8}]
            assert "performLargeDataTest" not in entry  # no LDT: DIGEST takes 64 KiB at most
    ecdsa = next(c for c in config if c["algorithm"] == "ECDSA" and c["mode"] == "sigVer")
    assert ecdsa["capabilities"] == [{"curve": ["P-256"], "hashAlg": ["SHA2-256"]},
                                     {"curve": ["P-384"], "hashAlg": ["SHA2-384"]}]
    gcm = [c for c in config if c["algorithm"] == "ACVP-AES-GCM"]
    assert [(c["ivGen"], c["direction"]) for c in gcm] == [("internal", ["encrypt", "decrypt"]),
                                                           ("external", ["decrypt"])]  # never a caller's IV
    assert all(c["keyLen"] == [256] and c["tagLen"] == [128] for c in gcm)
    assert wrapper.requests == 1


def test_get_config_takes_no_arguments() -> None:
    with pytest.raises(WrapperError) as info:
        AcvpWrapper(no_device).handle([b"getConfig", b"x"])  # type: ignore[arg-type]
    assert info.value.code == 1


def test_serve_answers_until_the_input_ends_and_stops_at_an_unknown_command() -> None:
    out, log = io.BytesIO(), []
    stdin = io.BytesIO(encode_request([b"getConfig"]) + encode_request([b"AES-XTS/encrypt", b"k"]))
    code = serve(stdin, out, AcvpWrapper(no_device), log.append)  # type: ignore[arg-type]
    assert code == 2 and "unknown command 'AES-XTS/encrypt'" in log[0]
    assert read_reply(io.BytesIO(out.getvalue())) == [json.dumps(CONFIG, separators=(",", ":")).encode()]
    assert serve(io.BytesIO(b""), io.BytesIO(), AcvpWrapper(no_device)) == 0  # type: ignore[arg-type]


# -------------------------------------------------------- through a device
@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    seal = tmp_path_factory.mktemp("seal") / "integrity.seal"
    write_seal(seal)
    state = tmp_path_factory.mktemp("acvp-state")
    with running_device(state, args=["--pbkdf2-iterations", "1000", "--seal", str(seal)]) as proc:
        with Device.open(proc.port) as dev:
            with dev.login("co", "cmsim-factory") as factory:
                factory.initialise("officer", "officer-pass-1")
            with dev.login("officer", "officer-pass-1") as officer:
                officer.create_operator("alice", Role.USER, PASSWORD)
        yield proc


def wrapper_process(port: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CMSIM_PASSWORD": PASSWORD}
    return subprocess.Popen([sys.executable, "-m", "host_tools.cli", "--port", port, "--operator", "alice",
                             "acvp-wrapper", *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)


def transact(proc: subprocess.Popen[bytes], *args: bytes) -> list[bytes]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(encode_request(list(args)))
    proc.stdin.flush()
    (count,) = struct.unpack("<I", proc.stdout.read(4))
    lengths = struct.unpack(f"<{count}I", proc.stdout.read(4 * count))
    return [proc.stdout.read(n) for n in lengths]


def sha2_mct(name: str, seed: bytes) -> bytes:
    a = b = c = seed
    for _ in range(1000):
        a, b, c = b, c, hashlib.new(name, a + b + c).digest()
    return c


def test_requests_are_answered_by_the_device(device: DeviceProcess) -> None:
    proc = wrapper_process(device.port)
    try:
        (config,) = transact(proc, b"getConfig")
        assert json.loads(config) == CONFIG
        assert transact(proc, b"SHA2-256", b"abc") == [hashlib.sha256(b"abc").digest()]
        assert transact(proc, b"SHA3-512", b"") == [hashlib.sha3_512(b"").digest()]
        assert transact(proc, b"SHA2-384", bytes(1000)) == [hashlib.sha384(bytes(1000)).digest()]
        seed = bytes(range(32))
        assert transact(proc, b"SHA2-256/MCT", seed) == [sha2_mct("sha256", seed)]
        md = seed
        for _ in range(1000):
            md = hashlib.sha3_256(md).digest()
        assert transact(proc, b"SHA3-256/MCT", seed) == [md]

        key = ec.generate_private_key(ec.SECP384R1())
        numbers = key.public_key().public_numbers()
        qx, qy = numbers.x.to_bytes(48, "big"), numbers.y.to_bytes(48, "big")
        r, s = decode_dss_signature(key.sign(b"message", ec.ECDSA(hashes.SHA384())))
        args = [b"P-384", b"SHA2-384", b"message", qx, qy, r.to_bytes(48, "big").lstrip(b"\0"), s.to_bytes(48, "big")]
        assert transact(proc, b"ECDSA/sigVer", *args) == [b"\x01"]
        args[2] = b"massage"
        assert transact(proc, b"ECDSA/sigVer", *args) == [b"\x00"]

        ed = ed25519.Ed25519PrivateKey.generate()
        public = ed.public_key().public_bytes_raw()
        signature = ed.sign(b"hello")
        assert transact(proc, b"EDDSA/ED-25519/sigVer", b"hello", public, signature) == [b"\x01"]  # AWS-LC
        assert transact(proc, b"EDDSA/ED-25519/sigVer", b"hello!", public, signature) == [b"\x00"]
        boring = [b"EDDSA/sigVer", b"ED-25519", b"hello", public, signature, b"\x00"]  # BoringSSL: five arguments
        assert transact(proc, *boring) == [b"\x01"]
        boring[2] = b"hello!"
        assert transact(proc, *boring) == [b"\x00"]

        # a keyed request: the HMAC key enters through the key transport over the serial line
        key = bytes(range(48))
        assert transact(proc, b"HMAC-SHA2-384", b"message", key) == [hmac.new(key, b"message", "sha384").digest()]
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(30) == 0, proc.stderr.read().decode() if proc.stderr else ""


def test_an_unsupported_curve_ends_the_wrapper_with_code_3(device: DeviceProcess) -> None:
    proc = wrapper_process(device.port)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(encode_request([b"ECDSA/sigVer", b"P-521", b"SHA2-512", b"m", b"x", b"y", b"r", b"s"]))
    proc.stdin.close()
    assert proc.wait(30) == 3
    assert "P-256 with SHA2-256 and P-384 with SHA2-384 only" in proc.stderr.read().decode()


def test_get_config_needs_no_device() -> None:
    proc = wrapper_process("/nonexistent/cmsim-port")
    try:
        (config,) = transact(proc, b"getConfig")
        assert json.loads(config) == CONFIG
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(30) == 0


def test_the_command_table_in_docs_lab_md_is_the_wrappers() -> None:
    text = (ROOT / "docs" / "lab.md").read_text()
    begin = text.index("<!-- acvp-commands:")
    block = text[text.index("\n", begin) + 1:text.index("<!-- end acvp-commands -->")]
    assert block == command_table(), "regenerate the table with host_tools.lab.acvp.command_table()"
    names = [line.split("`")[1] for line in block.splitlines()[2:]]
    assert names == list(COMMANDS)  # every command once, in the wrapper's order
    for spec in COMMANDS.values():
        assert spec.dialect in ("both", "BoringSSL", "AWS-LC") and spec.arity == len(spec.arguments)


def test_a_monte_carlo_test_on_a_small_blocking_ring_drains_into_the_archive(tmp_path: Path) -> None:
    """`--archive` with an Auditor: 1,000 DIGEST calls on a 128-record ring under `block` are all
    answered, and every one of them is in the archive, verified (without it the run gets AUDIT_FULL)."""
    seal = tmp_path / "integrity.seal"
    write_seal(seal)
    args = ["--pbkdf2-iterations", "1000", "--seal", str(seal), "--capacity", "128"]
    with running_device(tmp_path / "state", args=args) as small:
        with Device.open(small.port) as dev:
            with dev.login("co", "cmsim-factory") as factory:
                factory.initialise("officer", "officer-pass-1")
            with dev.login("officer", "officer-pass-1") as officer:
                officer.create_operator("alice", Role.USER, PASSWORD)
                officer.create_operator("audrey", Role.AUDITOR, "audrey-pass-1")
        seed = bytes(range(32))
        plain = wrapper_process(small.port)
        try:
            assert proc_fails_on_mct(plain, seed)
        finally:
            assert plain.stdin is not None
            plain.stdin.close()
            plain.wait(30)
        db = tmp_path / "trail.db"
        env = {**os.environ, "CMSIM_PASSWORD": PASSWORD, "CMSIM_AUDITOR_PASSWORD": "audrey-pass-1"}
        proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "--port", small.port, "--operator", "alice",
                                 "acvp-wrapper", "--archive", str(db), "--auditor", "audrey"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
        try:
            assert transact(proc, b"SHA2-256/MCT", seed) == [sha2_mct("sha256", seed)]
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            assert proc.wait(30) == 0, proc.stderr.read().decode() if proc.stderr else ""
    with Archive(db) as archive:
        assert archive.verify().ok
        digests = [r for r, _ in archive.query(QueryFilter(service=Command.DIGEST, operator="alice"))
                   if r.status == Status.OK]
    assert len(digests) >= 1000


def proc_fails_on_mct(proc: subprocess.Popen[bytes], seed: bytes) -> bool:
    """Without a drain the ring fills: the wrapper ends the run with exit 3 (AUDIT_FULL)."""
    assert proc.stdin is not None
    proc.stdin.write(encode_request([b"SHA2-256/MCT", seed]))
    proc.stdin.close()
    code = proc.wait(60)
    assert proc.stderr is not None
    return code == 3 and "AUDIT_FULL" in proc.stderr.read().decode()


def test_the_lab_only_algorithms_need_a_lab_mode_device(device: DeviceProcess) -> None:
    """`--lab` against a normal device: one line, the usage exit code, before any request is read."""
    proc = wrapper_process(device.port, "--lab")
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.close()
    assert proc.wait(30) == 2
    err = proc.stderr.read().decode()
    assert "--lab needs a lab-mode device" in err and "Traceback" not in err


def test_a_lab_mode_device_gets_the_lab_only_algorithms_registered(tmp_path: Path) -> None:
    seal = tmp_path / "integrity.seal"
    write_seal(seal)
    with running_device(tmp_path / "state", args=["--pbkdf2-iterations", "1000", "--seal", str(seal), "--lab"]) as lab:
        with Device.open(lab.port) as dev:
            with dev.login("co", "cmsim-factory") as factory:
                factory.initialise("officer", "officer-pass-1")
            with dev.login("officer", "officer-pass-1") as officer:
                officer.create_operator("alice", Role.USER, PASSWORD)
        assert not registered(lab.port) & {"hmacDRBG", "PBKDF"}  # never advertised unless asked for
        assert {"hmacDRBG", "PBKDF"} <= registered(lab.port, "--lab")


def registered(port: str, *extra: str) -> set[str]:
    """The algorithm names a wrapper started with ``extra`` registers in getConfig; it then ends cleanly."""
    proc = wrapper_process(port, *extra)
    try:
        return {entry["algorithm"] for entry in json.loads(transact(proc, b"getConfig")[0])}
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(30) == 0
