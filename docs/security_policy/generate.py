"""`make docs`: regenerate the security policy's tables, state diagram and JSON from the module.

The sections of ``docs/security_policy/security-policy.md`` between ``<!-- begin: NAME -->`` and
``<!-- end: NAME -->`` are generated here from the module's own declarations (the service
catalogue, the transition table, the CAST list, the state, status, role, key-type and event
enums, the authentication and audit policies, the entropy health-test cut-offs); the rest is
prose. ``security-policy.json`` holds the same tables for machines. ``tests/test_security_policy.py``
regenerates both and fails when either differs from what is committed, so the policy cannot
drift from the code.

A few facts have no declaration in the module to read (what an algorithm is used for, how each
SSP is generated and stored, what each role is for). They are kept here in one table each, keyed
by the declaration they describe, and the tests fail when a declaration gains a member that these
tables do not describe. Every size and count in them is read from the module's constants.

Run from the repository root: ``python docs/security_policy/generate.py``.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from enum import Enum
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from firmware_sim.entropy import OsNoiseSource  # noqa: E402
from firmware_sim.serve import FRAME_TIMEOUT  # noqa: E402
from module import drbg, keystore, operators  # noqa: E402
from module.algorithms.approved import (  # noqa: E402
    AES_256_KEY_SIZE,
    GCM_IV_SIZE,
    GCM_TAG_SIZE,
    KBKDF_COUNTER_BYTES,
    KBKDF_LENGTH_BYTES,
    MLKEM768_CIPHERTEXT_SIZE,
    PRIVATE_KEY_SIZES,
    PUBLIC_KEY_SIZES,
    digest,
)
from module.audit.trail import HANDOVER_RESERVE, INTERNAL_RESERVE  # noqa: E402
from module.cast import CASTS, Cast, cast_source  # noqa: E402
from module.core import AUDIT_KEY_FLASH_NAME, BOOT_FLASH_NAME, ModuleConfig  # noqa: E402
from module.entropy import APT_WINDOW_NON_BINARY, STARTUP_SAMPLES, HealthTestedSource  # noqa: E402
from module.fsm import DATA_OUTPUT_STATES, ERROR_STATES, TRANSITIONS, Trigger, mermaid_diagram  # noqa: E402
from module.integrity import INTEGRITY_KEY  # noqa: E402
from module.keystore import ALLOWED_USES, DEFAULT_USES, PURPOSES  # noqa: E402
from module.services.audit import MAX_EXPORT_PAGE  # noqa: E402
from module.services.catalog import SPECS  # noqa: E402
from module.services.info import PARAMS_FORMAT_VERSION  # noqa: E402
from module.services.keys import SYMMETRIC_KEY_SIZES  # noqa: E402
from module.services.registry import AuditCategory, KeyScope, Param, ServiceSpec  # noqa: E402
from module.version import FIRMWARE_VERSION, MODULE_NAME  # noqa: E402
from module.wire.audit.checkpoint import MAX_NONCE_BYTES  # noqa: E402
from module.wire.audit.common import FORMAT_VERSION  # noqa: E402
from module.wire.audit.export import EXPORT_VERSION  # noqa: E402
from module.wire.defs import (  # noqa: E402
    ASYMMETRIC_KEY_TYPES,
    AuditEvent,
    Command,
    DigestAlg,
    KeyType,
    KeyUse,
    Role,
    State,
    Status,
)
from module.wire.frame import HEADER_SIZE, MAX_PAYLOAD, PROTOCOL_VERSION  # noqa: E402
from module.identity import IDENTITY_FLASH_NAME, SEED_SIZE  # noqa: E402
from module.wire.handshake import (  # noqa: E402
    AUTH_KEY_SIZE,
    EPHEMERAL_SIZE,
    HOST_MIN_ITERATIONS,
    NONCE_SIZE,
    SALT_SIZE,
    derive_session_keys,
)

__all__ = [
    "POLICY_MD",
    "POLICY_JSON",
    "Declarations",
    "SECTIONS",
    "SP800_140B_SECTIONS",
    "ALGORITHMS",
    "SSP_DETAILS",
    "EXTRA_SSPS",
    "ROLE_DUTIES",
    "render",
    "policy_document",
    "policy_json_text",
    "main",
]

POLICY_MD = HERE / "security-policy.md"
POLICY_JSON = HERE / "security-policy.json"
DEFS_SOURCE = ROOT / "module" / "wire" / "defs.py"
FSM_SOURCE = ROOT / "module" / "fsm.py"
PYPROJECT = ROOT / "pyproject.toml"

# FIPS 140-3 (ISO/IEC 19790:2012 7.4.3, AS04.48 / AS04.49 as tested under ISO/IEC 24759): a random
# attempt succeeds with probability below one in a million, and below one in 100,000 within a minute.
FIPS_BOUND_PER_ATTEMPT = 1e-6
FIPS_BOUND_PER_MINUTE = 1e-5

# NIST SP 800-140B: the sections of a FIPS 140-3 security policy, in order; section n covers ISO/IEC
# 19790:2012 clause 7.n.
SP800_140B_SECTIONS: tuple[str, ...] = (
    "General",
    "Cryptographic module specification",
    "Cryptographic module interfaces",
    "Roles, services and authentication",
    "Software/firmware security",
    "Operational environment",
    "Physical security",
    "Non-invasive security",
    "Sensitive security parameter management",
    "Self-tests",
    "Life-cycle assurance",
    "Mitigation of other attacks",
)

ROLE_LABEL = {Role.NONE: "Unauthenticated", Role.CRYPTO_OFFICER: "Crypto Officer", Role.USER: "User",
              Role.AUDITOR: "Auditor"}


# --------------------------------------------------------------------------- what is read
def _entropy_cutoffs() -> dict[str, float | int]:
    return dict(HealthTestedSource(OsNoiseSource()).cutoffs())


@dataclass(frozen=True)
class Declarations:
    """Everything the generated sections are made from. Tests pass changed copies to prove drift shows."""

    specs: tuple[ServiceSpec, ...] = SPECS
    transitions: Mapping[tuple[State, Trigger], State] = field(default_factory=lambda: dict(TRANSITIONS))
    casts: tuple[Cast, ...] = CASTS
    config: ModuleConfig = field(default_factory=ModuleConfig)
    entropy: Mapping[str, float | int] = field(default_factory=_entropy_cutoffs)


def _source_comment(source: Path, enum: type[Enum], name: str) -> str:
    """The trailing comment of ``NAME = ...`` in the enum's class body (the enums document themselves there)."""
    text = source.read_text(encoding="utf-8")
    body = re.search(rf"^class {enum.__name__}\(.*?(?=^\S|\Z)", text, re.M | re.S)
    if body is None:
        return ""
    match = re.search(rf"^\s+{name} = [^#\n]+#\s*(.*)$", body.group(0), re.M)
    return match.group(1).strip() if match else ""


