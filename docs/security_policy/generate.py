"""`make docs`: regenerate the security policy's tables, state diagram and JSON from the module.

The sections of ``docs/security_policy/security-policy.md`` between ``<!-- begin: NAME -->`` and
``<!-- end: NAME -->`` are generated here from the module's own declarations (the service
catalogue, the SSP declarations of ``module/ssps.py``, the transition table, the CAST list, the
state, status, role, key-type and event enums, the authentication and audit policies, the entropy
health-test cut-offs, the lab harness's ACVP registration); the rest is prose.
``security-policy.json`` holds the same tables for machines and ``security-policy.amvp.json``
the same content in the shape of the AMVP security-policy JSON (cisco/libamvp's
``metadata/sp.json``). ``tests/test_security_policy.py`` regenerates all three and fails when one
differs from what is committed, so the policy cannot drift from the code. The interpreter and
OpenSSL versions are recorded by `make docs`; the tests and ``--check`` regenerate against the
recorded ones and check only that the running ones are present and well formed.

A few facts have no declaration in the module to read (what an algorithm is used for, what each
role is for, the critical function tests, the algorithms with no security claimed). They are
kept here in one table each, keyed by the declaration they describe, and the tests fail when a
declaration gains a member that these tables do not describe.

Run from the repository root: ``python docs/security_policy/generate.py``.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import textwrap
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
from firmware_sim.integrity import bound_libraries  # noqa: E402
from firmware_sim.serve import FRAME_TIMEOUT  # noqa: E402
from host_tools.lab.acvp import registration as acvp_registration  # noqa: E402
from module import drbg  # noqa: E402
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
    sha1_digest,
)
from module.audit.trail import HANDOVER_RESERVE, INTERNAL_RESERVE  # noqa: E402
from module.cast import CASTS, Cast, cast_source  # noqa: E402
from module.core import ModuleConfig  # noqa: E402
from module.entropy import APT_WINDOW_NON_BINARY, STARTUP_SAMPLES, HealthTestedSource  # noqa: E402
from module.fsm import DATA_OUTPUT_STATES, ERROR_STATES, TRANSITIONS, Trigger, mermaid_diagram  # noqa: E402
from module.integrity import INTEGRITY_KEY  # noqa: E402
from module.keystore import ALLOWED_USES, DEFAULT_USES, PURPOSES  # noqa: E402
from module.services.audit import MAX_EXPORT_PAGE  # noqa: E402
from module.services.catalog import SPECS  # noqa: E402
from module.services.info import PARAMS_FORMAT_VERSION  # noqa: E402
from module.services.keys import SYMMETRIC_KEY_SIZES  # noqa: E402
from module.services.registry import AuditCategory, KeyScope, Param, ServiceSpec  # noqa: E402
from module.ssps import FLASH, FLASH_OBJECTS, SSP_IO, SSPS, STORAGE_AREAS, ZEROISATION_METHODS, Ssp  # noqa: E402
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
from module.wire.handshake import (  # noqa: E402
    AUTH_KEY_SIZE,
    EPHEMERAL_SIZE,
    HOST_MIN_ITERATIONS,
    NONCE_SIZE,
    SALT_SIZE,
)

__all__ = [
    "POLICY_MD",
    "POLICY_JSON",
    "POLICY_PACKAGE_JSON",
    "Declarations",
    "SECTIONS",
    "SP800_140B_SECTIONS",
    "ALGORITHMS",
    "ROLE_DUTIES",
    "render",
    "policy_document",
    "policy_json_text",
    "main",
]

POLICY_MD = HERE / "security-policy.md"
POLICY_JSON = HERE / "security-policy.json"
POLICY_AMVP = HERE / "security-policy.amvp.json"
# The same JSON as package data, so an installed `cmsim lab run` finds the published tables without this tree.
POLICY_PACKAGE_JSON = ROOT / "host_tools" / "lab" / "security-policy.json"
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
    ssps: tuple[Ssp, ...] = SSPS
    config: ModuleConfig = field(default_factory=ModuleConfig)
    entropy: Mapping[str, float | int] = field(default_factory=_entropy_cutoffs)
    environment: Mapping[str, str] = field(default_factory=lambda: measured_environment())


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
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


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
    "SHA-1": AlgorithmInfo("message digest, non-signature uses only (SP 800-131A Rev. 2)",
                           f"{_bits(len(sha1_digest(b'')))} output", (Command.DIGEST_SHA1,)),
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
        "pure, empty context; hedged signing with rnd from OpenSSL's RNG, so `SIGN` with this key is not "
        "approved",
        f"{_bits(PRIVATE_KEY_SIZES[KeyType.ML_DSA_65])} seed; "
        f"{PUBLIC_KEY_SIZES[KeyType.ML_DSA_65]:,}-byte public key",
        (Command.KEY_GENERATE, Command.KEY_IMPORT, Command.SIGN, Command.VERIFY)),
    "ML-KEM-768": AlgorithmInfo(
        "encapsulation randomness from OpenSSL's RNG, so `ENCAPSULATE` is not approved; key generation "
        "from the DRBG",
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
        ("sessions of one operator, at most", c.max_sessions_per_operator),
        ("sessions only a Crypto Officer can take", f"the last {c.officer_reserved_sessions}"),
        ("session idle timeout", f"{c.session_idle_timeout_s:g} s"),
        ("unfinished logins at once (all hosts together)", c.max_unfinished_logins),
        ("an unfinished login is kept against other ids' logins for", f"{c.login_guard_s:g} s"),
        ("unfinished login timeout", f"{c.handshake_timeout_s:g} s"),
        ("maximum stored keys", f"{c.max_keys:,}"),
        ("maximum `RANDOM` request", f"{c.max_random_bytes:,} bytes"),
        ("DRBG reseed interval", f"{c.drbg_reseed_interval:,} requests"),
        ("AES-GCM invocations per key (random IVs, SP 800-38D 8.3)", f"{c.gcm_invocation_limit:,} (2^32)"
         if c.gcm_invocation_limit == 2**32 else f"{c.gcm_invocation_limit:,}"),
        ("AES-GCM count reserved in flash ahead", f"{c.gcm_reservation_step:,} invocations"),
        ("factory operator id", f"`{c.factory_operator}`"),
        ("factory password", f"`{c.factory_password}` (documented; must be replaced at initialisation; section 4.1 lists what it can do until then)"),
    ]
    return _table(("setting", "default"), rows)


def operational_environment(d: Declarations) -> str:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    e = d.environment
    rows: list[tuple[str, str, str]] = [
        ("Python", f"`{project['requires-python']}`", f"{e['python_implementation']} {e['python']}"),
    ]
    for dep in project["dependencies"]:
        name = re.split(r"[<>=!~ ]", dep, maxsplit=1)[0]
        measured = f"{e['cryptography']}" if name == "cryptography" else "-"
        rows.append((f"`{name}`", f"`{dep}`", measured))
    rows.append(("OpenSSL in `cryptography` (the primitives, section 2.5)", "bundled with the wheel",
                 e["cryptography_openssl"]))
    rows.append(("OpenSSL of CPython's `hashlib`, `hmac`, `ssl` (section 2.5)", "the interpreter's build",
                 e["hashlib_openssl"]))
    rows.append(("module version (`module/version.py`, covered by the integrity seal)", "-", f"`{FIRMWARE_VERSION}`"))
    return _table(("component", "required (`pyproject.toml`)", "this policy was generated against"), rows)


# Services whose handler needs the audit signing key, which a factory-fresh module does not have yet
# (INITIALISE makes it; a zeroised module keeps the successor its handover named).
NEEDS_AUDIT_KEY: frozenset[Command] = frozenset({Command.AUDIT_PUBKEY, Command.AUDIT_CHECKPOINT})


def factory_services(d: Declarations) -> list[ServiceSpec]:
    """The factory state's services the factory credential may call: the public ones a Crypto
    Officer session may call, and those declared ``factory_credential``."""
    return [s for s in sorted(d.specs, key=lambda s: int(s.command))
            if State.UNINITIALISED in s.states and Role.CRYPTO_OFFICER in s.roles
            and (s.public or s.factory_credential)]


def factory_operator(d: Declarations) -> str:
    """What the factory Crypto Officer can call, from the catalogue's declarations."""
    rows = [(f"`{s.command.name}`", s.name, _who(s),
             "refused (`INVALID_STATE`) until the module has an audit signing key" if s.command in NEEDS_AUDIT_KEY
             else "served") for s in factory_services(d)]
    return _table(("service", "name", "roles", "on a factory-fresh module"), rows)


