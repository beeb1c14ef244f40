"""ACVP vector sets through the wrapper's request handling, as acvptool would send them (no Go needed).

For each vector set (NIST ACVP JSON, as fetched by ``acvptool -fetch``) the driver forms the
requests of acvptool's ``subprocess`` package (``hash.go``, ``hmac.go``, ``aead.go``,
``ecdsa.go``, ``eddsa.go``, ``hkdf.go``, ``kas.go``, ``ml_kem.go``, ``drbg.go``, ``pbkdf.go``; request names and arguments as
``util/fipstools/acvp/ACVP.md`` lists them) in the dialect asked for, hands them to ``transact``
(:meth:`host_tools.lab.acvp.AcvpWrapper.handle`, in process or behind a pty) and checks each
answer: against the expected file where the server published one, otherwise independently with
``cryptography`` the way the ACVP server would (a signature against the returned public key, a
GCM ciphertext by decrypting it, an ECDH secret from the server's own private key).

A case outside the wrapper's registration (:data:`host_tools.lab.acvp.CONFIG`, and with ``lab`` also
:data:`host_tools.lab.acvp.LAB_CONFIG`) is counted as "outside", never run: acvptool's server would not
send it to a module registered this way.
"""

from __future__ import annotations

import bz2
import json
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from host_tools.lab.acvp import DIALECTS, registration

__all__ = ["SetResult", "Transact", "load", "run_vector_set", "run_file", "shared_files"]

Transact = Callable[[list[bytes]], list[bytes]]
MCT_CHECKPOINTS = 100  # acvptool's outer Monte Carlo loop: 100 checkpoints of 1,000 hashes each


@dataclass
class SetResult:
    """One vector set: cases run (passed, and how many of them must fail), cases outside the registration."""

    source: str
    algorithm: str  # "ECDSA sigVer", "SHA2-256", ...
    run: int = 0
    passed: int = 0
    negative: int = 0  # of those run, cases whose right answer is "invalid"/"fails"
    outside: int = 0
    bounded: int = 0  # in the registration but left out by a limit (cases, or Monte Carlo checkpoints)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    registered: bool = True

    def check(self, ok: bool, what: str, *, negative: bool = False) -> None:
        self.run += 1
        self.negative += negative
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)


def load(path: Path) -> list[Any]:
    """A (bzip2) ACVP file: [header, vector set, ...]. Trailing text after the JSON is ignored."""
    raw = bz2.decompress(path.read_bytes()) if path.suffix == ".bz2" else path.read_bytes()
    value, _ = json.JSONDecoder().raw_decode(raw.decode())
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError(f"{path}: not an ACVP file of a header and vector sets")
    return value


def _hex(value: str | None) -> bytes:
    return bytes.fromhex(value or "")


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def _registration(algorithm: str, mode: str | None, dialect: str, lab: bool = False) -> list[dict[str, Any]]:
    return [c for c in registration(dialect, lab=lab) if c["algorithm"] == algorithm and c.get("mode") == mode]


def _in_range(bits: int, domain: list[Any]) -> bool:
    for item in domain:
        if isinstance(item, int) and item == bits:
            return True
        if isinstance(item, dict) and item["min"] <= bits <= item["max"] and (bits - item["min"]) % item["increment"] == 0:
            return True
    return False


Runner = Callable[[SetResult, dict[str, Any], dict[str, Any], dict[str, Any] | None, Transact, str], None]


