"""CASTs, the pairwise consistency test, key generation and the algorithm layer's error contracts.

The CAST known answers live in module/data/cast_vectors.py (the module holds its own KAT
data); the provenance tests check every copied value against the named file and case in the
``cryptography_vectors`` package, so a typo in the copy cannot go unnoticed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key
from hypothesis import given, settings
from hypothesis import strategies as st
from host_tools.lab.vectors import load
from nist_vectors import NistVector, load_ed25519_vectors, load_evp_stanzas, load_nist_vectors

from module import algorithms as alg
from module import cast
from module.algorithms import approved, nonapproved
from module.data.cast_vectors import CAST_VECTORS
from module.wire.defs import ASYMMETRIC_KEY_TYPES, DigestAlg, KeyType

SIGNATURE_TYPES = sorted(alg.SIGNATURE_KEY_TYPES)
ASYMMETRIC_TYPES = sorted(ASYMMETRIC_KEY_TYPES)
EC_ORDERS = {KeyType.EC_P256: ec.SECP256R1().group_order, KeyType.EC_P384: ec.SECP384R1().group_order}


def drbg_stand_in(seed: bytes) -> Callable[[int], bytes]:
    """A deterministic byte stream standing in for the module's DRBG (SHA-256 in counter mode)."""
    counter = 0

    def random_bytes(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:n]

    return random_bytes


def key_pair(key_type: KeyType, seed: bytes = b"test") -> tuple[bytes, bytes]:
    private = alg.generate_private(key_type, drbg_stand_in(seed + key_type.name.encode()))
    return private, alg.public_key(key_type, private)


def flip(data: bytes, index: int = -1) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# ------------------------------------------------------------------- CASTs
@pytest.mark.parametrize("name", cast.CAST_NAMES)
def test_cast_passes(name: str) -> None:
    cast.run_cast(name)


@pytest.mark.parametrize("name", cast.CAST_NAMES)
def test_cast_fails_when_corrupted(name: str) -> None:
    with pytest.raises(cast.CastFailed) as info:
        cast.run_cast(name, corrupt=True)
    assert info.value.name == name
    cast.run_cast(name)  # the corruption was one-shot: nothing cached was damaged


def test_run_all_passes_and_stops_at_a_corrupted_cast() -> None:
    cast.run_all()
    with pytest.raises(cast.CastFailed, match="ML-DSA-65 verify"):
        cast.run_all(corrupt=frozenset({"ML-DSA-65 verify"}))


def test_unknown_cast_is_a_caller_error() -> None:
    with pytest.raises(KeyError):
        cast.run_cast("DES encrypt")


def test_cast_table_is_consistent() -> None:
    names = [c.name for c in cast.CASTS]
    assert len(names) == len(set(names))
    assert cast.CAST_NAMES == tuple(names)
    assert set(cast_data()) == set(names)
    for entry in cast.CASTS:
        assert entry.algorithm and entry.direction and entry.standard
        assert cast.cast_source(entry.name)


OPPOSITE = {"encrypt": "decrypt", "sign": "verify", "wrap": "unwrap", "encapsulate": "decapsulate"}


def test_casts_cover_both_directions() -> None:
    directions: dict[str, set[str]] = {}
    for c in cast.CASTS:
        directions.setdefault(c.algorithm, set()).add(c.direction)
    for algorithm, seen in directions.items():
        for forward, backward in OPPOSITE.items():
            if forward in seen or backward in seen:
                assert {forward, backward} <= seen, f"{algorithm} lacks a direction: {seen}"


def test_every_module_algorithm_has_a_cast() -> None:
    names = set(cast.CAST_NAMES)
    assert {d.name.replace("_", "-") for d in DigestAlg} <= names
    assert {"HMAC-SHA-256", "HMAC-SHA-384", "HMAC-SHA-512", "HKDF-SHA256", "KBKDF counter HMAC-SHA-256"} <= names
    assert {"AES-256-GCM encrypt", "AES-256-GCM decrypt", "AES-KWP wrap", "AES-KWP unwrap"} <= names
    for prefix in ("ECDSA P-256", "ECDSA P-384", "Ed25519", "ML-DSA-65"):
        assert {f"{prefix} sign", f"{prefix} verify"} <= names
    assert {"ML-KEM-768 encapsulate", "ML-KEM-768 decapsulate", "ECDH P-256 shared secret"} <= names
    assert {"KDA one-step SHA-256", "PBKDF2-HMAC-SHA-256"} <= names  # the login's key derivations


