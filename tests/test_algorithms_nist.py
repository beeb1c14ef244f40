"""The approved (and the two non-approved) algorithms against published vectors.

Vectors are read from the ``cryptography_vectors`` package at test time (tests/nist_vectors.py),
never pasted. Each test runs every case of the sections the module's fixed choices cover and
reports the failing cases by line number. Every file is run whole (the largest, ML-KEM-768's
1000 cases, takes well under a second), within the sections the module's choices cover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from nist_vectors import NistVector, load_ed25519_vectors, load_evp_stanzas, load_nist_vectors

from module import algorithms as alg
from module.algorithms import nonapproved
from module.wire.defs import DigestAlg, KeyType

GCM_ENCRYPT = "ciphers/AES/GCM/gcmEncryptExtIV256.rsp"
GCM_DECRYPT = "ciphers/AES/GCM/gcmDecrypt256.rsp"
SIGVER = "asymmetric/ECDSA/FIPS_186-3/SigVer.rsp"
RFC6979 = "asymmetric/ECDSA/RFC6979/evppkey_ecdsa_rfc6979.txt"
KBKDF = "KDF/nist-800-108-KBKDF-CTR.txt"
MLDSA = "asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp"
MLKEM = "asymmetric/MLKEM/kat_MLKEM_768.rsp"
KAS_FILES = (
    "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax",
    "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_resp.fax",
)


def check_all(vectors: Sequence[NistVector], passes: Callable[[NistVector], bool], minimum: int) -> None:
    """Run every case; fail once, naming every failing case by its line in the file."""
    assert len(vectors) >= minimum, f"only {len(vectors)} cases selected"
    failed = [v.line for v in vectors if not passes(v)]
    assert not failed, f"{len(failed)} of {len(vectors)} cases failed, at lines {failed[:20]}"


def module_gcm_cases(path: str) -> list[NistVector]:
    """The sections the module's fixed choice covers: 96-bit IV, 128-bit tag (all PT/AAD lengths)."""
    return [v for v in load_nist_vectors(path) if v.section["ivlen"] == "96" and v.section["taglen"] == "128"]


# ---------------------------------------------------------------- AES-GCM
def test_aes_gcm_encrypt_cavp() -> None:
    def passes(v: NistVector) -> bool:
        return alg.aes_gcm_encrypt(v.hex("key"), v.hex("iv"), v.hex("pt"), v.hex("aad")) == v.hex("ct") + v.hex("tag")

    check_all(module_gcm_cases(GCM_ENCRYPT), passes, 375)


def test_aes_gcm_decrypt_cavp_including_fail_cases() -> None:
    cases = module_gcm_cases(GCM_DECRYPT)

    def passes(v: NistVector) -> bool:
        try:
            plaintext = alg.aes_gcm_decrypt(v.hex("key"), v.hex("iv"), v.hex("ct") + v.hex("tag"), v.hex("aad"))
        except alg.IntegrityCheckFailed:
            return v.fail
        return not v.fail and plaintext == v.hex("pt")

    assert any(v.fail for v in cases) and any(not v.fail for v in cases)
    check_all(cases, passes, 375)


# ---------------------------------------------------------------- digests
DIGEST_FILES = {
    DigestAlg.SHA2_256: "hashes/SHA2/SHA256",
    DigestAlg.SHA2_384: "hashes/SHA2/SHA384",
    DigestAlg.SHA2_512: "hashes/SHA2/SHA512",
    DigestAlg.SHA3_256: "hashes/SHA3/SHA3_256",
    DigestAlg.SHA3_384: "hashes/SHA3/SHA3_384",
    DigestAlg.SHA3_512: "hashes/SHA3/SHA3_512",
}