def bound_libraries_table(d: Declarations) -> str:
    """Read from the environment `make docs` runs in: the policy names what it was generated against."""
    rows = [(lib.name, f"`{lib.version}`", lib.provides, f"`{lib.file}`" if lib.file else "-",
             f"`{lib.sha256}`" if lib.sha256 else "-") for lib in bound_libraries()]
    return _table(("library (outside the boundary)", "version", "provides", "file", "SHA-256 of the file"), rows)


def approved_algorithms(d: Declarations) -> str:
    rows = []
    for algorithm, casts in _casts_by_algorithm(d.casts).items():
        info = ALGORITHMS[algorithm]
        used = ", ".join(x for x in (_commands(info.services), info.internal) if x)
        rows.append((algorithm, casts[0].standard, info.mode, info.sizes,
                     ", ".join(_tested(c) for c in casts), used))
    c = d.config
    rows.append(("HMAC_DRBG (SHA-256)", "SP 800-90A Rev. 1",
                 f"no prediction resistance; reseed every {c.drbg_reseed_interval:,} requests",
                 f"{drbg.SECURITY_STRENGTH_BITS}-bit security strength", "HMAC_DRBG health test",
                 "every random value the module makes (keys, IVs, salts, challenges, session ids)"))
    return _table(("algorithm", "standard", "mode / method", "key or size", "CAST (section 10.2)", "used by"), rows)


def _tested(c: Cast) -> str:
    """A CAST's direction, with the implementation named when it is not the services' library."""
    return c.direction if c.implementation == "cryptography" else f"{c.direction} ({c.implementation})"


def _casts_by_algorithm(casts: Sequence[Cast]) -> dict[str, list[Cast]]:
    grouped: dict[str, list[Cast]] = {}
    for c in casts:
        grouped.setdefault(c.algorithm, []).append(c)
    return grouped


def non_approved_services(d: Declarations) -> str:
    rows = [(f"0x{int(s.command):02X}", f"`{s.command.name}`", s.name, _roles(s),
             s.summary if not s.approved else f"{s.summary} Not approved {s.not_approved_when}.")
            for s in sorted(d.specs, key=lambda s: int(s.command)) if not s.approved or s.not_approved_when]
    return _table(("code", "service", "name", "roles", "what it does"), rows)


def _approved(spec: ServiceSpec) -> str:
    """The indicator a served call answers with: per service, or per call where the catalogue says so."""
    if spec.approved and spec.not_approved_when:
        return f"yes, except {spec.not_approved_when}"
    return _yes(spec.approved)


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
        ("unfinished logins at once", d.config.max_unfinished_logins),
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
    never_locked = p.attempt_times()
    lockable = p.attempt_times(lockable=True)
    steps = [p.delay_after(n) for n in range(p.lockout_threshold, p.lockout_threshold + 64)]
    escalation = ", ".join(f"{d:g}" for d in steps if d < p.max_failure_delay_s)
    rows = [
        ("password length", f"{p.min_password_length} to {p.max_password_length} characters"),
        ("password alphabet", f"{p.alphabet_size} printable ASCII characters"),
        ("stored form", f"verifier: HMAC-SHA-256 of the PBKDF2-HMAC-SHA-256 auth key, {p.pbkdf2_iterations:,} "
                        f"iterations, {_bits(SALT_SIZE)} salt per operator"),
        ("key establishment", f"ECDH P-256 ({EPHEMERAL_SIZE}-byte points), {_bits(NONCE_SIZE)} nonce from each "
                              "side, transcript signed by the identity key (Ed25519)"),
        ("host's iteration floor", f"{HOST_MIN_ITERATIONS:,} by default (a host refuses fewer, and any "
                                   "value the identity key did not sign)"),
        ("delay after a failed attempt", f"{p.failure_delay_s:g} s (per operator id)"),
        ("delay from the lockout threshold on", f"doubling with each failure: {escalation}, then "
                                                f"{p.max_failure_delay_s:g} s (the cap) until a good login"),
        ("lockout", f"after {p.lockout_threshold} consecutive failures, for {p.lockout_s / 60:g} minutes; "
                    "never for the last Crypto Officer that is not locked (it gets the delay only)"),
        ("one random attempt succeeds with", f"1 / {p.alphabet_size}^{p.min_password_length} = "
                                              f"{per_attempt:.1e} (bound {FIPS_BOUND_PER_ATTEMPT:.0e}: "
                                              f"{'met' if per_attempt < FIPS_BOUND_PER_ATTEMPT else 'NOT MET'})"),
        ("attempts in one minute, a lockable id", f"{len(lockable)} (at {_seconds(lockable)} s, then locked)"),
        ("attempts in one minute, the never-locked officer", f"{len(never_locked)} (at {_seconds(never_locked)} s)"),
        ("random success within one minute", f"{p.max_attempts_per_minute()} x {per_attempt:.1e} = "
                                             f"{per_minute:.1e} (bound {FIPS_BOUND_PER_MINUTE:.0e}: "
                                             f"{'met' if per_minute < FIPS_BOUND_PER_MINUTE else 'NOT MET'})"),
    ]
    return _table(("item", "value"), rows)