# --------------------------------------------------------------- provenance
def cast_data() -> Mapping[str, Mapping[str, Any]]:
    return CAST_VECTORS


def locate(entry: Mapping[str, Any]) -> NistVector:
    """The one CAVP record the entry's ``case`` selector names."""
    case = entry["case"]
    matches = [
        v
        for v in load_nist_vectors(entry["file"])
        if all(v.section.get(k) == value for k, value in case.get("section", {}).items())
        and ("section_name" not in case or (v.section_names and v.section_names[-1] == case["section_name"]))
        and all(v.fields.get(k) == value for k, value in case.get("fields", {}).items())
    ]
    if "fields" in case:
        assert len(matches) == 1, f"selector {case} matches {len(matches)} records"
    return matches[case.get("index", 0)]


def h(entry: Mapping[str, Any], field: str) -> bytes:
    return bytes.fromhex(entry[field])


def point(x: str, y: str, size: int) -> bytes:
    return b"\x04" + int(x, 16).to_bytes(size, "big") + int(y, 16).to_bytes(size, "big")


def same_fields(pairs: Mapping[str, str]) -> Callable[[Mapping[str, Any]], set[str]]:
    """Checker: JSON field -> file field, all hex; the record must not be a FAIL case."""

    def check(entry: Mapping[str, Any]) -> set[str]:
        v = locate(entry)
        assert not v.fail
        for ours, theirs in pairs.items():
            assert h(entry, ours) == v.hex(theirs), ours
        return set(pairs)

    return check


def check_hkdf(entry: Mapping[str, Any]) -> set[str]:
    checked = same_fields({"ikm": "ikm", "salt": "salt", "info": "info", "okm": "okm"})(entry)
    assert entry["length"] == locate(entry).int("l")
    return checked | {"length"}


def check_kbkdf(entry: Mapping[str, Any]) -> set[str]:
    checked = same_fields({"key": "ki", "fixed_input": "fixedinputdata", "derived": "ko"})(entry)
    v = locate(entry)
    assert entry["length"] * 8 == v.int("l")
    assert f"{entry['counter_bytes'] * 8}_BITS" == v.section["rlen"]
    return checked | {"length", "counter_bytes"}