def message(v: NistVector) -> bytes:
    """CAVP hash files write the empty message as ``Msg = 00`` with ``Len = 0``."""
    return v.hex("msg")[: v.int("len") // 8]


@pytest.mark.parametrize("kind", ["ShortMsg", "LongMsg"])
@pytest.mark.parametrize("alg_id", list(DIGEST_FILES), ids=lambda a: a.name)
def test_digest_cavp(alg_id: DigestAlg, kind: str) -> None:
    vectors = load_nist_vectors(f"{DIGEST_FILES[alg_id]}{kind}.rsp")
    check_all(vectors, lambda v: alg.digest(alg_id, message(v)) == v.hex("md"), 50)


@pytest.mark.parametrize("kind", ["ShortMsg", "LongMsg"])
def test_sha1_cavp(kind: str) -> None:
    vectors = load_nist_vectors(f"hashes/SHA1/SHA1{kind}.rsp")
    check_all(vectors, lambda v: alg.sha1_digest(message(v)) == v.hex("md"), 50)


# ------------------------------------------------------------------- HMAC
@pytest.mark.parametrize(
    ("key_type", "bits"), [(KeyType.HMAC_SHA256, 256), (KeyType.HMAC_SHA384, 384), (KeyType.HMAC_SHA512, 512)]
)
def test_hmac_rfc4231(key_type: KeyType, bits: int) -> None:
    vectors = load_nist_vectors(f"HMAC/rfc-4231-sha{bits}.txt")

    def passes(v: NistVector) -> bool:
        key, msg, mac = v.hex("key"), v.hex("msg"), v.hex("md")
        flipped = bytes([mac[0] ^ 1]) + mac[1:]
        return (
            alg.hmac_sign(key_type, key, msg) == mac
            and alg.hmac_verify(key_type, key, msg, mac)
            and not alg.hmac_verify(key_type, key, msg, flipped)
            and not alg.hmac_verify(key_type, key, msg, mac[:-1])
        )

    check_all(vectors, passes, 6)


# -------------------------------------------------------------------- KDFs
def test_hkdf_sha256_rfc5869() -> None:
    vectors = load_nist_vectors("KDF/rfc-5869-HKDF-SHA256.txt")

    def passes(v: NistVector) -> bool:
        assert v["hash"] == "SHA-256"
        return alg.hkdf_sha256(v.hex("ikm"), v.hex("salt"), v.hex("info"), v.int("l")) == v.hex("okm")

    check_all(vectors, passes, 3)


def kbkdf_module_cases() -> list[NistVector]:
    """HMAC-SHA-256 with the counter before the fixed input data, every counter width (8..32 bits)."""
    return [
        v
        for v in load_nist_vectors(KBKDF)
        if v.section.get("prf") == "HMAC_SHA256" and v.section.get("ctrlocation") == "BEFORE_FIXED"
    ]


def test_kbkdf_counter_hmac_sha256_cavp() -> None:
    def passes(v: NistVector) -> bool:
        counter_bytes = int(v.section["rlen"].split("_")[0]) // 8
        out = alg.kbkdf_ctr_hmac_sha256_fixed(v.hex("ki"), v.hex("fixedinputdata"), v.int("l") // 8, counter_bytes=counter_bytes)
        return out == v.hex("ko")

    cases = kbkdf_module_cases()
    assert {v.section["rlen"] for v in cases} == {"8_BITS", "16_BITS", "24_BITS", "32_BITS"}
    check_all(cases, passes, 160)


def test_kbkdf_public_form_is_the_fixed_input_form() -> None:
    """The service's (label, context) form is the vector-tested form with label || 00 || context || [L]_32."""
    for v in kbkdf_module_cases():
        if v.section["rlen"] != "32_BITS":
            continue
        key, length = v.hex("ki"), v.int("l") // 8
        label, context = v.hex("fixedinputdata")[:20], v.hex("fixedinputdata")[20:]
        fixed = label + b"\x00" + context + (length * 8).to_bytes(4, "big")
        assert alg.kbkdf_ctr_hmac_sha256(key, label, context, length) == alg.kbkdf_ctr_hmac_sha256_fixed(key, fixed, length)


# ---------------------------------------------------------------- key wrap
KW_CASES = [
    ("keywrap/kwtestvectors/KW_AE_256.txt", alg.aes_kw_wrap, None),
    ("keywrap/kwtestvectors/KWP_AE_256.txt", alg.aes_kwp_wrap, None),
    ("keywrap/kwtestvectors/KW_AD_256.txt", None, alg.aes_kw_unwrap),
    ("keywrap/kwtestvectors/KWP_AD_256.txt", None, alg.aes_kwp_unwrap),
]


@pytest.mark.parametrize(("path", "wrap", "unwrap"), KW_CASES, ids=[c[0].rsplit("/", 1)[1] for c in KW_CASES])
def test_aes_key_wrap_cavp(
    path: str, wrap: Callable[[bytes, bytes], bytes] | None, unwrap: Callable[[bytes, bytes], bytes] | None
) -> None:
    vectors = load_nist_vectors(path)

    def passes(v: NistVector) -> bool:
        if wrap is not None:
            return wrap(v.hex("k"), v.hex("p")) == v.hex("c")
        assert unwrap is not None
        try:
            plaintext = unwrap(v.hex("k"), v.hex("c"))
        except alg.IntegrityCheckFailed:
            return v.fail
        return not v.fail and plaintext == v.hex("p")

    if unwrap is not None:
        assert sum(v.fail for v in vectors) >= 100
    check_all(vectors, passes, 500)


# ------------------------------------------------------------------- ECDSA
def sigver_cases(section: str) -> list[NistVector]:
    return [v for v in load_nist_vectors(SIGVER) if v.section_names == (section,)]


def point(qx: str, qy: str, size: int) -> bytes:
    return b"\x04" + int(qx, 16).to_bytes(size, "big") + int(qy, 16).to_bytes(size, "big")


def raw_signature(v: NistVector, size: int) -> bytes:
    return int(v["r"], 16).to_bytes(size, "big") + int(v["s"], 16).to_bytes(size, "big")


@pytest.mark.parametrize(
    ("key_type", "section", "size"), [(KeyType.EC_P256, "P-256,SHA-256", 32), (KeyType.EC_P384, "P-384,SHA-384", 48)]
)
def test_ecdsa_sigver_cavp(key_type: KeyType, section: str, size: int) -> None:
    cases = sigver_cases(section)

    def passes(v: NistVector) -> bool:
        valid = alg.verify(key_type, point(v["qx"], v["qy"], size), v.hex("msg"), raw_signature(v, size))
        return valid == v["result"].startswith("P")

    assert {v["result"][0] for v in cases} == {"P", "F"}
    check_all(cases, passes, 15)


@pytest.mark.parametrize(
    ("key_type", "section", "size", "hash_name"),
    [(KeyType.EC_P256, "P-256,SHA-256", 32, "sha256"), (KeyType.EC_P384, "P-384,SHA-384", 48, "sha384")],
)
def test_ecdsa_prehashed_sigver_cavp(key_type: KeyType, section: str, size: int, hash_name: str) -> None:
    """The same CAVP cases with the message hashed outside (hashlib): the same verdicts."""

    def passes(v: NistVector) -> bool:
        digest = hashlib.new(hash_name, v.hex("msg")).digest()
        valid = alg.verify(key_type, point(v["qx"], v["qy"], size), digest, raw_signature(v, size), prehashed=True)
        return valid == v["result"].startswith("P")

    check_all(sigver_cases(section), passes, 15)


@pytest.mark.parametrize(
    ("key_type", "key_name", "digest"), [(KeyType.EC_P256, "P-256_PRIV", "SHA256"), (KeyType.EC_P384, "P-384_PRIV", "SHA384")]
)
def test_ecdsa_prehashed_sign_rfc6979(key_type: KeyType, key_name: str, digest: str) -> None:
    """RFC 6979's deterministic signatures, signing the digest hashlib made of each message."""
    stanzas = load_evp_stanzas(RFC6979)
    pem = next(s.get("PEM") for s in stanzas if s.get("PrivateKey") == key_name)
    key = load_pem_private_key(pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    size = (key.curve.key_size + 7) // 8
    private = key.private_numbers().private_value.to_bytes(size, "big")
    cases = [s for s in stanzas if s.get("DigestSign") == digest and s.get("Key") == key_name]
    assert len(cases) >= 2
    for case in cases:
        message = case.get("Input").strip('"').encode()
        r, s_ = decode_dss_signature(bytes.fromhex(case.get("Output")))
        got = alg.sign(key_type, private, hashlib.new(digest.lower(), message).digest(), prehashed=True)
        assert got == r.to_bytes(size, "big") + s_.to_bytes(size, "big"), f"line {case.line}"


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.EC_P384])
def test_ecdsa_prehashed_refuses_a_digest_of_the_wrong_length(key_type: KeyType) -> None:
    private = alg.generate_private(key_type, lambda n: bytes(range(1, n + 1)))
    public = alg.public_key(key_type, private)
    right = alg.ECDSA_DIGEST_SIZES[key_type]
    assert right == {KeyType.EC_P256: 32, KeyType.EC_P384: 48}[key_type]  # SHA-256 / SHA-384 (FIPS 180-4)
    for wrong in (0, 20, right - 1, right + 1, 64):
        with pytest.raises(alg.InvalidParameter):
            alg.sign(key_type, private, bytes(wrong), prehashed=True)
        with pytest.raises(alg.InvalidParameter):
            alg.verify(key_type, public, bytes(wrong), bytes(2 * right), prehashed=True)
    ed = alg.generate_private(KeyType.ED25519, lambda n: bytes(n))
    with pytest.raises(alg.InvalidParameter):
        alg.sign(KeyType.ED25519, ed, bytes(32), prehashed=True)  # pre-hashed is ECDSA only


def test_ecdsa_sha1_nonapproved_sigver_cavp() -> None:
    def passes(v: NistVector) -> bool:
        valid = nonapproved.ecdsa_p256_sha1_verify(point(v["qx"], v["qy"], 32), v.hex("msg"), raw_signature(v, 32))
        return valid == v["result"].startswith("P")

    check_all(sigver_cases("P-256,SHA-1"), passes, 15)


# ----------------------------------------------------------------- Ed25519
def test_ed25519_sign_input() -> None:
    vectors = load_ed25519_vectors()
    assert len(vectors) >= 1024
    failed = []
    for v in vectors:
        signature = alg.sign(KeyType.ED25519, v.seed, v.message)
        ok = (
            alg.public_key(KeyType.ED25519, v.seed) == v.public
            and signature == v.signature
            and alg.verify(KeyType.ED25519, v.public, v.message, v.signature)
            and not alg.verify(KeyType.ED25519, v.public, v.message + b"\x00", v.signature)
        )
        if not ok:
            failed.append(v.line)
    assert not failed, f"failed at lines {failed[:20]}"


# ------------------------------------------------------------------ ML-DSA
def mldsa_signature(v: NistVector) -> bytes:
    """The KAT's ``sm`` is signature || message."""
    sm, msg = v.hex("sm"), v.hex("msg")
    assert sm.endswith(msg)
    return sm[: len(sm) - len(msg)]


def test_mldsa65_keygen_and_verify_kat() -> None:
    def passes(v: NistVector) -> bool:
        pk, msg, ctx, sig = v.hex("pk"), v.hex("msg"), v.hex("ctx"), mldsa_signature(v)
        tampered = sig[:-1] + bytes([sig[-1] ^ 1])
        return (
            alg.public_key(KeyType.ML_DSA_65, v.hex("xi")) == pk
            and alg.mldsa65_verify(pk, msg, sig, ctx)
            and not alg.mldsa65_verify(pk, msg, tampered, ctx)
            and not alg.mldsa65_verify(pk, msg, sig, ctx + b"\x00")
        )

    check_all(load_nist_vectors(MLDSA), passes, 100)


def test_mldsa65_sign_kat_keys() -> None:
    """The library signs hedged only, so a fresh signature cannot equal ``sm``; it must verify."""

    def passes(v: NistVector) -> bool:
        xi, pk, msg, ctx = v.hex("xi"), v.hex("pk"), v.hex("msg"), v.hex("ctx")
        return alg.mldsa65_verify(pk, msg, alg.mldsa65_sign(xi, msg, ctx), ctx)

    check_all(load_nist_vectors(MLDSA), passes, 100)


def test_mldsa65_module_verify_uses_empty_context() -> None:
    """The service's verify is pure ML-DSA with an empty context: a KAT signed under a context fails it."""
    v = load_nist_vectors(MLDSA)[0]
    assert v.hex("ctx")
    assert not alg.verify(KeyType.ML_DSA_65, v.hex("pk"), v.hex("msg"), mldsa_signature(v))


# ------------------------------------------------------------------ ML-KEM
def test_mlkem768_keygen_and_decapsulation_kat() -> None:
    """Key generation from d || z, decapsulation of ct, and implicit rejection of ct_n."""

    def passes(v: NistVector) -> bool:
        seed = v.hex("d") + v.hex("z")
        return (
            alg.public_key(KeyType.ML_KEM_768, seed) == v.hex("pk")
            and alg.mlkem768_decapsulate(seed, v.hex("ct")) == v.hex("ss")
            and alg.mlkem768_decapsulate(seed, v.hex("ct_n")) == v.hex("ss_n")
        )

    check_all(load_nist_vectors(MLKEM), passes, 1000)


def test_mlkem768_encapsulation_round_trip_to_kat_keys() -> None:
    """Encapsulation randomness is internal to the library: round trip to every KAT key instead."""

    def passes(v: NistVector) -> bool:
        shared, ciphertext = alg.mlkem768_encapsulate(v.hex("pk"))
        return len(ciphertext) == alg.MLKEM768_CIPHERTEXT_SIZE and alg.mlkem768_decapsulate(v.hex("d") + v.hex("z"), ciphertext) == shared

    check_all(load_nist_vectors(MLKEM), passes, 1000)


# -------------------------------------------------------------------- ECDH
@pytest.mark.parametrize("path", KAS_FILES, ids=["init", "resp"])
def test_ecdh_p256_kas_validity(path: str) -> None:
    """KAS-ECC-SSC P-256: a case passes only if the CAVS key validates, the IUT pair matches and Z matches."""
    cases = [v for v in load_nist_vectors(path) if v.section_names[-1] == "EC - SHA256"]

    def passes(v: NistVector) -> bool:
        private = int(v["dsiut"], 16).to_bytes(32, "big")
        try:
            z = alg.ecdh_p256(private, point(v["qscavsx"], v["qscavsy"], 32))
            pair_ok = alg.public_key(KeyType.EC_P256, private) == point(v["qsiutx"], v["qsiuty"], 32)
        except alg.InvalidKeyData:
            return v["result"].startswith("F")
        return (pair_ok and z == v.hex("z")) == v["result"].startswith("P")

    check_all(cases, passes, 30)