def _humanise(name: str) -> str:
    return name.replace("_", " ").lower()


def _meaning(member: Enum) -> str:
    """What an enum member means: its comment in the source, else its name in words."""
    source = FSM_SOURCE if isinstance(member, Trigger) else DEFS_SOURCE
    return _source_comment(source, type(member), member.name) or _humanise(member.name)


def _roles(spec: ServiceSpec) -> str:
    if spec.public:
        return "anyone"
    return ", ".join(ROLE_LABEL[r] for r in Role if r in spec.roles)


def _ssps(spec: ServiceSpec) -> str:
    return "; ".join(f"{use.ssp} ({use.access.letters()})" for use in spec.ssps) or "none"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _bits(n_bytes: int) -> str:
    return f"{n_bytes * 8}-bit"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _ssp_names(specs: Sequence[ServiceSpec]) -> list[str]:
    names: list[str] = []
    for spec in specs:
        for use in spec.ssps:
            if use.ssp not in names:
                names.append(use.ssp)
    return names


def _digest_size(alg: DigestAlg) -> str:
    """Measured on the module's own digest function, not restated."""
    return f"{_bits(len(digest(alg, b'')))} output"


def _commands(commands: Iterable[Command]) -> str:
    return ", ".join(f"`{c.name}`" for c in commands)


# --------------------------------------------------------------------------- facts kept here
@dataclass(frozen=True)
class AlgorithmInfo:
    """What the module declares nowhere else about an approved algorithm (keyed by its CAST's name)."""

    mode: str
    sizes: str
    services: tuple[Command, ...]
    internal: str = ""  # uses that are not a service of their own


ALGORITHMS: dict[str, AlgorithmInfo] = {
    "AES-256-GCM": AlgorithmInfo(
        f"GCM; {_bits(GCM_IV_SIZE)} IV; {_bits(GCM_TAG_SIZE)} tag",
        f"{_bits(AES_256_KEY_SIZE)} key",
        (Command.ENCRYPT, Command.DECRYPT),
        "secure channel (deterministic IV: direction and sequence number)",
    ),
    "SHA2-256": AlgorithmInfo("message digest", _digest_size(DigestAlg.SHA2_256), (Command.DIGEST,),
                              "audit chain, request and response digests, ECDSA P-256"),
    "SHA2-384": AlgorithmInfo("message digest", _digest_size(DigestAlg.SHA2_384), (Command.DIGEST,), "ECDSA P-384"),
    "SHA2-512": AlgorithmInfo("message digest", _digest_size(DigestAlg.SHA2_512), (Command.DIGEST,)),
    "SHA3-256": AlgorithmInfo("message digest", _digest_size(DigestAlg.SHA3_256), (Command.DIGEST,)),
    "SHA3-384": AlgorithmInfo("message digest", _digest_size(DigestAlg.SHA3_384), (Command.DIGEST,)),
    "SHA3-512": AlgorithmInfo("message digest", _digest_size(DigestAlg.SHA3_512), (Command.DIGEST,)),
    "HMAC-SHA2-256": AlgorithmInfo(
        "full-length tag", f"{_bits(SYMMETRIC_KEY_SIZES[KeyType.HMAC_SHA256])} key",
        (Command.MAC_GENERATE, Command.MAC_VERIFY), "login: verifier and key confirmation; integrity test (public key)"),
    "HMAC-SHA2-384": AlgorithmInfo(
        "full-length tag", f"{_bits(SYMMETRIC_KEY_SIZES[KeyType.HMAC_SHA384])} key",
        (Command.MAC_GENERATE, Command.MAC_VERIFY)),
    "HMAC-SHA2-512": AlgorithmInfo(
        "full-length tag", f"{_bits(SYMMETRIC_KEY_SIZES[KeyType.HMAC_SHA512])} key",
        (Command.MAC_GENERATE, Command.MAC_VERIFY)),
    "KDA HKDF-SHA2-256": AlgorithmInfo(
        "two-step (extract and expand)", "derived key of its type's size", (Command.DERIVE,)),
    "KDF SP 800-108 counter, HMAC-SHA2-256": AlgorithmInfo(
        f"counter mode, {_bits(KBKDF_COUNTER_BYTES)} counter before the fixed data, "
        f"{_bits(KBKDF_LENGTH_BYTES)} length field",
        "derived key of its type's size", (Command.DERIVE,)),
    "KDA OneStep SHA2-256": AlgorithmInfo(
        "SP 800-56C one-step, H = SHA-256, FixedInfo = label || transcript hash", "96 bytes: three 256-bit keys",
        (), "session keys at login (`AUTH_BEGIN`), from the ECDH shared secret"),
    "AES-256-KW": AlgorithmInfo("KW (no padding)", f"{_bits(AES_256_KEY_SIZE)} KEK", (),
                                "none: self-tested only, no service wraps with KW"),
    "AES-256-KWP": AlgorithmInfo("KWP (with padding)", f"{_bits(AES_256_KEY_SIZE)} KEK",
                                 (Command.KEY_IMPORT, Command.KEY_EXPORT)),
    "ECDSA P-256 SHA2-256": AlgorithmInfo(
        "deterministic signing (RFC 6979)",
        f"{_bits(PRIVATE_KEY_SIZES[KeyType.EC_P256])} private key",
        (Command.KEY_GENERATE, Command.KEY_IMPORT, Command.SIGN, Command.VERIFY)),
    "ECDSA P-384 SHA2-384": AlgorithmInfo(
        "deterministic signing (RFC 6979)",
        f"{_bits(PRIVATE_KEY_SIZES[KeyType.EC_P384])} private key",
        (Command.KEY_GENERATE, Command.KEY_IMPORT, Command.SIGN, Command.VERIFY)),
    "EdDSA Ed25519": AlgorithmInfo(
        "pure Ed25519", f"{_bits(PRIVATE_KEY_SIZES[KeyType.ED25519])} private key",
        (Command.KEY_GENERATE, Command.KEY_IMPORT, Command.SIGN, Command.VERIFY),
        "audit checkpoints and the audit key statement; the identity key signs the login transcript and "
        "the identity statement (`IDENTITY`)"),
    "ML-DSA-65": AlgorithmInfo(
        "pure, empty context; hedged signing (randomness from OpenSSL's RNG)",
        f"{_bits(PRIVATE_KEY_SIZES[KeyType.ML_DSA_65])} seed; "
        f"{PUBLIC_KEY_SIZES[KeyType.ML_DSA_65]:,}-byte public key",
        (Command.KEY_GENERATE, Command.KEY_IMPORT, Command.SIGN, Command.VERIFY)),
    "ML-KEM-768": AlgorithmInfo(
        "encapsulation randomness from OpenSSL's RNG",
        f"{_bits(PRIVATE_KEY_SIZES[KeyType.ML_KEM_768])} seed; "
        f"{PUBLIC_KEY_SIZES[KeyType.ML_KEM_768]:,}-byte public key; "
        f"{MLKEM768_CIPHERTEXT_SIZE:,}-byte ciphertext",
        (Command.KEY_GENERATE, Command.KEY_IMPORT, Command.ENCAPSULATE, Command.DECAPSULATE)),
    "KAS-ECC-SSC P-256": AlgorithmInfo(
        "ephemeral-static shared secret computation; peer key fully validated",
        f"{_bits(PRIVATE_KEY_SIZES[KeyType.EC_P256])} private key", (Command.KEY_AGREE,),
        "login: ephemeral-ephemeral ECDH at `AUTH_BEGIN` (the module's key from the DRBG, FIPS 186-5 A.2.1)"),
    "PBKDF2 HMAC-SHA2-256": AlgorithmInfo(
        f"{_bits(SALT_SIZE)} salt per operator",
        f"{_bits(AUTH_KEY_SIZE)} derived key",
        (Command.INITIALISE, Command.OPERATOR_CREATE, Command.OPERATOR_CHANGE_PASSWORD),
        "the auth key (the host's, sent inside the login's channel), from which the stored verifier is made"),
}

