"""The module's SSPs, declared once: what each is, where it lives, how it enters, leaves and is
zeroised, and which services touch it how (SP 800-140B, the CMVP security-policy template's SSP
tables). The security policy's SSP tables and its AMVP JSON are generated from here.

The service catalogue names SSPs coarsely (``SspUse("stored keys", ...)``); each SSP here says
which of those names it belongs to (:attr:`Ssp.group`) and what each service does to it. The tests
check that, per service, the accesses declared here add up to what the catalogue declares, and
that the flash names declared here are exactly the objects a running module writes.

Declarations, not code: nothing in the module reads this file, so it changes no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

from module import keystore, operators
from module.audit.ring import META_NAME, REGION_NAME
from module.audit_key import AUDIT_KEY_FLASH_NAME
from module.algorithms.approved import PRIVATE_KEY_SIZES, PUBLIC_KEY_SIZES
from module.drbg import OUTLEN
from module.factory import MODULE_SECRET_FLASH_NAME
from module.integrity import INTEGRITY_KEY
from module.operators import AuthPolicy
from module.power import BOOT_FLASH_NAME
from module.services.keys import SYMMETRIC_KEY_SIZES
from module.wire.defs import Command as C
from module.wire.defs import KeyType as K
from module.wire.defs import SspAccess
from module.identity import IDENTITY_FLASH_NAME, SEED_SIZE
from module.wire.handshake import AUTH_KEY_SIZE, EPHEMERAL_SIZE, SALT_SIZE

__all__ = [
    "StorageArea", "SspIo", "ZeroisationMethod", "Access", "Ssp", "FlashObject",
    "STORAGE_AREAS", "SSP_IO", "ZEROISATION_METHODS", "FLASH_OBJECTS", "SSPS",
    "CHANNEL_COPIES_SURVIVE_ZEROISE",
]

G, R, W, E, Z = SspAccess.G, SspAccess.R, SspAccess.W, SspAccess.E, SspAccess.Z


# The endpoint copies each session's direction keys into AES-GCM objects; it drops them, with the
# session's last encrypted response, as soon as the module no longer holds the session (LOGOUT,
# ZEROISE, expiry), so ZEROISE reaches them. tests/test_policy_ssps.py checks this flag against a
# running module both ways.
CHANNEL_COPIES_SURVIVE_ZEROISE = False


@dataclass(frozen=True)
class StorageArea:
    """The template's "Storage Areas" table (AMVP ``storageAreaList``)."""

    name: str
    description: str
    persistence: str  # "Dynamic" (lost at power-off) or "Static"


@dataclass(frozen=True)
class SspIo:
    """One SSP input/output method (AMVP ``sspInputOutputList``)."""

    name: str
    source: str
    destination: str
    format: str  # Plaintext or Encrypted
    distribution: str  # Manual or Automated
    entry: str  # Electronic
    related: str  # the security function that protects it, if any


@dataclass(frozen=True)
class ZeroisationMethod:
    """One SSP zeroisation method (AMVP ``sspZeroizationList``)."""

    name: str
    description: str
    rationale: str
    operator_initiated: bool


@dataclass(frozen=True)
class Access:
    """What one service does to one SSP (G, R, W, E, Z)."""

    command: C
    access: SspAccess


@dataclass(frozen=True)
class FlashObject:
    """One named object in the module's flash and what it holds."""

    name: str
    holds: str
    ssps: bool  # holds SSPs (else only non-secret state)
    pending: bool = False  # declared ahead of the code that writes it (see IDENTITY_FLASH_NAME)


@dataclass(frozen=True)
class Ssp:
    """One SSP, with the columns of the template's SSP table."""

    name: str
    category: str  # CSP or PSP
    type: str
    size: str
    strength: str
    generated_by: str
    established_by: str
    used_by: str
    inputs: tuple[str, ...]  # SspIo names
    outputs: tuple[str, ...]
    storage: tuple[str, ...]  # StorageArea names
    flash: tuple[str, ...]  # flash object names
    duration: str
    zeroisation: tuple[str, ...]  # ZeroisationMethod names
    access: tuple[Access, ...]
    group: str = ""  # the name the service catalogue uses for it, if it uses one
    survives_zeroise: bool = False
    pending: bool = False  # declared ahead of the code that holds it


