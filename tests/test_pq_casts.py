"""Post-quantum CASTs as known-answer tests, and the tripwires that say which cannot be one yet.

The invalid ciphertext and its implicit-rejection secret come from the published KAT file
(``cryptography_vectors``: kat_MLKEM_768.rsp, fields ct_n and ss_n), not from the module's copy.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
from nist_vectors import load_nist_vectors

from module import cast
from module.algorithms import approved


def kat768() -> Any:
    (v,) = [v for v in load_nist_vectors("asymmetric/MLKEM/kat_MLKEM_768.rsp") if v.fields.get("count") == "0"]
    return v


def test_a_decapsulation_without_implicit_rejection_fails_the_casts(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIPS 203 7.3: a ciphertext that does not re-encrypt yields K-bar = J(z || c), not an error or zeros."""
    invalid = kat768().hex("ct_n")
    real = approved.mlkem768_decapsulate

    def explicit_rejection(seed: bytes, ciphertext: bytes) -> bytes:
        return bytes(32) if ciphertext == invalid else real(seed, ciphertext)

    monkeypatch.setattr(approved, "mlkem768_decapsulate", explicit_rejection)
    with pytest.raises(cast.CastFailed, match="implicit rejection"):
        cast.run_all()


def test_the_implicit_rejection_cast_decapsulates_the_published_invalid_ciphertext() -> None:
    v = kat768()
    entry = next(c for c in cast.CASTS if "implicit rejection" in c.name)
    assert entry.algorithm == "ML-KEM-768" and entry.direction == "decapsulate"
    assert approved.mlkem768_decapsulate(v.hex("d") + v.hex("z"), v.hex("ct_n")) == v.hex("ss_n")
    assert v.hex("ss_n") != v.hex("ss")


# The two CASTs that are not KATs say why in module/cast.py and the policy: the library takes no
# caller randomness. These fail when a cryptography release adds it, so the CAST can become a KAT.
def test_mldsa_signing_takes_no_caller_randomness_in_this_cryptography() -> None:
    for method in (mldsa.MLDSA65PrivateKey.sign, mldsa.MLDSA65PrivateKey.sign_mu):
        assert [p for p in inspect.signature(method).parameters if p != "self"] in (["data", "context"], ["mu"]), (
            "ML-DSA signing now takes more: make the ML-DSA-65 sign CAST a deterministic KAT")


def test_mlkem_encapsulation_takes_no_caller_randomness_in_this_cryptography() -> None:
    assert [p for p in inspect.signature(mlkem.MLKEM768PublicKey.encapsulate).parameters if p != "self"] == [], (
        "ML-KEM encapsulation now takes randomness: make the ML-KEM-768 encapsulate CAST a KAT")
