"""Step 5, state-machine conformance (ISO/IEC 19790 7.11 finite state model), by a seeded random walk.

Actions: the on-demand self-test, a power cycle (lab port), zeroise (with a Crypto Officer session
opened while logins were possible, so it also runs from error states), initialise, fault
injections (a CAST, the integrity test, the DRBG test, a stuck entropy source; one at a time),
a pairwise-consistency failure at key generation, and probes (a random service with no session).

A model of the module predicts, from the published transition table alone, the transitions
every action causes and the state it ends in; a refused action must get the status the table
implies (INVALID_STATE, or MODULE_ERROR in an error state) and change nothing. After the run
the STATE_CHANGE records of every action's window are compared with the prediction, step by
step, and every recorded transition must be a row of the published table.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from host_tools.lab.results import Result
from host_tools.lab.steps.base import AuditView, Case
from host_tools.lab.world import USER, World
from module.wire.audit.record import RecordKind
from module.wire.defs import AuditEvent, Command, KeyType, Status

__all__ = ["StateWalkStep"]

ACCESS = (Status.NOT_AUTHENTICATED, Status.ACCESS_DENIED)
# Probes leave out the services that are walk actions of their own, and the two whose "no audit
# key yet" answer in a factory module reuses INVALID_STATE (see the report's notes).
NOT_PROBED = {"SELF_TEST", "ZEROISE", "INITIALISE", "AUDIT_PUBKEY", "AUDIT_CHECKPOINT"}
Transition = tuple[str, str, str]  # (from, trigger, to)


@dataclass
class Model:
    state: str
    initialised: bool
    armed: tuple[str, str] | None = None  # (label, on_failure) of a one-shot self-test fault
    entropy_bad: bool = False
    pct_armed: bool = False


@dataclass
class Action:
    n: int
    name: str
    expected: list[Transition] = field(default_factory=list)
    lo: int = 0
    hi: int = -1


class StateWalkStep:
    def __init__(self, world: World, plan: str, seed: int) -> None:
        self.world = world
        self.steps = 400 if plan == "full" else 150
        self.seed = seed
        self.rng = random.Random(seed)
        self.transitions = Result("fsm.transitions", 5, "7.11",
                                  "state machine: recorded transitions match the published table (seeded walk)")
        self.refusals = Result("fsm.refusals", 5, "7.11",
                               "state machine: requests illegal in a state refused with the distinct status")
        self.cases: list[Case] = []
        self.actions: list[Action] = []
        self.co: str | None = None  # the name of the open Crypto Officer session, if any

    # ------------------------------------------------------------- model
    def _next(self, state: str, trigger: str) -> str:
        nxt = self.world.policy.next_state(state, trigger)
        return nxt if nxt is not None else f"<no row {state}/{trigger}>"

    def _self_tests(self, model: Model, start: str) -> list[Transition]:
        """Transitions of a self-test run entered from SELF_TEST; updates the model."""
        if model.armed is not None:
            trigger = "HARD_FAULT" if model.armed[1] == "HARD_ERROR" else "SOFT_FAULT"
            model.armed = None
        elif model.entropy_bad:
            on_failure = self.world.policy.self_test_on_failure("entropy start-up") or "SOFT_ERROR"
            trigger = "HARD_FAULT" if on_failure == "HARD_ERROR" else "SOFT_FAULT"
        else:
            trigger = "SELF_TEST_PASS_INITIALISED" if model.initialised else "SELF_TEST_PASS_FACTORY"
        end = self._next(start, trigger)
        model.state = end
        return [(start, trigger, end)]

    # -------------------------------------------------------------- run
    def run(self) -> list[Result]:
        w = self.world
        started = time.perf_counter()
        w.ensure_operational()
        model = Model(w.state(), True)
        for n in range(self.steps):
            self._step(n, model)
            if model.state == "OPERATIONAL":
                w.maybe_drain()
        w.lab.command("entropy", mode="ok")
        w.ensure_operational()
        self._coverage()
        self.transitions.seconds = self.refusals.seconds = (time.perf_counter() - started) / 2
        return [self.transitions, self.refusals]

    def _choices(self, model: Model) -> list[tuple[str, float]]:
        quiet = model.armed is None and not model.entropy_bad and not model.pct_armed
        error_with_officer = self.co is not None and model.state in self.world.policy.error_states()
        out = [("self-test", 3.0), ("power-cycle", 2.0), ("probe", 3.0), ("zeroise", 3.0 if error_with_officer else 0.7),
               ("initialise", 1.0)]
        if quiet:
            out += [("inject-cast", 1.2), ("inject-integrity", 0.5), ("inject-drbg", 0.5), ("entropy-stuck", 0.4)]
            if model.state == "OPERATIONAL":
                out.append(("pct", 0.5))
        if model.entropy_bad:
            out.append(("entropy-ok", 2.0))
        return out

    def _step(self, n: int, model: Model) -> None:
        w = self.world
        if self.co is not None and not w.has_session(self.co):
            self.co = None
        # A Crypto Officer session, opened while logins are possible, lets ZEROISE run from error states.
        # Only a real officer's: the factory credential may initialise and log out, nothing else.
        if model.state == "OPERATIONAL" and self.co is None and self.rng.random() < 0.6:
            self.co = w.officer_name
            w.session(self.co)
        choices = self._choices(model)
        name = self.rng.choices([c[0] for c in choices], [c[1] for c in choices])[0]
        action = Action(n, name)
        action.lo = int(w.status()["audit"]["next_seq"])
        before = model.state
        case = Case(self.refusals, f"walk step {n} {name} in {before}")
        tcase = Case(self.transitions, f"walk step {n} {name} in {before}")
        getattr(self, "_do_" + name.replace("-", "_"))(model, action, case)
        status = w.status()
        action.hi = int(status["audit"]["next_seq"]) - 1
        self.actions.append(action)
        if status["state_name"] != model.state:
            tcase.failures.append(f"the module is in {status['state_name']}, the published table predicts "
                                  f"{model.state}")
            model.state = str(status["state_name"])  # continue from where the module really is
        tcase.window = (action.lo, action.hi)
        tcase.audit = self._audit_for(action)
        self.cases.append(tcase)
        if case.failures or case.audited or case.calls:
            self.cases.append(case)

    def _audit_for(self, action: Action) -> Callable[[Case, AuditView], None]:
        policy = self.world.policy

        def audit(case: Case, view: AuditView) -> None:
            seen: list[Transition] = []
            for r in view.records(action.lo, action.hi):
                if r.kind is RecordKind.EVENT and r.code == AuditEvent.STATE_CHANGE:
                    head, _, rest = r.detail.partition(" (")
                    src, _, dst = head.partition("->")
                    trigger = rest.split(":", 1)[0]
                    seen.append((src, trigger, dst))
                    case.seqs.add(r.seq)
                    if policy.next_state(src, trigger) != dst:
                        case.failures.append(f"recorded transition {src} --{trigger}--> {dst} (seq {r.seq}) is not "
                                             "a row of the published table")
            if seen != action.expected:
                case.failures.append(f"recorded {_fmt(seen)}, the table predicts {_fmt(action.expected)}")

        return audit

    # ----------------------------------------------------------- actions
    def _refusal(self, model: Model, service: str, reply_status: Status, case: Case, *, session: bool) -> None:
        """A request the published table says is refused in this state (or for lack of a session)."""
        svc = self.world.policy.by_name[service]
        if model.state not in svc.states:
            expected = {Status[self.world.policy.refusal_for_state(model.state)]}
            if not session:
                expected |= set(ACCESS)
        elif not session and not svc.public:
            expected = {Status.NOT_AUTHENTICATED}
        else:
            return
        case.calls.append(self.world.mark() - 1)
        case.expect(reply_status in expected, f"{service} in {model.state}: answered {reply_status.name}, the "
                                               f"table implies {'/'.join(sorted(s.name for s in expected))}")

    def _do_self_test(self, model: Model, action: Action, case: Case) -> None:
        w = self.world
        svc = w.policy.by_name["SELF_TEST"]
        reply = w.raw(Command.SELF_TEST)
        if model.state not in svc.states:
            self._refusal(model, "SELF_TEST", reply.status, case, session=False)
            return
        start = self._next(model.state, "SELF_TEST_REQUESTED")
        action.expected = [(model.state, "SELF_TEST_REQUESTED", start)]
        action.expected += self._self_tests(model, start)
        passed = model.state in ("OPERATIONAL", "UNINITIALISED")
        case.expect(reply.status is (Status.OK if passed else Status.SELF_TEST_FAILED),
                    f"SELF_TEST answered {reply.status.name}")

    def _do_power_cycle(self, model: Model, action: Action, case: Case) -> None:
        self.world.power_cycle()
        self.co = None
        off = self._next(model.state, "POWER_OFF")
        on = self._next(off, "POWER_ON")
        action.expected = [(model.state, "POWER_OFF", off), (off, "POWER_ON", on)]
        action.expected += self._self_tests(model, on)

    def _do_zeroise(self, model: Model, action: Action, case: Case) -> None:
        w = self.world
        if self.co is not None and w.has_session(self.co):
            reply = w.raw(Command.ZEROISE, {}, self.co)
            self.co = None
            svc = w.policy.by_name["ZEROISE"]
            if model.state in svc.states:
                case.expect(reply.status is Status.OK, f"ZEROISE in {model.state} answered {reply.status.name}")
                end = self._next(model.state, "ZEROISE")
                action.expected = [(model.state, "ZEROISE", end)]
                model.state, model.initialised = end, False
                w.drop_sessions()
            else:
                self._refusal(model, "ZEROISE", reply.status, case, session=True)
        else:
            reply = w.raw(Command.ZEROISE)
            self._refusal(model, "ZEROISE", reply.status, case, session=False)

    def _do_initialise(self, model: Model, action: Action, case: Case) -> None:
        w = self.world
        if model.state == "UNINITIALISED":
            self.co = None
            w.drop_sessions()
            w.initialise_from_factory()
            action.expected = [("UNINITIALISED", "INITIALISE", self._next("UNINITIALISED", "INITIALISE"))]
            model.state, model.initialised = action.expected[0][2], True
            if model.state == "OPERATIONAL":
                w.create_lab_operators()
        else:
            reply = w.raw(Command.INITIALISE)
            self._refusal(model, "INITIALISE", reply.status, case, session=False)

    def _inject(self, model: Model, cmd: str, args: dict[str, str], label: str, policy_test: str) -> None:
        self.world.lab.command(cmd, **args)
        model.armed = (label, self.world.policy.self_test_on_failure(policy_test) or "SOFT_ERROR")

    def _do_inject_cast(self, model: Model, action: Action, case: Case) -> None:
        name = self.rng.choice(self.world.casts)
        self._inject(model, "corrupt-cast", {"name": name}, f"CAST {name}", name)

    def _do_inject_integrity(self, model: Model, action: Action, case: Case) -> None:
        self._inject(model, "corrupt-integrity", {}, "integrity", "software integrity")

    def _do_inject_drbg(self, model: Model, action: Action, case: Case) -> None:
        self._inject(model, "corrupt-drbg", {}, "DRBG", "HMAC_DRBG health test")

    def _do_entropy_stuck(self, model: Model, action: Action, case: Case) -> None:
        self.world.lab.command("entropy", mode="stuck")
        model.entropy_bad = True

    def _do_entropy_ok(self, model: Model, action: Action, case: Case) -> None:
        self.world.lab.command("entropy", mode="ok")
        model.entropy_bad = False

    def _do_pct(self, model: Model, action: Action, case: Case) -> None:
        w = self.world
        w.lab.command("corrupt-pct")
        reply = w.raw(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256)}, USER)
        case.expect(reply.status is Status.SELF_TEST_FAILED, f"KEY_GENERATE with a failing PCT answered "
                                                             f"{reply.status.name}")
        end = self._next(model.state, "SOFT_FAULT")
        action.expected = [(model.state, "SOFT_FAULT", end)]
        model.state = end

    def _do_probe(self, model: Model, action: Action, case: Case) -> None:
        w = self.world
        candidates = [s for s in w.policy.services if s.command not in NOT_PROBED]
        svc = self.rng.choice(candidates)
        index = w.mark()
        reply = w.raw(svc.code)
        case.audited.append(index)
        if model.state not in svc.states or not svc.public:
            self._refusal(model, svc.command, reply.status, case, session=False)
        else:
            case.expect(reply.status not in (*ACCESS, Status.INVALID_STATE, Status.MODULE_ERROR),
                        f"{svc.command} is listed for {model.state} and the public, answered {reply.status.name}")

    # ---------------------------------------------------------- coverage
    def _coverage(self) -> None:
        rows = set(self.world.policy.transitions)
        seen = {(a, t) for action in self.actions for a, t, _ in action.expected}
        missing = sorted(rows - seen)
        self.transitions.notes.append(f"seed {self.seed}, {len(self.actions)} steps; {len(rows & seen)} of "
                                      f"{len(rows)} rows of the published table exercised")
        if missing:
            self.transitions.notes.append("not exercised: " + ", ".join(f"{s}/{t}" for s, t in missing))


def _fmt(transitions: list[Transition]) -> str:
    return "[" + ", ".join(f"{a} --{t}--> {b}" for a, t, b in transitions) + "]" if transitions else "no transition"
