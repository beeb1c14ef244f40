"""Step 8, authentication under attack (ISO/IEC 19790 7.4.3; FIPS 140-3 IG and SP 800-140E for
the strength of authentication), through the wire as an attacker with the line would try it.

A User of the lab's own (``lab-probe``) is created for it and deleted afterwards; an id that
does not exist is attacked alongside it. Logins are driven step by step (AUTH_BEGIN, then
AUTH_FINISH inside the half-open channel), so that several can be open at once:

* parallel logins: a second AUTH_BEGIN for the same id replaces the first half-open login; the
  first cannot then be finished, even with the right password (one guess in flight per id);
* the failure delay and the correct-guess oracle: right after a failed attempt, the right
  password is refused exactly like a wrong one; after the published delay it logs in;
* enumeration: an unknown id gets the same AUTH_BEGIN answer (the same fields, a salt of the
  same size that is stable per id, an iteration count a real operator has) and the same
  AUTH_FAILED as a real one, attempt for attempt;
* lockout (full plan: it takes the threshold times the delay): after the published number of
  failures the right password is refused like a wrong one, for the real id and the unknown id
  alike, until a Crypto Officer unlocks it;
* the factory credential no longer logs in once the module is initialised.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from host_tools.lab.results import Result
from host_tools.lab.steps.base import Case
from host_tools.lab.world import FACTORY_OPERATOR, FACTORY_PASSWORD, World
from module.wire.defs import Command, Role, Status
from module.wire.handshake import NONCE_SIZE, SessionKeys, derive_auth_key, derive_session_keys, shared_secret, \
    transcript_hash
from module.wire.messages import Reply

__all__ = ["AuthStep", "PROBE"]

PROBE = "lab-probe"
DELAY_MARGIN = 0.25  # seconds beyond the published failure delay before the next attempt
TRIES = 3  # attempts at a within-the-delay check that the machine's load made too slow


@dataclass
class HalfOpen:
    operator: str
    session_id: int
    keys: SessionKeys
    salt: bytes
    iterations: int
    begin: Reply


class AuthStep:
    def __init__(self, world: World, plan: str) -> None:
        self.world = world
        self.plan = plan
        self.cases: list[Case] = []
        self.password = "lab-" + secrets.token_urlsafe(12)
        self.unknown = "lab-nobody-" + secrets.token_hex(4)
        auth = world.policy.doc.get("authentication", {})
        self.delay = float(auth.get("failure_delay_s", 1.0))
        self.threshold = int(auth.get("lockout_threshold", 10))
        self.parallel = Result("auth.parallel", 8, "7.4", "parallel logins: one half-open login per id (a second "
                               "AUTH_BEGIN replaces the first, which cannot then be finished)")
        self.oracle = Result("auth.delay", 8, "7.4", "failure delay: within it the right password is refused like a "
                             "wrong one (no correct-guess oracle); after it, it logs in")
        self.enumeration = Result("auth.enumeration", 8, "7.4", "no enumeration of ids: an unknown id's answers and "
                                  "statuses are those of a real one")
        self.lockout = Result("auth.lockout", 8, "7.4", "lockout after the published number of failures, for a real "
                              "and an unknown id alike; the right password refused until unlocked")
        self.factory = Result("auth.factory", 8, "7.4", "the factory credential no longer logs in after "
                              "initialisation")

    def results(self) -> list[Result]:
        return [self.parallel, self.oracle, self.enumeration, self.lockout, self.factory]

    # ------------------------------------------------------------ logins
    def _begin(self, operator: str) -> HalfOpen | Reply:
        w = self.world
        private = ec.generate_private_key(ec.SECP256R1())
        ephemeral = private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        nonce = os.urandom(NONCE_SIZE)
        reply = w.raw(Command.AUTH_BEGIN, {"operator": operator, "host_ephemeral": ephemeral, "host_nonce": nonce})
        if reply.status is not Status.OK:
            return reply
        d = reply.data
        sid, salt, iterations = int(d["session_id"]), bytes(d["salt"]), int(d["iterations"])
        th = transcript_hash(w.serial, operator, sid, ephemeral, nonce, bytes(d["module_ephemeral"]),
                             bytes(d["module_nonce"]), salt, iterations)
        keys = derive_session_keys(shared_secret(private, bytes(d["module_ephemeral"])), th)
        return HalfOpen(operator, sid, keys, salt, iterations, reply)

    def _finish(self, half: HalfOpen, password: str) -> Reply:
        """AUTH_FINISH inside the half-open channel; a session that logs in is logged out again."""
        w = self.world
        w.recorder.bind_session(half.session_id, half.keys)
        w.recorder.expect_login(half.operator)
        try:
            reply = w.raw_session(Command.AUTH_FINISH, half.session_id,
                                  {"auth_key": derive_auth_key(password, half.salt, half.iterations)})
            if reply.status is Status.SESSION_INVALID:
                w.calls[-1].operator = ""  # refused before dispatch: the module knows no operator for it
            if reply.status is Status.OK:
                w.recorder.name_session(half.session_id, half.operator, Role(int(reply.data["role"])))
                w.raw_session(Command.LOGOUT, half.session_id)
        finally:
            w.recorder.unbind_session(half.session_id)
        return reply

    def _attempt(self, operator: str, password: str) -> tuple[Reply, HalfOpen | None]:
        half = self._begin(operator)
        if isinstance(half, Reply):
            return half, None
        return self._finish(half, password), half

    def _wait_out_delay(self) -> None:
        time.sleep(self.delay + DELAY_MARGIN)  # the device's clock decides; the lab waits it out

    # --------------------------------------------------------------- run
    def run(self) -> list[Result]:
        w = self.world
        started = time.perf_counter()
        w.ensure_operational()
        officer = w.officer_name
        made = w.raw(Command.OPERATOR_CREATE, {"operator": PROBE, "role": int(Role.USER), "password": self.password},
                     officer)
        if made.status is not Status.OK:
            for r in self.results():
                r.fail(f"OPERATOR_CREATE {PROBE} answered {made.status.name}: {made.message}")
            return self.results()
        try:
            # _parallel counts no failure (nothing to wait out after it); _oracle ends with a successful
            # login; _enumeration waits out each id's delay.
            for check in (self._parallel, self._oracle, self._enumeration, self._lockout, self._factory):
                if check == self._lockout and self.plan != "full":
                    self.lockout.skip(f"full plan only ({self.threshold} failures {self.delay:g} s apart)")
                    continue
                first = w.mark()
                check()
                self.cases[-1].calls += range(first, w.mark())  # the requests are the evidence
        finally:
            w.raw(Command.OPERATOR_DELETE, {"operator": PROBE}, officer)
        for r in self.results():
            r.seconds = (time.perf_counter() - started) / len(self.results())
        return self.results()

    def _parallel(self) -> None:
        case = self._case(self.parallel, "two logins for one id at once")
        first, second = self._begin(PROBE), self._begin(PROBE)
        if not case.expect(isinstance(first, HalfOpen) and isinstance(second, HalfOpen),
                           "AUTH_BEGIN twice for one id was refused"):
            return
        assert isinstance(first, HalfOpen) and isinstance(second, HalfOpen)
        reply = self._finish(first, self.password)
        case.expect(reply.status is not Status.OK and not reply.data,
                    f"the replaced half-open login, finished with the right password, answered {reply.status.name}")
        reply = self._finish(second, self.password)
        case.expect(reply.status is Status.OK, f"the newer login with the right password answered {reply.status.name}")

    def _oracle(self) -> None:
        case = self._case(self.oracle, "right password within the failure delay")
        for _ in range(TRIES):
            failed, _ = self._attempt(PROBE, "wrong-" + secrets.token_hex(6))
            after = time.monotonic()
            case.expect(failed.status is Status.AUTH_FAILED, f"a wrong password answered {failed.status.name}")
            half = self._begin(PROBE)
            if not isinstance(half, HalfOpen):
                case.failures.append(f"AUTH_BEGIN after a failure answered {half.status.name}")
                return
            if time.monotonic() - after > self.delay / 2:  # too slow to be inside the delay: try again
                self._finish(half, "wrong-" + secrets.token_hex(6))
                self._wait_out_delay()
                continue
            right = self._finish(half, self.password)
            case.expect(right.status is failed.status and right.message == failed.message and not right.data,
                        f"within {self.delay:g} s of a failure the right password answered {right.status.name} "
                        f"({right.message!r}); a wrong one answered {failed.status.name} ({failed.message!r})")
            break
        else:
            self.oracle.notes.append(f"the machine was too slow to attempt within {self.delay / 2:g} s {TRIES} times")
            case.failures.append("no attempt within the delay could be made")
        self._wait_out_delay()
        later, _ = self._attempt(PROBE, self.password)
        self._case(self.oracle, "right password after the delay").expect(
            later.status is Status.OK, f"{self.delay + DELAY_MARGIN:g} s after a failure the right password answered "
                                       f"{later.status.name}")

    def _enumeration(self) -> None:
        case = self._case(self.enumeration, f"{PROBE} and {self.unknown}")
        answers: dict[str, list[HalfOpen]] = {}
        for n, name in enumerate((PROBE, self.unknown, PROBE, self.unknown)):
            half = self._begin(name)
            if not case.expect(isinstance(half, HalfOpen), f"AUTH_BEGIN for {name} was refused"):
                return
            assert isinstance(half, HalfOpen)
            answers.setdefault(name, []).append(half)
            reply = self._finish(half, "wrong-" + secrets.token_hex(6))
            case.expect(reply.status is Status.AUTH_FAILED and reply.message == "authentication failed",
                        f"a wrong password for {name} answered {reply.status.name} ({reply.message!r})")
            if n % 2:  # each id's delay runs on its own: one wait per pair
                self._wait_out_delay()
        known, unknown = answers[PROBE], answers[self.unknown]
        case.expect(sorted(known[0].begin.data) == sorted(unknown[0].begin.data),
                    f"AUTH_BEGIN's fields differ: {sorted(known[0].begin.data)} for a real id, "
                    f"{sorted(unknown[0].begin.data)} for an unknown one")
        case.expect(len(known[0].salt) == len(unknown[0].salt), "the salts of a real and an unknown id differ in size")
        case.expect(known[0].salt == known[1].salt and unknown[0].salt == unknown[1].salt,
                    "a salt changes between logins for the same id (a real id's or an unknown id's)")
        case.expect(unknown[0].iterations == known[0].iterations,
                    f"the unknown id announces {unknown[0].iterations} iterations, the only real User "
                    f"{known[0].iterations}")

    def _lockout(self) -> None:
        case = self._case(self.lockout, f"{self.threshold} failures")
        for n in range(self.threshold):
            for name in (PROBE, self.unknown):
                reply, _ = self._attempt(name, "wrong-" + secrets.token_hex(6))
                case.expect(reply.status is Status.AUTH_FAILED, f"failure {n + 1} for {name} answered "
                                                                 f"{reply.status.name}")
            self._wait_out_delay()
        right, _ = self._attempt(PROBE, self.password)
        case.expect(right.status is Status.AUTH_FAILED and not right.data,
                    f"after {self.threshold} failures the right password answered {right.status.name}")
        nobody, _ = self._attempt(self.unknown, "wrong-" + secrets.token_hex(6))
        case.expect(nobody.status is right.status, f"the locked unknown id answered {nobody.status.name}, the locked "
                                                   f"real one {right.status.name}")
        unlock = self.world.raw(Command.OPERATOR_UNLOCK, {"operator": PROBE}, self.world.officer_name)
        case.expect(unlock.status is Status.OK, f"OPERATOR_UNLOCK answered {unlock.status.name}")
        again, _ = self._attempt(PROBE, self.password)
        case.expect(again.status is Status.OK, f"after OPERATOR_UNLOCK the right password answered {again.status.name}")

    def _factory(self) -> None:
        case = self._case(self.factory, "factory credential in OPERATIONAL")
        reply, _ = self._attempt(FACTORY_OPERATOR, FACTORY_PASSWORD)
        case.expect(reply.status is Status.AUTH_FAILED, f"the factory credential answered {reply.status.name}")
        self._wait_out_delay()  # a later re-initialisation logs in with it

    def _case(self, result: Result, label: str) -> Case:
        case = Case(result, label)
        self.cases.append(case)
        return case