KEY_TYPE_ALGORITHM: dict[KeyType, str] = {
    KeyType.AES_256: "AES-256-GCM, AES-256-KWP",
    KeyType.HMAC_SHA256: "HMAC-SHA2-256",
    KeyType.HMAC_SHA384: "HMAC-SHA2-384",
    KeyType.HMAC_SHA512: "HMAC-SHA2-512",
    KeyType.GENERIC_SECRET: "KDA HKDF-SHA2-256, KDF SP 800-108 (shared secrets, KDF inputs)",
    KeyType.EC_P256: "ECDSA P-256 SHA2-256, KAS-ECC-SSC P-256",
    KeyType.EC_P384: "ECDSA P-384 SHA2-384",
    KeyType.ED25519: "EdDSA Ed25519",
    KeyType.ML_DSA_65: "ML-DSA-65",
    KeyType.ML_KEM_768: "ML-KEM-768",
}

ROLE_DUTIES: dict[Role, tuple[str, str]] = {
    Role.NONE: ("anyone on the line before logging in: status, version, self-test, the identity, the audit public "
                "key, and login",
                "none"),
    Role.CRYPTO_OFFICER: ("initialises the module, manages operators, keys and the audit policy, drains the "
                          "audit trail, zeroises", "identity-based: operator id and password (auth key inside an "
                          "ECDH channel signed by the device identity)"),
    Role.USER: ("uses keys: cryptographic services, key management, random bits",
                "identity-based: operator id and password (auth key inside an ECDH channel signed by the device "
                "identity)"),
    Role.AUDITOR: ("reads, checkpoints and acknowledges the audit trail, nothing else (separation of duties)",
                   "identity-based: operator id and password (auth key inside an ECDH channel signed by the "
                   "device identity)"),
}


@dataclass(frozen=True)
class SspInfo:
    """How one SSP lives: the SP 800-140B SSP table's columns (no declaration in the module has them)."""

    kind: str  # CSP or PSP
    what: str
    generation: str
    entry_output: str
    storage: str
    zeroisation: str


def _session_key_sizes() -> str:
    keys = derive_session_keys(bytes(32), b"")
    return (f"host-to-module AES key ({_bits(len(keys.host_to_module))}), module-to-host AES key "
            f"({_bits(len(keys.module_to_host))}), key-confirmation key ({_bits(len(keys.confirm))}); "
            f"the ECDH shared secret and the module's ephemeral private key they come from")


SSP_DETAILS: dict[str, SspInfo] = {
    "operator verifiers": SspInfo(
        "CSP",
        f"per operator: HMAC-SHA-256(auth key, \"cmsim verifier v2\") ({_bits(32)}), where the auth key is "
        f"PBKDF2-HMAC-SHA-256 of the password ({_bits(AUTH_KEY_SIZE)}) with the operator's {_bits(SALT_SIZE)} "
        "salt; neither the password nor the auth key is kept, so what flash holds does not log in",
        "made at `INITIALISE`, `OPERATOR_CREATE`, `OPERATOR_CHANGE_PASSWORD` from a password sent as a "
        "secret parameter inside the encrypted session; salt from the DRBG; the factory operator's from "
        "the documented factory password at the first power-on; a protocol-1 entry (which held the auth "
        "key itself) is turned into its verifier when the operators are loaded, and written back",
        "entry: the password, encrypted by the secure channel, never audited; output: never. At login "
        "the host's auth key arrives inside the half-open session's channel (`AUTH_FINISH`, never audited) "
        "and is compared, as its HMAC, in constant time",
        f"flash object `{operators.FLASH_NAME}`; memory while powered",
        "`OPERATOR_DELETE`, a password change (old verifier overwritten), `INITIALISE` (the factory one), "
        "`ZEROISE` (all); memory copies at power-off",
    ),
    "session keys": SspInfo(
        "CSP",
        _session_key_sizes(),
        "at `AUTH_BEGIN`: ECDH P-256 between the host's ephemeral key and the module's (its private key "
        "from 40 DRBG bytes, d = c mod (n - 1) + 1, FIPS 186-5 A.2.1), then the SP 800-56C one-step KDF "
        "(SHA-256) with FixedInfo = label || the transcript hash the identity key signs",
        "never entered or output",
        "memory only (the ephemeral private key and the shared secret only for the duration of `AUTH_BEGIN`)",
        "`LOGOUT`, idle timeout, unfinished login evicted, lockout, `OPERATOR_DELETE`, `INITIALISE`, "
        "`ZEROISE`, power-off",
    ),
    "identity key": SspInfo(
        "CSP",
        f"Ed25519 private key ({_bits(SEED_SIZE)} seed): the device identity hosts pin by the fingerprint "
        "SHA-256(public key)",
        "from the DRBG at the first power-on whose self-tests pass (pairwise consistency tested)",
        "never entered or output (its public key is a PSP, below)",
        f"flash object `{IDENTITY_FLASH_NAME}`; memory while powered",
        "never by a service: it survives `ZEROISE` (like a TPM endorsement key across TPM2_Clear: it "
        "protects no operator data and lets hosts keep recognising the device); memory copy at power-off",
    ),
    "DRBG state": SspInfo(
        "CSP",
        f"HMAC_DRBG working state K and V ({_bits(drbg.OUTLEN)} each) and the reseed counter",
        "instantiated after the power-on self-tests from entropy input and a nonce drawn through the "
        "health-tested noise source, with a personalisation string (module, serial, boot counter); "
        "reseeded from the noise source when the reseed interval runs out; re-instantiated by `SELF_TEST`",
        "never entered or output",
        "memory only",
        "uninstantiated (K and V overwritten in place) at power-off, on entering an error state, by "
        "`ZEROISE`",
    ),
    "stored keys": SspInfo(
        "CSP",
        "secret keys and private keys in the key store, with attributes (type, uses of one purpose, "
        "exportable, origin, owner, known outside the module, AES-GCM invocations reserved); sizes in "
        "the key type table; each belongs to the operator who made it (section 4.1)",
        "`KEY_GENERATE` from the DRBG (EC private keys by FIPS 186-5 A.4.1, extra random bits; seeds for "
        "Ed25519, ML-DSA and ML-KEM; symmetric keys directly, SP 800-133 Rev. 2); `DERIVE` (HKDF, KBKDF); "
        "`KEY_AGREE` (ECDH shared secret); `ENCAPSULATE` and `DECAPSULATE` (ML-KEM shared secret)",
        "entry: `KEY_IMPORT` only, wrapped with AES-KWP under a stored AES-256 key; output: `KEY_EXPORT` "
        "only, wrapped the same way, only the caller's own keys marked exportable, and never under a key "
        "known outside the module (section 9.2); shared secrets are never output",
        f"flash object `{keystore.FLASH_NAME}` (replaced atomically); memory while powered",
        "`KEY_DELETE` (one key), `ZEROISE` (all); memory copies at power-off",
    ),
    "audit signing key": SspInfo(
        "CSP",
        f"Ed25519 private key ({_bits(PRIVATE_KEY_SIZES[KeyType.ED25519])} seed) that signs audit "
        "checkpoints and the audit key statement",
        "from the DRBG at `INITIALISE`; a successor at `ZEROISE` (the old key signs the handover first)",
        "never entered or output (its public key is a PSP, below)",
        f"flash object `{AUDIT_KEY_FLASH_NAME}`; memory while powered",
        "`ZEROISE` replaces it (the successor stays in flash so the next chain links to the old one; from "
        "an error state there is no successor); memory copy at power-off",
    ),
}