RAM, FLASH, CODE = "RAM", "flash", "code image"
STORAGE_AREAS: tuple[StorageArea, ...] = (
    StorageArea(RAM, "the device process's memory (Python objects; bytearrays where the module wipes them)",
                "Dynamic"),
    StorageArea(FLASH, "the simulated flash: a state directory of named objects replaced atomically, and the "
                       "audit ring region written in place; not encrypted", "Static"),
    StorageArea(CODE, "the module's own sealed code (constants)", "Static"),
)

CHANNEL_IN, PASSWORD_IN = "secure channel input", "password entry"
KWP_IN, KWP_OUT = "AES-KWP wrapped input", "AES-KWP wrapped output"
CLEAR_OUT, CLEAR_IN = "plaintext output", "plaintext input"
NOISE_IN = "noise source"
SSP_IO: tuple[SspIo, ...] = (
    SspIo(PASSWORD_IN, "operator (host)", RAM, "Encrypted", "Manual", "Electronic",
          "AES-256-GCM secure channel (session keys)"),
    SspIo(KWP_IN, "operator (host)", f"{RAM}, {FLASH}", "Encrypted", "Manual", "Electronic",
          "AES-256-KWP under a stored AES-256 key (KEY_IMPORT)"),
    SspIo(KWP_OUT, FLASH, "operator (host)", "Encrypted", "Manual", "Electronic",
          "AES-256-KWP under a stored AES-256 key (KEY_EXPORT)"),
    SspIo(CLEAR_IN, "operator (host)", RAM, "Plaintext", "Manual", "Electronic", "none: public keys only"),
    SspIo(CLEAR_OUT, RAM, "operator (host)", "Plaintext", "Automated", "Electronic", "none: public keys only"),
    SspIo(NOISE_IN, "simulated noise source (outside the boundary)", RAM, "Plaintext", "Automated", "Electronic",
          "SP 800-90B health tests"),
)

Z_SERVICE, Z_DELETE, Z_REPLACE, Z_SESSION, Z_POWER, Z_USE, Z_NONE = (
    "ZEROISE service", "delete service", "replacement", "session end", "power-off", "after use", "none")
ZEROISATION_METHODS: tuple[ZeroisationMethod, ...] = (
    ZeroisationMethod(Z_SERVICE, "`ZEROISE` (Crypto Officer): RAM copies overwritten in place, flash objects "
                                 "deleted; the module then waits in `ZEROISED` for a power cycle",
                      "nothing the service reaches can be used or output afterwards", True),
    ZeroisationMethod(Z_DELETE, "`KEY_DELETE` or `OPERATOR_DELETE`: the one SSP overwritten in RAM and "
                                "removed from its flash object", "the SSP is no longer reachable by any service",
                      True),
    ZeroisationMethod(Z_REPLACE, "a new value overwrites the old one in RAM and replaces it in flash (password "
                                 "change, `INITIALISE` removing the factory operator, audit key handover)",
                      "the old value is no longer held", True),
    ZeroisationMethod(Z_SESSION, "`LOGOUT`, idle or handshake timeout, eviction of an unfinished login, lockout, "
                                 "`OPERATOR_DELETE`: the session's keys overwritten in the session table; the "
                                 "endpoint's AES-GCM copies and the session's last encrypted response released "
                                 "when that call completes",
                      "a closed session cannot be used again", True),
    ZeroisationMethod(Z_POWER, "power-off: the process ends and every RAM copy the module owns is overwritten "
                               "first", "authentication and every volatile SSP are forgotten", True),
    ZeroisationMethod(Z_USE, "overwritten or dropped as soon as the operation that needs it has finished",
                      "held only for the duration of one operation", False),
    ZeroisationMethod(Z_NONE, "not zeroised", "a published constant: it protects nothing secret", False),
)

FLASH_OBJECTS: tuple[FlashObject, ...] = (
    FlashObject(BOOT_FLASH_NAME, "the boot counter (never reset)", False),
    FlashObject(operators.FLASH_NAME, "operators: id, role, salt, iterations, verifier, failure count, lock", True),
    FlashObject(keystore.FLASH_NAME, "stored keys and their attributes", True),
    FlashObject(AUDIT_KEY_FLASH_NAME, "the audit signing key's seed", True),
    FlashObject(MODULE_SECRET_FLASH_NAME, "the enumeration secret", True),
    FlashObject(IDENTITY_FLASH_NAME, "the device identity key's Ed25519 seed", True),
    FlashObject(REGION_NAME, "the audit ring: fixed-size slots of hash-chained records (no SSPs)", False),
    FlashObject(META_NAME, "the audit ring's metadata: acknowledged and retained range, counters, policy", False),
)

