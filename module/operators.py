"""Operators (identity-based authentication), the credential policy and the failed-login policy.

The module stores, per operator, only a verifier (an HMAC of the PBKDF2-derived auth key,
``module.wire.handshake.verifier_of``) with its own salt: what it stores does not log in. The
failed-login policy is data so the security policy can print it and a test can compute from it
the FIPS 140-3 bounds (random success < 1e-6 per attempt and < 1e-5 per minute).
"""

from __future__ import annotations

import hmac
import json
import math
import string
from dataclasses import dataclass, field

from module.errors import ServiceError
from module.ports import Flash
from module.wire.defs import Role, Status
from module.wire.handshake import verifier_of

__all__ = ["AuthPolicy", "Decoy", "Operator", "OperatorStore", "check_password_policy", "PASSWORD_ALPHABET",
           "MAX_DECOYS"]

PASSWORD_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "
FLASH_NAME = "operators"
MAX_DECOYS = 256  # unknown ids whose failures are tracked at once (oldest dropped first)


@dataclass(frozen=True)
class AuthPolicy:
    """Login strength parameters. The bounds below follow from these numbers alone."""

    min_password_length: int = 8
    max_password_length: int = 128
    alphabet_size: int = len(PASSWORD_ALPHABET)  # 95 printable ASCII characters
    failure_delay_s: float = 1.0  # no new attempt for this operator until the delay has passed
    lockout_threshold: int = 10  # consecutive failures before the operator is locked
    lockout_s: float = 900.0  # a lock lasts this long (restarted, not cleared, by a power cycle)
    # From the threshold on, the delay doubles with each failure up to this cap. It is what holds
    # the last unlocked Crypto Officer, which is never locked (no one would be left to unlock it).
    max_failure_delay_s: float = 60.0
    pbkdf2_iterations: int = 100_000

    def guess_probability_per_attempt(self) -> float:
        """Chance a single random guess hits the shortest allowed password."""
        return 1.0 / (self.alphabet_size**self.min_password_length)

    def delay_after(self, failures: int) -> float:
        """Seconds before the next attempt is evaluated, after ``failures`` consecutive failures."""
        if failures < self.lockout_threshold:
            return self.failure_delay_s
        doublings = min(failures - self.lockout_threshold + 1, 64)
        return min(self.failure_delay_s * 2.0**doublings, self.max_failure_delay_s)

    def attempt_times(self, *, lockable: bool = False, window_s: float = 60.0) -> list[float]:
        """When attempts at one id are evaluated within ``window_s``, each as soon as its delay
        allows (the densest case: from no failures on, delays never shrink while failures last):
        for the last unlocked Crypto Officer (never locked), or for an id that is ``lockable``
        (no attempt while locked; the lock's end clears the count)."""
        times: list[float] = []
        t, failures = 0.0, 0
        while t <= window_s and len(times) <= math.floor(window_s / self.failure_delay_s) + 1:
            times.append(t)
            failures += 1
            if lockable and failures >= self.lockout_threshold:
                t, failures = t + self.lockout_s, 0
            else:
                t += self.delay_after(failures)
        return times

    def max_attempts_per_minute(self) -> int:
        """Attempts evaluated in any 60 s for one id, whichever kind it is."""
        return max(len(self.attempt_times()), len(self.attempt_times(lockable=True)))

    def guess_probability_per_minute(self) -> float:
        return self.max_attempts_per_minute() * self.guess_probability_per_attempt()


def check_password_policy(password: str, policy: AuthPolicy, factory_password: str) -> None:
    """Refuse weak passwords and the factory credential (one status, no hint beyond the rule)."""
    if not policy.min_password_length <= len(password) <= policy.max_password_length:
        raise ServiceError(
            Status.CREDENTIAL_REJECTED,
            f"password must be {policy.min_password_length}..{policy.max_password_length} characters",
        )
    if len(set(password)) == 1:
        raise ServiceError(Status.CREDENTIAL_REJECTED, "password must not be one character repeated")
    if any(ch not in PASSWORD_ALPHABET for ch in password):
        raise ServiceError(Status.CREDENTIAL_REJECTED, "password must use printable ASCII characters")
    if hmac.compare_digest(password.encode(), factory_password.encode()):
        raise ServiceError(Status.CREDENTIAL_REJECTED, "the factory credential must be replaced")