# SSPs that no service declaration names (they are used at power-on or inside a handler).
EXTRA_SSPS: dict[str, SspInfo] = {
    "entropy input": SspInfo(
        "CSP",
        "raw noise-source samples that seed and reseed the DRBG, each through the continuous health tests",
        "read from the simulated noise source",
        "never entered or output",
        "memory only, for the duration of one instantiate or reseed",
        "discarded after use",
    ),
    "enumeration secret": SspInfo(
        "CSP",
        "module secret from which `AUTH_BEGIN` derives a stable fake salt for an unknown operator id, so "
        "that a login attempt does not reveal which operators exist",
        "from the DRBG at the first power-on into the factory state",
        "never entered or output",
        "flash object `module_secret`; memory while powered",
        "`ZEROISE`; memory copy at power-off",
    ),
}

PSP_DETAILS: dict[str, SspInfo] = {
    "identity public key": SspInfo(
        "PSP",
        f"Ed25519 public key ({_bits(PUBLIC_KEY_SIZES[KeyType.ED25519])}) of the identity key; hosts pin "
        "SHA-256 of it per serial",
        "computed from the identity key",
        "output: `IDENTITY` (no login needed), with a statement it signs over the serial, the audit public "
        "key and the lab flag; entry: never",
        "computed from the stored identity key",
        "with the identity key (never)",
    ),
    "audit public key": SspInfo(
        "PSP",
        f"Ed25519 public key ({_bits(PUBLIC_KEY_SIZES[KeyType.ED25519])}) of the audit signing key, in a "
        "statement signed by that key that binds it to the serial number",
        "computed from the audit signing key",
        "output: `AUDIT_PUBKEY` and `IDENTITY` (vouched for by the identity key; no login needed) and in "
        "every signed checkpoint; entry: never",
        "computed from the stored signing key",
        "with the audit signing key",
    ),
    "stored public keys": SspInfo(
        "PSP",
        "public halves of stored key pairs; public keys given to `VERIFY`, `KEY_AGREE` and `ENCAPSULATE`",
        "computed from the private key at generation and import",
        "output: `KEY_GENERATE`, `KEY_IMPORT`, `KEY_ATTRIBUTES`; entry: as parameters of the services named",
        f"flash object `{keystore.FLASH_NAME}`, with the private key",
        "with the key pair",
    ),
}

FLASH_OBJECTS: dict[str, str] = {
    BOOT_FLASH_NAME: "the boot counter (never reset)",
    operators.FLASH_NAME: "operators: id, role, salt, iterations, verifier, failure count, lock",
    keystore.FLASH_NAME: "stored keys and their attributes",
    AUDIT_KEY_FLASH_NAME: "the audit signing key's seed",
    IDENTITY_FLASH_NAME: "the identity key's seed (kept across zeroisation)",
    "module_secret": "the enumeration secret",
    "audit ring": "fixed-size slots holding the hash-chained audit records, and the ring's metadata",
}


# --------------------------------------------------------------------------- sections
def security_levels(d: Declarations) -> str:
    rows = [(f"[{n}](#{n}-{_anchor(title)})", f"7.{n}", "overall" if n == 1 else title,
             "none claimed: a simulation, not validated")
            for n, title in enumerate(SP800_140B_SECTIONS, 1)]
    return _table(("section", "ISO/IEC 19790 clause", "area", "security level"), rows)


def _anchor(title: str) -> str:
    """GitHub's heading anchor for a title (lower case, punctuation dropped, spaces to hyphens)."""
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def module_identity(d: Declarations) -> str:
    rows = [
        ("module name", f"`{MODULE_NAME}`"),
        ("firmware version", f"`{FIRMWARE_VERSION}`"),
        ("serial number (default)", f"`{d.config.serial}`"),
        ("serial protocol version", PROTOCOL_VERSION),
        ("parameter encoding version", PARAMS_FORMAT_VERSION),
        ("audit record format version", FORMAT_VERSION),
        ("audit export format version", EXPORT_VERSION),
        ("validation", "**none**: a simulation, not a validated module; no certificate exists"),
    ]
    return _table(("item", "value"), rows)


def module_config(d: Declarations) -> str:
    c = d.config
    rows = [
        ("maximum open sessions", c.max_sessions),
        ("session idle timeout", f"{c.session_idle_timeout_s:g} s"),
        ("unfinished login timeout", f"{c.handshake_timeout_s:g} s"),
        ("maximum stored keys", f"{c.max_keys:,}"),
        ("maximum `RANDOM` request", f"{c.max_random_bytes:,} bytes"),
        ("DRBG reseed interval", f"{c.drbg_reseed_interval:,} requests"),
        ("AES-GCM invocations per key (random IVs, SP 800-38D 8.3)", f"{c.gcm_invocation_limit:,} (2^32)"
         if c.gcm_invocation_limit == 2**32 else f"{c.gcm_invocation_limit:,}"),
        ("AES-GCM count reserved in flash ahead", f"{c.gcm_reservation_step:,} invocations"),
        ("factory operator id", f"`{c.factory_operator}`"),
        ("factory password", f"`{c.factory_password}` (documented; it can only initialise, and must be replaced)"),
    ]
    return _table(("setting", "default"), rows)


