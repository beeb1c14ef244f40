"""Step 3, fault injection (ISO/IEC 19790 7.10 self-tests, 7.3 data output inhibited in error states).

For every CAST (names from the lab port's status, checked against the policy), the integrity test,
the DRBG health test, a stuck and a biased entropy source and the pairwise consistency test:

1. inject through the lab port (the injection must leave a FAULT_INJECTED record);
2. trigger: the on-demand self-test, a power cycle, or a key-pair generation;
3. the module must be in the error state the policy names for that test (``on_failure``);
4. every service the policy does not allow in that state is tried, and each must be refused with
   MODULE_ERROR or INVALID_STATE and no data (and each refusal must be in the trail);
5. recover (entropy back to ok, power cycle) and the module must be OPERATIONAL again;
6. the trail must hold the injection, the failing self-test record and the ERROR_ENTERED and
   state-change records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from host_tools.lab.keytransport import KeyTransport
from host_tools.lab.policy import CONTROL_SERVICES
from host_tools.lab.results import Result
from host_tools.lab.steps.base import AuditView, Case
from host_tools.lab.world import USER, World
from module.wire.audit.record import RecordKind
from module.wire.defs import AuditEvent, Command, KeyType, KeyUse, Status

__all__ = ["FaultStep"]

BIASED_TRIES = 5  # self-test runs allowed for the APT to notice a biased source (it is statistical)
REFUSALS = (Status.MODULE_ERROR, Status.INVALID_STATE)


@dataclass
class Scenario:
    label: str
    family: str
    inject: list[tuple[str, dict[str, Any]]]
    trigger: str  # "self-test", "power-cycle", "key-generate", "key-import"
    policy_test: str  # the policy's self-test name, for its on_failure
    failing_record: Callable[[str], bool]  # detail of the failing self-test (or PCT) record
    fault_detail: str  # text the FAULT_INJECTED record must contain
    key_type: KeyType | None = None
    restore: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _starts(prefix: str) -> Callable[[str], bool]:
    return lambda detail: detail.startswith(prefix)


class FaultStep:
    def __init__(self, world: World, plan: str) -> None:
        self.world = world
        self.plan = plan
        self.cases: list[Case] = []
        self.results: dict[str, Result] = {}

    def _result(self, family: str, test: str, clause: str = "7.10") -> Result:
        if family not in self.results:
            self.results[family] = Result(f"fault.{family}", 3, clause, test)
        return self.results[family]

    def scenarios(self) -> list[Scenario]:
        w, full = self.world, self.plan == "full"
        policy_casts = {e["name"] for e in w.policy.cast_entries()} - {"HMAC_DRBG health test"}
        casts = list(w.casts)
        result = self._result("cast-on-demand", f"every CAST failing at the on-demand self-test ({len(casts)})")
        if set(casts) != policy_casts:
            result.fail(f"the lab port's CASTs and the policy's differ: only on the lab port "
                        f"{sorted(set(casts) - policy_casts)}, only in the policy {sorted(policy_casts - set(casts))}")
        out: list[Scenario] = []

        def cast(name: str, trigger: str, family: str) -> Scenario:
            return Scenario(f"CAST {name} ({trigger})", family, [("corrupt-cast", {"name": name})], trigger, name,
                            _starts(f"CAST {name}: FAIL"), name)

        out += [cast(n, "self-test", "cast-on-demand") for n in casts]
        if full:
            self._result("cast-power-on", f"every CAST failing at power-on ({len(casts)})")
            out += [cast(n, "power-cycle", "cast-power-on") for n in casts]
        self._result("integrity", "software integrity test failing (HMAC-SHA-256 over the module's code)")
        out.append(Scenario("integrity (power-cycle)", "integrity", [("corrupt-integrity", {})], "power-cycle",
                            "software integrity", lambda d: d.startswith("integrity") and "FAIL" in d, "integrity"))
        if full:
            out.append(Scenario("integrity (self-test)", "integrity", [("corrupt-integrity", {})], "self-test",
                                "software integrity", lambda d: d.startswith("integrity") and "FAIL" in d, "integrity"))
        self._result("drbg", "HMAC_DRBG health test failing")
        out.append(Scenario("DRBG health test (self-test)", "drbg", [("corrupt-drbg", {})], "self-test",
                            "HMAC_DRBG health test", lambda d: d.startswith("HMAC_DRBG health test: FAIL"), "drbg"))
        self._result("entropy-stuck", "entropy source stuck (SP 800-90B Repetition Count Test)")
        ok = [("entropy", {"mode": "ok"})]
        out.append(Scenario("entropy stuck (power-cycle)", "entropy-stuck", [("entropy", {"mode": "stuck"})],
                            "power-cycle", "entropy start-up", lambda d: d.startswith("entropy start-up") and "FAIL" in d,
                            "entropy source stuck", restore=ok))
        if full:
            out.append(Scenario("entropy stuck (self-test)", "entropy-stuck", [("entropy", {"mode": "stuck"})],
                                "self-test", "entropy start-up",
                                lambda d: d.startswith("entropy start-up") and "FAIL" in d, "entropy source stuck",
                                restore=ok))
        self._result("entropy-biased", "entropy source biased (SP 800-90B Adaptive Proportion Test)")
        out.append(Scenario("entropy biased (self-test)", "entropy-biased", [("entropy", {"mode": "biased"})],
                            "self-test", "entropy start-up", lambda d: d.startswith("entropy start-up") and "FAIL" in d,
                            "entropy source biased", restore=ok))
        self._result("pct", "pairwise consistency test failing")
        pct_types = w.policy.pct_key_types() if full else ["EC_P256"]
        for name in pct_types:
            kt = KeyType[name]
            out.append(Scenario(f"PCT {name} (key generation)", "pct", [("corrupt-pct", {})], "key-generate",
                                "pairwise consistency test", _starts(f"{name}: FAIL"), "pct",
                                key_type=kt))
        if full:
            out.append(Scenario("PCT EC_P256 (key import)", "pct", [("corrupt-pct", {})], "key-import",
                                "pairwise consistency test", lambda d: d.startswith("EC_P256: FAIL"), "pct",
                                key_type=KeyType.EC_P256))
        return out

    def run(self) -> list[Result]:
        for scenario in self.scenarios():
            started = time.perf_counter()
            self._run(scenario)
            self.results[scenario.family].seconds += time.perf_counter() - started
        return list(self.results.values())

    def _run(self, sc: Scenario) -> None:
        w = self.world
        result = self.results[sc.family]
        case = Case(result, sc.label)
        self.cases.append(case)
        w.ensure_operational()
        transport: KeyTransport | None = None
        material = b""
        if sc.trigger in ("self-test", "key-generate", "key-import"):
            w.session(USER)  # opened before the fault: sessions survive an error entered at run time
        if sc.trigger == "key-import":
            transport = KeyTransport(w, USER)
            transport.establish()
            material = (12345).to_bytes(32, "big")  # a valid P-256 private scalar
        lo = int(w.status()["audit"]["next_seq"])
        for cmd, args in sc.inject:
            w.lab.command(cmd, **args)
        expected = w.policy.self_test_on_failure(sc.policy_test) or "SOFT_ERROR"
        # Trigger.
        if sc.trigger == "self-test":
            tries = BIASED_TRIES if sc.family == "entropy-biased" else 1
            for attempt in range(1, tries + 1):
                case.calls.append(w.mark())
                reply = w.raw(Command.SELF_TEST)
                if reply.status is not Status.OK:
                    break
            if tries > 1:
                result.notes.append(f"{sc.label}: the APT tripped at self-test run {attempt} of at most {tries}"
                                    if reply.status is not Status.OK else
                                    f"{sc.label}: the APT did not trip in {tries} self-test runs")
            case.expect(reply.status is Status.SELF_TEST_FAILED,
                        f"the self-test answered {reply.status.name}, expected SELF_TEST_FAILED")
        elif sc.trigger == "power-cycle":
            w.power_cycle()
        elif sc.trigger == "key-generate":
            assert sc.key_type is not None
            case.calls.append(w.mark())
            reply = w.raw(Command.KEY_GENERATE, {"key_type": int(sc.key_type)}, USER)
            case.expect(reply.status is Status.SELF_TEST_FAILED,
                        f"KEY_GENERATE {sc.key_type.name} answered {reply.status.name}, expected SELF_TEST_FAILED")
        else:
            assert transport is not None and sc.key_type is not None
            case.calls.append(w.mark())
            reply = transport.import_key(sc.key_type, material, KeyUse.SIGN | KeyUse.VERIFY)
            case.expect(reply.status is Status.SELF_TEST_FAILED,
                        f"KEY_IMPORT {sc.key_type.name} answered {reply.status.name}, expected SELF_TEST_FAILED")
        status = w.status()
        state = str(status["state_name"])
        case.expect(state == expected, f"the module is {state}, the policy says {expected}")
        case.expect(bool(status.get("last_error")), "status shows no last error")
        # Data output inhibited: every service the policy does not allow in the error state.
        allowed = w.policy.allowed_in(expected)
        extra = sorted(allowed - CONTROL_SERVICES)
        case.expect(not extra, f"the policy lets {expected} serve data-output services {extra}")
        who = USER if w.has_session(USER) else None
        answered: list[str] = []
        tried = 0
        for svc in w.policy.services:
            if svc.command in allowed:
                continue
            tried += 1
            index = w.mark()
            reply = w.raw(svc.code, {}, who)
            case.audited.append(index)
            if reply.status not in REFUSALS or reply.data:
                answered.append(f"{svc.command} -> {reply.status.name}")
        case.expect(not answered, f"{len(answered)} of {tried} data-output services were not refused: "
                                   + ", ".join(answered[:8]))
        hi_error = int(w.status()["audit"]["next_seq"]) - 1
        # Recover.
        for cmd, args in sc.restore:
            w.lab.command(cmd, **args)
        answer = w.power_cycle()
        case.expect(answer.get("state") == "OPERATIONAL", f"after recovery (power cycle) the module is "
                                                           f"{answer.get('state')}")
        hi = int(w.status()["audit"]["next_seq"]) - 1
        case.window = (lo, hi)
        if transport is not None:
            w.ensure_operational()
            transport.close()

        def audit(case: Case, view: AuditView) -> None:
            records = view.records(lo, hi)
            injected = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.FAULT_INJECTED
                        and sc.fault_detail in r.detail]
            case.expect(bool(injected), f"no FAULT_INJECTED record naming {sc.fault_detail!r}")
            code = AuditEvent.PCT_RESULT if sc.family == "pct" else AuditEvent.SELF_TEST_RESULT
            failing = [r for r in records if r.kind is RecordKind.EVENT and r.code == code
                       and r.status == Status.SELF_TEST_FAILED and sc.failing_record(r.detail)]
            case.expect(bool(failing), f"no failing {AuditEvent(code).name} record for {sc.label}")
            entered = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.ERROR_ENTERED
                       and r.seq <= hi_error]
            case.expect(bool(entered), "no ERROR_ENTERED record")
            into = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.STATE_CHANGE
                    and f"->{expected} " in r.detail + " " and r.seq <= hi_error]
            case.expect(bool(into), f"no state change into {expected} recorded")
            back = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.STATE_CHANGE
                    and r.detail.startswith("SELF_TEST->OPERATIONAL") and r.seq > hi_error]
            case.expect(bool(back), "no return to OPERATIONAL recorded")
            case.seqs |= {r.seq for r in injected[:1] + failing[:1] + entered[:1] + into[:1] + back[:1]}

        case.audit = audit
        w.maybe_drain()