@dataclass
class Operator:
    name: str
    role: Role
    salt: bytes
    iterations: int
    verifier: bytearray  # HMAC-SHA-256(auth key, "cmsim verifier v2")
    failures: int = 0
    locked: bool = False
    factory: bool = False
    # Volatile: monotonic tick of the last failure and of the lock, per boot.
    last_failure_ns: int | None = field(default=None, compare=False)
    locked_at_ns: int | None = field(default=None, compare=False)

    def wipe(self) -> None:
        self.verifier[:] = bytes(len(self.verifier))


@dataclass
class Decoy:
    """The failed-login state of an operator id that does not exist, so an unknown id is delayed
    and locked exactly as a known one is (volatile: kept for the boot, not in flash)."""

    failures: int = 0
    locked: bool = False
    last_failure_ns: int | None = None
    locked_at_ns: int | None = None


def _stored_verifier(item: dict[str, object]) -> bytearray:
    """The verifier of a stored operator; a protocol-1 entry held the auth key itself and is
    migrated here (written back in the new form at the next save)."""
    if "verifier" in item:
        return bytearray.fromhex(str(item["verifier"]))
    old = bytes.fromhex(str(item["static_key"]))
    return bytearray(verifier_of(old))


class OperatorStore:
    """The operator table, persisted as one atomically replaced flash object."""

    def __init__(self, flash: Flash) -> None:
        self._flash = flash
        self._operators: dict[str, Operator] = {}
        self._decoys: dict[bytes, Decoy] = {}

    def load(self) -> None:
        self.wipe_memory()
        raw = self._flash.read(FLASH_NAME)
        if raw is None:
            return
        items = json.loads(raw.decode())
        for item in items:
            op = Operator(
                name=item["name"],
                role=Role(item["role"]),
                salt=bytes.fromhex(item["salt"]),
                iterations=int(item["iterations"]),
                verifier=_stored_verifier(item),
                failures=int(item["failures"]),
                locked=bool(item["locked"]),
                factory=bool(item["factory"]),
            )
            self._operators[op.name] = op
        if any("verifier" not in item for item in items):
            self.save()  # the protocol-1 form held what logs in: it does not stay in flash

    def save(self) -> None:
        items = [
            {
                "name": op.name,
                "role": int(op.role),
                "salt": op.salt.hex(),
                "iterations": op.iterations,
                "verifier": op.verifier.hex(),
                "failures": op.failures,
                "locked": op.locked,
                "factory": op.factory,
            }
            for op in self._operators.values()
        ]
        self._flash.write(FLASH_NAME, json.dumps(items, sort_keys=True).encode())

    def get(self, name: str) -> Operator | None:
        return self._operators.get(name)

    def decoy(self, tag: bytes) -> Decoy:
        """The failure record of an unknown id, by its keyed tag (never the id itself), in a
        table capped at :data:`MAX_DECOYS`."""
        found = self._decoys.get(tag)
        if found is None:
            while len(self._decoys) >= MAX_DECOYS:
                del self._decoys[next(iter(self._decoys))]
            found = self._decoys[tag] = Decoy()
        return found

    def all(self) -> list[Operator]:
        return sorted(self._operators.values(), key=lambda op: op.name)

    def add(self, op: Operator) -> None:
        if op.name in self._operators:
            raise ServiceError(Status.OPERATOR_EXISTS, f"operator {op.name!r} exists")
        self._operators[op.name] = op
        self.save()

    def remove(self, name: str) -> None:
        op = self._operators.pop(name, None)
        if op is None:
            raise ServiceError(Status.OPERATOR_NOT_FOUND, f"no operator {name!r}")
        op.wipe()
        self.save()

    def count(self, role: Role) -> int:
        return sum(1 for op in self._operators.values() if op.role is role)

    def wipe_memory(self) -> None:
        for op in self._operators.values():
            op.wipe()
        self._operators.clear()
        self._decoys.clear()

    def zeroise(self) -> None:
        self.wipe_memory()
        self._flash.delete(FLASH_NAME)
