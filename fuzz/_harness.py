"""The invariants of issue 9, in one place: the atheris targets here and the hypothesis fuzz tests
(tests/test_fuzz_decoders.py, which imports this as ``fuzz._harness``) check the same ones.

It builds a module the way the tests do (memory flash, manual clock, a seeded noise source so a
finding replays the same way), drives a checked line into it, and checks the decoders and the
offline verifier. A violated invariant raises ``InvariantBroken`` (an AssertionError): atheris
reports any uncaught exception as a finding and saves the input, pytest reports a failure.
"""

from __future__ import annotations

import io
import random
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python fuzz/fuzz_frames.py` puts fuzz/ first, not the project
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from firmware_sim.device import InProcessTransport  # noqa: E402
from firmware_sim.integrity import PackageCodeImage  # noqa: E402
from host_tools.audit_verify import VerifyResult, verify_export  # noqa: E402
from host_tools.client import Client  # noqa: E402
from host_tools.known_devices import KnownDevices  # noqa: E402
from module.audit.trail import AuditConfig  # noqa: E402
from module.core import Module, ModuleConfig  # noqa: E402
from module.endpoint import Endpoint  # noqa: E402
from module.identity import IDENTITY_FLASH_NAME  # noqa: E402
from module.integrity import compute_seal  # noqa: E402
from module.operators import AuthPolicy  # noqa: E402
from module.ports import ManualClock, MemoryFlash  # noqa: E402
from module.wire.audit.common import AuditFormatError
from module.wire.audit.export import ExportWriter, RecordBatch, RecordItem, iter_export
from module.wire.audit.record import decode_record, scan_record
from module.wire.channel import HOST_TO_MODULE, TAG_SIZE, nonce, reply_of  # noqa: E402
from module.wire.defs import Command, KeyType, Role, State, Status  # noqa: E402
from module.wire.frame import MAX_ENCODED, Flags, Frame, FrameDecoder, FrameError, encode_frame  # noqa: E402
from module.wire.messages import Reply  # noqa: E402
from module.wire.params import encode_map  # noqa: E402

__all__ = ["ROOT", "DOC_SEED", "DOC_KEY", "DOC_PUBLIC_KEY", "PASSWORDS", "STATUS_CODES", "InvariantBroken",
           "SeededNoise", "build_module", "CheckedLine", "chain_verifies", "drain_when_half_full", "snapshot",
           "generate_keys", "require", "verify_both", "read_items", "check_export_parse", "check_record",
           "check_parse"]

# The documentation key (seed bytes 0x00..0x1f, as in docs/audit-format.md), never a module's: the
# fuzz device signs with it, so a target can verify any export without asking the device for its key.
DOC_SEED = bytes(range(32))
DOC_KEY = Ed25519PrivateKey.from_private_bytes(DOC_SEED)
DOC_PUBLIC_KEY = DOC_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
IDENTITY_SEED = bytes(range(32, 64))  # every harness module is one device to the pin store below
PINS = KnownDevices(Path(tempfile.mkdtemp(prefix="cmsim-fuzz-pins-")) / "known_devices.json")
PASSWORDS = {"officer": "officer-pass-1", "alice": "alice-pass-12", "audrey": "audrey-pass-1"}
STATUS_CODES = frozenset(int(s) for s in Status)


class InvariantBroken(AssertionError):
    """An answer, a state or the audit chain broke an invariant of issue 9."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantBroken(message)


class SeededNoise:
    """A uniform noise source from a seeded PRNG: the same seed, the same device (for replay)."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)

    @property
    def min_entropy_per_sample(self) -> float:
        return 4.0

    def read(self, n: int) -> bytes:
        return self._rng.randbytes(n)


_SEAL: bytes | None = None


def build_module(seed: int = 0, *, policy: str = "wrap", capacity: int = 1024) -> Module:
    """An operational module with a Crypto Officer, a User and an Auditor, signing its audit
    trail with the documentation key. ``wrap`` keeps a long run from filling the ring."""
    global _SEAL
    if _SEAL is None:
        _SEAL = compute_seal(PackageCodeImage())
    flash = MemoryFlash()
    flash.write("audit_key", DOC_SEED)
    flash.write(IDENTITY_FLASH_NAME, IDENTITY_SEED)
    audit = AuditConfig(capacity=capacity, policy=policy, checkpoint_every=capacity // 4,  # type: ignore[arg-type]
                        reserve=min(32, capacity // 4), wrap_batch=max(3, min(64, capacity // 8)))
    config = ModuleConfig(auth=AuthPolicy(pbkdf2_iterations=1000), audit=audit)
    module = Module(flash=flash, clock=ManualClock(), entropy=SeededNoise(seed), code=PackageCodeImage(),
                    seal=_SEAL, config=config)
    module.power_on()
    require(module.state is State.UNINITIALISED, f"fresh module in {module.state.name}: {module.last_error}")
    client = Client(InProcessTransport(module), known_devices=PINS, min_iterations=1000)
    with client.login(config.factory_operator, config.factory_password) as factory:
        factory.call(Command.INITIALISE, {"operator": "officer", "password": PASSWORDS["officer"]})
    with client.login("officer", PASSWORDS["officer"]) as officer:
        for name, role in (("alice", Role.USER), ("audrey", Role.AUDITOR)):
            officer.call(Command.OPERATOR_CREATE, {"operator": name, "role": int(role), "password": PASSWORDS[name]})
    return module


def snapshot(module: Module) -> tuple[Any, ...]:
    """What a refused frame must not change: state, key store, operators, sessions (and their keys),
    flash (the audit trail and the operators' failure counters aside: a refusal is recorded, a
    failed login counted)."""
    return (
        module.state, module.initialised,
        [(k.key_id, k.label, k.key_type, k.uses, k.exportable, k.origin, bytes(k.material), k.public)
         for k in module.keys.all()],
        [(o.name, o.role, o.salt, o.iterations, bytes(o.verifier), o.factory) for o in module.operators.all()],
        sorted((s.session_id, s.operator, s.role, s.authenticated, bytes(s.host_to_module))
               for s in module.sessions.all()),
        {n: module.flash.read(n) for n in module.flash.names() if not n.startswith("audit-") and n != "operators"},
    )


class CheckedLine:
    """Bytes into the module's endpoint through a FrameDecoder; every answer is checked: one
    well-formed response frame per item, its code a Status, no INTERNAL_ERROR, and a refusal
    changes neither the state nor anything ``snapshot`` holds."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.endpoint = Endpoint(module)
        self.decoder = FrameDecoder()
        self.keys: dict[int, tuple[AESGCM, AESGCM]] = {}  # session id -> (host to module, module to host)
        self.next_seq: dict[int, int] = {}
        self.statuses: dict[Status, int] = {}  # answers seen, by status

    def login(self, operator: str, password: str | None = None) -> int:
        """A session for ``operator`` (with ``password``, or the one it was created with)."""
        password = PASSWORDS[operator] if password is None else password
        session = Client(InProcessTransport(self.module), known_devices=PINS, min_iterations=1000).login(
            operator, password)
        sess = self.module.sessions.get(session.session_id)
        require(sess is not None, "login left no session")
        assert sess is not None
        self.keys[session.session_id] = (AESGCM(bytes(sess.host_to_module)), AESGCM(bytes(sess.module_to_host)))
        self.next_seq[session.session_id] = 1
        return session.session_id

    def alive(self, sid: int) -> bool:
        sess = self.module.sessions.get(sid)
        return sess is not None and sess.authenticated

    def protected(self, sid: int, command: int, payload: bytes) -> bytes:
        """A request the session's channel accepts, its plaintext any bytes (a parameter map or not)."""
        seq = self.next_seq[sid]
        self.next_seq[sid] = seq + 1
        shell = Frame(int(Flags.ENCRYPTED), sid, seq, command, bytes(len(payload) + TAG_SIZE))
        ciphertext = self.keys[sid][0].encrypt(nonce(HOST_TO_MODULE, seq), payload, shell.header())
        return encode_frame(Frame(shell.flags, sid, seq, command, ciphertext))

    def request(self, sid: int, command: int, params: Mapping[str, Any]) -> bytes:
        """A request with a parameter map, protected in the session's channel."""
        return self.protected(sid, command, encode_map(params))

    def send(self, data: bytes) -> list[Reply]:
        replies = []
        for item in self.decoder.feed(data):
            before = snapshot(self.module)
            state = self.module.state
            out = self.endpoint.handle_bytes(item)
            reply = self.check(item, out)
            self.statuses[reply.status] = self.statuses.get(reply.status, 0) + 1
            require(reply.status is not Status.INTERNAL_ERROR, f"INTERNAL_ERROR: {reply.message}")
            require(self.module.state is state or reply.status is Status.OK,
                    f"state {state.name} -> {self.module.state.name} on a refused frame ({reply.status.name})")
            if reply.status is not Status.OK:
                require(snapshot(self.module) == before, f"a refused frame changed the module: {item!r} {reply}")
            replies.append(reply)
        require(self.decoder.pending <= MAX_ENCODED, "decoder holds more than a frame")
        return replies

    def check(self, item: Frame | FrameError, out: bytes) -> Reply:
        require(out.endswith(b"\x00") and out.count(0) == 1, "answer is not one delimited frame")
        items = FrameDecoder().feed(out)
        require(len(items) == 1 and isinstance(items[0], Frame), f"answer does not decode: {items!r}")
        answer = items[0]
        assert isinstance(answer, Frame)
        require(bool(answer.flags & Flags.RESPONSE) and answer.code in STATUS_CODES, f"bad answer header {answer}")
        if isinstance(item, FrameError) or item.flags & Flags.RESPONSE:
            require((answer.code, answer.session_id, answer.seq) == (Status.BAD_FRAME, 0, 0), "bad-frame answer")
        else:
            require((answer.session_id, answer.seq) == (item.session_id, item.seq), "answer to another request")
        key = None
        if answer.flags & Flags.ENCRYPTED:  # the module protects only what it shares a key for
            require(answer.session_id in self.keys, "encrypted answer for a session nobody holds keys for")
            key = self.keys[answer.session_id][1]
        return reply_of(answer, key)  # a ChannelError here would be a malformed answer


def chain_verifies(module: Module, public_key: bytes = DOC_PUBLIC_KEY, *, acknowledge: bool = False) -> VerifyResult:
    """Checkpoint (with a nonce), export every retained record, verify offline with the public key
    (the documentation key unless told); with ``acknowledge``, free what verified, as a host's
    drain does (so a long run never fills the ring under the block policy, which the fuzzed
    AUDIT_SET_POLICY may choose)."""
    trail = module.audit
    fresh = b"fuzz-run"
    trail.checkpoint(fresh, **module.audit_times())  # type: ignore[attr-defined]
    status = trail.status()  # type: ignore[attr-defined]
    out = io.BytesIO()
    writer = ExportWriter(out, module.config.serial)
    seq = status.oldest_retained
    writer.anchor(*trail.anchor(seq))  # type: ignore[attr-defined]
    while seq < status.next_seq:
        page = trail.export(seq, 256)  # type: ignore[attr-defined]
        for data in page:
            writer.record(data)
        seq += len(page)
    writer.close()
    out.seek(0)
    result = verify_export(out, public_key, expected_serial=module.config.serial, expected_nonce=fresh)
    if acknowledge and result.ok:
        require(result.verified_through is not None and result.verified_head is not None,
                f"a verified export names no head: {result}")
        trail.acknowledge(result.verified_through, result.verified_head)  # type: ignore[attr-defined]
    return result


def drain_when_half_full(module: Module, public_key: bytes = DOC_PUBLIC_KEY) -> None:
    """Verify and acknowledge the trail once half the ring holds unacknowledged records."""
    status = module.audit.status()  # type: ignore[attr-defined]
    if status.used > status.capacity // 2:
        result = chain_verifies(module, public_key, acknowledge=True)
        require(result.ok, f"audit chain does not verify: {result.reason} {result.message}")


def generate_keys(line: CheckedLine, sid: int) -> None:
    """One key of every type in the session's key store, so small key ids name real keys."""
    for key_type in KeyType:
        (reply,) = line.send(line.request(sid, Command.KEY_GENERATE, {"key_type": int(key_type)}))
        require(reply.status is Status.OK, f"key generation failed: {reply}")


# ---------------------------------------------------------------------------- decoders and the verifier
def verify_both(data: bytes, public_key: bytes, **kw: Any) -> VerifyResult:
    """verify_export never raises; the deferred (fast) path names the same first failure as eager."""
    lazy = verify_export(io.BytesIO(data), public_key, **kw)
    eager = verify_export(io.BytesIO(data), public_key, eager=True, **kw)
    require(isinstance(lazy, VerifyResult) and isinstance(eager, VerifyResult), "no VerifyResult")
    require((lazy.ok, lazy.reason, lazy.first_bad_seq) == (eager.ok, eager.reason, eager.first_bad_seq),
            f"lazy {lazy.reason} at {lazy.first_bad_seq}, eager {eager.reason} at {eager.first_bad_seq}")
    return lazy


def read_items(data: bytes, batch: bool) -> tuple[list[object], type[BaseException] | None]:
    """Every item iter_export yields (batches flattened), and the documented error it ended with."""
    items: list[object] = []
    try:
        for item in iter_export(io.BytesIO(data), batch=batch):
            items += [RecordItem(r, None) for r in item.records] if isinstance(item, RecordBatch) else [item]
    except AuditFormatError as exc:
        return items, type(exc)
    return items, None


def check_export_parse(data: bytes) -> None:
    """Both readers end the same way; batches end at a buffer boundary, so after an error the
    batched reader has read a prefix of what the one-by-one reader read."""
    one, error = read_items(data, batch=False)
    batched, batch_error = read_items(data, batch=True)
    require(batch_error is error, f"readers end differently: {error} / {batch_error}")
    require(one[: len(batched)] == batched if error else one == batched, "readers disagree on the items")


def check_record(data: bytes) -> None:
    """decode_record and the verifier's scan_record accept exactly the same bytes (and refuse with
    the same error type: an unknown version is named as such by both), and what is accepted
    re-encodes to itself (every byte of a record is fixed, chained or signed)."""
    try:
        rec = decode_record(data)
    except AuditFormatError as exc:
        try:
            scan_record(data)
        except AuditFormatError as scanned:
            require(type(scanned) is type(exc), f"decode says {type(exc).__name__}, scan {type(scanned).__name__}")
        else:
            raise InvariantBroken(f"scan_record accepts what decode_record refuses: {exc}") from None
        return
    scan = scan_record(data)
    require((scan.kind, scan.seq, scan.boot, scan.module_tag) == (rec.kind, rec.seq, rec.boot, rec.module_tag),
            "scan and decode read different fields")
    require(rec.encode() == data, "an accepted record does not re-encode to itself")


def check_parse(parse: Callable[[bytes], Any], data: bytes) -> None:
    """A parser refuses with AuditFormatError or returns a value that re-encodes to the input."""
    try:
        value = parse(data)
    except AuditFormatError:
        return
    require(value.encode() == data, f"{parse.__qualname__}: accepted bytes do not re-encode to themselves")