def operational_environment(d: Declarations) -> str:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    rows: list[tuple[str, str]] = [("Python", f"`{project['requires-python']}`")]
    rows += [("dependency", f"`{dep}`") for dep in project["dependencies"]]
    return _table(("requirement", "version"), rows)


def approved_algorithms(d: Declarations) -> str:
    rows = []
    for algorithm, casts in _casts_by_algorithm(d.casts).items():
        info = ALGORITHMS[algorithm]
        used = ", ".join(x for x in (_commands(info.services), info.internal) if x)
        rows.append((algorithm, casts[0].standard, info.mode, info.sizes,
                     ", ".join(c.direction for c in casts), used))
    c = d.config
    rows.append(("HMAC_DRBG (SHA-256)", "SP 800-90A Rev. 1",
                 f"no prediction resistance; reseed every {c.drbg_reseed_interval:,} requests",
                 f"{drbg.SECURITY_STRENGTH_BITS}-bit security strength", "health test",
                 "every random value the module makes (keys, IVs, salts, challenges, session ids)"))
    return _table(("algorithm", "standard", "mode / method", "key or size", "self-tested", "used by"), rows)


def _casts_by_algorithm(casts: Sequence[Cast]) -> dict[str, list[Cast]]:
    grouped: dict[str, list[Cast]] = {}
    for c in casts:
        grouped.setdefault(c.algorithm, []).append(c)
    return grouped


def non_approved_services(d: Declarations) -> str:
    rows = [(f"0x{int(s.command):02X}", f"`{s.command.name}`", s.name, _roles(s), s.summary)
            for s in sorted(d.specs, key=lambda s: int(s.command)) if not s.approved]
    return _table(("code", "service", "name", "roles", "what it does"), rows)


def entropy_table(d: Declarations) -> str:
    e = d.entropy
    rows = [
        ("noise source", "simulated: the host's `os.urandom`, 8-bit samples, non-binary"),
        ("claimed min-entropy H", f"{e['min_entropy_per_sample']:g} bits per sample"),
        ("false-alarm rate alpha", f"2^{int(e['alpha_log2'])}"),
        ("Repetition Count Test cut-off C", f"{int(e['rct_cutoff'])} (1 + ceil({-int(e['alpha_log2'])} / H))"),
        ("Adaptive Proportion Test", f"cut-off {int(e['apt_cutoff'])} in a window of {int(e['apt_window'])} samples"),
        ("start-up test", f"RCT and APT over {int(e['startup_samples']):,} samples, then discarded"),
    ]
    return _table(("item", "value"), rows)


def interface_limits(d: Declarations) -> str:
    rows = [
        ("frame header", f"{HEADER_SIZE} bytes (version {PROTOCOL_VERSION})"),
        ("largest payload", f"{MAX_PAYLOAD:,} bytes"),
        ("partial frame dropped after", f"{FRAME_TIMEOUT:g} s without a byte"),
        ("sessions open at once", d.config.max_sessions),
        ("records per audit export page", MAX_EXPORT_PAGE),
        ("host nonce in a checkpoint", f"up to {MAX_NONCE_BYTES} bytes"),
    ]
    return _table(("limit", "value"), rows)


def interfaces(d: Declarations) -> str:
    rows = [
        ("data input", "request payload: the service's parameter map (encrypted inside a session)"),
        ("data output", "response payload: the map of results (encrypted inside a session); nothing "
                        "but status in the self-test and error states"),
        ("control input", "frame header: command code, session id, sequence number; power on and off "
                          "(start and stop of the device process)"),
        ("status output", "frame header: status code and the `APPROVED` flag (approved-service indicator); "
                          "`GET_STATUS`"),
        ("power", "none: a software simulation (power is the device process running)"),
    ]
    return _table(("logical interface", "carried by"), rows)


def status_codes(d: Declarations) -> str:
    rows = [(f"0x{s.value:02X}", f"`{s.name}`", _meaning(s)) for s in Status]
    return _table(("code", "status", "meaning"), rows)


def roles_table(d: Declarations) -> str:
    rows = []
    for role in Role:
        duties, auth = ROLE_DUTIES[role]
        services = [s.command for s in sorted(d.specs, key=lambda s: int(s.command)) if role in s.roles]
        rows.append((ROLE_LABEL[role], duties, auth, _commands(services)))
    return _table(("role", "what it is for", "authentication", "services"), rows)


def auth_strength(d: Declarations) -> str:
    p = d.config.auth
    per_attempt = p.guess_probability_per_attempt()
    per_minute = p.guess_probability_per_minute()
    by_delay = math.floor(60.0 / p.failure_delay_s) + 1
    rows = [
        ("password length", f"{p.min_password_length} to {p.max_password_length} characters"),
        ("password alphabet", f"{p.alphabet_size} printable ASCII characters"),
        ("stored form", f"verifier: HMAC-SHA-256 of the PBKDF2-HMAC-SHA-256 auth key, {p.pbkdf2_iterations:,} "
                        f"iterations, {_bits(SALT_SIZE)} salt per operator"),
        ("key establishment", f"ECDH P-256 ({EPHEMERAL_SIZE}-byte points), {_bits(NONCE_SIZE)} nonce from each "
                              "side, transcript signed by the identity key (Ed25519)"),
        ("host's iteration floor", f"{HOST_MIN_ITERATIONS:,} by default (a host refuses fewer, and any "
                                   "value the identity key did not sign)"),
        ("delay after a failed attempt", f"{p.failure_delay_s:g} s (per operator)"),
        ("lockout", f"after {p.lockout_threshold} consecutive failures, for {p.lockout_s / 60:g} minutes"),
        ("one random attempt succeeds with", f"1 / {p.alphabet_size}^{p.min_password_length} = "
                                              f"{per_attempt:.1e} (bound {FIPS_BOUND_PER_ATTEMPT:.0e}: "
                                              f"{'met' if per_attempt < FIPS_BOUND_PER_ATTEMPT else 'NOT MET'})"),
        ("attempts in one minute, at most", f"min(floor(60 s / {p.failure_delay_s:g} s) + 1, "
                                            f"{p.lockout_threshold}) = min({by_delay}, {p.lockout_threshold}) = "
                                            f"{p.max_attempts_per_minute()}"),
        ("random success within one minute", f"{p.max_attempts_per_minute()} x {per_attempt:.1e} = "
                                             f"{per_minute:.1e} (bound {FIPS_BOUND_PER_MINUTE:.0e}: "
                                             f"{'met' if per_minute < FIPS_BOUND_PER_MINUTE else 'NOT MET'})"),
    ]
    return _table(("item", "value"), rows)


def _key_scope(spec: ServiceSpec) -> str:
    return "-" if spec.key_scope is KeyScope.NONE else spec.key_scope.value