def check_rfc6979(entry: Mapping[str, Any]) -> set[str]:
    case = entry["case"]
    stanzas = load_evp_stanzas(entry["file"])
    pem = next(s.get("PEM") for s in stanzas if s.get("PrivateKey") == case["key"])
    (stanza,) = [
        s
        for s in stanzas
        if s.get("DigestSign") == case["digest"] and s.get("Key") == case["key"] and s.get("Input") == case["input"]
    ]
    key = load_pem_private_key(pem.encode(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    size = (key.curve.key_size + 7) // 8
    r, s = decode_dss_signature(bytes.fromhex(stanza.get("Output")))
    assert h(entry, "private") == key.private_numbers().private_value.to_bytes(size, "big")
    assert h(entry, "message") == case["input"].strip('"').encode()
    assert h(entry, "signature") == r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return {"private", "message", "signature"}


def check_sigver(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    size = len(h(entry, "signature")) // 2
    assert v["result"].startswith("P")
    assert h(entry, "public") == point(v["qx"], v["qy"], size)
    assert h(entry, "message") == v.hex("msg")
    assert h(entry, "signature") == int(v["r"], 16).to_bytes(size, "big") + int(v["s"], 16).to_bytes(size, "big")
    return {"public", "message", "signature"}


def check_ed25519(entry: Mapping[str, Any]) -> set[str]:
    (v,) = [v for v in load_ed25519_vectors(entry["file"]) if v.line == entry["case"]["line"]]
    assert h(entry, "public") == v.public and h(entry, "message") == v.message and h(entry, "signature") == v.signature
    if "private" in entry:
        assert h(entry, "private") == v.seed
        return {"private", "public", "message", "signature"}
    return {"public", "message", "signature"}


def check_mldsa_sign(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    assert h(entry, "seed") == v.hex("xi") and h(entry, "message") == v.hex("msg") and h(entry, "context") == v.hex("ctx")
    assert h(entry, "public_sha256") == hashlib.sha256(v.hex("pk")).digest()
    return {"seed", "message", "context", "public_sha256"}


def check_mldsa_verify(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    sm, msg = v.hex("sm"), v.hex("msg")
    assert h(entry, "public") == v.hex("pk") and h(entry, "message") == msg and h(entry, "context") == v.hex("ctx")
    assert h(entry, "signature") + msg == sm
    return {"public", "message", "context", "signature"}


def check_mlkem_encapsulate(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    assert h(entry, "seed") == v.hex("d") + v.hex("z")
    assert h(entry, "public_sha256") == hashlib.sha256(v.hex("pk")).digest()
    return {"seed", "public_sha256"}


def check_mlkem_decapsulate(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    assert h(entry, "seed") == v.hex("d") + v.hex("z")
    assert h(entry, "ciphertext") == v.hex("ct") and h(entry, "shared_secret") == v.hex("ss")
    return {"seed", "ciphertext", "shared_secret"}


def check_mlkem_implicit_rejection(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    assert h(entry, "seed") == v.hex("d") + v.hex("z")
    assert h(entry, "ciphertext") == v.hex("ct_n") and h(entry, "shared_secret") == v.hex("ss_n")
    return {"seed", "ciphertext", "shared_secret"}


def check_ecdh(entry: Mapping[str, Any]) -> set[str]:
    v = locate(entry)
    assert v["result"].startswith("P")
    assert h(entry, "private") == v.hex("dsiut")
    assert h(entry, "peer_public") == point(v["qscavsx"], v["qscavsy"], 32)
    assert h(entry, "shared_secret") == v.hex("z")
    return {"private", "peer_public", "shared_secret"}


def check_one_step_kdf(entry: Mapping[str, Any]) -> set[str]:
    """The KAS file has one header line without its closing bracket (the P-521 section's), so it
    is read with the same reader, not strict; the record is then selected as locate() would."""
    case = entry["case"]
    (v,) = [r for r in load(entry["file"], strict=False)
            if r.section_names and r.section_names[-1] == case["section_name"]
            and all(r.fields.get(k) == value for k, value in case["fields"].items())]
    assert v["result"].startswith("P")
    assert h(entry, "z") == v.hex("z") and h(entry, "fixed_info") == v.hex("oi") and h(entry, "derived") == v.hex("dkm")
    return {"z", "fixed_info", "derived"}


GCM = {"key": "key", "iv": "iv", "plaintext": "pt", "aad": "aad", "ciphertext": "ct", "tag": "tag"}
DIGEST = {"message": "msg", "digest": "md"}
HMAC = {"key": "key", "message": "msg", "mac": "md"}
KW = {"kek": "k", "plaintext": "p", "wrapped": "c"}
def check_pbkdf2(entry: Mapping[str, Any]) -> set[str]:
    """Against the project's copy of RFC 7914's PBKDF2-HMAC-SHA256 vectors (none in cryptography-vectors)."""
    doc = json.loads((Path(__file__).parent.parent / entry["file"]).read_text(encoding="utf-8"))
    vector = doc["vectors"][entry["case"]["index"]]
    assert bytes.fromhex(entry["password"]) == vector["password"].encode()
    assert bytes.fromhex(entry["salt"]) == vector["salt"].encode()
    assert entry["iterations"] == vector["iterations"]
    assert vector["derived"].startswith(entry["derived"]) and len(entry["derived"]) == 64  # PBKDF2 block 1
    return {"password", "salt", "iterations", "derived"}


PROVENANCE: dict[str, Callable[[Mapping[str, Any]], set[str]]] = {
    "AES-256-GCM encrypt": same_fields(GCM),
    "AES-256-GCM decrypt": same_fields(GCM),
    **{name: same_fields(DIGEST) for name in ("SHA2-256", "SHA2-256 (hashlib)", "SHA2-384", "SHA2-512", "SHA-1", "SHA3-256", "SHA3-384", "SHA3-512")},
    **{name: same_fields(HMAC) for name in ("HMAC-SHA-256", "HMAC-SHA-256 (hashlib)", "HMAC-SHA-384", "HMAC-SHA-512")},
    "HKDF-SHA256": check_hkdf,
    "KBKDF counter HMAC-SHA-256": check_kbkdf,
    **{name: same_fields(KW) for name in ("AES-KW wrap", "AES-KW unwrap", "AES-KWP wrap", "AES-KWP unwrap")},
    "ECDSA P-256 sign": check_rfc6979,
    "ECDSA P-384 sign": check_rfc6979,
    "ECDSA P-256 verify": check_sigver,
    "ECDSA P-384 verify": check_sigver,
    "Ed25519 sign": check_ed25519,
    "Ed25519 verify": check_ed25519,
    "ML-DSA-65 sign": check_mldsa_sign,
    "ML-DSA-65 verify": check_mldsa_verify,
    "ML-KEM-768 encapsulate": check_mlkem_encapsulate,
    "ML-KEM-768 decapsulate": check_mlkem_decapsulate,
    "ML-KEM-768 decapsulate (implicit rejection)": check_mlkem_implicit_rejection,
    "ECDH P-256 shared secret": check_ecdh,
    "PBKDF2-HMAC-SHA-256": check_pbkdf2,
    "KDA one-step SHA-256": check_one_step_kdf,
}


@pytest.mark.parametrize("name", cast.CAST_NAMES)
def test_cast_known_answer_matches_its_source_file(name: str) -> None:
    entry = cast_data()[name]
    assert entry["source"] and entry["file"] and entry["case"]
    checked = PROVENANCE[name](entry)
    assert checked == set(entry) - {"source", "file", "case"}, "every known-answer field is checked"


# ---------------------------------------------------- key generation and PCT
@pytest.mark.parametrize("key_type", ASYMMETRIC_TYPES, ids=lambda k: k.name)
def test_pairwise_consistency_passes_and_fails_when_corrupted(key_type: KeyType) -> None:
    private, public = key_pair(key_type)
    alg.pairwise_consistency_test(key_type, private, public)
    with pytest.raises(alg.PairwiseConsistencyFailed):
        alg.pairwise_consistency_test(key_type, private, public, corrupt=True)


@pytest.mark.parametrize("key_type", ASYMMETRIC_TYPES, ids=lambda k: k.name)
def test_pairwise_consistency_rejects_a_foreign_public_key(key_type: KeyType) -> None:
    private, _ = key_pair(key_type, b"one")
    _, other_public = key_pair(key_type, b"two")
    with pytest.raises(alg.PairwiseConsistencyFailed):
        alg.pairwise_consistency_test(key_type, private, other_public)


def test_pairwise_consistency_refuses_symmetric_types() -> None:
    with pytest.raises(alg.WrongKeyType):
        alg.pairwise_consistency_test(KeyType.AES_256, bytes(32), b"")


@pytest.mark.parametrize("key_type", ASYMMETRIC_TYPES, ids=lambda k: k.name)
def test_generate_private_is_deterministic_in_its_random_source(key_type: KeyType) -> None:
    requests: list[int] = []
    source = drbg_stand_in(b"seed")

    def recording(n: int) -> bytes:
        requests.append(n)
        return source(n)

    first = alg.generate_private(key_type, recording)
    assert first == alg.generate_private(key_type, drbg_stand_in(b"seed"))
    assert first != alg.generate_private(key_type, drbg_stand_in(b"other"))
    assert len(first) == alg.PRIVATE_KEY_SIZES[key_type]
    extra = 8 if key_type in EC_ORDERS else 0
    assert requests == [alg.PRIVATE_KEY_SIZES[key_type] + extra], "all randomness from the given source, in one draw"
    assert len(alg.public_key(key_type, first)) == alg.PUBLIC_KEY_SIZES[key_type]


@pytest.mark.parametrize("key_type", sorted(EC_ORDERS), ids=lambda k: k.name)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_ec_generation_follows_fips_186_5_a_4_1(key_type: KeyType, data: st.DataObject) -> None:
    size = alg.PRIVATE_KEY_SIZES[key_type]
    c = data.draw(
        st.one_of(st.binary(min_size=size + 8, max_size=size + 8), st.sampled_from([bytes(size + 8), b"\xff" * (size + 8)]))
    )
    n = EC_ORDERS[key_type]
    d = alg.generate_private(key_type, lambda _: c)
    assert int.from_bytes(d, "big") == int.from_bytes(c, "big") % (n - 1) + 1
    assert 1 <= int.from_bytes(d, "big") <= n - 1
    alg.public_key(key_type, d)


def test_short_random_output_is_refused() -> None:
    with pytest.raises(alg.ShortRandomOutput):
        alg.generate_private(KeyType.ED25519, lambda n: bytes(n - 1))


def test_generate_private_refuses_symmetric_types() -> None:
    with pytest.raises(alg.WrongKeyType):
        alg.generate_private(KeyType.AES_256, drbg_stand_in(b"x"))


# ------------------------------------------------------- sign / verify
@pytest.mark.parametrize("key_type", SIGNATURE_TYPES, ids=lambda k: k.name)
@settings(max_examples=20, deadline=None)
@given(message=st.binary(max_size=512))
def test_sign_verify_round_trip(key_type: KeyType, message: bytes) -> None:
    private, public = key_pair(key_type)
    signature = alg.sign(key_type, private, message)
    assert alg.verify(key_type, public, message, signature)
    assert not alg.verify(key_type, public, message + b"\x00", signature)
    assert not alg.verify(key_type, public, message, flip(signature))
    if key_type in EC_ORDERS:
        assert len(signature) == 2 * alg.PRIVATE_KEY_SIZES[key_type]
        assert alg.sign(key_type, private, message) == signature, "RFC 6979 signing is deterministic"


def malformed_signatures(key_type: KeyType, signature: bytes) -> list[bytes]:
    bad = [b"", signature[:-1], signature + b"\x00", bytes(len(signature)), b"\xff" * len(signature), flip(signature, 0)]
    if key_type in EC_ORDERS:
        size = len(signature) // 2
        n = EC_ORDERS[key_type]
        r, s = signature[:size], signature[size:]
        bad += [bytes(size) + s, r + bytes(size), n.to_bytes(size, "big") + s, r + n.to_bytes(size, "big")]
    return bad


def malformed_publics(key_type: KeyType, public: bytes) -> list[bytes]:
    bad = [b"", public[:-1], public + b"\x00", bytes(len(public))]
    if key_type in EC_ORDERS:
        size = alg.PRIVATE_KEY_SIZES[key_type]
        x, y = public[1 : 1 + size], public[1 + size :]
        bad += [bytes([0x02 + (y[-1] & 1)]) + x, flip(public), b"\x06" + x + y, b"\x00"]
    return bad


@pytest.mark.parametrize("key_type", SIGNATURE_TYPES, ids=lambda k: k.name)
def test_verify_is_false_for_malformed_input(key_type: KeyType) -> None:
    private, public = key_pair(key_type)
    message = b"malformed input"
    signature = alg.sign(key_type, private, message)
    for bad in malformed_signatures(key_type, signature):
        assert alg.verify(key_type, public, message, bad) is False
    for bad in malformed_publics(key_type, public):
        assert alg.verify(key_type, bad, message, signature) is False


@pytest.mark.parametrize("key_type", SIGNATURE_TYPES, ids=lambda k: k.name)
def test_plain_int_key_types_are_accepted(key_type: KeyType) -> None:
    """A decoder may hand over the number rather than the enum member."""
    private, public = key_pair(key_type)
    signature = alg.sign(int(key_type), private, b"m")  # type: ignore[arg-type]
    assert alg.verify(int(key_type), public, b"m", signature)  # type: ignore[arg-type]
    with pytest.raises(alg.WrongKeyType):
        alg.verify(999, public, b"m", signature)  # type: ignore[arg-type]


@pytest.mark.parametrize("key_type", [KeyType.AES_256, KeyType.HMAC_SHA256, KeyType.ML_KEM_768], ids=lambda k: k.name)
def test_verify_and_sign_refuse_non_signature_types(key_type: KeyType) -> None:
    with pytest.raises(alg.WrongKeyType):
        alg.verify(key_type, b"", b"m", b"")
    with pytest.raises(alg.WrongKeyType):
        alg.sign(key_type, bytes(64), b"m")


@pytest.mark.parametrize("key_type", ASYMMETRIC_TYPES, ids=lambda k: k.name)
def test_malformed_private_keys_are_invalid_key_data(key_type: KeyType) -> None:
    size = alg.PRIVATE_KEY_SIZES[key_type]
    for bad in (b"", bytes(size - 1), bytes(size + 1)):
        with pytest.raises(alg.InvalidKeyData):
            alg.public_key(key_type, bad)
    if key_type in EC_ORDERS:
        for scalar in (0, EC_ORDERS[key_type], 2 ** (8 * size) - 1):
            with pytest.raises(alg.InvalidKeyData):
                alg.public_key(key_type, scalar.to_bytes(size, "big"))


# -------------------------------------------------- key agreement, KEM
def test_ecdh_p256_agrees_and_validates_the_peer_point() -> None:
    a_private, a_public = key_pair(KeyType.EC_P256, b"alice")
    b_private, b_public = key_pair(KeyType.EC_P256, b"bob")
    shared = alg.ecdh_p256(a_private, b_public)
    assert shared == alg.ecdh_p256(b_private, a_public) and len(shared) == 32
    x = b_public[1:33]
    compressed = bytes([0x02 + (b_public[-1] & 1)]) + x
    p384_point = key_pair(KeyType.EC_P384)[1]
    for bad in (flip(b_public), compressed, b"\x00", b"", p384_point):
        with pytest.raises(alg.InvalidKeyData):
            alg.ecdh_p256(a_private, bad)
    with pytest.raises(alg.InvalidKeyData):
        alg.ecdh_p256(bytes(32), b_public)


def test_mlkem768_round_trip_and_malformed_input() -> None:
    private, public = key_pair(KeyType.ML_KEM_768)
    shared, ciphertext = alg.mlkem768_encapsulate(public)
    assert alg.mlkem768_decapsulate(private, ciphertext) == shared
    assert alg.mlkem768_decapsulate(private, flip(ciphertext)) != shared, "implicit rejection"
    for bad_ct in (b"", ciphertext[:-1], ciphertext + b"\x00"):
        with pytest.raises(alg.InvalidKeyData):
            alg.mlkem768_decapsulate(private, bad_ct)
    out_of_range = b"\xff\xff" + public[2:]  # first coefficient 0xfff >= q fails the FIPS 203 check
    for bad_pk in (b"", public[:-1], out_of_range):
        with pytest.raises(alg.InvalidKeyData):
            alg.mlkem768_encapsulate(bad_pk)


# ------------------------------------------------------ symmetric contracts
def test_aes_gcm_contract() -> None:
    key, iv = bytes(range(32)), bytes(12)
    sealed = alg.aes_gcm_encrypt(key, iv, b"plaintext", b"aad")
    assert len(sealed) == len(b"plaintext") + alg.GCM_TAG_SIZE
    assert alg.aes_gcm_decrypt(key, iv, sealed, b"aad") == b"plaintext"
    for args in ((key, iv, flip(sealed), b"aad"), (key, iv, sealed, b"aad!"), (key, iv, sealed[:15], b"aad")):
        with pytest.raises(alg.IntegrityCheckFailed):
            alg.aes_gcm_decrypt(*args)
    with pytest.raises(alg.InvalidKeyData):
        alg.aes_gcm_encrypt(bytes(16), iv, b"", b"")
    with pytest.raises(alg.InvalidParameter):
        alg.aes_gcm_encrypt(key, bytes(16), b"", b"")


def test_key_wrap_contract() -> None:
    kek = bytes(range(32))
    for wrap, unwrap, plaintext in ((alg.aes_kw_wrap, alg.aes_kw_unwrap, bytes(24)), (alg.aes_kwp_wrap, alg.aes_kwp_unwrap, bytes(13))):
        wrapped = wrap(kek, plaintext)
        assert unwrap(kek, wrapped) == plaintext
        for bad_kek, blob in ((flip(kek), wrapped), (kek, flip(wrapped)), (kek, wrapped[:-8]), (kek, b"")):
            with pytest.raises(alg.IntegrityCheckFailed):
                unwrap(bad_kek, blob)
    for bad in (bytes(8), bytes(20)):
        with pytest.raises(alg.InvalidParameter):
            alg.aes_kw_wrap(kek, bad)
    with pytest.raises(alg.InvalidParameter):
        alg.aes_kwp_wrap(kek, b"")
    with pytest.raises(alg.InvalidKeyData):
        alg.aes_kwp_wrap(bytes(16), b"x")


def test_kdf_and_digest_parameter_limits() -> None:
    for length in (0, 255 * 32 + 1):
        with pytest.raises(alg.InvalidParameter):
            alg.hkdf_sha256(b"k", b"", b"", length)
        with pytest.raises(alg.InvalidParameter):
            alg.kbkdf_ctr_hmac_sha256(b"k", b"", b"", length)
    assert len(alg.hkdf_sha256(b"k", b"", b"", 255 * 32)) == 255 * 32
    with pytest.raises(alg.InvalidParameter):
        alg.digest(99, b"")  # type: ignore[arg-type]
    with pytest.raises(alg.WrongKeyType):
        alg.hmac_sign(KeyType.AES_256, b"k", b"m")


# ------------------------------------------------------------ non-approved
def test_nonapproved_is_kept_apart() -> None:
    assert not hasattr(alg, "ecdsa_p256_sha1_sign") and not hasattr(alg, "ecdsa_p256_sha1_verify")
    assert "nonapproved" not in alg.__all__


def test_nonapproved_ecdsa_sha1_round_trip() -> None:
    private, public = key_pair(KeyType.EC_P256)
    signature = nonapproved.ecdsa_p256_sha1_sign(private, b"legacy")
    assert nonapproved.ecdsa_p256_sha1_verify(public, b"legacy", signature)
    assert not nonapproved.ecdsa_p256_sha1_verify(public, b"legacy!", signature)
    assert not alg.verify(KeyType.EC_P256, public, b"legacy", signature), "SHA-1 signatures fail the approved verify"
    pyca_public = alg.load_ec_private_key(KeyType.EC_P256, private).public_key()
    assert pyca_public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint) == public


# A faulty algorithm (monkeypatched in the module's algorithm layer, which the CASTs call): wrong in
# only its last or only its first output byte, or raising. Every one must fail its CAST.
def _faulty(real: Any, index: int) -> Any:
    def wrong(*args: Any) -> bytes:
        return flip(real(*args), index)

    return wrong


@pytest.mark.parametrize("index", [0, -1])
@pytest.mark.parametrize(("function", "names"), [("digest", ["SHA2-256", "SHA2-512", "SHA3-384"]),
                                                 ("hmac_sign", ["HMAC-SHA-256", "HMAC-SHA-512"])])
def test_an_algorithm_wrong_in_one_end_byte_fails_its_cast(monkeypatch: pytest.MonkeyPatch, function: str,
                                                           names: list[str], index: int) -> None:
    monkeypatch.setattr(approved, function, _faulty(getattr(approved, function), index))
    for name in names:
        with pytest.raises(cast.CastFailed) as info:
            cast.run_cast(name)
        assert info.value.name == name


def test_an_algorithm_that_raises_fails_its_cast(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> bytes:
        raise approved.AlgorithmError("hardware fault")

    monkeypatch.setattr(approved, "digest", broken)
    with pytest.raises(cast.CastFailed, match="hardware fault") as info:
        cast.run_cast("SHA2-256")
    assert info.value.name == "SHA2-256"
    with pytest.raises(cast.CastFailed):
        cast.run_all()
