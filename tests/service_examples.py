"""A valid example request for every service, and modules prepared in every observable state.

The role x service x state matrix and the stateful test use these; a test checks that every
service in the catalogue has an example, so a new service cannot slip past the matrix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from conftest import PASSWORDS, TEST_CONFIG, begin_params, initialise, with_test_identity
from firmware_sim.device import InProcessTransport
from firmware_sim.entropy import OsNoiseSource
from firmware_sim.integrity import PackageCodeImage
from host_tools.client import Client
from module.core import Module
from module.integrity import compute_seal
from module.ports import ManualClock, MemoryFlash
from module.wire.defs import AuditPolicy, Command, DigestAlg, KdfAlg, KeyType, KeyUse, LabAlgorithm, Role, State

SEAL = compute_seal(PackageCodeImage())
OBSERVABLE_STATES = (State.UNINITIALISED, State.OPERATIONAL, State.SOFT_ERROR, State.HARD_ERROR, State.ZEROISED)
# Services whose success changes the module or the calling session: each gets a fresh module.
DISRUPTIVE = frozenset(
    {Command.ZEROISE, Command.SELF_TEST, Command.INITIALISE, Command.LOGOUT,
     Command.OPERATOR_DELETE, Command.OPERATOR_CHANGE_PASSWORD, Command.KEY_DELETE, Command.AUDIT_ACK}
)


@dataclass
class Fixture:
    """Keys and blobs made while the module was operational, for example requests."""

    # A module with no keys (factory state) still gets well-formed requests: unknown ids, empty keys.
    keys: dict[KeyType, int] = field(default_factory=lambda: defaultdict(lambda: 1))
    wrap: int = 0
    agree: int = 0  # a P-256 key for key agreement
    legacy: int = 0  # a P-256 key for the non-approved SHA-1 signature
    aes: int = 0  # an encryption key (one key, one purpose: not the wrap key)
    wrapped: bytes = b""
    ciphertext: dict[str, bytes] = field(default_factory=lambda: {"iv": bytes(12), "ciphertext": bytes(16)})
    signature: bytes = b""
    mac: bytes = b""
    public: dict[KeyType, bytes] = field(default_factory=lambda: defaultdict(bytes))
    encapsulation: bytes = b""
    ack_head: bytes = bytes(32)  # the chain hash at seq 0, for an acknowledgement the module accepts


Example = Callable[[Fixture], dict[str, Any]]

EXAMPLES: dict[Command, Example] = {
    Command.GET_STATUS: lambda f: {},
    Command.GET_VERSION: lambda f: {},
    Command.SELF_TEST: lambda f: {},
    Command.IDENTITY: lambda f: {},
    Command.AUTH_BEGIN: lambda f: begin_params("alice"),
    Command.AUTH_FINISH: lambda f: {"auth_key": bytes(32)},
    Command.LOGOUT: lambda f: {},
    Command.INITIALISE: lambda f: {"operator": "officer", "password": PASSWORDS["officer"]},
    Command.OPERATOR_CREATE: lambda f: {"operator": "bob", "role": int(Role.USER), "password": "bob-pass-123"},
    Command.OPERATOR_DELETE: lambda f: {"operator": "audrey"},
    # an own change with the User's current password (the matrix expects AUTH_FAILED for other roles)
    Command.OPERATOR_CHANGE_PASSWORD: lambda f: {"password": "new-pass-1234", "current_password": PASSWORDS["alice"]},
    Command.OPERATOR_LIST: lambda f: {},
    Command.OPERATOR_UNLOCK: lambda f: {"operator": "alice"},
    Command.KEY_GENERATE: lambda f: {"key_type": int(KeyType.AES_256)},
    Command.KEY_IMPORT: lambda f: {"wrap_key_id": f.wrap, "wrapped": f.wrapped, "key_type": int(KeyType.ED25519)},
    Command.KEY_EXPORT: lambda f: {"key_id": f.keys[KeyType.ED25519], "wrap_key_id": f.wrap},
    Command.KEY_DELETE: lambda f: {"key_id": f.keys[KeyType.HMAC_SHA512]},
    Command.KEY_LIST: lambda f: {},
    Command.KEY_ATTRIBUTES: lambda f: {"key_id": f.keys[KeyType.EC_P256]},
    Command.ENCRYPT: lambda f: {"key_id": f.aes, "plaintext": b"p"},
    Command.DECRYPT: lambda f: {"key_id": f.aes, "iv": f.ciphertext["iv"], "ciphertext": f.ciphertext["ciphertext"]},
    Command.SIGN: lambda f: {"key_id": f.keys[KeyType.EC_P256], "message": b"m"},
    Command.VERIFY: lambda f: {"key_id": f.keys[KeyType.EC_P256], "message": b"m", "signature": f.signature},
    Command.MAC_GENERATE: lambda f: {"key_id": f.keys[KeyType.HMAC_SHA256], "message": b"m"},
    Command.MAC_VERIFY: lambda f: {"key_id": f.keys[KeyType.HMAC_SHA256], "message": b"m", "mac": f.mac},
    Command.DIGEST: lambda f: {"algorithm": int(DigestAlg.SHA2_256), "message": b"m"},
    Command.RANDOM: lambda f: {"length": 16},
    Command.DERIVE: lambda f: {"base_key_id": f.keys[KeyType.GENERIC_SECRET], "kdf": int(KdfAlg.HKDF_SHA256),
                               "key_type": int(KeyType.AES_256)},
    Command.KEY_AGREE: lambda f: {"key_id": f.agree, "peer_public_key": f.public[KeyType.EC_P256]},
    Command.ENCAPSULATE: lambda f: {"public_key": f.public[KeyType.ML_KEM_768]},
    Command.DECAPSULATE: lambda f: {"key_id": f.keys[KeyType.ML_KEM_768], "ciphertext": f.encapsulation},
    Command.ZEROISE: lambda f: {},
    Command.AUDIT_PUBKEY: lambda f: {},
    Command.AUDIT_EXPORT: lambda f: {"from_seq": 0, "max_records": 4},
    Command.AUDIT_CHECKPOINT: lambda f: {"nonce": b"n" * 16},
    Command.AUDIT_ACK: lambda f: {"seq": 0, "head": f.ack_head},
    Command.AUDIT_SET_POLICY: lambda f: {"policy": int(AuditPolicy.BLOCK), "high_water_permille": 900},
    Command.DIGEST_SHA1: lambda f: {"message": b"m"},
    Command.SIGN_ECDSA_SHA1: lambda f: {"key_id": f.legacy, "message": b"m"},
    Command.LAB_ALGORITHM_TEST: lambda f: {"algorithm": int(LabAlgorithm.HMAC_DRBG_SHA256), "length": 32,
                                           "entropy": bytes(32), "nonce": bytes(16)},
}


def new_module(*, lab_mode: bool = False) -> Module:
    config = replace(TEST_CONFIG, audit=replace(TEST_CONFIG.audit, lab_mode=True)) if lab_mode else TEST_CONFIG
    module = Module(
        flash=with_test_identity(MemoryFlash()), clock=ManualClock(), entropy=OsNoiseSource(),
        code=PackageCodeImage(), seal=SEAL, config=config,
    )
    module.power_on()
    return module


def make_fixture(client: Client) -> Fixture:
    fx = Fixture()
    with client.login("alice", PASSWORDS["alice"]) as alice:
        def gen(key_type: KeyType, **extra: Any) -> int:
            return int(alice.call(Command.KEY_GENERATE, {"key_type": int(key_type), **extra}).data["key_id"])

        fx.wrap = gen(KeyType.AES_256, uses=int(KeyUse.WRAP | KeyUse.UNWRAP))
        fx.aes = gen(KeyType.AES_256)
        fx.legacy = gen(KeyType.EC_P256, uses=int(KeyUse.SIGN_NON_APPROVED))
        fx.agree = gen(KeyType.EC_P256, uses=int(KeyUse.AGREE))
        for key_type in (KeyType.EC_P256, KeyType.ED25519, KeyType.ML_KEM_768, KeyType.HMAC_SHA256,
                         KeyType.HMAC_SHA512, KeyType.GENERIC_SECRET):
            fx.keys[key_type] = gen(key_type, exportable=True)
            fx.public[key_type] = alice.call(Command.KEY_ATTRIBUTES, {"key_id": fx.keys[key_type]}).data["public_key"]
        fx.wrapped = alice.call(Command.KEY_EXPORT, {"key_id": fx.keys[KeyType.ED25519], "wrap_key_id": fx.wrap}).data["wrapped"]
        fx.ciphertext = alice.call(Command.ENCRYPT, {"key_id": fx.aes, "plaintext": b"p"}).data
        fx.signature = alice.call(Command.SIGN, {"key_id": fx.keys[KeyType.EC_P256], "message": b"m"}).data["signature"]
        fx.mac = alice.call(Command.MAC_GENERATE, {"key_id": fx.keys[KeyType.HMAC_SHA256], "message": b"m"}).data["mac"]
        fx.encapsulation = alice.call(Command.ENCAPSULATE, {"public_key": fx.public[KeyType.ML_KEM_768]}).data["ciphertext"]
    return fx


@dataclass
class Prepared:
    module: Module
    sessions: dict[Role, int]
    fixture: Fixture


def prepare(state: State, *, lab_mode: bool = False) -> Prepared:
    """A module in ``state`` with a session per role that can still exist there (started in lab mode or not)."""
    module = new_module(lab_mode=lab_mode)
    client = Client(InProcessTransport(module))
    if state is State.UNINITIALISED:
        factory = client.login(module.config.factory_operator, module.config.factory_password)
        return Prepared(module, {Role.NONE: 0, Role.CRYPTO_OFFICER: factory.session_id},
                        Fixture(ack_head=module.trail.chain_hash(0)))
    initialise(module)
    fixture = make_fixture(client)
    fixture.ack_head = module.trail.chain_hash(0)
    names = {Role.CRYPTO_OFFICER: "officer", Role.USER: "alice", Role.AUDITOR: "audrey"}
    sessions = {Role.NONE: 0} | {role: client.login(name, PASSWORDS[name]).session_id for role, name in names.items()}
    if state is State.SOFT_ERROR:
        module.inject_fault("drbg")
        module.call(Command.SELF_TEST)
    elif state is State.HARD_ERROR:
        module.inject_fault("integrity")
        module.call(Command.SELF_TEST)
    elif state is State.ZEROISED:
        module.call(Command.ZEROISE, {}, sessions[Role.CRYPTO_OFFICER])
        sessions = {Role.NONE: 0}
    assert module.state is state
    return Prepared(module, sessions, fixture)
