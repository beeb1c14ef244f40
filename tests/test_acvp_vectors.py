"""ACVP vector sets through the wrapper's request handling against a module, in both acvptool dialects.

The shared sets are acvptool's own test data with the server's expected answers
(a copy in tests/vectors/acvp, see its SOURCE.txt); the generated ones (host_tools/lab/acvp_generated.py)
carry answers computed by `cryptography`. Expected values never come from the wrapper or the module.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise, with_config
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from host_tools.archive import Archive
from host_tools.client import Client, OperatorSession
from host_tools.lab.acvp import (
    COMMANDS,
    CONFIG,
    DIALECTS,
    AcvpWrapper,
    WrapperError,
    archiving_drain,
    encode_request,
    registration,
    serve,
)
from host_tools.lab.acvp_driver import SetResult, run_file, run_vector_set, shared_files
from host_tools.lab.acvp_generated import generated_sets, nist_drbg_set
from host_tools.lab.harness import run_lab
from module.audit.trail import AuditConfig
from module.core import Module
from module.wire.defs import Command, Status

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CMSIM_ACVP_VECTORS", ROOT / "tests" / "vectors" / "acvp"))
NIST_DRBG = ROOT / "tests" / "vectors" / "hmac_drbg_sha256.json"  # NIST CAVP's, shaped as an ACVP set
# Monte Carlo checkpoints per SHA MCT in the suite (acvptool runs 100, each 1,000 DIGEST calls);
# CMSIM_ACVP_FULL=1 runs all 100. The checkpoints chain, so 10 still checks the whole inner loop.
MCT_CHECKPOINTS = 100 if os.environ.get("CMSIM_ACVP_FULL") else 10

# The shared sets of algorithms (and modes) the wrapper does not register, and why (docs/lab.md says more).
NOT_REGISTERED = {
    ("ACVP-AES-KW", None): "no service wraps without padding (KEY_EXPORT is AES-KWP)",
    ("KDF", None): "the module's KBKDF input is a stored 256-bit secret; the server sends 128-bit keys",
    ("ML-DSA", "keyGen"): "the module keeps the 32-byte seed; ACVP wants the expanded private key",
    ("ML-DSA", "sigGen"): "ACVP gives an expanded private key and the internal interface",
    ("ML-DSA", "sigVer"): "the shared set tests the internal interface; VERIFY is the pure external one",
    ("ML-KEM", "keyGen"): "the module keeps the 64-byte seed; ACVP wants the expanded decapsulation key",
    ("EDDSA", "keyVer"): "no service validates an Ed25519 point on its own",
    ("ECDSA", "keyGen"): "the check needs the generated private key, which never leaves the module",
    ("EDDSA", "keyGen"): "the check needs the generated private key, which never leaves the module",
}
# Shared files of registered algorithms with no case inside the registration (other key, tag or output
# lengths, hashes or curves); the generated sets run those modes.
SHARED_OUTSIDE = {"ACVP-AES-GCM-randnonce.bz2": "tags of 32-120 bits, AES-128", "HKDF.bz2": "SHA2-224, SHA2-512/256",
                  "HMAC-SHA2-256.bz2": "no 256-bit key", "HMAC-SHA2-512.bz2": "no 512-bit key",
                  "KAS-ECC-SSC.bz2": "P-224, P-384, P-521"}
# ... and in AWS-LC's dialect KDA.bz2 too: its groups use the fixed-info pattern BoringSSL's tool registers.
OUTSIDE_FOR = {"BoringSSL": set(SHARED_OUTSIDE), "AWS-LC": {*SHARED_OUTSIDE, "KDA.bz2"}}
# Modes with a verdict: among their cases some must be answered "fails".
VERDICT_MODES = {("ACVP-AES-GCM", None), ("ACVP-AES-KWP", None), ("KDA", "HKDF"), ("KAS-ECC-SSC", None),
                 ("ECDSA", "keyVer"), ("ECDSA", "sigVer"), ("EDDSA", "sigVer"), ("ML-KEM", "encapDecap")}


@dataclass
class Lab:
    module: Module
    client: Client
    user: OperatorSession
    auditor: OperatorSession
    archive: Archive
    lab_mode: bool

    def wrapper(self, dialect: str = "BoringSSL", *, drain: bool = True) -> AcvpWrapper:
        def call(command: Command, params: dict[str, object]):  # type: ignore[no-untyped-def]
            return self.client.transport.call(int(command), params, self.user.session_id)

        drainer = archiving_drain(self.archive, self.auditor, allow_lab=self.lab_mode) if drain else None
        return AcvpWrapper(call, drainer, dialect, lab=self.lab_mode)


def make_lab(make_module: ModuleFactory, tmp_path: Path, *, lab_mode: bool = True, **audit: int) -> Iterator[Lab]:
    """A module in lab mode unless told otherwise (the lab-only algorithm test answers there: hmacDRBG and
    PBKDF are registered)."""
    module = make_module(config=with_config(audit=AuditConfig(lab_mode=lab_mode, **audit)))
    client = initialise(module)
    user = client.login("alice", PASSWORDS["alice"])
    auditor = client.login("audrey", PASSWORDS["audrey"])
    with Archive(tmp_path / "acvp-archive.db") as archive:
        yield Lab(module, client, user, auditor, archive, lab_mode)


@pytest.fixture
def lab(make_module: ModuleFactory, tmp_path: Path) -> Iterator[Lab]:
    yield from make_lab(make_module, tmp_path)


def _shared() -> list[tuple[str, Path, Path | None]]:
    assert SHARED.is_dir(), f"the ACVP vector sets are missing: {SHARED}"
    return list(shared_files(SHARED))


def run_all(lab: Lab, dialect: str) -> list[SetResult]:
    """Every shared set (of both trees: the server's answers hold for any tool), then every generated set."""
    wrapper = lab.wrapper(dialect)
    results: list[SetResult] = []
    for _, vectors, expected in _shared():
        results += run_file(vectors, expected, wrapper.handle, dialect=dialect, mct_checkpoints=MCT_CHECKPOINTS,
                            lab=True)
    for vs, answers in [*generated_sets(dialect), nist_drbg_set(NIST_DRBG)]:
        results.append(run_vector_set(vs, answers, wrapper.handle, dialect=dialect, source="generated", lab=True))
    wrapper.close()
    return results


def key(result: SetResult) -> tuple[str, str | None]:
    algorithm, _, mode = result.algorithm.partition(" ")
    return algorithm, mode or None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_vector_set_agrees_with_its_answers(lab: Lab, dialect: str) -> None:
    results = run_all(lab, dialect)
    failures = [f"{r.source} {r.algorithm}: {f}" for r in results for f in r.failures]
    assert not failures, failures[:10]
    registered = {(c["algorithm"], c.get("mode")) for c in registration(dialect, lab=True)}
    shared_keys = {key(r) for r in results if r.source != "generated"}
    for r in results:
        if key(r) in NOT_REGISTERED:
            assert r.run == 0 and not r.registered, r
        elif r.source in OUTSIDE_FOR[dialect]:
            assert r.run == 0 and r.outside > 0, r
        elif r.source != "generated" and r.registered:
            assert r.run > 0, f"{r.source} {r.algorithm}: no case inside the registration ran"
    assert shared_keys - registered <= set(NOT_REGISTERED), shared_keys - registered - set(NOT_REGISTERED)
    # every registered mode runs cases, and those with a verdict run cases that must fail
    for mode in registered:
        ran = [r for r in results if key(r) == mode]
        assert sum(r.run for r in ran) > 0, mode
        if mode in VERDICT_MODES:
            assert sum(r.negative for r in ran) > 0, f"{mode}: no negative case"
    # the Monte Carlo tests ran their checkpoints (one AFT case besides, in each SHA-2 set)
    assert sum(r.run for r in results if r.algorithm == "SHA2-256") == 1 + MCT_CHECKPOINTS


def test_the_shared_trees_are_what_this_suite_expects() -> None:
    """A new file in the shared trees must be classified here (registered, or not and why)."""
    files = {(d, v.name) for d, v, _ in _shared()}
    assert ("BoringSSL", "EDDSA.bz2") in files and ("AWS-LC", "EDDSA.bz2") in files
    assert len(files) == 25, sorted(files)  # 20 of BoringSSL, 5 of AWS-LC (SOURCE.txt)


def test_a_long_run_under_block_keeps_every_record(make_module: ModuleFactory, tmp_path: Path) -> None:
    """A 256-slot ring under `block`: three Monte Carlo checkpoints (3,000 DIGEST calls) need drains."""
    for lab in make_lab(make_module, tmp_path, lab_mode=False, capacity=256, reserve=16, checkpoint_every=0):
        seed = bytes(32)
        without = lab.wrapper(drain=False)
        with pytest.raises(WrapperError) as info:
            for _ in range(3):
                (seed,) = without.handle([b"SHA2-256/MCT", seed])
        assert info.value.code == 3 and "AUDIT_FULL" in str(info.value)
        drain = archiving_drain(lab.archive, lab.auditor)
        drain()  # empties the full ring
        wrapper = lab.wrapper()
        refused_before = lab.client.status()["audit"]["records_refused"]
        for _ in range(3):
            (seed,) = wrapper.handle([b"SHA2-256/MCT", seed])
        assert wrapper.drains >= 3000 // 256
        drain()
        status = lab.client.status()["audit"]
        assert status["records_refused"] == refused_before  # the drained run was never refused
        assert status["records_lost"] == 0
        head = lab.archive.head()
        assert head is not None and lab.archive.count() == head[0] + 1 > 3000  # every record from seq 0, no gap
        assert lab.archive.verify().ok


def test_keys_entered_for_a_request_are_deleted_again(lab: Lab) -> None:
    wrapper = lab.wrapper()
    before = lab.user.list_keys()
    assert wrapper.handle([b"HMAC-SHA2-256", b"msg", bytes(32)])
    assert wrapper.handle([b"AES-KWP/seal", b"\0" * 4, bytes(32), bytes(48), b"", b""])
    transport = {k for k, _, _ in lab.user.list_keys()} - {k for k, _, _ in before}
    assert len(transport) == 3  # the key transport's P-256 pair, agreed secret and KEK, nothing else
    assert wrapper.handle([b"ECDSA/keyGen", b"P-384"])
    held = {k for k, _, _ in lab.user.list_keys()} - {k for k, _, _ in before} - transport
    assert len(held) == 1  # the generated pair stays for sigGen, until close()
    wrapper.close()
    assert lab.user.list_keys() == before


def _scalar_of(d: bytes, curve: ec.EllipticCurve) -> ec.EllipticCurvePublicNumbers | None:
    """The public point of D read as a private scalar, or None when D is no scalar of the curve."""
    value = int.from_bytes(d, "big")
    try:
        return ec.derive_private_key(value, curve).public_key().public_numbers()
    except ValueError:
        return None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_keygen_gives_a_handle_not_the_private_key_and_sigGen_signs_with_it(lab: Lab, dialect: str) -> None:
    """The private key of a generated pair never leaves: D neither is the key of Q nor unwraps to it;
    sigGen with D signs under Q; a handle is refused after close() and for another algorithm."""
    wrapper = lab.wrapper(dialect)
    d, qx, qy = wrapper.handle([b"ECDSA/keyGen", b"P-256"])
    q = ec.EllipticCurvePublicNumbers(int.from_bytes(qx, "big"), int.from_bytes(qy, "big"), ec.SECP256R1())
    assert _scalar_of(d, ec.SECP256R1()) != q and _scalar_of(d[-32:], ec.SECP256R1()) != q
    r, s = wrapper.handle([b"ECDSA/sigGen", b"P-256", d, b"SHA2-256", b"message"])
    q.public_key().verify(encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big")), b"message",
                          ec.ECDSA(hashes.SHA256()))
    keygen = [b"EDDSA/keyGen", b"ED-25519"] if dialect == "BoringSSL" else [b"EDDSA/ED-25519/keyGen"]
    seed, public = wrapper.handle(keygen)
    for candidate in {seed[:32], seed[-32:]}:
        assert ed25519.Ed25519PrivateKey.from_private_bytes(candidate).public_key().public_bytes_raw() != public
    sign = [b"EDDSA/sigGen", b"ED-25519", seed, b"hello", b"\x00", b""] if dialect == "BoringSSL" \
        else [b"EDDSA/ED-25519/sigGen", seed, b"hello"]
    (signature,) = wrapper.handle(sign)
    ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, b"hello")
    with pytest.raises(WrapperError) as info:  # an EdDSA handle is no ECDSA key
        wrapper.handle([b"ECDSA/sigGen", b"P-256", seed, b"SHA2-256", b"message"])
    assert info.value.code == 3 and "not a key handle" in str(info.value)
    wrapper.close()
    with pytest.raises(WrapperError) as info:  # its key is gone from the module
        wrapper.handle([b"ECDSA/sigGen", b"P-256", d, b"SHA2-256", b"message"])
    assert info.value.code == 3 and "not a key handle" in str(info.value)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_checks_its_argument_count(name: str) -> None:
    def no_device(command: Command, params: dict[str, object]):  # type: ignore[no-untyped-def]
        raise AssertionError("a wrong argument count must not reach the device")

    wrapper = AcvpWrapper(no_device)
    for count in {0, COMMANDS[name].arity - 1, COMMANDS[name].arity + 1} - {COMMANDS[name].arity, -1}:
        with pytest.raises(WrapperError) as info:
            wrapper.handle([name.encode(), *[b""] * count])
        assert info.value.code == 1 and f"takes {COMMANDS[name].arity} arguments" in str(info.value)