def auth_bound(d: Declarations) -> str:
    """The guessing bound as arithmetic, from the policy's numbers."""
    p = d.config.auth
    never, lockable = p.attempt_times(), p.attempt_times(lockable=True)
    nxt = never[-1] + p.delay_after(len(never))
    base = [t for t in never if t <= (p.lockout_threshold - 1) * p.failure_delay_s]
    later = never[len(base):]
    steps = [f"{b - a:g}" for a, b in zip(never[len(base) - 1:], later)]
    per_attempt, per_minute = p.guess_probability_per_attempt(), p.guess_probability_per_minute()
    return _wrap(
        f"The bound as arithmetic: a random guess at the shortest password hits with probability "
        f"1 / {p.alphabet_size}^{p.min_password_length} ({p.alphabet_size} printable characters, "
        f"{p.min_password_length} of them), about {per_attempt:.1e} per attempt, below FIPS 140-3's "
        f"{FIPS_BOUND_PER_ATTEMPT:.0e}. In one minute the module evaluates at most {len(never)} attempts for one id: "
        f"the never-locked officer's, one as soon as each delay allows (at {_seconds(base)} s with the "
        f"{p.failure_delay_s:g} s delay, then after {', '.join(steps)} s at {', '.join(f'{t:g}' for t in later)} s; "
        f"the next is {nxt - never[-1]:g} s later, at {nxt:g} s). A lockable id gets at most {len(lockable)} (then "
        f"it is locked for {p.lockout_s / 60:g} minutes). Delays never shrink while failures last, so no other "
        f"minute holds more. {p.max_attempts_per_minute()} x {per_attempt:.1e} = {per_minute:.1e} per minute, "
        f"below the bound of {FIPS_BOUND_PER_MINUTE:.0e}. `tests/test_officer_lockout.py` counts the attempts "
        "the module evaluates in a hammered minute.")


def session_limits(d: Declarations) -> str:
    """The session limits, from the configuration."""
    c = d.config
    return _wrap(
        f"**Sessions.** Sessions end after an idle timeout, and their number is limited (section 2.9) so that "
        f"no operator, and no one without a password, can keep a Crypto Officer out. An operator holds at most "
        f"{c.max_sessions_per_operator} of the {c.max_sessions} sessions, and the last "
        f"{'one is' if c.officer_reserved_sessions == 1 else f'{c.officer_reserved_sessions} are'} for a Crypto "
        "Officer only; both limits are checked at `AUTH_FINISH` once the auth key proved right (`SESSION_LIMIT`; "
        "the failure count is cleared, as the password was right), so they say nothing about an id to whoever "
        "lacks its password. Unfinished logins take no session slot: the module tells callers apart only by "
        "session (the line is not authenticated, and every host on the pty shares one line), so it bounds them "
        f"for all callers together, at {c.max_unfinished_logins}, and keeps each at least {c.login_guard_s:g} s "
        "against other ids' logins. A flood of `AUTH_BEGIN` therefore cannot make a login that has begun fail: "
        f"once all {c.max_unfinished_logins} places hold logins younger than that, a further `AUTH_BEGIN` is "
        "refused with `SESSION_LIMIT` (to be retried); past the guard time the oldest unfinished login is "
        f"evicted to make room. A sustained flood can still keep new logins waiting (it must begin "
        f"{c.max_unfinished_logins} logins every {c.login_guard_s:g} s, each one recorded); it can neither end "
        "an open session nor take a session slot.")


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=98, break_long_words=False, break_on_hyphens=False)


def _seconds(times: list[float]) -> str:
    """Attempt times, the leading run of equal steps shortened: "0, 1, ..., 9, 11, 15"."""
    run = 1
    while run + 1 < len(times) and times[run + 1] - times[run] == times[1] - times[0]:
        run += 1
    shown = [f"{t:g}" for t in times]
    if run >= 3:
        shown = shown[:2] + ["..."] + shown[run:]
    return ", ".join(shown if len(shown) <= 16 else [*shown[:8], "...", *shown[-3:]])


def _key_scope(spec: ServiceSpec) -> str:
    return "-" if spec.key_scope is KeyScope.NONE else spec.key_scope.value


