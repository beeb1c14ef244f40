"""IG 10.3.A: the implementation a CAST tests is the one the module uses, the integrity test's first.

The module computes SHA-256 and HMAC-SHA-256 with two libraries (pyca/cryptography's bundled
OpenSSL for the services, CPython's hashlib on the interpreter's OpenSSL for the integrity test,
the DRBG, the audit chain and the login). A fault in the second must be caught by a CAST, and the
CAST of the integrity test's own algorithm and implementation must run before the integrity test.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Any

from audit_view import sink_of
from conftest import ModuleFactory
from module import cast, selftests
from module.algorithms import primitives
from module.wire.defs import AuditEvent, State

MODULE_DIR = Path(__file__).resolve().parent.parent / "module"


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def _self_test_details(module: Any) -> list[str]:
    return [r.entry.detail for r in sink_of(module).records if r.entry.code == AuditEvent.SELF_TEST_RESULT]


def test_a_broken_stdlib_hmac_is_caught_by_a_cast_before_the_integrity_test(
    make_module: ModuleFactory, monkeypatch: Any
) -> None:
    """Break CPython's HMAC (the integrity test's and the DRBG's) and nothing else: a CAST must say so first."""
    real_digest, real_new = hmac.digest, hmac.new

    class BrokenHmac:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._mac = real_new(*args, **kwargs)

        def update(self, data: bytes) -> None:
            self._mac.update(data)

        def digest(self) -> bytes:
            return _flip(self._mac.digest())

    monkeypatch.setattr(hmac, "digest", lambda key, msg, digest: _flip(real_digest(key, msg, digest)))
    monkeypatch.setattr(hmac, "new", BrokenHmac)
    module = make_module()
    assert module.state is State.SOFT_ERROR, module.status_data()["last_error"]
    failed = [d for d in _self_test_details(module) if ": FAIL" in d]
    assert failed and failed[0].startswith(f"CAST {selftests.INTEGRITY_CAST}: FAIL"), failed
    assert not any(d.startswith("integrity") for d in _self_test_details(module)), "integrity ran on an untested HMAC"


def test_the_integrity_cast_tests_the_integrity_tests_implementation() -> None:
    entry = next(c for c in cast.CASTS if c.name == selftests.INTEGRITY_CAST)
    assert entry.algorithm == "HMAC-SHA2-256" and entry.implementation == primitives.IMPLEMENTATION


def test_corrupting_the_hashlib_hmac_cast_fails_the_boot_before_integrity(make_module: ModuleFactory) -> None:
    module = make_module(power_on=False)
    module.state = State.POWER_OFF
    module.faults.corrupt_casts.add(selftests.INTEGRITY_CAST)
    module.power_on()
    assert module.state is State.SOFT_ERROR
    details = _self_test_details(module)
    assert details[0].startswith(f"CAST {selftests.INTEGRITY_CAST}: FAIL")
    assert not any(d.startswith("integrity") or d.startswith("HMAC_DRBG") for d in details)


def test_both_implementations_of_sha256_and_hmac_sha256_are_cast() -> None:
    tested = {(c.algorithm, c.implementation) for c in cast.CASTS}
    for algorithm in ("SHA2-256", "HMAC-SHA2-256"):
        assert {(algorithm, "cryptography"), (algorithm, primitives.IMPLEMENTATION)} <= tested


# Files in module/ that still call hashlib/hmac directly instead of module.algorithms.primitives
# (the same implementation, so the hashlib CASTs cover them); each is owned by other work and is to
# be routed through primitives in a later pass. The list may only shrink.
DIRECT_HASHLIB_USERS = {
    "audit/sink.py", "audit/trail.py", "audit/ring.py",  # the audit chain
    "wire/audit/chain.py", "wire/audit/signature.py", "wire/audit/policy.py",
    "wire/handshake.py",  # PBKDF2 (its CAST runs derive_static_key itself) and the login proofs
    "wire/params.py", "endpoint.py", "factory.py",  # request digests, enumeration salt
    # the request and response digests (dispatch.py's, moved): the published format, which hosts
    # compute too, so it cannot call module.algorithms
    "wire/audit/digest.py",
}
# hashlib itself, or the stdlib's hmac.new / hmac.digest (cryptography's hmac.HMAC and the
# constant-time hmac.compare_digest are not SHA-2 implementations of their own).
_DIRECT = re.compile(r"^\s*(import hashlib|from hashlib import)|\bhmac\.(new|digest)\(", re.M)


def test_no_new_direct_hashlib_users_in_the_module() -> None:
    users = {p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.rglob("*.py")
             if _DIRECT.search(p.read_text(encoding="utf-8"))}
    assert users - {"algorithms/primitives.py"} <= DIRECT_HASHLIB_USERS, sorted(users)


def test_the_policy_names_the_running_libraries_and_the_bindings_hash() -> None:
    """Independent of the generator: the versions come from the libraries, the hash from the file."""
    import hashlib
    import platform
    import ssl

    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend
    from cryptography.hazmat.bindings import _rust

    policy = (MODULE_DIR.parent / "docs" / "security_policy" / "security-policy.md").read_text(encoding="utf-8")
    section = policy.split("<!-- begin: bound-libraries -->", 1)[1].split("<!-- end: bound-libraries -->", 1)[0]
    for version in (platform.python_version(), cryptography.__version__, ssl.OPENSSL_VERSION.split()[1],
                    backend.openssl_version_text().split()[1]):
        assert f"`{version}" in section, version
    assert hashlib.sha256(Path(_rust.__file__).read_bytes()).hexdigest() in section
    assert ssl.OPENSSL_VERSION.split()[1] != backend.openssl_version_text().split()[1], (
        "one OpenSSL under both libraries: the policy's 'a different build' is no longer true")