@pytest.mark.parametrize("request_args, message", [
    ([b"HMAC-SHA2-256", b"m", bytes(16)], "keyLen"),
    ([b"AES-GCM/open", b"\x0c\0\0\0", bytes(32), bytes(28), bytes(12), b""], "128-bit tags"),
    ([b"AES-GCM-randnonce/seal", b"\x10\0\0\0", bytes(16), b"", b"", b""], "AES-256"),
    ([b"AES-KWP/seal", b"\0" * 4, bytes(32), bytes(20), b"", b""], "payloadLen"),
    ([b"HKDF/SHA2-256", bytes(32), b"", b"", b"\x40\x00\x00\x00\x00"], "4-byte"),
    ([b"ECDSA/keyVer", b"P-384", bytes(48), bytes(48)], "P-256 points only"),
    ([b"ECDSA/sigGen", b"P-256", bytes(32), b"SHA2-512", b"m"], "P-256 with SHA2-256"),
    ([b"EDDSA/sigGen", b"ED-25519", bytes(32), b"m", b"\x01", b""], "pure Ed25519"),
    ([b"EDDSA/sigVer", b"ED-448", b"m", bytes(57), bytes(114), b"\x00"], "ED-25519 only"),
])
def test_an_unregistered_parameter_is_refused_before_the_device(request_args: list[bytes], message: str) -> None:
    def no_device(command: Command, params: dict[str, object]):  # type: ignore[no-untyped-def]
        raise AssertionError("an unregistered parameter must not reach the device")

    with pytest.raises(WrapperError) as info:
        AcvpWrapper(no_device).handle(request_args)
    assert info.value.code == 3 and message in str(info.value)