def services_table(d: Declarations) -> str:
    rows = [
        (f"0x{int(s.command):02X}", f"`{s.command.name}`", s.name, _roles(s), _approved(s), _ssps(s),
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


ROLE_SHORT = {Role.NONE: "unauth.", Role.CRYPTO_OFFICER: "CO", Role.USER: "U", Role.AUDITOR: "A"}


def _who(spec: ServiceSpec) -> str:
    return "anyone" if spec.roles == frozenset(Role) else ", ".join(ROLE_SHORT[r] for r in Role if r in spec.roles)


def _ssp_access(d: Declarations, ssp: Ssp) -> str:
    specs = {s.command: s for s in d.specs}
    parts = [f"`{a.command.name}` {a.access.letters()} ({_who(specs[a.command])})"
             for a in sorted(ssp.access, key=lambda a: int(a.command)) if a.command in specs]
    return ", ".join(parts) or "none"


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"


def _pending(ssp: Ssp) -> str:
    return f"{ssp.name} (declared ahead of its code)" if ssp.pending else ssp.name


def storage_areas(d: Declarations) -> str:
    return _table(("storage area", "description", "persistence type"),
                  ((a.name, a.description, a.persistence) for a in STORAGE_AREAS))


def ssp_io(d: Declarations) -> str:
    return _table(("method", "from", "to", "format type", "distribution type", "entry type", "protected by"),
                  ((m.name, m.source, m.destination, m.format, m.distribution, m.entry, m.related) for m in SSP_IO))


def ssp_zeroisation(d: Declarations) -> str:
    return _table(("zeroisation method", "description", "rationale", "operator initiation"),
                  ((z.name, z.description, z.rationale, "allowed" if z.operator_initiated else "no")
                   for z in ZEROISATION_METHODS))


def ssp_table(d: Declarations) -> str:
    rows = [(_pending(s), s.category, s.type, s.size, s.strength, s.generated_by, s.established_by, s.used_by)
            for s in d.ssps]
    return _table(("SSP", "category", "type", "size", "strength", "generated by", "established by", "used by"), rows)


def _storage(s: Ssp) -> str:
    flash = f" (`{'`, `'.join(s.flash)}`)" if s.flash else ""
    return ", ".join(a + (flash if a == FLASH else "") for a in s.storage)


def ssp_handling(d: Declarations) -> str:
    rows = [(_pending(s), _listing(s.inputs), _listing(s.outputs), _storage(s), s.duration, _listing(s.zeroisation))
            for s in d.ssps]
    return _table(("SSP", "input", "output", "storage", "storage duration", "zeroisation"), rows)


def ssp_access(d: Declarations) -> str:
    rows = [(_pending(s), _ssp_access(d, s)) for s in d.ssps]
    return _table(("SSP", "services: access (roles)"), rows)


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
    rows = ((f"`{f.name}`", f.holds + (" (declared ahead of the code that writes it)" if f.pending else ""),
             _yes(f.ssps)) for f in FLASH_OBJECTS)
    return _table(("flash object", "holds", "SSPs"), rows)


def _failure_state(hard: bool) -> str:
    return "`HARD_ERROR` (power cycle or `ZEROISE`)" if hard else "`SOFT_ERROR` (a passing `SELF_TEST`)"


def self_test_overview(d: Declarations) -> str:
    e = d.entropy
    casts = len(d.casts)
    pct_types = ", ".join(kt.name for kt in KeyType if kt in ASYMMETRIC_KEY_TYPES)
    rows = [
        ("software integrity", "pre-operational", "HMAC-SHA-256 (hashlib) over the module's code against the seal; "
         "every compiled file the interpreter would load must be its sealed source, compiled",
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
    rows = [(i, c.name, c.algorithm, c.direction, c.implementation, c.standard, cast_source(c.name))
            for i, c in enumerate(d.casts, 1)]
    return _table(("#", "CAST", "algorithm", "direction", "implementation", "standard", "known answer from"), rows)


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
                     _leaves(d, st), ERROR_INDICATOR))
    return _table(("error state", "entered on", "left by", "indicator"), rows)


ERROR_INDICATOR = (f"`GET_STATUS`: `state_name` is the error state, `approved_mode` false, `last_error` names the "
                   f"test and why; every other service answers `{Status.MODULE_ERROR.name}`; the call that failed "
                   f"answers `{Status.SELF_TEST_FAILED.name}` (a defect `{Status.INTERNAL_ERROR.name}`); audit event "
                   f"`{AuditEvent.ERROR_ENTERED.name}` and a last checkpoint")


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
        ("durability", f"`{a.fsync}`: each record is synced to flash before the response leaves (the "
                       "device flushes the records of requests that arrived together at once)"
         if a.fsync == "always" else f"`{a.fsync}`"),
    ]
    return _table(("setting", "default"), rows)


# --------------------------------------------------------------------------- algorithms (template form)
def _acvp_value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(_acvp_value(v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"min", "max", "increment"}:
            lo, hi, step = value["min"], value["max"], value["increment"]
            return str(lo) if lo == hi else f"{lo}-{hi} step {step}"
        return "; ".join(f"{k}: {_acvp_value(v)}" for k, v in value.items())
    return str(value).lower() if isinstance(value, bool) else str(value)


def _acvp_properties(entry: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {_acvp_value(v)}" for k, v in entry.items() if k not in ("algorithm", "mode", "revision"))


# What the module implements but the lab harness's ACVP registration (host_tools/lab/acvp.py) does not
# offer, written as that registration would give it. Each names its CAST algorithm (module/cast.py).
UNREGISTERED_ACVP: tuple[dict[str, Any], ...] = (
    {"algorithm": "ACVP-AES-KW", "revision": "1.0", "direction": ["encrypt", "decrypt"], "kwCipher": ["cipher"],
     "keyLen": [256], "payloadLen": [256]},
    {"algorithm": "SHA-1", "revision": "1.0", "messageLength": [{"min": 0, "max": 65536, "increment": 8}]},
    {"algorithm": "ECDSA", "mode": "keyGen", "revision": "FIPS186-5", "curve": ["P-256", "P-384"],
     "secretGenerationMode": ["extra bits"]},
    {"algorithm": "EDDSA", "mode": "keyGen", "revision": "1.0", "curve": ["ED-25519"]},
    {"algorithm": "ML-DSA", "mode": "keyGen", "revision": "FIPS204", "parameterSets": ["ML-DSA-65"]},
    {"algorithm": "ML-DSA", "mode": "sigGen", "revision": "FIPS204", "parameterSets": ["ML-DSA-65"],
     "deterministic": [False], "signatureInterfaces": ["external"], "preHash": ["pure"], "contextLength": [0]},
    {"algorithm": "ML-DSA", "mode": "sigVer", "revision": "FIPS204", "parameterSets": ["ML-DSA-65"],
     "signatureInterfaces": ["external"], "preHash": ["pure"], "contextLength": [0]},
    {"algorithm": "ML-KEM", "mode": "keyGen", "revision": "FIPS203", "parameterSets": ["ML-KEM-768"]},
    {"algorithm": "KDF", "revision": "1.0", "capabilities": [{
        "kdfMode": "counter", "macMode": ["HMAC-SHA2-256"], "counterLength": [8 * KBKDF_COUNTER_BYTES],
        "fixedDataOrder": ["before fixed data"], "supportedLengths": [256, 384, 512]}]},
    {"algorithm": "KDA", "mode": "OneStep", "revision": "Sp800-56Cr2", "auxFunctions": [{"auxFunctionName": "SHA2-256"}],
     "fixedInfoPattern": "label||context", "encoding": ["concatenation"], "z": [256], "l": 768},
)

# ACVP algorithm (and mode) -> the algorithm names of module/cast.py whose CAST covers it.
ACVP_CAST: dict[str, tuple[str, ...]] = {
    "SHA-1": ("SHA-1",), "SHA2-256": ("SHA2-256",), "SHA2-384": ("SHA2-384",), "SHA2-512": ("SHA2-512",),
    "SHA3-256": ("SHA3-256",), "SHA3-384": ("SHA3-384",), "SHA3-512": ("SHA3-512",),
    "HMAC-SHA2-256": ("HMAC-SHA2-256",), "HMAC-SHA2-384": ("HMAC-SHA2-384",), "HMAC-SHA2-512": ("HMAC-SHA2-512",),
    "ACVP-AES-GCM": ("AES-256-GCM",), "ACVP-AES-KWP": ("AES-256-KWP",), "ACVP-AES-KW": ("AES-256-KW",),
    "KDA HKDF": ("KDA HKDF-SHA2-256",), "KDA OneStep": ("KDA OneStep SHA2-256",), "KAS-ECC-SSC": ("KAS-ECC-SSC P-256",),
    "ECDSA keyVer": ("ECDSA P-256 SHA2-256",), "ECDSA keyGen": ("ECDSA P-256 SHA2-256", "ECDSA P-384 SHA2-384"),
    "ECDSA sigGen": ("ECDSA P-256 SHA2-256", "ECDSA P-384 SHA2-384"),
    "ECDSA sigVer": ("ECDSA P-256 SHA2-256", "ECDSA P-384 SHA2-384"),
    "EDDSA keyGen": ("EdDSA Ed25519",), "EDDSA sigGen": ("EdDSA Ed25519",), "EDDSA sigVer": ("EdDSA Ed25519",),
    "ML-KEM encapDecap": ("ML-KEM-768",), "ML-KEM keyGen": ("ML-KEM-768",),
    "ML-DSA keyGen": ("ML-DSA-65",), "ML-DSA sigGen": ("ML-DSA-65",), "ML-DSA sigVer": ("ML-DSA-65",),
    "KDF": ("KDF SP 800-108 counter, HMAC-SHA2-256",), "PBKDF": ("PBKDF2 HMAC-SHA2-256",),
    "hmacDRBG": (),
}


def _acvp_key(entry: Mapping[str, Any]) -> str:
    return f"{entry['algorithm']} {entry['mode']}" if "mode" in entry else str(entry["algorithm"])


def acvp_entries() -> list[tuple[dict[str, Any], bool]]:
    """(registration entry, registered by the lab harness) for every approved algorithm and mode."""
    return [(dict(e), True) for e in acvp_registration(lab=True)] + [(dict(e), False) for e in UNREGISTERED_ACVP]


def _cast_names(d: Declarations, key: str) -> str:
    algorithms = ACVP_CAST[key]
    if not algorithms:
        return "HMAC_DRBG health test"
    return ", ".join(c.name for c in d.casts if c.algorithm in algorithms)


def acvp_algorithms(d: Declarations) -> str:
    rows = []
    for entry, registered in acvp_entries():
        key = _acvp_key(entry)
        rows.append((entry["algorithm"], entry.get("mode", "-"), entry["revision"], _acvp_properties(entry),
                     _cast_names(d, key), "yes" if registered else "no"))
    return _table(("ACVP algorithm", "mode", "revision", "properties", "CAST (section 10.2)",
                   "in the lab's ACVP registration"), rows)


def vendor_affirmed(d: Declarations) -> str:
    asym = ", ".join(kt.name for kt in KeyType if kt in ASYMMETRIC_KEY_TYPES)
    sym = ", ".join(kt.name for kt in KeyType if kt not in ASYMMETRIC_KEY_TYPES)
    rows = [
        ("CKG", "SP 800-133 Rev. 2 section 4 (direct output of the approved DRBG)",
         f"symmetric keys: {sym}", "`KEY_GENERATE`; salts, challenges and the module's own keys"),
        ("CKG", "SP 800-133 Rev. 2 section 5.1 (asymmetric key pairs from DRBG output, by FIPS 186-5 A.4.1 "
                "for EC, from a DRBG seed for Ed25519, ML-DSA and ML-KEM)", f"key pairs: {asym}",
         "`KEY_GENERATE`; the audit signing key"),
        ("CKG", "SP 800-133 Rev. 2 section 6.2 (symmetric keys derived with an approved KDF)",
         "AES, HMAC and generic secrets from `DERIVE`", "`DERIVE`"),
    ]
    return _table(("name", "reference", "keys", "used by"), rows)


# Algorithms with no security claimed: each used for something that protects no SSP.
NO_SECURITY_CLAIMED: tuple[tuple[str, str, str], ...] = (
    ("CRC-32", "frame check of every serial frame (`module/wire/frame.py`)", "detects line noise; integrity "
     "and authenticity inside a session come from AES-GCM"),
    ("SHA-256 truncated to 128 bits", "checksum of the audit ring's metadata (`module/audit/ring.py`)",
     "detects a torn or damaged metadata object; the records themselves are protected by the hash chain and the "
     "signed checkpoints"),
    ("SHA-256 of the request frame", "the endpoint's retransmit fingerprint (`module/endpoint.py`)",
     "recognises a retransmitted frame; protects nothing"),
)


def no_security_claimed(d: Declarations) -> str:
    return _table(("algorithm", "used for", "why no security is claimed"), NO_SECURITY_CLAIMED)


# The algorithm behind each non-approved service (keyed by the service; the self-check wants one per service).
NON_APPROVED_ALGORITHMS: dict[Command, tuple[str, str]] = {
    Command.ENCAPSULATE: ("ML-KEM-768 encapsulation (FIPS 203) with m from the bound library's RNG",
                          "FIPS 203 asks for m from an approved RBG; the library draws it itself, outside the "
                          "module's DRBG"),
    Command.SIGN_ECDSA_SHA1: ("ECDSA P-256 with SHA-1 signature generation",
                              "SHA-1 for digital signature generation is disallowed (SP 800-131A Rev. 2)"),
    Command.LAB_ALGORITHM_TEST: ("HMAC_DRBG (SHA-256) and PBKDF2-HMAC-SHA-256 on caller-given inputs (ACVP tests)",
                                 "exists only on a device in lab mode (UNKNOWN_COMMAND otherwise), which every "
                                 "checkpoint states; DRBG output from caller-chosen entropy is no random output"),
}


def _non_approved(spec: ServiceSpec) -> tuple[str, str]:
    """The algorithm behind a non-approved service (the self-check makes sure each real one has its row)."""
    return NON_APPROVED_ALGORITHMS.get(spec.command, (spec.name, "declared non-approved in the service catalogue"))


def non_approved_not_allowed(d: Declarations) -> str:
    rows = [(_non_approved(s)[0], f"`{s.command.name}`", _non_approved(s)[1])
            for s in sorted(d.specs, key=lambda s: int(s.command)) if not s.approved]
    return _table(("algorithm", "service", "why"), rows)


def non_approved_allowed(d: Declarations) -> str:
    return _table(("algorithm", "use"), [("none", "the module has no non-approved algorithm allowed in the "
                                                  "approved mode")])


# --------------------------------------------------------------------------- what does not apply
def _has_software_load(d: Declarations) -> bool:
    return any("LOAD" in s.command.name or "FIRMWARE" in s.command.name for s in d.specs)


def not_applicable(d: Declarations) -> str:
    load = _has_software_load(d)
    maintenance = any("MAINTENANCE" in r.name for r in Role)
    manual = any(m.entry != "Electronic" for m in SSP_IO)
    rows = [
        ("bypass capability", "none", "every output is the result of a declared service; no service passes data "
         "through without the cryptographic processing its declaration names"),
        ("manual SSP entry", "present" if manual else "none", "every SSP input and output method (section 9.2) is "
         "electronic, over the serial line or the noise-source port"),
        ("software/firmware load", "present" if load else "none", "the service catalogue has no load service, so "
         "there is no software load test; the code changes only by reinstalling and re-sealing (section 4.7)"
         if not load else "see section 4.7"),
        ("maintenance role", "present" if maintenance else "none", "the roles are those of section 4.1; there "
         "is no maintenance interface and no maintenance mode"),
        ("self-initiated cryptographic output", "none", "the module writes to the line only in answer to a request "
         "frame; periodic checkpoints go into the audit ring, not out of the module"),
        ("control output interface", "none", "the module controls nothing outside itself (section 3)"),
        ("concurrent operators", "supported", f"up to {d.config.max_sessions} sessions, each bound to one "
         "operator identity"),
        ("external input/output devices", "none", "one serial line; the lab port exists only in lab mode"),
    ]
    return _table(("item", "in this module", "why"), rows)


# --------------------------------------------------------------------------- critical functions
CRITICAL_FUNCTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("audit ring verification", "every power-on, before the self-tests (`AuditRing.open`)",
     "the metadata's layout and checksum; every slot parses as empty or as a whole record whose chain hash "
     "matches; the retained records are all present and chain from the genesis value or the oldest retained "
     "record; no record claims a later boot than this one",
     "`HARD_ERROR`; `GET_STATUS` names the fault (field `audit`) and counts the events it could not record"),
    ("torn-append detection", "every power-on, in the same scan",
     "an unreadable slot is tolerated only where the next append would go (a write cut by a power loss)",
     "the torn slot is discarded and reported (event `AUDIT_TORN_SLOT`); any other unreadable slot is a "
     "corrupted ring (above)"),
    ("audit record read-back", "every `AUDIT_EXPORT` (each slot re-verified as it is read)",
     "the slot holds the record of that sequence number, of this module, with a matching chain hash",
     "`HARD_ERROR`; the call answers `MODULE_ERROR`"),
    ("boot counter", "every power-on, first", "read, incremented and written back before anything is recorded",
     "a flash failure stops the power-on"),
)


def critical_functions(d: Declarations) -> str:
    return _table(("critical function test", "when", "what it checks", "on failure"), CRITICAL_FUNCTIONS)


# --------------------------------------------------------------------------- environment
VERSION_FORMAT = re.compile(r"^\d+\.\d+(\.\d+)?[0-9A-Za-z.+-]*$")


def measured_environment() -> dict[str, str]:
    """The versions this process runs on: what `make docs` records in the policy."""
    import ssl

    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cryptography": cryptography.__version__,
        "cryptography_openssl": backend.openssl_version_text().split()[1],
        "hashlib_openssl": ssl.OPENSSL_VERSION.split()[1],
    }


def committed_environment() -> dict[str, str] | None:
    """The versions recorded in the committed JSON (the drift tests regenerate against them)."""
    if not POLICY_JSON.exists():
        return None
    env = json.loads(POLICY_JSON.read_text(encoding="utf-8")).get("operational_environment", {}).get("generated_against")
    return dict(env) if isinstance(env, dict) else None


SECTIONS: dict[str, Callable[[Declarations], str]] = {
    "security-levels": security_levels,
    "module-identity": module_identity,
    "module-config": module_config,
    "operational-environment": operational_environment,
    "bound-libraries": bound_libraries_table,
    "approved-algorithms": approved_algorithms,
    "non-approved-services": non_approved_services,
    "acvp-algorithms": acvp_algorithms,
    "vendor-affirmed": vendor_affirmed,
    "non-approved-allowed": non_approved_allowed,
    "no-security-claimed": no_security_claimed,
    "non-approved-not-allowed": non_approved_not_allowed,
    "not-applicable": not_applicable,
    "factory-operator": factory_operator,
    "critical-functions": critical_functions,
    "entropy": entropy_table,
    "states": states_table,
    "transitions": transitions_table,
    "state-diagram": state_diagram,
    "interfaces": interfaces,
    "interface-limits": interface_limits,
    "status-codes": status_codes,
    "roles": roles_table,
    "auth-strength": auth_strength,
    "auth-bound": auth_bound,
    "session-limits": session_limits,
    "services": services_table,
    "service-states": service_states,
    "service-inputs": service_inputs,
    "storage-areas": storage_areas,
    "flash-objects": flash_objects,
    "ssp-io": ssp_io,
    "ssp-zeroisation": ssp_zeroisation,
    "ssps": ssp_table,
    "ssp-handling": ssp_handling,
    "ssp-access": ssp_access,
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
def _ssp_json(d: Declarations, ssp: Ssp) -> dict[str, Any]:
    specs = {s.command: s for s in d.specs}
    return {"name": ssp.name, "category": ssp.category, "type": ssp.type, "size": ssp.size, "strength": ssp.strength,
            "generated_by": ssp.generated_by, "established_by": ssp.established_by, "used_by": ssp.used_by,
            "inputs": list(ssp.inputs), "outputs": list(ssp.outputs), "storage": list(ssp.storage),
            "flash_objects": list(ssp.flash), "storage_duration": ssp.duration, "zeroisation": list(ssp.zeroisation),
            "catalogue_group": ssp.group, "survives_zeroise": ssp.survives_zeroise, "pending": ssp.pending,
            "service_access": {a.command.name: a.access.letters()
                               for a in sorted(ssp.access, key=lambda a: int(a.command)) if a.command in specs}}


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
                 "sizes": ALGORITHMS[algorithm].sizes, "self_tested": [_tested(x) for x in casts],
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
                                    "randomness from OpenSSL's RNG, not from the module's DRBG: those calls "
                                    "answer not approved"],
            "non_approved_services": [s.command.name for s in specs if not s.approved],
            "not_approved_calls": {s.command.name: s.not_approved_when for s in specs
                                   if s.approved and s.not_approved_when},
        },
        "bound_libraries": [{"name": lib.name, "version": lib.version, "provides": lib.provides,
                             "file": lib.file, "sha256": lib.sha256} for lib in bound_libraries()],
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
            "max_failure_delay_s": p.max_failure_delay_s,
            "last_crypto_officer": "never locked: the delay, doubling from the threshold up to max_failure_delay_s",
            "max_attempts_per_minute": p.max_attempts_per_minute(),
            "guess_probability_per_attempt": p.guess_probability_per_attempt(),
            "guess_probability_per_minute": p.guess_probability_per_minute(),
            "bound_per_attempt": FIPS_BOUND_PER_ATTEMPT, "bound_per_minute": FIPS_BOUND_PER_MINUTE,
            "factory_operator": c.factory_operator,
        },
        "services": [
            {"code": int(s.command), "command": s.command.name, "name": s.name, "summary": s.summary,
             "roles": [r.name for r in Role if r in s.roles], "states": [st.name for st in State if st in s.states],
            "approved": s.approved, "not_approved_when": s.not_approved_when,
            "audit_category": s.audit_category.name,
            "allowed_when_audit_full": s.allowed_when_audit_full, "key_scope": s.key_scope.name,
             "ssps": [{"ssp": u.ssp, "access": u.access.letters()} for u in s.ssps],
             "params": [{"name": x.name, "type": x.type.value, "required": x.required, "secret": x.secret,
                         **({"enum": x.enum.__name__} if x.enum is not None else {})} for x in s.params]}
            for s in specs
        ],
        "ssps": [_ssp_json(d, x) for x in d.ssps],
        "flash_objects": [{"name": f.name, "holds": f.holds, "ssps": f.ssps, "pending": f.pending}
                          for f in FLASH_OBJECTS],
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
                 "compiled_files": "each cached or bare .pyc and extension file the interpreter would load must "
                                   "be the compile of its sealed source (none without one)",
                 "on_failure": State.HARD_ERROR.name},
                {"name": "entropy start-up", "samples": int(e["startup_samples"]), "on_failure": State.SOFT_ERROR.name},
            ],
            "conditional": [
                {"name": "HMAC_DRBG health test", "type": "CAST", "on_failure": State.SOFT_ERROR.name},
                *({"name": x.name, "type": "CAST", "algorithm": x.algorithm, "direction": x.direction,
                   "implementation": x.implementation, "standard": x.standard, "known_answer_source": cast_source(x.name),
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
        "module_config": {"max_sessions": c.max_sessions, "max_sessions_per_operator": c.max_sessions_per_operator,
                          "officer_reserved_sessions": c.officer_reserved_sessions,
                          "max_unfinished_logins": c.max_unfinished_logins, "login_guard_s": c.login_guard_s,
                          "session_idle_timeout_s": c.session_idle_timeout_s,
                          "handshake_timeout_s": c.handshake_timeout_s, "max_keys": c.max_keys,
                          "max_random_bytes": c.max_random_bytes},
        **policy_additions(d),
    }


def policy_json_text(d: Declarations | None = None) -> str:
    return json.dumps(policy_document(d), indent=2, ensure_ascii=False) + "\n"


def _table_rows(table: str) -> list[list[str]]:
    """A generated Markdown table's body rows as cells (the JSON reuses the tables' text)."""
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def _environment_json(d: Declarations) -> dict[str, Any]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return {"requires_python": project["requires-python"], "dependencies": list(project["dependencies"]),
            "generated_against": dict(d.environment),
            "module_version": FIRMWARE_VERSION, "module_version_sealed": "module/version.py is covered by the seal"}


def policy_additions(d: Declarations) -> dict[str, Any]:
    """The sections added in the template's form, for the cmsim JSON."""
    return {
        "operational_environment": _environment_json(d),
        "acvp": [{"registration": e, "cast": _cast_names(d, _acvp_key(e)), "registered_by_lab": registered}
                 for e, registered in acvp_entries()],
        "vendor_affirmed": [dict(zip(("name", "reference", "keys", "used_by"), r))
                            for r in _table_rows(vendor_affirmed(d))],
        "non_approved_allowed": [],
        "no_security_claimed": [{"algorithm": a, "use": u, "why": w} for a, u, w in NO_SECURITY_CLAIMED],
        "non_approved_not_allowed": [
            {"algorithm": _non_approved(s)[0], "service": s.command.name,
             "why": _non_approved(s)[1]} for s in sorted(d.specs, key=lambda s: int(s.command))
            if not s.approved],
        "not_applicable": [dict(zip(("item", "status", "why"), r)) for r in _table_rows(not_applicable(d))],
        "factory_operator_services": [{"service": s.command.name, "needs_audit_key": s.command in NEEDS_AUDIT_KEY}
                                      for s in factory_services(d)],
        "critical_functions": [dict(zip(("name", "when", "checks", "on_failure"), r)) for r in CRITICAL_FUNCTIONS],
        "periodic_self_test": PERIODIC_SELF_TEST,
        "storage_areas": [{"name": a.name, "description": a.description, "persistence": a.persistence}
                          for a in STORAGE_AREAS],
        "ssp_input_output": [{"name": m.name, "from": m.source, "to": m.destination, "format": m.format,
                              "distribution": m.distribution, "entry": m.entry, "protected_by": m.related}
                             for m in SSP_IO],
        "ssp_zeroisation": [{"method": z.name, "description": z.description, "rationale": z.rationale,
                             "operator_initiation": z.operator_initiated} for z in ZEROISATION_METHODS],
    }


PERIODIC_SELF_TEST = ("none automatic: the module runs no self-test on a timer; an operator runs them all at any "
                      "time with SELF_TEST (in the states that allow it) or by a power cycle")
AMVP_SCHEMA_VERSION = "2.8.4"  # cisco/libamvp metadata/sp.json, the shape this document follows


def _amvp_roles(spec: ServiceSpec) -> list[Role]:
    return [r for r in Role if r in spec.roles]


def _amvp_service(d: Declarations, spec: ServiceSpec) -> dict[str, Any]:
    ssps = [s for s in d.ssps if not s.pending]
    return {
        "name": spec.name, "description": spec.summary,
        "indicator": "APPROVED flag set in the response header" if spec.approved else "APPROVED flag clear",
        "inputs": ", ".join(p.name for p in spec.params) or "none",
        "outputs": "status code; the service's results",
        "secFunImplList": _amvp_functions_of(spec.command) or ["None"],
        "roleSspAccessList": [
            {"roleName": ROLE_LABEL[r],
             "sspAccessList": [{"sspName": s.name, "accessType": list(a.access.letters())}
                               for s in ssps for a in s.access if a.command is spec.command]}
            for r in _amvp_roles(spec)],
    }


def _amvp_functions_of(command: Command) -> list[str]:
    return [name for name, info in ALGORITHMS.items() if command in info.services]


def _amvp_self_tests(d: Declarations) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    period, method = "power-on, and SELF_TEST on demand", "manual (SELF_TEST) or power cycle"
    indicator = "SELF_TEST_RESULT audit event; GET_STATUS state and last_error; SELF_TEST answers passed"
    pre = [{"algorithmOrTest": "HMAC-SHA2-256", "testProps": f"{len(INTEGRITY_KEY) * 8}-bit key",
            "testMethod": "Software Integrity Test", "type": "SW/FW Integrity", "indicator": indicator,
            "details": "HMAC-SHA-256 over the module's code against the install-time seal",
            "period": period, "periodicMethod": method},
           {"algorithmOrTest": "entropy source", "testProps": f"{int(d.entropy['startup_samples'])} samples",
            "testMethod": "SP 800-90B start-up test (RCT, APT)", "type": "Entropy start-up", "indicator": indicator,
            "details": "samples discarded after the test", "period": period, "periodicMethod": method}]
    cond = [{"algorithmOrTest": c.algorithm, "testProps": c.direction, "testMethod": "KAT", "type": "CAST",
             "indicator": indicator, "details": c.name, "conditions": "power-on, before any service; SELF_TEST",
             "coverage": [c.algorithm], "coverageNotes": f"known answer from {cast_source(c.name)}",
             "period": period, "periodicMethod": method} for c in d.casts]
    cond.append({"algorithmOrTest": "HMAC_DRBG", "testProps": "SHA-256", "testMethod": "KAT (SP 800-90A 11.3)",
                 "type": "CAST", "indicator": indicator, "details": "instantiate, reseed, generate; uninstantiate",
                 "conditions": "power-on; SELF_TEST", "coverage": ["HMAC_DRBG"], "coverageNotes": "",
                 "period": period, "periodicMethod": method})
    cond.append({"algorithmOrTest": ", ".join(kt.name for kt in KeyType if kt in ASYMMETRIC_KEY_TYPES),
                 "testProps": "every key pair", "testMethod": "PCT", "type": "PCT", "indicator": "PCT_RESULT audit "
                 "event; a failure answers SELF_TEST_FAILED", "details": "sign and verify, or encapsulate and "
                 "decapsulate", "conditions": "key-pair generation and import", "coverage": [], "coverageNotes": "",
                 "period": "on every key-pair generation and import", "periodicMethod": "conditional"})
    for name, cutoff in (("Repetition Count Test", "rct_cutoff"), ("Adaptive Proportion Test", "apt_cutoff")):
        cond.append({"algorithmOrTest": "entropy source", "testProps": f"cut-off {int(d.entropy[cutoff])}",
                     "testMethod": name, "type": "Continuous", "indicator": "ENTROPY_HEALTH_FAILURE audit event",
                     "details": "SP 800-90B 4.4", "conditions": "every noise-source sample", "coverage": [],
                     "coverageNotes": "", "period": "continuous", "periodicMethod": "continuous"})
    return pre, cond


def amvp_document(d: Declarations | None = None) -> dict[str, Any]:
    """The policy shaped like the AMVP security-policy JSON (cisco/libamvp's metadata/sp.json):
    the same lists, with no certificate numbers (there are none)."""
    d = d or Declarations()
    e = d.environment
    specs = sorted(d.specs, key=lambda s: int(s.command))
    pre, cond = _amvp_self_tests(d)
    return {"securityPolicy": {
        "schemaVersion": AMVP_SCHEMA_VERSION,
        "statement": "cmsim is a simulation; not a validated module: no certificate, no CAVP validation",
        "testedSwFwHyList": [{"packageFileName": "module/ (Python package)", "swFwVersion": FIRMWARE_VERSION,
                              "features": "", "integrityTest": "HMAC SHA2-256"}],
        "opEnvSwFwHyTestedList": [{
            "operatingSystem": "general-purpose operating system", "hardwarePlatform": "general-purpose computer",
            "processors": "any", "paaPai": "No",
            "hypervisorHostOs": "", "swFwVersionList": [FIRMWARE_VERSION],
            "runtime": f"{e['python_implementation']} {e['python']}; cryptography {e['cryptography']} (OpenSSL "
                       f"{e['cryptography_openssl']}); hashlib on OpenSSL {e['hashlib_openssl']}"}],
        "modeOfOpList": [{"name": "Approved Mode", "description": "the OPERATIONAL state", "type": "Approved",
                          "statusIndicator": "GET_STATUS approved_mode true; APPROVED flag on each approved answer"}],
        "vendorAffirmedAlgoList": [{"name": r[0], "implName": MODULE_NAME, "reference": r[1],
                                    "algoPropList": [{"name": "Keys", "value": r[2]}]}
                                   for r in _table_rows(vendor_affirmed(d))],
        "nonApprovedAllowedAlgoList": [],
        "nonApprovedAllowedAlgoNSCList": [{"name": a, "use": u, "reason": w} for a, u, w in NO_SECURITY_CLAIMED],
        "nonApprovedNotAllowedAlgoList": [{"name": _non_approved(s)[0], "use": s.command.name,
                                           "reason": _non_approved(s)[1]}
                                          for s in specs if not s.approved],
        "secFunImplList": [
            {"name": algorithm, "description": ", ".join(x for x in (_commands(info.services), info.internal) if x),
             "algorithmList": [{"algoDisplayName": _acvp_key(entry), "implName": MODULE_NAME,
                                "algoPropList": [{"name": k, "value": _acvp_value(v)} for k, v in entry.items()
                                                 if k not in ("algorithm", "mode")]}
                               for entry, _ in acvp_entries() if algorithm in ACVP_CAST[_acvp_key(entry)]]}
            for algorithm, info in ALGORITHMS.items()],
        "portInterfaceList": [{"physicalPort": "serial line (pty, tty or TCP socket)", "dataPasses": carried,
                               "logicalInterfaceList": [name.title()]}
                              for name, carried in _table_rows(interfaces(d)) if name != "power"],
        "roleList": [{"name": ROLE_LABEL[r], "type": "Role", "operatorType": ROLE_LABEL[r],
                      "authMethodList": [ROLE_DUTIES[r][1]]} for r in Role],
        "approvedServiceList": [_amvp_service(d, s) for s in specs if s.approved],
        "nonApprovedServiceList": [_amvp_service(d, s) for s in specs if not s.approved],
        "storageAreaList": [{"name": a.name, "description": a.description, "persistenceType": a.persistence}
                            for a in STORAGE_AREAS],
        "sspInputOutputList": [{"name": m.name, "from": m.source, "to": m.destination, "formatType": m.format,
                                "distributionType": m.distribution, "entryType": m.entry, "relatedSFI": m.related}
                               for m in SSP_IO],
        "sspZeroizationList": [{"method": z.name, "description": z.description, "rationale": z.rationale,
                                "operatorInitiation": "Allowed" if z.operator_initiated else "Not allowed"}
                               for z in ZEROISATION_METHODS],
        "sspList": [{"name": s.name, "description": s.type, "size": s.size, "strength": s.strength, "type": s.type,
                     "generatedByList": [s.generated_by] if s.generated_by != "none" else [],
                     "establishedByList": [s.established_by] if s.established_by != "none" else [],
                     "usedByList": [s.used_by], "inputOutputList": [*s.inputs, *s.outputs],
                     "storageItemList": [{"areaName": a, "format": "Plaintext", "algorithmName": ""}
                                         for a in s.storage],
                     "storageDuration": s.duration, "zeroizationList": list(s.zeroisation),
                     "category": "Public Key" if s.category == "PSP" else s.category,
                     "pending": s.pending} for s in d.ssps],
        "preOpSelfTestList": pre,
        "condSelfTestList": cond,
        "periodicSelfTest": PERIODIC_SELF_TEST,
        "errorStateList": [{"name": st.name, "description": _meaning(st),
                            "conditions": sorted({t.name for _, t in _triggers_into(d, st)}),
                            "recoveryMethod": _leaves(d, st), "indicator": ERROR_INDICATOR}
                           for st in State if st in ERROR_STATES],
    }}


def amvp_json_text(d: Declarations | None = None) -> str:
    return json.dumps(amvp_document(d), indent=2, ensure_ascii=False) + "\n"


def _self_check() -> None:
    """Fail loudly (rather than write a wrong table) when a declaration has no description here."""
    missing = [a for a in _casts_by_algorithm(CASTS) if a not in ALGORITHMS]
    missing += [kt.name for kt in KeyType if kt not in KEY_TYPE_ALGORITHM]
    missing += [s.command.name for s in SPECS if not s.approved and s.command not in NON_APPROVED_ALGORITHMS]
    missing += [_acvp_key(e) for e, _ in acvp_entries() if _acvp_key(e) not in ACVP_CAST]
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
    # --check compares against the versions the committed policy records (another machine's
    # interpreter may differ); `make docs` records the versions it runs on.
    recorded = committed_environment() if check else None
    d = Declarations(environment=recorded) if recorded else Declarations()
    wanted = {POLICY_MD: render(POLICY_MD.read_text(encoding="utf-8"), d), POLICY_JSON: policy_json_text(d),
              POLICY_PACKAGE_JSON: policy_json_text(d), POLICY_AMVP: amvp_json_text(d)}
    stale = [path for path, content in wanted.items()
             if not path.exists() or path.read_text(encoding="utf-8") != content]
    if check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
    print(f"{POLICY_MD.relative_to(ROOT)}, {POLICY_JSON.relative_to(ROOT)} (and {POLICY_PACKAGE_JSON.relative_to(ROOT)}), "
          f"{POLICY_AMVP.relative_to(ROOT)}: "
          f"{'rewrote ' + str(len(stale)) if stale else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
