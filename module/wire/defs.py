"""Every code that crosses the module boundary, one IntEnum per namespace.

These numbers are the module's published interface: the device and host tools both import them
and nothing else defines a code. Numbers are stable; new members only ever get new numbers.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, unique

__all__ = [
    "Command",
    "Status",
    "Role",
    "State",
    "AuditEvent",
    "AuditPolicy",
    "KeyType",
    "KeyUse",
    "DigestAlg",
    "KdfAlg",
    "LabAlgorithm",
    "SspAccess",
    "ASYMMETRIC_KEY_TYPES",
    "MAX_PARAM_LEN",
]

# The longest bytes or text parameter a service takes (64 KiB) where its declaration names no smaller one.
MAX_PARAM_LEN = 65536


@unique
class Command(IntEnum):
    """Service codes. Grouped by range: 0x00 public, 0x10 auth, 0x20 operators, 0x30 keys,
    0x40 crypto, 0x60 audit, 0x70 life cycle, 0xE0 non-approved, 0xF0 lab mode only."""

    GET_STATUS = 0x01  # state, counters, last error, version
    GET_VERSION = 0x02  # module name, firmware version, format versions
    SELF_TEST = 0x03  # re-run every pre-operational self-test and CAST on demand
    IDENTITY = 0x04  # the device identity key and its signed statement (serial, audit key, lab mode)
    AUTH_BEGIN = 0x10  # ECDH key establishment, signed by the identity key
    AUTH_FINISH = 0x11  # inside the new session: the auth key; the module's key confirmation back
    LOGOUT = 0x12  # close the session
    INITIALISE = 0x18  # factory CO replaces the factory credential, module enters approved mode
    OPERATOR_CREATE = 0x20
    OPERATOR_DELETE = 0x21
    OPERATOR_CHANGE_PASSWORD = 0x22
    OPERATOR_LIST = 0x23
    OPERATOR_UNLOCK = 0x24
    KEY_GENERATE = 0x30
    KEY_IMPORT = 0x31  # AES-KWP wrapped
    KEY_EXPORT = 0x32  # AES-KWP wrapped
    KEY_DELETE = 0x33
    KEY_LIST = 0x34
    KEY_ATTRIBUTES = 0x35  # attributes and, for key pairs, the public key
    ENCRYPT = 0x40  # AES-256-GCM
    DECRYPT = 0x41
    SIGN = 0x42  # ECDSA P-256/P-384, Ed25519, ML-DSA-65
    VERIFY = 0x43  # with a stored key or a given public key
    MAC_GENERATE = 0x44  # HMAC-SHA-256/384/512
    MAC_VERIFY = 0x45
    DIGEST = 0x46  # SHA-2, SHA-3
    RANDOM = 0x47  # SP 800-90A HMAC_DRBG output
    DERIVE = 0x48  # HKDF, SP 800-108 KBKDF
    KEY_AGREE = 0x49  # ECDH P-256
    ENCAPSULATE = 0x4A  # ML-KEM-768 to a given public key
    DECAPSULATE = 0x4B  # ML-KEM-768 with a stored key
    AUDIT_PUBKEY = 0x60  # the audit public key with its self-signed statement of the serial
    AUDIT_EXPORT = 0x61  # a page of records from a sequence number, with its chain anchor
    AUDIT_CHECKPOINT = 0x62  # a signed checkpoint now, binding a host nonce
    AUDIT_ACK = 0x63  # acknowledge (seq, chain head at seq): frees those slots
    AUDIT_SET_POLICY = 0x64  # full-ring policy (block or wrap) and high-water mark
    ZEROISE = 0x70
    DIGEST_SHA1 = 0xE0  # SHA-1 digest (approved for non-signature uses)
    SIGN_ECDSA_SHA1 = 0xE1  # non-approved: ECDSA with SHA-1
    LAB_ALGORITHM_TEST = 0xF0  # lab mode only: HMAC_DRBG or PBKDF2 on caller-given inputs (ACVP)


@unique
class Status(IntEnum):
    """Outcome of a request. 0x0x request, 0x1x state, 0x2x authentication, 0x3x keys,
    0x4x crypto, 0x5x self-test, 0x6x audit, 0x7x resources."""

    OK = 0x00  # the service ran
    UNKNOWN_COMMAND = 0x01  # no service has this code
    INVALID_PARAMETER = 0x02  # a parameter is missing, of the wrong type or out of range
    BAD_FRAME = 0x03  # a frame failed its CRC, length or version check (nothing was run)
    INVALID_STATE = 0x10  # the service is not available in the module's current state
    MODULE_ERROR = 0x11  # the module is in an error state: no data output
    NOT_AUTHENTICATED = 0x20  # the service needs an authenticated session
    ACCESS_DENIED = 0x21  # the session's role may not call this service
    AUTH_FAILED = 0x22  # authentication failed (no hint which part was wrong)
    AUTH_DELAYED = 0x23  # too soon after a failed attempt; wait and retry
    OPERATOR_LOCKED = 0x24  # too many failures; a Crypto Officer must unlock
    SESSION_INVALID = 0x25  # unknown, closed or expired session
    SESSION_LIMIT = 0x26  # no free session slot
    CREDENTIAL_REJECTED = 0x27  # new password too weak, or the factory credential kept
    OPERATOR_EXISTS = 0x28  # an operator with this id exists already
    OPERATOR_NOT_FOUND = 0x29  # no operator with this id
    LAST_CRYPTO_OFFICER = 0x2A  # deleting this operator would leave no Crypto Officer
    MESSAGE_REJECTED = 0x2B  # secure channel: replayed, reordered, altered or unprotected message
    KEY_NOT_FOUND = 0x30  # no stored key with this id
    KEY_USE_DENIED = 0x31  # the key's attributes forbid this use
    KEY_NOT_EXPORTABLE = 0x32  # the key was not made exportable
    KEY_TYPE_MISMATCH = 0x33  # the key's type does not fit the service or algorithm
    KEYSTORE_FULL = 0x34  # the key store holds its maximum number of keys
    KEY_USAGE_EXHAUSTED = 0x35  # the key reached its invocation limit (AES-GCM, random IVs: 2^32); make a new key
    DECRYPT_FAILED = 0x40  # authentication tag or key-wrap integrity check failed
    INVALID_KEY_DATA = 0x41  # imported or given key material is malformed
    SELF_TEST_FAILED = 0x50  # a self-test failed; the module entered an error state
    ENTROPY_FAILURE = 0x51  # an SP 800-90B health test failed
    AUDIT_FULL = 0x60  # the audit ring is full under the block policy
    AUDIT_DIGEST_MISMATCH = 0x61  # an acknowledgement did not match the chain
    FLASH_FAILURE = 0x70  # persistent storage failed; nothing was changed
    INTERNAL_ERROR = 0x7F  # a defect; the module entered an error state


@unique
class Role(IntEnum):
    """Who a session acts as. NONE is the unauthenticated caller."""

    NONE = 0
    CRYPTO_OFFICER = 1
    USER = 2
    AUDITOR = 3


@unique
class State(IntEnum):
    """FIPS 140-3 module states (ISO/IEC 19790 7.2.4)."""

    POWER_OFF = 0
    SELF_TEST = 1  # pre-operational self-tests running; only status is output
    UNINITIALISED = 2  # factory state: awaiting Crypto Officer initialisation
    OPERATIONAL = 3  # approved mode of operation
    SOFT_ERROR = 4  # a CAST, entropy, DRBG or pairwise test failed; left by a passing on-demand self-test
    HARD_ERROR = 5  # integrity or persistent-state failure; left by a power cycle (or zeroise, from an open session)
    ZEROISED = 6  # every SSP wiped; left only by a power cycle (to UNINITIALISED)


@unique
class AuditEvent(IntEnum):
    """Events that leave audit records without being a service call."""

    POWER_ON = 0x1001
    POWER_OFF = 0x1002
    STATE_CHANGE = 0x1003
    SELF_TEST_RESULT = 0x1004  # one per self-test: integrity, each CAST, DRBG, entropy
    PCT_RESULT = 0x1005  # pairwise consistency test on key-pair generation/import
    ENTROPY_HEALTH_FAILURE = 0x1006
    LOGIN_SUCCESS = 0x1007
    LOGIN_FAILURE = 0x1008
    OPERATOR_LOCKOUT = 0x1009
    SESSION_EXPIRED = 0x100A
    ERROR_ENTERED = 0x100B
    ZEROISATION = 0x100C
    FAULT_INJECTED = 0x100D
    AUDIT_RING_CORRUPTED = 0x100E  # the ring failed verification at boot (kept in status; see core)
    AUDIT_TORN_SLOT = 0x100F  # a torn append (power lost mid-write) was discarded at boot
    AUDIT_KEY_ROTATED = 0x1010  # zeroisation handed the audit trail over to a new signing key


@unique
class AuditPolicy(IntEnum):
    """What the module does when the audit ring is full."""

    BLOCK = 1  # refuse all but status, login and the drain services until records are acknowledged
    WRAP = 2  # overwrite the oldest records after a checkpoint, and chain a LOSS record naming them

    @property
    def label(self) -> str:
        """How people and files spell it (CLI argument, status JSON, audit detail): "block", "wrap"."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> AuditPolicy:
        """The policy spelt exactly ``label``; ValueError for any other spelling."""
        for policy in cls:
            if policy.label == label:
                return policy
        raise ValueError(f"unknown audit policy {label!r}")