def services_table(d: Declarations) -> str:
    rows = [
        (f"0x{int(s.command):02X}", f"`{s.command.name}`", s.name, _roles(s), _yes(s.approved), _ssps(s),
         _key_scope(s), _humanise(s.audit_category.name))
        for s in sorted(d.specs, key=lambda s: int(s.command))
    ]
    return _table(("code", "service", "name", "roles", "approved", "SSPs (access)", "stored keys reached",
                   "audit category"), rows)


STATE_ABBREV = {State.POWER_OFF: "off", State.SELF_TEST: "self-test", State.UNINITIALISED: "uninit.",
                State.OPERATIONAL: "oper.", State.SOFT_ERROR: "soft err.", State.HARD_ERROR: "hard err.",
                State.ZEROISED: "zeroised"}


def service_states(d: Declarations) -> str:
    header = ("service", *(STATE_ABBREV[s] for s in State), "when the audit ring is full")
    rows = []
    for s in sorted(d.specs, key=lambda s: int(s.command)):
        full = "served" if s.allowed_when_audit_full else "refused (`AUDIT_FULL`)"
        rows.append((f"`{s.command.name}`", *("yes" if st in s.states else "-" for st in State), full))
    return _table(header, rows)


def _param(p: Param) -> str:
    text = f"`{p.name}` {p.type.value}"
    notes = []
    if p.enum is not None:
        notes.append(p.enum.__name__)
    if not p.required:
        notes.append("optional")
    if p.secret:
        notes.append("secret, never audited")
    return text + (f" ({', '.join(notes)})" if notes else "")


def service_inputs(d: Declarations) -> str:
    rows = [(f"`{s.command.name}`", "; ".join(_param(p) for p in s.params) or "none")
            for s in sorted(d.specs, key=lambda s: int(s.command))]
    return _table(("service", "parameters"), rows)


def _ssp_row(name: str, info: SspInfo, access: str) -> tuple[str, ...]:
    return (name, info.kind, info.what, info.generation, info.entry_output, info.storage, info.zeroisation, access)


def _access_by_service(specs: Sequence[ServiceSpec], ssp: str) -> str:
    parts = [f"`{s.command.name}` {use.access.letters()}" for s in sorted(specs, key=lambda s: int(s.command))
             for use in s.ssps if use.ssp == ssp]
    return ", ".join(parts)


SSP_HEADER = ("SSP", "type", "what", "generation", "entry and output", "storage", "zeroisation",
              "services (access)")


def ssp_table(d: Declarations) -> str:
    rows = [_ssp_row(name, SSP_DETAILS[name], _access_by_service(d.specs, name)) for name in _ssp_names(d.specs)]
    rows += [_ssp_row(name, info, "none declared (see below)") for name, info in EXTRA_SSPS.items()]
    return _table(SSP_HEADER, rows)


def psp_table(d: Declarations) -> str:
    rows = [_ssp_row(name, info, "see entry and output") for name, info in PSP_DETAILS.items()]
    return _table(SSP_HEADER, rows)


def _key_size(kt: KeyType) -> str:
    if kt in ASYMMETRIC_KEY_TYPES:
        return f"private {PRIVATE_KEY_SIZES[kt]} bytes, public {PUBLIC_KEY_SIZES[kt]:,} bytes"
    return f"{SYMMETRIC_KEY_SIZES[kt]} bytes"


def _uses(uses: KeyUse) -> str:
    return ", ".join(str(u.name).lower() for u in KeyUse if u and u in uses)


def key_types(d: Declarations) -> str:
    rows = [(int(kt), f"`{kt.name}`", _key_size(kt), _uses(ALLOWED_USES[kt]), _uses(DEFAULT_USES[kt]),
             KEY_TYPE_ALGORITHM[kt]) for kt in KeyType]
    return _table(("code", "key type", "size", "allowed uses", "default uses", "algorithm"), rows)


def key_purposes(d: Declarations) -> str:
    rows = [(name, _uses(flags), ", ".join(f"`{kt.name}`" for kt in KeyType if ALLOWED_USES[kt] & flags))
            for name, flags in PURPOSES.items()]
    return _table(("purpose", "uses (one key carries uses of one purpose only)", "key types"), rows)


def flash_objects(d: Declarations) -> str:
    return _table(("flash object", "holds"), ((f"`{k}`", v) for k, v in FLASH_OBJECTS.items()))


def _failure_state(hard: bool) -> str:
    return "`HARD_ERROR` (power cycle or `ZEROISE`)" if hard else "`SOFT_ERROR` (a passing `SELF_TEST`)"


def self_test_overview(d: Declarations) -> str:
    e = d.entropy
    casts = len(d.casts)
    pct_types = ", ".join(kt.name for kt in KeyType if kt in ASYMMETRIC_KEY_TYPES)
    rows = [
        ("software integrity", "pre-operational", "HMAC-SHA-256 over the module's code against the seal",
         "power-on, `SELF_TEST`", _failure_state(True)),
        ("entropy start-up", "pre-operational",
         f"SP 800-90B RCT and APT over {int(e['startup_samples']):,} samples",
         "power-on, `SELF_TEST`", _failure_state(False)),
        ("HMAC_DRBG health test", "conditional (CAST)",
         "SP 800-90A 11.3: instantiate, reseed, generate, generate, compare; uninstantiate, check the wipe",
         "power-on, `SELF_TEST`", _failure_state(False)),
        (f"algorithm CASTs ({casts})", "conditional (CAST)", "one known-answer test per approved algorithm and "
         "direction, table below", "power-on, before any service; `SELF_TEST`", _failure_state(False)),
        ("pairwise consistency test", "conditional", f"sign and verify, or encapsulate and decapsulate; "
         f"{pct_types}", "every key-pair generation and import", _failure_state(False)),
        ("Repetition Count Test", "conditional (continuous)",
         f"SP 800-90B 4.4.1, cut-off {int(e['rct_cutoff'])}", "every noise-source sample", _failure_state(False)),
        ("Adaptive Proportion Test", "conditional (continuous)",
         f"SP 800-90B 4.4.2, cut-off {int(e['apt_cutoff'])} of {int(e['apt_window'])}",
         "every noise-source sample", _failure_state(False)),
    ]
    return _table(("self-test", "type", "what", "when", "a failure leads to"), rows)


def cast_table(d: Declarations) -> str:
    rows = [(i, c.name, c.algorithm, c.direction, c.standard, cast_source(c.name))
            for i, c in enumerate(d.casts, 1)]
    return _table(("#", "CAST", "algorithm", "direction", "standard", "known answer from"), rows)


def _triggers_into(d: Declarations, state: State) -> list[tuple[State, Trigger]]:
    return [(src, trig) for (src, trig), dst in d.transitions.items() if dst is state and src is not state]


def _leaves(d: Declarations, state: State) -> str:
    out = [f"{trig.name} → {dst.name}" for (src, trig), dst in d.transitions.items() if src is state]
    return "; ".join(out) or "-"


