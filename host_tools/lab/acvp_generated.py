"""ACVP vector sets for the registered modes that the shared sets do not reach, made with ``cryptography``.

The shared sets (acvptool's test data) are samples of registrations wider than this module's: some
of them hold no case the module's registration admits (HMAC-SHA2-256/512 keys of the hash length,
AES-GCM with 128-bit tags and an internal IV, KAS-ECC-SSC P-256), and ECDSA sigGen and EdDSA sigGen
have no shared set at all (no keyGen set: keyGen is not registered, see docs/lab.md). These sets are shaped as the ACVP server shapes them, with the
answers an independent implementation (``cryptography``) computes, including cases that must fail
(an altered tag, ciphertext, point, key, or a wrong DKM / Z to validate). KAS-ECC-SSC AFT cases
carry the server's private key in the answers, as the server keeps it, so Z can be checked.
"""

from __future__ import annotations

import hmac
import json
import os
import struct
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, mlkem
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from host_tools.lab.acvp import KDA_PATTERNS

__all__ = ["generated_sets", "nist_drbg_set"]

VectorPair = tuple[dict[str, Any], dict[str, Any]]  # (vector set, expected answers)


class _Set:
    def __init__(self, algorithm: str, mode: str | None = None, revision: str = "1.0") -> None:
        self.vs: dict[str, Any] = {"algorithm": algorithm, "revision": revision, "testGroups": [], "vsId": 0}
        if mode:
            self.vs["mode"] = mode
        self.expected: dict[str, Any] = {"algorithm": algorithm, "testGroups": []}
        self._tc = 0

    def group(self, **fields: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        tg = len(self.vs["testGroups"]) + 1
        tests: list[dict[str, Any]] = []
        answers: list[dict[str, Any]] = []
        self.vs["testGroups"].append({**fields, "tgId": tg, "tests": tests})
        self.expected["testGroups"].append({"tgId": tg, "tests": answers})
        return tests, answers

    def tc(self) -> int:
        self._tc += 1
        return self._tc

    def pair(self) -> VectorPair:
        return self.vs, self.expected


def _h(data: bytes) -> str:
    return data.hex().upper()


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def _hmac_sets() -> list[VectorPair]:
    out = []
    for name, size, digest in (("HMAC-SHA2-256", 32, "sha256"), ("HMAC-SHA2-384", 48, "sha384"),
                               ("HMAC-SHA2-512", 64, "sha512")):
        s = _Set(name)
        for msg_len in (0, 128, 1024):
            tests, answers = s.group(keyLen=8 * size, macLen=8 * size, msgLen=msg_len, testType="AFT")
            key, msg = os.urandom(size), os.urandom(msg_len // 8)
            tc = s.tc()
            tests.append({"tcId": tc, "key": _h(key), "msg": _h(msg)})
            answers.append({"tcId": tc, "mac": hmac.new(key, msg, digest).hexdigest()})
        out.append(s.pair())
    return out


def _gcm_set() -> VectorPair:
    s = _Set("ACVP-AES-GCM")
    common = {"keyLen": 256, "tagLen": 128, "ivLen": 96, "testType": "AFT"}
    for payload, aad_len in ((128, 0), (0, 160), (408, 96)):
        tests, _ = s.group(direction="encrypt", ivGen="internal", ivGenMode="8.2.2", payloadLen=payload,
                           aadLen=aad_len, **common)
        tests.append({"tcId": s.tc(), "key": _h(os.urandom(32)), "pt": _h(os.urandom(payload // 8)),
                      "aad": _h(os.urandom(aad_len // 8))})
    for iv_gen in ("internal", "external"):
        extra = {"ivGenMode": "8.2.2"} if iv_gen == "internal" else {}
        tests, answers = s.group(direction="decrypt", ivGen=iv_gen, payloadLen=256, aadLen=128, **extra, **common)
        for tamper in (False, True):
            key, iv, pt, aad = os.urandom(32), os.urandom(12), os.urandom(32), os.urandom(16)
            sealed = AESGCM(key).encrypt(iv, pt, aad)
            ct, tag = sealed[:-16], sealed[-16:]
            tc = s.tc()
            tests.append({"tcId": tc, "key": _h(key), "iv": _h(iv), "ct": _h(ct), "aad": _h(aad),
                          "tag": _h(_flip(tag) if tamper else tag)})
            answers.append({"tcId": tc, "testPassed": False} if tamper else {"tcId": tc, "pt": _h(pt)})
    return s.pair()


def _kwp_set() -> VectorPair:
    s = _Set("ACVP-AES-KWP")
    for payload in (256, 384, 512):
        tests, answers = s.group(direction="encrypt", keyLen=256, kwCipher="cipher", payloadLen=payload,
                                 testType="AFT")
        key, pt = os.urandom(32), os.urandom(payload // 8)
        tc = s.tc()
        tests.append({"tcId": tc, "key": _h(key), "pt": _h(pt)})
        answers.append({"tcId": tc, "ct": keywrap.aes_key_wrap_with_padding(key, pt).hex()})
        tests, answers = s.group(direction="decrypt", keyLen=256, kwCipher="cipher", payloadLen=payload,
                                 testType="AFT")
        for tamper in (False, True):
            key, pt = os.urandom(32), os.urandom(payload // 8)
            ct = keywrap.aes_key_wrap_with_padding(key, pt)
            tc = s.tc()
            tests.append({"tcId": tc, "key": _h(key), "ct": _h(_flip(ct) if tamper else ct)})
            answers.append({"tcId": tc, "testPassed": False} if tamper else {"tcId": tc, "pt": _h(pt)})
    return s.pair()


def _kda_set(dialect: str) -> VectorPair:
    s = _Set("KDA", "HKDF", "Sp800-56Cr1")
    with_l = dialect == "AWS-LC"  # the pattern that tool registers: uPartyInfo||vPartyInfo||l
    for kind in ("AFT", "VAL"):
        for salt_method in ("default", "random"):
            config = {"kdfType": "hkdf", "hmacAlg": "SHA2-256", "l": 256, "saltLen": 256, "saltMethod": salt_method,
                      "fixedInfoPattern": KDA_PATTERNS[dialect], "fixedInfoEncoding": "concatenation"}
            tests, answers = s.group(kdfConfiguration=config, testType=kind, zLength=256)
            for wrong in ((False, True) if kind == "VAL" else (False,)):
                z, u, v = os.urandom(32), os.urandom(16), os.urandom(16)
                salt = bytes(32) if salt_method == "default" else os.urandom(32)
                dkm = HKDF(hashes.SHA256(), 32, salt, u + v + (struct.pack(">I", 256) if with_l else b"")).derive(z)
                tc = s.tc()
                test = {"tcId": tc, "fixedInfoPartyU": {"partyId": _h(u)}, "fixedInfoPartyV": {"partyId": _h(v)},
                        "kdfParameter": {"kdfType": "hkdf", "l": 256, "salt": _h(salt), "z": _h(z)}}
                if kind == "VAL":
                    test["dkm"] = _h(_flip(dkm) if wrong else dkm)
                    answers.append({"tcId": tc, "testPassed": not wrong})
                else:
                    answers.append({"tcId": tc, "dkm": dkm.hex()})
                tests.append(test)
    return s.pair()


def _xy(key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    n = key.public_key().public_numbers()
    return _h(n.x.to_bytes(32, "big")), _h(n.y.to_bytes(32, "big"))


def _kas_set() -> VectorPair:
    s = _Set("KAS-ECC-SSC", revision="Sp800-56Ar3")
    for scheme, kind in (("ephemeralUnified", "ephemeral"), ("staticUnified", "static")):
        tests, answers = s.group(testType="AFT", domainParameterGenerationMode="P-256", scheme=scheme,
                                 kasRole="responder")
        for _ in range(2):
            server = ec.generate_private_key(ec.SECP256R1())
            x, y = _xy(server)
            tc = s.tc()
            tests.append({"tcId": tc, f"{kind}PublicServerX": x, f"{kind}PublicServerY": y})
            answers.append({"tcId": tc, "_serverPrivate": f"{server.private_numbers().private_value:064x}"})
        tests, answers = s.group(testType="VAL", domainParameterGenerationMode="P-256", scheme=scheme,
                                 kasRole="initiator")
        for wrong in (False, True):
            server, iut = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
            z = iut.exchange(ec.ECDH(), server.public_key())
            (sx, sy), (ix, iy) = _xy(server), _xy(iut)
            tc = s.tc()
            tests.append({"tcId": tc, f"{kind}PublicServerX": sx, f"{kind}PublicServerY": sy,
                          f"{kind}PrivateIut": f"{iut.private_numbers().private_value:064X}",
                          f"{kind}PublicIutX": ix, f"{kind}PublicIutY": iy, "z": _h(_flip(z) if wrong else z)})
            answers.append({"tcId": tc, "testPassed": not wrong})
    return s.pair()


def _ecdsa_sets() -> list[VectorPair]:
    siggen = _Set("ECDSA", "sigGen", "FIPS186-5")
    for curve, hash_alg in (("P-256", "SHA2-256"), ("P-384", "SHA2-384")):
        tests, _ = siggen.group(curve=curve, hashAlg=hash_alg, testType="AFT", componentTest=False)
        for size in (0, 128):
            tests.append({"tcId": siggen.tc(), "message": _h(os.urandom(size))})
    keyver = _Set("ECDSA", "keyVer", "FIPS186-5")
    tests, answers = keyver.group(curve="P-256", testType="AFT")
    for off_curve in (False, True):
        n = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        tc = keyver.tc()
        tests.append({"tcId": tc, "qx": _h(n.x.to_bytes(32, "big")), "qy": _h((n.y + off_curve).to_bytes(33, "big")[-32:])})
        answers.append({"tcId": tc, "testPassed": not off_curve})
    return [siggen.pair(), keyver.pair()]


def _eddsa_sets() -> list[VectorPair]:
    siggen = _Set("EDDSA", "sigGen")
    tests, _ = siggen.group(curve="ED-25519", preHash=False, testType="AFT")
    tests += [{"tcId": siggen.tc(), "message": _h(os.urandom(n))} for n in (0, 64, 1000)]
    return [siggen.pair()]


def _mlkem_set() -> VectorPair:
    s = _Set("ML-KEM", "encapDecap", "FIPS203")
    tests, answers = s.group(function="encapsulationKeyCheck", parameterSet="ML-KEM-768", testType="VAL")
    for bad in (False, True):
        ek = bytearray(mlkem.MLKEM768PrivateKey.generate().public_key().public_bytes_raw())
        if bad:  # the first 12-bit coefficient becomes 4095, not reduced modulo q = 3329 (FIPS 203 7.2)
            ek[0], ek[1] = 0xFF, ek[1] | 0x0F
        tc = s.tc()
        tests.append({"tcId": tc, "ek": _h(bytes(ek))})
        answers.append({"tcId": tc, "testPassed": not bad})
    return s.pair()


def _pbkdf_set() -> VectorPair:
    """PBKDF2-HMAC-SHA2-256 (the only HMAC the module's PBKDF2 has; the shared set holds one such case) at the
    registration's edges: key lengths 112/256/4,096 bits, salts 128..4,096 bits, 1 to 10,000 iterations."""
    s = _Set("PBKDF")
    tests, answers = s.group(hmacAlg="SHA2-256", testType="AFT")
    for key_bits, salt_bytes, iterations, password in ((112, 16, 1, "password"), (256, 32, 1000, "Pa55w0rd-" * 4),
                                                       (4096, 512, 10, "p" * 128), (1024, 24, 10_000, "acvp-pbkdf2")):
        salt, tc = os.urandom(salt_bytes), s.tc()
        derived = PBKDF2HMAC(hashes.SHA256(), key_bits // 8, salt, iterations).derive(password.encode())
        tests.append({"tcId": tc, "keyLen": key_bits, "salt": _h(salt), "password": password,
                      "iterationCount": iterations})
        answers.append({"tcId": tc, "derivedKey": _h(derived)})
    return s.pair()


def nist_drbg_set(path: Path) -> VectorPair:
    """NIST CAVP's HMAC_DRBG SHA-256 vectors (a JSON of the module's own test data, ``returnedBits`` from NIST),
    shaped as the ACVP server shapes an hmacDRBG set: one group per reseed / input-length combination."""
    groups: dict[tuple[bool, int, int], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    s = _Set("hmacDRBG")
    for case in json.loads(path.read_text(encoding="utf-8"))["tests"]:
        reseed = "entropyInputReseed" in case
        perso = case.get("personalizationString", "")
        additional = case.get("additionalInput1", "")
        shape = (reseed, 4 * len(perso), 4 * len(additional))
        if shape not in groups:
            groups[shape] = s.group(mode="SHA2-256", derFunc=False, predResistance=False, reSeed=reseed,
                                    entropyInputLen=4 * len(case["entropyInput"]), nonceLen=4 * len(case["nonce"]),
                                    persoStringLen=shape[1], additionalInputLen=shape[2],
                                    returnedBitsLen=4 * len(case["returnedBits"]), testType="AFT")
        tests, answers = groups[shape]
        other = [{"intendedUse": "generate", "additionalInput": case.get(f"additionalInput{i}", ""), "entropyInput": ""}
                 for i in (1, 2)]
        if reseed:
            other.insert(0, {"intendedUse": "reSeed", "additionalInput": case.get("additionalInputReseed", ""),
                             "entropyInput": case["entropyInputReseed"]})
        tc = s.tc()
        tests.append({"tcId": tc, "entropyInput": case["entropyInput"], "nonce": case["nonce"], "persoString": perso,
                      "otherInput": other})
        answers.append({"tcId": tc, "returnedBits": case["returnedBits"]})
    return s.pair()


def generated_sets(dialect: str = "BoringSSL") -> list[VectorPair]:
    """Fresh sets (new random inputs each call) for every registered mode the shared sets miss or under-test
    (PBKDF: registered for a lab-mode device only; elsewhere its set counts as not registered)."""
    return [*_hmac_sets(), _gcm_set(), _kwp_set(), _kda_set(dialect), _kas_set(), *_ecdsa_sets(), *_eddsa_sets(),
            _mlkem_set(), _pbkdf_set()]