@unique
class KeyType(IntEnum):
    AES_256 = 1  # AES-256-GCM and AES-KWP wrapping
    HMAC_SHA256 = 2
    HMAC_SHA384 = 3
    HMAC_SHA512 = 4
    GENERIC_SECRET = 5  # derivation input: shared secrets, KDF outputs
    EC_P256 = 10
    EC_P384 = 11
    ED25519 = 12
    ML_DSA_65 = 13
    ML_KEM_768 = 14


ASYMMETRIC_KEY_TYPES = frozenset(
    {KeyType.EC_P256, KeyType.EC_P384, KeyType.ED25519, KeyType.ML_DSA_65, KeyType.ML_KEM_768}
)


class KeyUse(IntFlag):
    """What a stored key may be used for (a key attribute, checked on every use)."""

    NONE = 0
    ENCRYPT = 0x001
    DECRYPT = 0x002
    SIGN = 0x004
    VERIFY = 0x008
    MAC = 0x010
    DERIVE = 0x020
    WRAP = 0x040
    UNWRAP = 0x080
    AGREE = 0x100
    DECAPSULATE = 0x200
    # Non-approved signatures (ECDSA with SHA-1) only: a key marked so is used by no approved
    # service, and a key made for approved use is used by no non-approved service.
    SIGN_NON_APPROVED = 0x400


@unique
class DigestAlg(IntEnum):
    SHA2_256 = 1
    SHA2_384 = 2
    SHA2_512 = 3
    SHA3_256 = 4
    SHA3_384 = 5
    SHA3_512 = 6


@unique
class KdfAlg(IntEnum):
    HKDF_SHA256 = 1  # RFC 5869 / SP 800-56C
    KBKDF_CTR_HMAC_SHA256 = 2  # SP 800-108 counter mode


@unique
class LabAlgorithm(IntEnum):
    """What LAB_ALGORITHM_TEST runs: the module's own implementations, on the caller's inputs."""

    HMAC_DRBG_SHA256 = 1  # SP 800-90A HMAC_DRBG (module/drbg.py), a fresh instance
    PBKDF2_HMAC_SHA256 = 2  # SP 800-132 PBKDF2, the login's derivation


class SspAccess(IntFlag):
    """SP 800-140B SSP access: Generate, Read (output), Write (input), Execute (use), Zeroise."""

    G = 0x01
    R = 0x02
    W = 0x04
    E = 0x08
    Z = 0x10

    def letters(self) -> str:
        return "".join(flag for flag in "GRWEZ" if SspAccess[flag] & self)
