"""The service catalogue: one declaration per service, and nothing else lists services.

Dispatch, access control, parameter checking, the security-policy tables and the lab harness's
role x service x state matrix are all driven by :data:`SERVICES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from module.cast import CAST_NAMES
from module.services import audit, auth, crypto, info, keys, labtest, lifecycle, nonapproved, operators
from module.services.registry import AuditCategory as A
from module.services.registry import KeyScope, Param, ParamType, ServiceSpec, SspUse
from module.wire.defs import Command as C
from module.wire.audit.checkpoint import MAX_NONCE_BYTES
from module.wire.handshake import AUTH_KEY_SIZE, EPHEMERAL_SIZE, NONCE_SIZE
from module.wire.defs import AuditPolicy, DigestAlg, KdfAlg, KeyType, LabAlgorithm, Role, SspAccess, State

__all__ = ["SERVICES", "SPECS"]

# --- who ---------------------------------------------------------------------------------------
ANYONE = frozenset(Role)  # unauthenticated callers included
AUTHENTICATED = frozenset({Role.CRYPTO_OFFICER, Role.USER, Role.AUDITOR})
CO = frozenset({Role.CRYPTO_OFFICER})
USER = frozenset({Role.USER})
CO_USER = frozenset({Role.CRYPTO_OFFICER, Role.USER})
CO_AUDITOR = frozenset({Role.CRYPTO_OFFICER, Role.AUDITOR})
NOBODY_BUT_LOGIN = frozenset({Role.NONE})

# --- when --------------------------------------------------------------------------------------
ALWAYS = frozenset(set(State) - {State.POWER_OFF})  # status is output even in error states
SELF_TEST_STATES = frozenset({State.UNINITIALISED, State.OPERATIONAL, State.SOFT_ERROR})
LOGIN_STATES = frozenset({State.UNINITIALISED, State.OPERATIONAL})
SESSION_END_STATES = frozenset({State.UNINITIALISED, State.OPERATIONAL, State.SOFT_ERROR, State.HARD_ERROR})
FACTORY = frozenset({State.UNINITIALISED})
OPERATIONAL_ONLY = frozenset({State.OPERATIONAL})  # the approved mode of operation
AUDIT_STATES = frozenset({State.UNINITIALISED, State.OPERATIONAL})
ZEROISE_STATES = frozenset({State.UNINITIALISED, State.OPERATIONAL, State.SOFT_ERROR, State.HARD_ERROR})

# --- parameters --------------------------------------------------------------------------------
P = ParamType
OPERATOR = Param("operator", P.STR, min_len=1, max_len=32, doc="operator id")
PASSWORD = Param("password", P.STR, secret=True, max_len=128, doc="new password (never audited)")
KEY_ID = Param("key_id", P.UINT, doc="stored key id")
LABEL = Param("label", P.STR, required=False, max_len=64, doc="free text")
USES = Param("uses", P.UINT, required=False, max_value=0x7FF,
             doc="KeyUse flags of one purpose (default: the type's main approved purpose)")
EXPORTABLE = Param("exportable", P.BOOL, required=False, doc="may leave the module wrapped")
KEY_TYPE = Param("key_type", P.UINT, enum=KeyType)
MESSAGE = Param("message", P.BYTES, doc="data to process")
PREHASHED = Param("prehashed", P.BOOL, required=False,
                  doc="ECDSA: message is the caller's SHA-256 (P-256) or SHA-384 (P-384) digest")
NEW_KEY = (LABEL, EXPORTABLE)

# --- SSPs --------------------------------------------------------------------------------------
G, R, W, E, Z = SspAccess.G, SspAccess.R, SspAccess.W, SspAccess.E, SspAccess.Z
DRBG = SspUse("DRBG state", E)
OP_KEYS_E = SspUse("operator verifiers", E)
IDENTITY_E = SspUse("identity key", E)
SESSION_KEYS_G = SspUse("session keys", G)
OWN, MANAGE = KeyScope.OWN, KeyScope.MANAGE
SEQ = Param("seq", P.UINT, max_value=2**64 - 1, doc="audit sequence number")

_SPECS: tuple[ServiceSpec, ...] = (
    ServiceSpec(C.GET_STATUS, "Show status", "State, boot counter, last error, counters.", ANYONE, ALWAYS,
                True, A.INFORMATION, info.get_status, allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.GET_VERSION, "Show version", "Module name, firmware version, serial.", ANYONE, ALWAYS,
                True, A.INFORMATION, info.get_version, allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.SELF_TEST, "Self-test", "Re-run the integrity test, DRBG and entropy tests and every CAST.",
                ANYONE, SELF_TEST_STATES, True, A.SELF_TEST, info.self_test,
                ssps=(SspUse("DRBG state", G | Z),), allowed_when_audit_full=True,
                audit_records=len(CAST_NAMES) + 8),
    ServiceSpec(C.IDENTITY, "Device identity", "Identity public key; a statement it signs over serial, audit key, lab mode.",
                ANYONE, AUDIT_STATES, True, A.INFORMATION, info.identity, ssps=(IDENTITY_E,),
                allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.AUTH_BEGIN, "Login: begin", "ECDH P-256 key establishment signed by the identity key.",
                NOBODY_BUT_LOGIN, LOGIN_STATES, True, A.AUTHENTICATION, auth.auth_begin,
                params=(OPERATOR, Param("host_ephemeral", P.BYTES, min_len=EPHEMERAL_SIZE, max_len=EPHEMERAL_SIZE),
                        Param("host_nonce", P.BYTES, min_len=NONCE_SIZE, max_len=NONCE_SIZE)),
                ssps=(SESSION_KEYS_G, IDENTITY_E, DRBG), allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.AUTH_FINISH, "Login: finish", "Inside the new session: the auth key against the verifier.",
                NOBODY_BUT_LOGIN, LOGIN_STATES, True, A.AUTHENTICATION, auth.auth_finish,
                params=(Param("auth_key", P.BYTES, secret=True, min_len=AUTH_KEY_SIZE, max_len=AUTH_KEY_SIZE,
                              doc="PBKDF2 of the password (never audited)"),),
                ssps=(SspUse("session keys", E), OP_KEYS_E), allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.LOGOUT, "Logout", "Close the session and wipe its keys.", AUTHENTICATED, SESSION_END_STATES,
                True, A.AUTHENTICATION, auth.logout, ssps=(SspUse("session keys", Z),),
                allowed_when_audit_full=True, drains_audit=True, factory_credential=True),
    ServiceSpec(C.INITIALISE, "Initialise", "Replace the factory credential with the first Crypto Officer.",
                CO, FACTORY, True, A.LIFE_CYCLE, lifecycle.initialise, params=(OPERATOR, PASSWORD),
                ssps=(SspUse("operator verifiers", G | W | Z), DRBG, SspUse("audit signing key", G | W)),
                audit_records=4, factory_credential=True),
    ServiceSpec(C.OPERATOR_CREATE, "Create operator", "Add an operator with a role and a password.",
                CO, OPERATIONAL_ONLY, True, A.OPERATOR_MANAGEMENT, operators.create,
                params=(OPERATOR, Param("role", P.UINT, enum=Role), PASSWORD),
                ssps=(SspUse("operator verifiers", G | W), DRBG)),
    ServiceSpec(C.OPERATOR_DELETE, "Delete operator", "Remove an operator and close its sessions.",
                CO, OPERATIONAL_ONLY, True, A.OPERATOR_MANAGEMENT, operators.delete, params=(OPERATOR,),
                ssps=(SspUse("operator verifiers", Z),)),
    ServiceSpec(C.OPERATOR_CHANGE_PASSWORD, "Change password", "Own password, or anyone's for a Crypto Officer.",
                AUTHENTICATED, OPERATIONAL_ONLY, True, A.OPERATOR_MANAGEMENT, operators.change_password,
                params=(Param("operator", P.STR, required=False, min_len=1, max_len=32), PASSWORD,
                        Param("current_password", P.STR, required=False, secret=True, max_len=128,
                              doc="the caller's current password, for an own change (never audited)")),
                ssps=(SspUse("operator verifiers", G | W | Z), DRBG)),
    ServiceSpec(C.OPERATOR_LIST, "List operators", "Ids, roles, lock state.", CO, OPERATIONAL_ONLY, True,
                A.OPERATOR_MANAGEMENT, operators.list_operators),
    ServiceSpec(C.OPERATOR_UNLOCK, "Unlock operator", "Clear a lockout after repeated login failures.",
                CO, OPERATIONAL_ONLY, True, A.OPERATOR_MANAGEMENT, operators.unlock, params=(OPERATOR,)),
    ServiceSpec(C.KEY_GENERATE, "Generate key", "New key or key pair from the DRBG (pairs pass a PCT).",
                CO_USER, OPERATIONAL_ONLY, True, A.KEY_MANAGEMENT, keys.generate,
                params=(KEY_TYPE, USES, *NEW_KEY), ssps=(SspUse("stored keys", G | W), DRBG), key_scope=OWN),
    ServiceSpec(C.KEY_IMPORT, "Import key", "Unwrap (AES-KWP) a key into the store (pairs pass a PCT).",
                CO_USER, OPERATIONAL_ONLY, True, A.KEY_MANAGEMENT, keys.import_wrapped,
                params=(Param("wrap_key_id", P.UINT), Param("wrapped", P.BYTES, min_len=16, max_len=4096),
                        KEY_TYPE, USES, *NEW_KEY),
                ssps=(SspUse("stored keys", W | E),), key_scope=OWN),
    ServiceSpec(C.KEY_EXPORT, "Export key", "Wrap (AES-KWP) an exportable key under a wrapping key.",
                CO_USER, OPERATIONAL_ONLY, True, A.KEY_MANAGEMENT, keys.export_wrapped,
                params=(KEY_ID, Param("wrap_key_id", P.UINT)), ssps=(SspUse("stored keys", R | E),), key_scope=OWN),
    ServiceSpec(C.KEY_DELETE, "Delete key", "Remove a key and overwrite its material.", CO_USER, OPERATIONAL_ONLY, True,
                A.KEY_MANAGEMENT, keys.delete, params=(KEY_ID,), ssps=(SspUse("stored keys", Z),), key_scope=MANAGE),
    ServiceSpec(C.KEY_LIST, "List keys", "Ids, labels, types.", CO_USER, OPERATIONAL_ONLY, True,
                A.KEY_MANAGEMENT, keys.list_keys, key_scope=MANAGE),
    ServiceSpec(C.KEY_ATTRIBUTES, "Key attributes", "Attributes and, for key pairs, the public key.",
                CO_USER, OPERATIONAL_ONLY, True, A.KEY_MANAGEMENT, keys.attributes, params=(KEY_ID,), key_scope=MANAGE),
    ServiceSpec(C.ENCRYPT, "Encrypt", "AES-256-GCM with a module-chosen IV.", USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.encrypt,
                params=(KEY_ID, Param("plaintext", P.BYTES), Param("aad", P.BYTES, required=False)),
                ssps=(SspUse("stored keys", E), DRBG), key_scope=OWN),
    ServiceSpec(C.DECRYPT, "Decrypt", "AES-256-GCM; a bad tag outputs nothing.", USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.decrypt,
                params=(KEY_ID, Param("iv", P.BYTES, min_len=12, max_len=12),
                        Param("ciphertext", P.BYTES, min_len=16), Param("aad", P.BYTES, required=False)),
                ssps=(SspUse("stored keys", E),), key_scope=OWN),
    # prehashed ECDSA stays approved: FIPS 186-5 ECDSA over a digest the caller made with the curve's
    # approved hash (SHA-256 for P-256, SHA-384 for P-384, the length checked); from the digest on it is
    # the library's same signing path, which the ECDSA CASTs test.
    ServiceSpec(C.SIGN, "Sign", "ECDSA P-256/P-384 (of the message, or of the caller's digest), Ed25519, ML-DSA-65.",
                USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.sign, params=(KEY_ID, MESSAGE, PREHASHED), ssps=(SspUse("stored keys", E),),
                not_approved_when="with an ML-DSA-65 key: hedged signing draws rnd from the bound library's RNG, "
                                  "not from the module's DRBG"),
    ServiceSpec(C.VERIFY, "Verify", "With a stored key or a given public key.", USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.verify,
                params=(Param("key_id", P.UINT, required=False), Param("key_type", P.UINT, required=False, enum=KeyType),
                        Param("public_key", P.BYTES, required=False, max_len=4096), MESSAGE,
                        Param("signature", P.BYTES, max_len=8192), PREHASHED),
                ssps=(SspUse("stored keys", E),), key_scope=OWN),
    ServiceSpec(C.MAC_GENERATE, "MAC generate", "HMAC-SHA-256/384/512.", USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.mac_generate, params=(KEY_ID, MESSAGE), ssps=(SspUse("stored keys", E),), key_scope=OWN),
    ServiceSpec(C.MAC_VERIFY, "MAC verify", "HMAC-SHA-256/384/512, constant-time compare.", USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.mac_verify, params=(KEY_ID, MESSAGE, Param("mac", P.BYTES, max_len=64)),
                ssps=(SspUse("stored keys", E),), key_scope=OWN),
    ServiceSpec(C.DIGEST, "Digest", "SHA-2 and SHA-3.", CO_USER, OPERATIONAL_ONLY, True, A.CRYPTOGRAPHIC,
                crypto.digest, params=(Param("algorithm", P.UINT, enum=DigestAlg), MESSAGE)),
    ServiceSpec(C.RANDOM, "Random bytes", "SP 800-90A HMAC_DRBG output.", CO_USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.random, params=(Param("length", P.UINT),), ssps=(DRBG,)),
    ServiceSpec(C.DERIVE, "Derive key", "HKDF or SP 800-108 KBKDF into a new stored key.", USER, OPERATIONAL_ONLY, True,
                A.CRYPTOGRAPHIC, crypto.derive,
                params=(Param("base_key_id", P.UINT), Param("kdf", P.UINT, enum=KdfAlg), KEY_TYPE, USES,
                        Param("salt", P.BYTES, required=False, max_len=1024),
                        Param("info", P.BYTES, required=False, max_len=1024), *NEW_KEY),
                ssps=(SspUse("stored keys", G | E | W),), key_scope=OWN),
    ServiceSpec(C.KEY_AGREE, "Key agreement", "ECDH P-256; the shared secret is stored, never output.",
                USER, OPERATIONAL_ONLY, True, A.CRYPTOGRAPHIC, crypto.key_agree,
                params=(KEY_ID, Param("peer_public_key", P.BYTES, max_len=133), *NEW_KEY),
                ssps=(SspUse("stored keys", G | E | W),), key_scope=OWN),
    # Not approved: the library draws the encapsulation randomness m itself (no caller m), outside
    # the module's DRBG; FIPS 203 asks for m from an approved RBG.
    ServiceSpec(C.ENCAPSULATE, "Encapsulate (non-approved)",
                "ML-KEM-768 to a given public key; secret stored; m from the bound library's RNG.",
                USER, OPERATIONAL_ONLY, False, A.CRYPTOGRAPHIC, crypto.encapsulate,
                params=(Param("public_key", P.BYTES, max_len=1184), *NEW_KEY),
                ssps=(SspUse("stored keys", G | W),), key_scope=OWN),
    ServiceSpec(C.DECAPSULATE, "Decapsulate", "ML-KEM-768 with a stored key; secret stored.",
                USER, OPERATIONAL_ONLY, True, A.CRYPTOGRAPHIC, crypto.decapsulate,
                params=(KEY_ID, Param("ciphertext", P.BYTES, max_len=1088), *NEW_KEY),
                ssps=(SspUse("stored keys", G | E | W),), key_scope=OWN),
    ServiceSpec(C.ZEROISE, "Zeroise", "Overwrite every SSP in memory and flash.", CO, ZEROISE_STATES, True,
                A.LIFE_CYCLE, lifecycle.zeroise,
                ssps=(SspUse("stored keys", Z), SspUse("operator verifiers", Z), SspUse("session keys", Z),
                      SspUse("DRBG state", Z), SspUse("audit signing key", G | W | E | Z)),
                allowed_when_audit_full=True, audit_records=7),
    ServiceSpec(C.AUDIT_PUBKEY, "Audit public key", "Ed25519 public key and its self-signed serial statement.",
                ANYONE, AUDIT_STATES, True, A.AUDIT, audit.public_key, allowed_when_audit_full=True,
                drains_audit=True),
    ServiceSpec(C.AUDIT_EXPORT, "Audit export", "A page of records from a sequence number, with its anchor.",
                CO_AUDITOR, AUDIT_STATES, True, A.AUDIT, audit.export,
                params=(Param("from_seq", P.UINT, required=False, max_value=2**64 - 1),
                        Param("max_records", P.UINT, required=False, max_value=audit.MAX_EXPORT_PAGE)),
                allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.AUDIT_CHECKPOINT, "Audit checkpoint", "A signed checkpoint now, binding a host nonce.",
                CO_AUDITOR, AUDIT_STATES, True, A.AUDIT, audit.checkpoint,
                params=(Param("nonce", P.BYTES, required=False, max_len=MAX_NONCE_BYTES),),
                ssps=(SspUse("audit signing key", E),), allowed_when_audit_full=True, audit_records=3),
    ServiceSpec(C.AUDIT_ACK, "Audit acknowledge", "Free records through seq, given the chain hash there.",
                CO_AUDITOR, AUDIT_STATES, True, A.AUDIT, audit.acknowledge,
                params=(SEQ, Param("head", P.BYTES, min_len=32, max_len=32)),
                allowed_when_audit_full=True, drains_audit=True),
    ServiceSpec(C.AUDIT_SET_POLICY, "Audit policy", "Full-ring policy (block or wrap) and high-water mark.",
                CO, AUDIT_STATES, True, A.AUDIT, audit.set_policy,
                params=(Param("policy", P.UINT, enum=AuditPolicy),
                        Param("high_water_permille", P.UINT, required=False, max_value=1000)),
                allowed_when_audit_full=True),
    # SP 800-131A Rev. 2 disallows SHA-1 for signature generation only: a plain digest is approved.
    ServiceSpec(C.DIGEST_SHA1, "SHA-1 digest", "SHA-1 for non-signature uses (SP 800-131A Rev. 2).",
                CO_USER, OPERATIONAL_ONLY, True, A.CRYPTOGRAPHIC, crypto.digest_sha1, params=(MESSAGE,)),
    ServiceSpec(C.SIGN_ECDSA_SHA1, "ECDSA with SHA-1 (non-approved)", "Legacy signature; not approved.",
                USER, OPERATIONAL_ONLY, False, A.CRYPTOGRAPHIC, nonapproved.sign_ecdsa_sha1, params=(KEY_ID, MESSAGE),
                ssps=(SspUse("stored keys", E),), key_scope=OWN),
    # Lab mode only (UNKNOWN_COMMAND otherwise, module/services/labtest.py): ACVP's hmacDRBG and PBKDF tests
    # of the module's own implementations. Not approved: caller-chosen entropy makes no random output. It
    # touches no SSP: a fresh DRBG instance holds the caller's test inputs only, and is wiped after the call.
    ServiceSpec(C.LAB_ALGORITHM_TEST, "Lab algorithm test (non-approved)",
                "Lab mode only: HMAC_DRBG or PBKDF2 on caller-given inputs, for ACVP.",
                CO_USER, OPERATIONAL_ONLY, False, A.CRYPTOGRAPHIC, labtest.algorithm_test,
                params=(Param("algorithm", P.UINT, enum=LabAlgorithm),
                        Param("length", P.UINT, max_value=labtest.MAX_OUTPUT_BYTES, doc="output bytes"),
                        *(Param(name, P.BYTES, required=False, max_len=1024, doc=doc) for name, doc in (
                            ("entropy", "DRBG entropy input"), ("nonce", "DRBG nonce"),
                            ("personalization", "DRBG personalisation string"),
                            ("reseed_entropy", "DRBG: reseed with this entropy input first"),
                            ("reseed_additional", "DRBG reseed additional input"),
                            ("additional_1", "DRBG first generate's additional input"),
                            ("additional_2", "DRBG second generate's additional input"),
                            ("salt", "PBKDF2 salt"))),
                        Param("password", P.STR, required=False, max_len=256, doc="PBKDF2 password (a test vector)"),
                        Param("iterations", P.UINT, required=False, max_value=labtest.MAX_ITERATIONS,
                              doc="PBKDF2 iteration count"))),
)

SPECS: tuple[ServiceSpec, ...] = _SPECS
SERVICES: Mapping[int, ServiceSpec] = MappingProxyType({int(spec.command): spec for spec in _SPECS})

if len(SERVICES) != len(_SPECS):  # pragma: no cover - a duplicate declaration is a defect
    raise RuntimeError("two services declare the same command code")