# --- groups of the service catalogue ----------------------------------------------------------
STORED = "stored keys"
OPERATOR_KEYS = "operator verifiers"
IDENTITY = "identity key"
SESSION = "session keys"
DRBG = "DRBG state"
AUDIT_KEY = "audit signing key"

_KEY_LIFE = (Access(C.KEY_DELETE, Z), Access(C.ZEROISE, Z))
_GENERATED = "`KEY_GENERATE` (DRBG, CKG per SP 800-133 Rev. 2)"
_EXPORT = ("`KEY_EXPORT` by its owner when exportable (inherited: never more exportable than its inputs), "
           "wrapped under a key not known outside the module, or under one when it is itself known outside")


def _stored(name: str, type_: str, size: str, strength: str, generated: str, established: str, used: str,
            access: tuple[Access, ...]) -> Ssp:
    """A key in the key store: every type enters and leaves the same ways and is zeroised the same ways."""
    return Ssp(name, "CSP", type_, size, strength, generated, established, used, (KWP_IN,), (KWP_OUT,), (RAM, FLASH),
               (keystore.FLASH_NAME,), "until deleted or zeroised (RAM copy until power-off)",
               (Z_DELETE, Z_SERVICE, Z_POWER),
               (Access(C.KEY_IMPORT, W), Access(C.KEY_EXPORT, R), *access, *_KEY_LIFE), group=STORED)


def _bits(n_bytes: int, what: str = "") -> str:
    return f"{n_bytes * 8}-bit {what}".strip() if what else f"{n_bytes * 8} bits"


def _private(kt: K) -> str:
    return _bits(PRIVATE_KEY_SIZES[kt], "seed" if kt in (K.ED25519, K.ML_DSA_65, K.ML_KEM_768) else "")


_AUTH = AuthPolicy()
_SESSION_STRENGTH = "128 bits (ECDH P-256)"
_SESSION_DURATION = "one session" + (
    "; the endpoint's AES-GCM copy, with the last encrypted response, stays for closed sessions until a "
    "power cycle (`LOGOUT` and `ZEROISE` do not reach it)" if CHANNEL_COPIES_SURVIVE_ZEROISE
    else " (the endpoint's AES-GCM copies and the last encrypted response go with it)")
_SIGNING = (Access(C.KEY_GENERATE, G | W), Access(C.SIGN, E), Access(C.VERIFY, E))

