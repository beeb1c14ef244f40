"""Step 2, self-tests (ISO/IEC 19790 7.10): power-on and on-demand self-tests, proven from the trail.

A power cycle through the lab port must bring the module back OPERATIONAL with the boot counter
one higher, and the exported trail must hold, for that boot, one passing SELF_TEST_RESULT record
for every pre-operational self-test the policy lists (the integrity test, the entropy start-up
test, the DRBG health test and every CAST), the integrity test's own algorithm (HMAC-SHA-256 on hashlib)
tested before it (IG 10.3.A). Then SELF_TEST on demand: it must pass and leave the same records.

The audit format carries no self-test identifier; records are matched by their detail text
("CAST <name>: pass", "integrity ...", "entropy start-up ...", "<name>: pass").
"""

from __future__ import annotations

from host_tools.lab.results import Result
from host_tools.lab.steps.base import AuditView, Case
from host_tools.lab.world import World
from module.wire.audit.record import AuditRecord, RecordKind
from module.wire.defs import AuditEvent, Command, Status

__all__ = ["SelfTestStep", "record_for_test", "INTEGRITY_ALGORITHM_CAST"]

INTEGRITY_ALGORITHM_CAST = "HMAC-SHA-256 (hashlib)"  # the integrity test's HMAC, in the implementation it runs on


def record_for_test(name: str, detail: str) -> bool:
    """Whether a SELF_TEST_RESULT record's detail is about the policy's self-test ``name``."""
    if name == "software integrity":
        return detail.startswith("integrity")
    if name == "entropy start-up":
        return detail.startswith("entropy start-up")
    return detail.startswith(f"CAST {name}:") or detail.startswith(f"{name}:")


def check_results(case: Case, records: list[AuditRecord], tests: list[str]) -> None:
    results = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.SELF_TEST_RESULT]
    for name in tests:
        mine = [r for r in results if record_for_test(name, r.detail)]
        passing = [r for r in mine if r.status == Status.OK and r.detail.endswith(": pass")]
        if len(passing) != 1 or len(mine) != 1:
            case.failures.append(f"self-test {name!r}: {len(passing)} passing and {len(mine) - len(passing)} "
                                 f"other SELF_TEST_RESULT records (expected exactly one passing)")
        case.seqs |= {r.seq for r in mine}
    order = {name: next((r.seq for r in results if record_for_test(name, r.detail)), None)
             for name in (INTEGRITY_ALGORITHM_CAST, "software integrity")}
    first, second = order[INTEGRITY_ALGORITHM_CAST], order["software integrity"]
    if first is not None and second is not None and first > second:
        case.failures.append(f"the integrity test (seq {second}) ran before the CAST of its own algorithm "
                             f"{INTEGRITY_ALGORITHM_CAST} (seq {first}) (FIPS 140-3 IG 10.3.A)")


class SelfTestStep:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cases: list[Case] = []
        self.results: list[Result] = []

    def run(self) -> list[Result]:
        w = self.world
        w.ensure_operational()
        tests = w.policy.pre_operational_tests()
        boot_result = Result("selftest.power-on", 2, "7.10",
                             f"pre-operational self-tests at power-on ({len(tests)} tests; power cycle via the lab port)")
        demand_result = Result("selftest.on-demand", 2, "7.10", f"on-demand self-test (SELF_TEST; {len(tests)} tests)")
        self.results += [boot_result, demand_result]

        # Power-on.
        case = Case(boot_result, "power-on")
        before = w.status()
        lo = int(before["audit"]["next_seq"])
        answer = w.power_cycle()
        after = w.status()
        boot = int(answer.get("boot_counter", -1))
        case.expect(answer.get("state") == "OPERATIONAL", f"after the power cycle the module is {answer.get('state')}")
        case.expect(boot == int(before["boot_counter"]) + 1,
                    f"boot counter {before['boot_counter']} -> {boot} (expected one more)")
        hi = int(after["audit"]["next_seq"]) - 1
        case.window = (lo, hi)
        boot_result.notes.append(f"boot {boot}: self-tests took {after.get('self_test_ms')} ms (status)")

        def audit_boot(case: Case, view: AuditView, lo: int = lo, hi: int = hi) -> None:
            records = [r for r in view.records(lo, hi) if r.boot == boot]
            power_on = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.POWER_ON]
            case.expect(bool(power_on), f"no POWER_ON record for boot {boot}")
            operational = [r for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.STATE_CHANGE
                           and r.detail.startswith("SELF_TEST->OPERATIONAL")]
            case.expect(bool(operational), f"no SELF_TEST->OPERATIONAL record for boot {boot}")
            end = operational[0].seq if operational else hi
            check_results(case, [r for r in records if r.seq < end], tests)
            case.seqs |= {r.seq for r in power_on + operational}

        case.audit = audit_boot
        self.cases.append(case)

        # On demand.
        case = Case(demand_result, "on-demand")
        lo = int(w.status()["audit"]["next_seq"])
        case.calls.append(w.mark())
        reply = w.raw(Command.SELF_TEST)
        case.expect(reply.status is Status.OK and bool(reply.data.get("passed")),
                    f"SELF_TEST answered {reply.status.name} {reply.message}")
        case.expect(int(reply.data.get("tests", -1)) == len(tests),
                    f"SELF_TEST says it ran {reply.data.get('tests')} tests, the policy lists {len(tests)}")
        state = w.state()
        case.expect(state == "OPERATIONAL", f"after SELF_TEST the module is {state}")
        hi = int(w.status()["audit"]["next_seq"]) - 1
        case.window = (lo, hi)

        def audit_demand(case: Case, view: AuditView, lo: int = lo, hi: int = hi) -> None:
            records = view.records(lo, hi)
            check_results(case, records, tests)
            changes = [r.detail.split(" ")[0] for r in records
                       if r.kind is RecordKind.EVENT and r.code == AuditEvent.STATE_CHANGE]
            case.expect(changes == ["OPERATIONAL->SELF_TEST", "SELF_TEST->OPERATIONAL"],
                        f"state changes recorded: {changes}")

        case.audit = audit_demand
        case.audited.append(case.calls.pop())
        self.cases.append(case)
        return self.results