def states_table(d: Declarations) -> str:
    rows = []
    for st in State:
        served = sum(1 for s in d.specs if st in s.states)
        rows.append((st.value, f"`{st.name}`", _meaning(st),
                     "yes" if st in DATA_OUTPUT_STATES else "status only" if served else "none",
                     served, _leaves(d, st)))
    return _table(("code", "state", "meaning", "data output", "services available", "left by"), rows)


def transitions_table(d: Declarations) -> str:
    rows = [(f"`{src.name}`", f"`{trig.name}`", f"`{dst.name}`", _meaning(trig))
            for (src, trig), dst in d.transitions.items()]
    return _table(("from", "trigger", "to", "trigger means"), rows)


def state_diagram(d: Declarations) -> str:
    """module.fsm draws the diagram from its own transition table (the one place that knows how)."""
    return "```mermaid\n" + mermaid_diagram() + "```"


def error_states(d: Declarations) -> str:
    rows = []
    for st in State:
        if st not in ERROR_STATES:
            continue
        causes = sorted({trig for _, trig in _triggers_into(d, st)}, key=int)
        rows.append((f"`{st.name}`", "; ".join(f"{t.name} ({_meaning(t)})" for t in causes),
                     _leaves(d, st)))
    return _table(("error state", "entered on", "left by"), rows)


def audit_events(d: Declarations) -> str:
    rows = [(f"0x{e.value:04X}", f"`{e.name}`", _meaning(e)) for e in AuditEvent]
    return _table(("code", "event", "meaning"), rows)


def audit_config(d: Declarations) -> str:
    a = d.config.audit
    rows = [
        ("ring capacity", f"{a.capacity:,} records"),
        ("full-ring policy", f"`{a.policy}` (`AUDIT_SET_POLICY` changes it)"),
        ("periodic checkpoint", f"every {a.checkpoint_every:,} records"),
        ("high-water warning (in status)", f"at {a.high_water:.0%} full"),
        ("reserve for the drain services", f"{a.reserve} records"),
        ("slots only the module may use", f"the last {INTERNAL_RESERVE} (the last {HANDOVER_RESERVE} for a "
                                          "zeroisation handover)"),
        ("records dropped per wrap-around", f"{a.wrap_batch} (`wrap` policy)"),
        ("durability", f"`{a.fsync}`: each record is synced to flash before the response leaves"
         if a.fsync == "always" else f"`{a.fsync}`"),
    ]
    return _table(("setting", "default"), rows)


SECTIONS: dict[str, Callable[[Declarations], str]] = {
    "security-levels": security_levels,
    "module-identity": module_identity,
    "module-config": module_config,
    "operational-environment": operational_environment,
    "approved-algorithms": approved_algorithms,
    "non-approved-services": non_approved_services,
    "entropy": entropy_table,
    "states": states_table,
    "transitions": transitions_table,
    "state-diagram": state_diagram,
    "interfaces": interfaces,
    "interface-limits": interface_limits,
    "status-codes": status_codes,
    "roles": roles_table,
    "auth-strength": auth_strength,
    "services": services_table,
    "service-states": service_states,
    "service-inputs": service_inputs,
    "flash-objects": flash_objects,
    "ssps": ssp_table,
    "psps": psp_table,
    "key-types": key_types,
    "key-purposes": key_purposes,
    "self-tests": self_test_overview,
    "casts": cast_table,
    "error-states": error_states,
    "audit-events": audit_events,
    "audit-config": audit_config,
}