SSPS: tuple[Ssp, ...] = (
    # --- authentication ---------------------------------------------------------------------------
    Ssp("operator password", "CSP", "authentication data",
        f"{_AUTH.min_password_length} to {_AUTH.max_password_length} characters",
        f"one in {_AUTH.alphabet_size}^{_AUTH.min_password_length} per random guess (section 4.2)", "chosen by the operator", "none",
        "`INITIALISE`, `OPERATOR_CREATE`, `OPERATOR_CHANGE_PASSWORD` (PBKDF2 input)",
        (PASSWORD_IN,), (), (RAM,), (), "the one call that sets it; never stored", (Z_USE,),
        (Access(C.INITIALISE, W | E), Access(C.OPERATOR_CREATE, W | E), Access(C.OPERATOR_CHANGE_PASSWORD, W | E))),
    Ssp("operator verifier", "CSP", f"HMAC-SHA-256 of the PBKDF2 auth key, with its {_bits(SALT_SIZE, 'salt')}",
        _bits(32), "that of the password",
        "PBKDF2 (SP 800-132) of the password gives the auth key, whose HMAC is kept; the factory operator's from "
        "the documented factory password at the first power-on; a protocol-1 entry (the auth key itself) is turned "
        "into its verifier when the operators are loaded", "none",
        "`AUTH_FINISH` (the host's auth key, as its HMAC, compared in constant time)", (PASSWORD_IN,), (), (RAM, FLASH),
        (operators.FLASH_NAME,), "until the operator is deleted or the password changed",
        (Z_DELETE, Z_REPLACE, Z_SERVICE, Z_POWER),
        (Access(C.AUTH_FINISH, E), Access(C.INITIALISE, G | W | Z), Access(C.OPERATOR_CREATE, G | W),
         Access(C.OPERATOR_DELETE, Z), Access(C.OPERATOR_CHANGE_PASSWORD, G | W | Z), Access(C.ZEROISE, Z)),
        group=OPERATOR_KEYS),
    Ssp("host auth key", "CSP", "PBKDF2-HMAC-SHA-256 of the password", _bits(AUTH_KEY_SIZE), "that of the password",
        "by the host, from the password and the salt the signed `AUTH_BEGIN` answer gave", "none",
        "`AUTH_FINISH` (checked against the operator verifier)", (PASSWORD_IN,), (), (RAM,), (),
        "one `AUTH_FINISH` call; never stored or recorded", (Z_USE,), (Access(C.AUTH_FINISH, W | E),)),
    Ssp("enumeration secret", "CSP", "module secret (SHA-256 key of the fake salts)", _bits(32), _bits(32),
        "DRBG, at the first power-on into the factory state", "none",
        "`AUTH_BEGIN` for an unknown operator id (a stable fake salt)", (), (), (RAM, FLASH),
        (MODULE_SECRET_FLASH_NAME,), "until zeroised", (Z_SERVICE, Z_POWER),
        (Access(C.AUTH_BEGIN, E), Access(C.ZEROISE, Z))),
    Ssp("device identity key", "CSP", "device identity key (Ed25519)", _bits(SEED_SIZE, "seed"), "128 bits",
        "DRBG, at the first power-on whose self-tests pass (pairwise consistency tested)", "none",
        "signs the login handshake's transcript (`AUTH_BEGIN`) and the identity statement (`IDENTITY`)",
        (), (), (RAM, FLASH), (IDENTITY_FLASH_NAME,), "the life of the device: survives `ZEROISE`", (Z_POWER,),
        (Access(C.AUTH_BEGIN, E), Access(C.IDENTITY, E)), group=IDENTITY, survives_zeroise=True),
    # --- sessions ---------------------------------------------------------------------------------
    Ssp("module ephemeral ECDH key", "CSP", "ECDH P-256 private key", _bits(32), "128 bits",
        "from 40 DRBG bytes, d = c mod (n - 1) + 1 (FIPS 186-5 A.2.1), one per login", "none",
        "`AUTH_BEGIN`: the shared secret with the host's ephemeral key", (), (), (RAM,), (),
        "one `AUTH_BEGIN` call", (Z_USE,), (Access(C.AUTH_BEGIN, G | E | Z),)),
    Ssp("ECDH shared secret (login)", "CSP", "shared secret Z", _bits(EPHEMERAL_SIZE // 2), "128 bits", "none",
        "ECDH P-256 (SP 800-56A Rev. 3) of the two ephemeral keys", "the SP 800-56C one-step KDF of the session keys",
        (), (), (RAM,), (), "one `AUTH_BEGIN` call", (Z_USE,), (Access(C.AUTH_BEGIN, G | E | Z),)),
    *(Ssp(f"session key {direction}", "CSP", "AES-256-GCM key", _bits(32), _SESSION_STRENGTH, "none",
          "SP 800-56C one-step KDF (SHA-256) of the login's ECDH shared secret, FixedInfo = label || the "
          "transcript hash the identity key signs",
          f"the secure channel: every message {direction} of the session", (), (), (RAM,), (),
          _SESSION_DURATION, (Z_SESSION, Z_SERVICE, Z_POWER),
          (Access(C.AUTH_BEGIN, G), Access(C.AUTH_FINISH, E), Access(C.LOGOUT, Z), Access(C.ZEROISE, Z)),
          group=SESSION)
      for direction in ("host-to-module", "module-to-host")),
    Ssp("session key-confirmation key", "CSP", "HMAC-SHA-256 key", _bits(32), _SESSION_STRENGTH, "none",
        "SP 800-56C one-step KDF, with the two direction keys", "`AUTH_FINISH` (the module's key confirmation)",
        (), (), (RAM,), (), "one session", (Z_SESSION, Z_SERVICE, Z_POWER),
        (Access(C.AUTH_BEGIN, G), Access(C.AUTH_FINISH, E), Access(C.LOGOUT, Z), Access(C.ZEROISE, Z)),
        group=SESSION),
    Ssp("session audit digest key", "CSP", "HMAC-SHA-256 key", _bits(32), _SESSION_STRENGTH, "none",
        "SP 800-56C one-step KDF (SHA-256) of the login's ECDH shared secret, with its own label "
        "(FixedInfo = label || the transcript hash)",
        "every call of the session: the key of its audit record's request and response digests, so that an "
        "export alone checks no guess at what a call carried", (), (), (RAM,), (), "one session",
        (Z_SESSION, Z_SERVICE, Z_POWER),
        (Access(C.AUTH_BEGIN, G), Access(C.AUTH_FINISH, E), Access(C.LOGOUT, Z), Access(C.ZEROISE, Z)),
        group=SESSION),
    # --- random bits ------------------------------------------------------------------------------
    Ssp("entropy input", "CSP", "entropy input and nonce (SP 800-90B samples)", "384-bit entropy input, 128-bit nonce",
        "as claimed for the noise source (section 2.7)", "none", "read from the noise source through the health tests",
        "HMAC_DRBG instantiate (power-on, `SELF_TEST`) and reseed (inside any call that needs random bits)",
        (NOISE_IN,), (), (RAM,), (), "one instantiate or reseed",
        (Z_USE, Z_POWER), (Access(C.SELF_TEST, G | E | Z),)),
    *(Ssp(f"DRBG {part}", "CSP", "HMAC_DRBG internal state", _bits(OUTLEN), _bits(OUTLEN),
          "HMAC_DRBG instantiate (SP 800-90A) from the entropy input", "none",
          "every random value: keys, IVs, salts, challenges, session ids", (), (), (RAM,), (),
          "until uninstantiated", (Z_SERVICE, Z_POWER, Z_REPLACE),
          (Access(C.SELF_TEST, G | Z), Access(C.AUTH_BEGIN, E), Access(C.INITIALISE, E),
           Access(C.OPERATOR_CREATE, E), Access(C.OPERATOR_CHANGE_PASSWORD, E), Access(C.KEY_GENERATE, E),
           Access(C.ENCRYPT, E), Access(C.RANDOM, E), Access(C.ZEROISE, Z)), group=DRBG)
      for part in ("V", "Key")),
    # --- stored keys, one per key type ------------------------------------------------------------
    _stored("AES-256 key", "AES key (encrypt, decrypt, wrap, unwrap)", _bits(SYMMETRIC_KEY_SIZES[K.AES_256]),
            _bits(SYMMETRIC_KEY_SIZES[K.AES_256]), _GENERATED,
            "`DERIVE`", "`ENCRYPT`, `DECRYPT`; `KEY_IMPORT` and `KEY_EXPORT` as the wrapping key",
            (Access(C.KEY_GENERATE, G | W), Access(C.KEY_IMPORT, E), Access(C.KEY_EXPORT, E), Access(C.ENCRYPT, E),
             Access(C.DECRYPT, E), Access(C.DERIVE, G | W))),
    *(_stored(f"HMAC-SHA-{kt.name[-3:]} key", "HMAC key", _bits(SYMMETRIC_KEY_SIZES[kt]),
              "256 bits" if kt is K.HMAC_SHA256 else "at least 256 bits", _GENERATED,
              "`DERIVE`", "`MAC_GENERATE`, `MAC_VERIFY`",
              (Access(C.KEY_GENERATE, G | W), Access(C.MAC_GENERATE, E), Access(C.MAC_VERIFY, E),
               Access(C.DERIVE, G | W)))
      for kt in (K.HMAC_SHA256, K.HMAC_SHA384, K.HMAC_SHA512)),
    _stored("generic secret", "KDF input key (derive only)", _bits(SYMMETRIC_KEY_SIZES[K.GENERIC_SECRET]),
            _bits(SYMMETRIC_KEY_SIZES[K.GENERIC_SECRET]), _GENERATED, "`DERIVE`",
            "`DERIVE` (HKDF, KBKDF)",
            (Access(C.KEY_GENERATE, G | W), Access(C.DERIVE, G | E | W))),
    _stored("ECDH P-256 shared secret", "shared secret (stored as a generic secret)", _bits(SYMMETRIC_KEY_SIZES[K.GENERIC_SECRET]),
            "128 bits", "none",
            "`KEY_AGREE` (KAS-ECC-SSC, SP 800-56A Rev. 3)", "`DERIVE`; " + _EXPORT,
            (Access(C.KEY_AGREE, G | W), Access(C.DERIVE, E))),
    _stored("ML-KEM-768 shared secret", "shared secret (stored as a generic secret)", _bits(SYMMETRIC_KEY_SIZES[K.GENERIC_SECRET]),
            "192 bits", "none",
            "`ENCAPSULATE`, `DECAPSULATE` (FIPS 203)", "`DERIVE`; " + _EXPORT,
            (Access(C.ENCAPSULATE, G | W), Access(C.DECAPSULATE, G | W), Access(C.DERIVE, E))),
    _stored("EC P-256 private key", "ECDSA signing and ECDH private key", _private(K.EC_P256), "128 bits", _GENERATED, "none",
            "`SIGN`, `VERIFY`, `KEY_AGREE`, `SIGN_ECDSA_SHA1` (non-approved)",
            (*_SIGNING, Access(C.KEY_AGREE, E), Access(C.SIGN_ECDSA_SHA1, E))),
    _stored("EC P-384 private key", "ECDSA signing key", _private(K.EC_P384), "192 bits", _GENERATED, "none",
            "`SIGN`, `VERIFY`", _SIGNING),
    _stored("Ed25519 private key", "EdDSA signing key", _private(K.ED25519), "128 bits", _GENERATED, "none",
            "`SIGN`, `VERIFY`", _SIGNING),
    _stored("ML-DSA-65 private key", "ML-DSA signing key (stored as its seed)", _private(K.ML_DSA_65), "192 bits",
            _GENERATED, "none", "`SIGN`, `VERIFY`", _SIGNING),
    _stored("ML-KEM-768 private key", "ML-KEM decapsulation key (stored as its seed)", _private(K.ML_KEM_768), "192 bits",
            _GENERATED, "none", "`DECAPSULATE`", (Access(C.KEY_GENERATE, G | W), Access(C.DECAPSULATE, E))),
    # --- audit ------------------------------------------------------------------------------------
    Ssp("audit signing key", "CSP", "Ed25519 private key", _private(K.ED25519), "128 bits",
        "DRBG at `INITIALISE`; a successor at `ZEROISE` (the old key signs the handover)", "none",
        "audit checkpoints (requested, periodic, at error entry) and the audit key statement", (), (),
        (RAM, FLASH), (AUDIT_KEY_FLASH_NAME,), "until replaced: the successor survives `ZEROISE`",
        (Z_REPLACE, Z_SERVICE, Z_POWER),
        (Access(C.INITIALISE, G | W), Access(C.AUDIT_CHECKPOINT, E), Access(C.ZEROISE, G | W | E | Z)),
        group=AUDIT_KEY, survives_zeroise=True),
    # --- public security parameters ---------------------------------------------------------------
    Ssp("audit public key", "PSP", "Ed25519 public key", _bits(PUBLIC_KEY_SIZES[K.ED25519]), "128 bits",
        "computed from the audit signing key", "none", "host-side verification of checkpoints", (), (CLEAR_OUT,),
        (RAM, FLASH), (AUDIT_KEY_FLASH_NAME,), "with the audit signing key", (Z_REPLACE,),
        (Access(C.AUDIT_PUBKEY, R), Access(C.AUDIT_CHECKPOINT, R))),
    Ssp("stored public keys", "PSP", "public halves of stored key pairs", "see the key types (section 9.5)",
        "as the private key", "computed from the private key at generation and import", "none",
        "`VERIFY` with a stored key; the peer side of a key pair", (), (CLEAR_OUT,), (RAM, FLASH),
        (keystore.FLASH_NAME,), "with the key pair", (Z_DELETE, Z_SERVICE, Z_POWER),
        (Access(C.KEY_GENERATE, G | R), Access(C.KEY_IMPORT, G | R), Access(C.KEY_ATTRIBUTES, R))),
    Ssp("device identity public key", "PSP", "Ed25519 public key", _bits(PUBLIC_KEY_SIZES[K.ED25519]), "128 bits",
        "computed from the device identity key", "none", "the host pins it (as ssh known_hosts)", (), (CLEAR_OUT,),
        (RAM, FLASH), (IDENTITY_FLASH_NAME,), "with the device identity key", (Z_POWER,),
        (Access(C.AUTH_BEGIN, R), Access(C.IDENTITY, R)), survives_zeroise=True),
    Ssp("peer public keys", "PSP", "public keys given by the caller", "as their key type", "as their key type",
        "none", "entered as a parameter", "`VERIFY`, `KEY_AGREE`, `ENCAPSULATE`", (CLEAR_IN,), (), (RAM,), (),
        "one call", (Z_USE,),
        (Access(C.VERIFY, W | E), Access(C.KEY_AGREE, W | E), Access(C.ENCAPSULATE, W | E))),
    Ssp("integrity test key", "PSP", "HMAC-SHA-256 key of the software integrity test",
        _bits(len(INTEGRITY_KEY)),
        "none claimed: a published constant", "none (a constant in `module/integrity.py`)", "none",
        "the pre-operational software integrity test", (), (), (CODE,), (), "the life of the code", (Z_NONE,),
        (Access(C.SELF_TEST, E),), survives_zeroise=True),
)