def test_an_unknown_command_ends_with_code_2() -> None:
    with pytest.raises(WrapperError) as info:
        AcvpWrapper(lambda c, p: None).handle([b"AES-GCM/seal"])  # type: ignore[arg-type,return-value]
    assert info.value.code == 2


def test_the_registrations_differ_in_kda_fixed_info_and_gcm_internal_iv_encryption() -> None:
    boring, aws = registration("BoringSSL"), registration("AWS-LC")
    assert boring == CONFIG
    differing = [(a, b) for a, b in zip(boring, aws) if a != b]
    assert [a["algorithm"] for a, _ in differing] == ["ACVP-AES-GCM", "KDA"]
    assert differing[0][1]["direction"] == ["decrypt"] and differing[0][1]["ivGen"] == "internal"
    assert differing[1][1]["fixedInfoPattern"] == "uPartyInfo||vPartyInfo||l"


def test_a_refused_device_call_is_an_operation_failure(lab: Lab) -> None:
    wrapper = lab.wrapper()
    lab.user.logout()  # the wrapper's session is gone
    with pytest.raises(WrapperError) as info:
        wrapper.handle([b"SHA2-256", b"abc"])
    assert info.value.code == 3 and Status.SESSION_INVALID.name in str(info.value)


def test_the_lab_run_has_an_acvp_step_per_dialect_and_algorithm(seal_file: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMSIM_ACVP_VECTORS", str(SHARED))
    report = run_lab(plan="quick", seed=2, device_args=["--seal", str(seal_file)])
    acvp = {r.id: r for r in report.results if r.id.startswith("acvp.")}
    for dialect in DIALECTS:
        for c in registration(dialect, lab=True):
            name = f"{c['algorithm']} {c['mode']}" if c.get("mode") else c["algorithm"]
            r = acvp[f"acvp.{dialect}.{name.replace(' ', '-')}"]
            assert r.step == 1 and r.clause == "7.2" and r.outcome.value == "passed" and r.run > 0, r
            assert r.evidence, r.id  # its requests are in the verified trail
    assert report.ok, [(r.id, r.failures[:2]) for r in report.results if r.failed]


def test_serve_deletes_the_key_transport_keys_when_the_input_ends(lab: Lab) -> None:
    before = lab.user.list_keys()
    stdin = io.BytesIO(encode_request([b"HMAC-SHA2-512", b"m", bytes(64)]) + encode_request([b"AES-XTS/x"]))
    assert serve(stdin, io.BytesIO(), lab.wrapper(), lambda message: None) == 2
    assert lab.user.list_keys() == before  # even after an unknown command ended the run