def render(text: str, d: Declarations | None = None) -> str:
    """``text`` with every generated section replaced by what the declarations give now."""
    d = d or Declarations()
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- begin: {re.escape(name)} -->\n).*?(<!-- end: {re.escape(name)} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{POLICY_MD.name} has no generated section {name!r}")
        body = make(d)
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


# --------------------------------------------------------------------------- JSON
def _ssp_json(name: str, info: SspInfo, specs: Sequence[ServiceSpec] = ()) -> dict[str, Any]:
    access = {s.command.name: use.access.letters() for s in sorted(specs, key=lambda s: int(s.command))
              for use in s.ssps if use.ssp == name}
    return {"name": name, "type": info.kind, "description": info.what, "generation": info.generation,
            "entry_output": info.entry_output, "storage": info.storage, "zeroisation": info.zeroisation,
            "service_access": access}


def policy_document(d: Declarations | None = None) -> dict[str, Any]:
    """The machine-readable policy: the same tables as the Markdown, as data."""
    d = d or Declarations()
    c, p, e = d.config, d.config.auth, d.entropy
    specs = sorted(d.specs, key=lambda s: int(s.command))
    hard = {Trigger.HARD_FAULT}
    return {
        "format": "cmsim-security-policy",
        "format_version": 1,
        "module": {
            "name": MODULE_NAME, "firmware_version": FIRMWARE_VERSION, "serial_default": c.serial,
            "protocol_version": PROTOCOL_VERSION, "audit_format_version": FORMAT_VERSION,
            "simulation": True, "validated": False,
            "statement": "a simulation for development, testing and teaching; not a validated module",
        },
        "algorithms": {
            "approved": [
                {"name": algorithm, "standard": casts[0].standard, "mode": ALGORITHMS[algorithm].mode,
                 "sizes": ALGORITHMS[algorithm].sizes, "self_tested": [x.direction for x in casts],
                 "services": [s.name for s in ALGORITHMS[algorithm].services],
                 "internal_uses": ALGORITHMS[algorithm].internal}
                for algorithm, casts in _casts_by_algorithm(d.casts).items()
            ],
            "drbg": {"mechanism": "HMAC_DRBG", "hash": "SHA-256", "standard": "SP 800-90A Rev. 1",
                     "security_strength_bits": drbg.SECURITY_STRENGTH_BITS, "prediction_resistance": False,
                     "reseed_interval": c.drbg_reseed_interval},
            "entropy": {"source": "simulated (os.urandom)", "standard": "SP 800-90B", **dict(e),
                        "apt_window_non_binary": APT_WINDOW_NON_BINARY, "startup_samples": STARTUP_SAMPLES},
            "external_randomness": ["ML-DSA-65 signing (hedged) and ML-KEM-768 encapsulation take their "
                                    "randomness from OpenSSL's RNG, not from the module's DRBG"],
            "non_approved_services": [s.command.name for s in specs if not s.approved],
        },
        "roles": [
            {"role": r.name, "code": int(r), "label": ROLE_LABEL[r], "duties": ROLE_DUTIES[r][0],
             "authentication": ROLE_DUTIES[r][1], "services": [s.command.name for s in specs if r in s.roles]}
            for r in Role
        ],
        "authentication": {
            "method": "identity-based; ECDH P-256 signed by the device identity, then the PBKDF2 auth key "
                      "inside the channel against a stored verifier",
            "min_password_length": p.min_password_length, "max_password_length": p.max_password_length,
            "alphabet_size": p.alphabet_size, "pbkdf2_iterations": p.pbkdf2_iterations,
            "salt_bytes": SALT_SIZE, "failure_delay_s": p.failure_delay_s,
            "lockout_threshold": p.lockout_threshold, "lockout_s": p.lockout_s,
            "max_attempts_per_minute": p.max_attempts_per_minute(),
            "guess_probability_per_attempt": p.guess_probability_per_attempt(),
            "guess_probability_per_minute": p.guess_probability_per_minute(),
            "bound_per_attempt": FIPS_BOUND_PER_ATTEMPT, "bound_per_minute": FIPS_BOUND_PER_MINUTE,
            "factory_operator": c.factory_operator,
        },
        "services": [
            {"code": int(s.command), "command": s.command.name, "name": s.name, "summary": s.summary,
             "roles": [r.name for r in Role if r in s.roles], "states": [st.name for st in State if st in s.states],
             "approved": s.approved, "audit_category": s.audit_category.name,
             "allowed_when_audit_full": s.allowed_when_audit_full, "key_scope": s.key_scope.name,
             "ssps": [{"ssp": u.ssp, "access": u.access.letters()} for u in s.ssps],
             "params": [{"name": x.name, "type": x.type.value, "required": x.required, "secret": x.secret,
                         **({"enum": x.enum.__name__} if x.enum is not None else {})} for x in s.params]}
            for s in specs
        ],
        "ssps": ([_ssp_json(n, SSP_DETAILS[n], d.specs) for n in _ssp_names(d.specs)]
                 + [_ssp_json(n, i) for n, i in EXTRA_SSPS.items()]),
        "psps": [_ssp_json(n, i) for n, i in PSP_DETAILS.items()],
        "key_types": [
            {"code": int(kt), "name": kt.name,
             "allowed_uses": [str(u.name) for u in KeyUse if u and u in ALLOWED_USES[kt]],
             "default_uses": [str(u.name) for u in KeyUse if u and u in DEFAULT_USES[kt]],
             **({"private_bytes": PRIVATE_KEY_SIZES[kt], "public_bytes": PUBLIC_KEY_SIZES[kt]}
                if kt in ASYMMETRIC_KEY_TYPES else {"key_bytes": SYMMETRIC_KEY_SIZES[kt]})}
            for kt in KeyType
        ],
        "self_tests": {
            "pre_operational": [
                {"name": "software integrity", "technique": "HMAC-SHA-256",
                 "key": INTEGRITY_KEY.decode(), "covers": "module/ (*.py, *.json)",
                 "on_failure": State.HARD_ERROR.name},
                {"name": "entropy start-up", "samples": int(e["startup_samples"]), "on_failure": State.SOFT_ERROR.name},
            ],
            "conditional": [
                {"name": "HMAC_DRBG health test", "type": "CAST", "on_failure": State.SOFT_ERROR.name},
                *({"name": x.name, "type": "CAST", "algorithm": x.algorithm, "direction": x.direction,
                   "standard": x.standard, "known_answer_source": cast_source(x.name),
                   "on_failure": State.SOFT_ERROR.name} for x in d.casts),
                {"name": "pairwise consistency test",
                 "key_types": [kt.name for kt in KeyType if kt in ASYMMETRIC_KEY_TYPES],
                 "when": "key-pair generation and import", "on_failure": State.SOFT_ERROR.name},
                {"name": "Repetition Count Test", "cutoff": int(e["rct_cutoff"]), "on_failure": State.SOFT_ERROR.name},
                {"name": "Adaptive Proportion Test", "cutoff": int(e["apt_cutoff"]), "window": int(e["apt_window"]),
                 "on_failure": State.SOFT_ERROR.name},
            ],
            "on_demand": Command.SELF_TEST.name,
        },
        "states": [
            {"code": int(st), "name": st.name, "meaning": _meaning(st),
             "data_output": st in DATA_OUTPUT_STATES, "error_state": st in ERROR_STATES,
             "services": [s.command.name for s in specs if st in s.states]}
            for st in State
        ],
        "transitions": [{"from": src.name, "trigger": trig.name, "to": dst.name}
                        for (src, trig), dst in d.transitions.items()],
        "error_states": [
            {"state": st.name, "hard": any(t in hard for _, t in _triggers_into(d, st)),
             "entered_on": sorted({t.name for _, t in _triggers_into(d, st)}),
             "left_by": [f"{trig.name}->{dst.name}" for (src, trig), dst in d.transitions.items() if src is st]}
            for st in State if st in ERROR_STATES
        ],
        "status_codes": [{"code": int(s), "name": s.name, "meaning": _meaning(s)} for s in Status],
        "audit": {
            "events": [{"code": int(ev), "name": ev.name, "meaning": _meaning(ev)}
                       for ev in AuditEvent],
            "categories": [cat.name for cat in AuditCategory],
            "config": {"capacity": c.audit.capacity, "policy": c.audit.policy,
                       "checkpoint_every": c.audit.checkpoint_every, "high_water": c.audit.high_water,
                       "reserve": c.audit.reserve, "internal_reserve": INTERNAL_RESERVE,
                       "wrap_batch": c.audit.wrap_batch, "fsync": c.audit.fsync},
            "checkpoint_signature": "Ed25519",
        },
        "module_config": {"max_sessions": c.max_sessions, "session_idle_timeout_s": c.session_idle_timeout_s,
                          "handshake_timeout_s": c.handshake_timeout_s, "max_keys": c.max_keys,
                          "max_random_bytes": c.max_random_bytes},
    }


def policy_json_text(d: Declarations | None = None) -> str:
    return json.dumps(policy_document(d), indent=2, ensure_ascii=False) + "\n"


def _self_check() -> None:
    """Fail loudly (rather than write a wrong table) when a declaration has no description here."""
    missing = [a for a in _casts_by_algorithm(CASTS) if a not in ALGORITHMS]
    missing += [n for n in _ssp_names(SPECS) if n not in SSP_DETAILS]
    missing += [kt.name for kt in KeyType if kt not in KEY_TYPE_ALGORITHM]
    missing += [r.name for r in Role if r not in ROLE_DUTIES]
    if missing:
        raise SystemExit(f"describe these in docs/security_policy/generate.py: {', '.join(missing)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the generated sections and the JSON; with ``--check``, only say whether they are current."""
    args = sys.argv[1:] if argv is None else list(argv)
    check = args == ["--check"]
    if args and not check:
        print("usage: python docs/security_policy/generate.py [--check]", file=sys.stderr)
        return 2
    _self_check()
    wanted = {POLICY_MD: render(POLICY_MD.read_text(encoding="utf-8")), POLICY_JSON: policy_json_text()}
    stale = [path for path, content in wanted.items()
             if not path.exists() or path.read_text(encoding="utf-8") != content]
    if check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
    print(f"{POLICY_MD.relative_to(ROOT)}, {POLICY_JSON.relative_to(ROOT)}: "
          f"{'rewrote ' + str(len(stale)) if stale else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