def run_vector_set(vs: dict[str, Any], expected: dict[str, Any] | None, transact: Transact, *,
                   dialect: str = "BoringSSL", limit: int | None = None, mct_checkpoints: int = MCT_CHECKPOINTS,
                   source: str = "", lab: bool = False) -> SetResult:
    """Run one vector set; ``limit`` bounds the cases run per group, ``mct_checkpoints`` each Monte Carlo test;
    ``lab``: the wrapper registers the lab-only algorithms (a lab-mode device)."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect {dialect!r}: one of {DIALECTS}")
    algorithm, mode = vs["algorithm"], vs.get("mode")
    label = f"{algorithm} {mode}" if mode else algorithm
    result = SetResult(source, label)
    runner = _runner(algorithm, mode)
    cases = {(g["tgId"], t["tcId"]): t for g in (expected or {}).get("testGroups", []) for t in (g.get("tests") or [])}
    started = time.perf_counter()
    for original in vs["testGroups"]:
        group = dict(original)  # runners keep per-group state (a generated key) in their copy
        tests = group.get("tests") or []
        if runner is None or not _group_registered(algorithm, mode, group, dialect, lab):
            result.outside += len(tests)
            continue
        for i, test in enumerate(tests):
            if not _case_registered(algorithm, group, test, dialect, lab):
                result.outside += 1
                continue
            if limit is not None and i >= limit:
                result.bounded += len(tests) - i
                break
            want = cases.get((group["tgId"], test["tcId"])) if expected is not None else None
            if group.get("testType") == "MCT":
                _sha_mct(result, group, test, want, transact, mct_checkpoints)
            else:
                runner(result, group, test, want, transact, dialect)
    result.registered = runner is not None and bool(_registration(algorithm, mode, dialect, lab))
    result.seconds = time.perf_counter() - started
    return result


def run_file(vectors: Path, expected: Path | None, transact: Transact, **options: Any) -> list[SetResult]:
    """Every vector set of a file, paired with its expected answers by vsId."""
    sets = load(vectors)[1:]
    answers = {vs.get("vsId"): vs for vs in load(expected)[1:]} if expected is not None and expected.exists() else {}
    return [run_vector_set(vs, answers.get(vs.get("vsId")) if expected is not None else None, transact,
                           source=vectors.name, **options) for vs in sets]


# ------------------------------------------------------------- registration
def _group_registered(algorithm: str, mode: str | None, g: dict[str, Any], dialect: str, lab: bool = False) -> bool:
    """Whether acvptool's server could send this group to a module registered as the wrapper registers for the
    dialect (the generated sets include groups one dialect does not register; they count as outside)."""
    entries = _registration(algorithm, mode, dialect, lab)
    if not entries:
        return False
    entry = entries[0]
    kind = g.get("testType")
    if algorithm.startswith("SHA"):
        return kind in ("AFT", "MCT")  # no LDT registered (performLargeDataTest is absent)
    if algorithm.startswith("HMAC-"):
        return _in_range(g["keyLen"], entry["keyLen"]) and g["macLen"] in entry["macLen"]
    if algorithm == "ACVP-AES-GCM":
        return any(g["keyLen"] in e["keyLen"] and g["tagLen"] in e["tagLen"] and g["ivLen"] in e["ivLen"]
                   and g["direction"] in e["direction"] and g.get("ivGen") == e["ivGen"]
                   and _in_range(g["payloadLen"], e["payloadLen"]) and _in_range(g["aadLen"], e["aadLen"])
                   for e in entries)
    if algorithm == "ACVP-AES-KWP":
        return g["keyLen"] in entry["keyLen"] and g["payloadLen"] in entry["payloadLen"] \
            and g["direction"] in entry["direction"]
    if algorithm == "KDA":
        c = g["kdfConfiguration"]
        return (c["kdfType"] == "hkdf" and c["hmacAlg"] in entry["hmacAlg"] and c["l"] == entry["l"]
                and c["fixedInfoPattern"] == entry["fixedInfoPattern"] and c["fixedInfoEncoding"] in entry["encoding"]
                and c["saltMethod"] in entry["macSaltMethods"] and _in_range(g["zLength"], entry["z"]))
    if algorithm == "KAS-ECC-SSC":
        return g["domainParameterGenerationMode"] in entry["domainParameterGenerationMethods"] \
            and g["kasRole"] in entry["scheme"].get(g["scheme"], {}).get("kasRole", [])
    if algorithm == "ECDSA" and mode == "keyVer":
        return g["curve"] in entry["curve"]
    if algorithm == "ECDSA":
        return not g.get("componentTest") and any(g["curve"] in c["curve"] and g["hashAlg"] in c["hashAlg"]
                                                  for c in entry["capabilities"])
    if algorithm == "EDDSA":
        return g["curve"] in entry["curve"] and not g.get("preHash", False)
    if algorithm == "ML-KEM":
        return g["parameterSet"] in entry["parameterSets"] and g.get("function") in entry["functions"]
    if algorithm == "hmacDRBG":
        return (g["predResistance"] in entry["predResistanceEnabled"] and (not g["reSeed"] or entry["reseedImplemented"])
                and any(g["mode"] == c["mode"] and g.get("derFunc", False) == c["derFuncEnabled"]
                        and g["entropyInputLen"] in c["entropyInputLen"] and g["nonceLen"] in c["nonceLen"]
                        and g["persoStringLen"] in c["persoStringLen"]
                        and g["additionalInputLen"] in c["additionalInputLen"]
                        and g["returnedBitsLen"] == c["returnedBitsLen"] for c in entry["capabilities"]))
    if algorithm == "PBKDF":
        return g.get("testType") == "AFT" and any(g["hmacAlg"] in c["hmacAlg"] for c in entry["capabilities"])
    return False


def _case_registered(algorithm: str, g: dict[str, Any], t: dict[str, Any], dialect: str, lab: bool) -> bool:
    """PBKDF's lengths and counts are per case (the group names only the HMAC)."""
    if algorithm != "PBKDF":
        return True
    return any(g["hmacAlg"] in c["hmacAlg"] and _in_range(t["keyLen"], c["keyLen"])
               and _in_range(t["iterationCount"], c["iterationCount"])
               and _in_range(len(t["password"]), c["passwordLen"]) and _in_range(4 * len(t["salt"]), c["saltLen"])
               for e in _registration(algorithm, None, dialect, lab) for c in e["capabilities"])


def _runner(algorithm: str, mode: str | None) -> Runner | None:
    if algorithm.startswith("SHA"):
        return _sha
    return RUNNERS.get((algorithm, mode))


# ------------------------------------------------------------------ runners
def _sha(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
         dialect: str) -> None:
    name = r.algorithm
    if t["len"] % 8:
        r.outside += 1
        return
    (md,) = transact([name.encode(), _hex(t["msg"])])
    r.check(want is not None and md == _hex(want["md"]), f"tc {t['tcId']}: digest differs")


def _sha_mct(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
             checkpoints: int) -> None:
    """acvptool's outer loop: each checkpoint's digest is the next request's seed."""
    seed = _hex(t["msg"])
    results = (want or {}).get("resultsArray", [])
    r.bounded += MCT_CHECKPOINTS - min(checkpoints, MCT_CHECKPOINTS)
    for j in range(min(checkpoints, MCT_CHECKPOINTS)):
        (seed,) = transact([f"{r.algorithm}/MCT".encode(), seed])
        r.check(j < len(results) and seed == _hex(results[j]["md"]), f"tc {t['tcId']}: MCT checkpoint {j} differs")


def _hmac(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
          dialect: str) -> None:
    (mac,) = transact([r.algorithm.encode(), _hex(t["msg"]), _hex(t["key"])])
    r.check(want is not None and mac[:g["macLen"] // 8] == _hex(want["mac"]), f"tc {t['tcId']}: MAC differs")


def _gcm(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
         dialect: str) -> None:
    key, aad, tag_length = _hex(t["key"]), _hex(t.get("aad")), _u32(g["tagLen"] // 8)
    internal = g["ivGen"] == "internal"
    if g["direction"] == "encrypt":  # internal IV only (registered so for BoringSSL's tool)
        pt = _hex(t["pt"])
        (out,) = transact([b"AES-GCM-randnonce/seal", tag_length, key, pt, b"", aad])
        ct_tag, iv = out[:-12], out[-12:]
        try:
            ok = len(iv) == 12 and AESGCM(key).decrypt(iv, ct_tag, aad) == pt
        except InvalidTag:
            ok = False
        r.check(ok, f"tc {t['tcId']}: the ciphertext and IV do not decrypt to the plaintext")
        return
    ct = _hex(t["ct"]) + _hex(t["tag"])
    if internal and dialect == "BoringSSL":
        flag, pt = transact([b"AES-GCM-randnonce/open", tag_length, key, ct + _hex(t["iv"]), b"", aad])
    else:
        flag, pt = transact([b"AES-GCM/open", tag_length, key, ct, _hex(t["iv"]), aad])
    _compare_open(r, t, want, flag, pt)


def _compare_open(r: SetResult, t: dict[str, Any], want: dict[str, Any] | None, flag: bytes, pt: bytes) -> None:
    if want is None:
        r.check(False, f"tc {t['tcId']}: no expected answer")
        return
    should_pass = want.get("testPassed", True) and "pt" in want
    ok = flag == b"\x01" and pt == _hex(want["pt"]) if should_pass else flag == b"\x00"
    r.check(ok, f"tc {t['tcId']}: answered {flag.hex()}, expected {'pass' if should_pass else 'fail'}",
            negative=not should_pass)


def _kwp(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
         dialect: str) -> None:
    key = _hex(t["key"])
    if g["direction"] == "encrypt":
        (ct,) = transact([b"AES-KWP/seal", _u32(0), key, _hex(t["pt"]), b"", b""])
        r.check(want is not None and ct == _hex(want["ct"]), f"tc {t['tcId']}: ciphertext differs")
        return
    flag, pt = transact([b"AES-KWP/open", _u32(0), key, _hex(t["ct"]), b"", b""])
    _compare_open(r, t, want, flag, pt)


def _kda_hkdf(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
              dialect: str) -> None:
    c, p = g["kdfConfiguration"], t["kdfParameter"]
    info = b"".join(_hex(party.get("partyId")) + _hex(party.get("ephemeralData"))
                    for party in (t["fixedInfoPartyU"], t["fixedInfoPartyV"]))
    name = f"HKDF/{c['hmacAlg']}"
    if dialect == "AWS-LC":  # hkdf.go of AWS-LC appends L as a 32-bit big-endian number (pattern "...||l")
        info += struct.pack(">I", p["l"])
        name = "KDA/" + name
    (dkm,) = transact([name.encode(), _hex(p["z"]), _hex(p["salt"]), info, _u32(c["l"] // 8)])
    if g["testType"] == "VAL":  # acvptool compares itself and reports testPassed
        passed = dkm == _hex(t["dkm"])
        should = bool(want and want.get("testPassed"))
        r.check(want is not None and passed == should, f"tc {t['tcId']}: VAL answered {passed}", negative=not should)
    else:
        r.check(want is not None and dkm == _hex(want["dkm"]), f"tc {t['tcId']}: DKM differs")


def _kas_ecc(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
             dialect: str) -> None:
    """KAS-ECC-SSC (no expected file exists: the ACVP server checks Z with its own private key, and so does
    this driver when the answers carry it, as those of :mod:`host_tools.lab.acvp_generated` do)."""
    kind = "static" if g["scheme"] == "staticUnified" else "ephemeral"
    sx, sy = _hex(t[f"{kind}PublicServerX"]), _hex(t[f"{kind}PublicServerY"])
    private = _hex(t.get(f"{kind}PrivateIut"))
    x, y, z = transact([f"ECDH/{g['domainParameterGenerationMode']}".encode(), sx, sy, private])
    if g["testType"] == "VAL":
        same_key = x == _hex(t[f"{kind}PublicIutX"]).rjust(32, b"\0") and y == _hex(t[f"{kind}PublicIutY"]).rjust(32, b"\0")
        passed = same_key and z == _hex(t["z"])
        should = bool(want and want.get("testPassed"))
        r.check(want is not None and passed == should, f"tc {t['tcId']}: VAL answered {passed}", negative=not should)
        return
    server_private = (want or {}).get("_serverPrivate")  # the server's own secret, kept with its answers
    if server_private is None:
        r.check(False, f"tc {t['tcId']}: no way to check Z (the set does not carry the server's private key)")
        return
    peer = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
    expected = ec.derive_private_key(int(server_private, 16), ec.SECP256R1()).exchange(ec.ECDH(), peer)
    r.check(z == expected, f"tc {t['tcId']}: Z differs from the server's")


_HASHES = {"SHA2-256": hashes.SHA256, "SHA2-384": hashes.SHA384}
_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1}


def _ecdsa_keyver(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None,
                  transact: Transact, dialect: str) -> None:
    (flag,) = transact([b"ECDSA/keyVer", g["curve"].encode(), _hex(t["qx"]), _hex(t["qy"])])
    _compare_flag(r, t, want, flag)


def _ecdsa_sigver(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None,
                  transact: Transact, dialect: str) -> None:
    (flag,) = transact([b"ECDSA/sigVer", g["curve"].encode(), g["hashAlg"].encode(), _hex(t["message"]),
                        _hex(t["qx"]), _hex(t["qy"]), _hex(t["r"]), _hex(t["s"])])
    _compare_flag(r, t, want, flag)


def _compare_flag(r: SetResult, t: dict[str, Any], want: dict[str, Any] | None, flag: bytes) -> None:
    if want is None:
        r.check(False, f"tc {t['tcId']}: no expected answer")
        return
    should = bool(want["testPassed"])
    r.check(flag == (b"\x01" if should else b"\x00"), f"tc {t['tcId']}: answered {flag.hex()}, expected {should}",
            negative=not should)


def _ecdsa_siggen(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None,
                  transact: Transact, dialect: str) -> None:
    """ecdsa.go: one ECDSA/keyGen per group, then sigGen per case; the server verifies with the returned key."""
    curve = g["curve"].encode()
    if "_key" not in g:
        g["_key"] = transact([b"ECDSA/keyGen", curve])
    d, qx, qy = g["_key"]
    message = _hex(t["message"])
    rr, ss = transact([b"ECDSA/sigGen", curve, d, g["hashAlg"].encode(), message])
    (self_check,) = transact([b"ECDSA/sigVer", curve, g["hashAlg"].encode(), message, qx, qy, rr, ss])
    public = ec.EllipticCurvePublicNumbers(int.from_bytes(qx, "big"), int.from_bytes(qy, "big"),
                                           _CURVES[g["curve"]]()).public_key()
    try:
        public.verify(encode_dss_signature(int.from_bytes(rr, "big"), int.from_bytes(ss, "big")), message,
                      ec.ECDSA(_HASHES[g["hashAlg"]]()))
        ok = self_check == b"\x01"
    except InvalidSignature:
        ok = False
    r.check(ok, f"tc {t['tcId']}: the signature does not verify with the returned key")


def _eddsa_keygen_request(dialect: str) -> list[bytes]:
    return [b"EDDSA/keyGen", b"ED-25519"] if dialect == "BoringSSL" else [b"EDDSA/ED-25519/keyGen"]


def _eddsa_siggen(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None,
                  transact: Transact, dialect: str) -> None:
    """eddsa.go: one keyGen per group, then sigGen per case; the server verifies with Q."""
    if "_key" not in g:
        g["_key"] = transact(_eddsa_keygen_request(dialect))
    d, q = g["_key"]
    message = _hex(t["message"])
    if dialect == "BoringSSL":
        (signature,) = transact([b"EDDSA/sigGen", b"ED-25519", d, message, b"\x00", _hex(t.get("context"))])
    else:
        (signature,) = transact([b"EDDSA/ED-25519/sigGen", d, message])
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(q).verify(signature, message)
        ok = True
    except InvalidSignature:
        ok = False
    r.check(ok, f"tc {t['tcId']}: the signature does not verify with Q")


def _eddsa_sigver(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None,
                  transact: Transact, dialect: str) -> None:
    message, q, signature = _hex(t["message"]), _hex(t["q"]), _hex(t["signature"])
    if dialect == "BoringSSL":
        (flag,) = transact([b"EDDSA/sigVer", b"ED-25519", message, q, signature, b"\x00"])
    else:
        (flag,) = transact([b"EDDSA/ED-25519/sigVer", message, q, signature])
    _compare_flag(r, t, want, flag)


def _mlkem(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
           dialect: str) -> None:
    prefix = "" if dialect == "BoringSSL" else "ML-KEM/"
    (flag,) = transact([f"{prefix}{g['parameterSet']}/encapKeyCheck".encode(), _hex(t["ek"])])
    _compare_flag(r, t, want, flag)


def _hmac_drbg(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None,
               transact: Transact, dialect: str) -> None:
    """drbg.go (same in both trees): otherInput is [reSeed,] generate, generate; the answer is the second output."""
    other = t["otherInput"]
    out_len = _u32(g["returnedBitsLen"] // 8)
    head = [out_len, _hex(t["entropyInput"]), _hex(t.get("persoString"))]
    generates = [_hex(o.get("additionalInput")) for o in other if o["intendedUse"] == "generate"]
    if g["reSeed"]:
        reseed = other[0]
        request = [f"hmacDRBG-reseed/{g['mode']}".encode(), *head, _hex(reseed.get("additionalInput")),
                   _hex(reseed.get("entropyInput")), *generates, _hex(t["nonce"])]
    else:
        request = [f"hmacDRBG/{g['mode']}".encode(), *head, *generates, _hex(t["nonce"])]
    (out,) = transact(request)
    r.check(want is not None and out == _hex(want["returnedBits"]), f"tc {t['tcId']}: returned bits differ")


def _pbkdf(r: SetResult, g: dict[str, Any], t: dict[str, Any], want: dict[str, Any] | None, transact: Transact,
           dialect: str) -> None:
    (key,) = transact([b"PBKDF", g["hmacAlg"].encode(), _u32(t["keyLen"]), _hex(t["salt"]), t["password"].encode(),
                       _u32(t["iterationCount"])])
    r.check(want is not None and key == _hex(want["derivedKey"]), f"tc {t['tcId']}: derived key differs")


RUNNERS: dict[tuple[str, str | None], Runner] = {
    **{(name, None): _hmac for name in ("HMAC-SHA2-256", "HMAC-SHA2-384", "HMAC-SHA2-512")},
    ("ACVP-AES-GCM", None): _gcm,
    ("ACVP-AES-KWP", None): _kwp,
    ("KDA", "HKDF"): _kda_hkdf,
    ("KAS-ECC-SSC", None): _kas_ecc,
    ("ECDSA", "keyVer"): _ecdsa_keyver,
    ("ECDSA", "sigGen"): _ecdsa_siggen,
    ("ECDSA", "sigVer"): _ecdsa_sigver,
    ("EDDSA", "sigGen"): _eddsa_siggen,
    ("EDDSA", "sigVer"): _eddsa_sigver,
    ("ML-KEM", "encapDecap"): _mlkem,
    ("hmacDRBG", None): _hmac_drbg,
    ("PBKDF", None): _pbkdf,
}


def shared_files(root: Path) -> Iterator[tuple[str, Path, Path | None]]:
    """(dialect, vectors, expected or None) for every file of a tree laid out like acvptool's test data."""
    for tree, dialect in (("boringssl", "BoringSSL"), ("aws-lc", "AWS-LC")):
        for vectors in sorted((root / tree / "vectors").glob("*.bz2")):
            expected = root / tree / "expected" / vectors.name
            yield dialect, vectors, expected if expected.exists() else None
