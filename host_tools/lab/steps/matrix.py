"""Step 4, the role x service matrix (ISO/IEC 19790 7.4) from the published service table.

In OPERATIONAL, every service is called with empty parameters by every role: none (no session),
Crypto Officer, User, Auditor. The published table decides the outcome:

* not available in OPERATIONAL: refused with INVALID_STATE (an access refusal is accepted too);
* a role the table does not list: refused with NOT_AUTHENTICATED (no session) or ACCESS_DENIED;
* a listed role (a service listed for NONE is public: anyone may call it): not refused for access
  or state; parameter errors are expected with empty parameters.

Every call, refused or served, must be in the trail (checked against the completeness match).
LOGOUT is called last for each role (it ends the session); the Crypto Officer's ZEROISE is run
last of all and the device is re-initialised after it. Also checked here, over every request of
the run: the approved-service indicator is set on exactly the served calls of approved services.
"""

from __future__ import annotations

import time

from host_tools.lab.results import Result
from host_tools.lab.steps.base import AuditView, Case
from host_tools.lab.world import AUDITOR, USER, World
from module.wire.defs import Command, KeyType, KeyUse, Status

__all__ = ["MatrixStep", "IndicatorCheck"]

ACCESS = (Status.NOT_AUTHENTICATED, Status.ACCESS_DENIED)
ROLE_OPERATOR = {"CRYPTO_OFFICER": "officer", "USER": USER, "AUDITOR": AUDITOR}
LAST = ("LOGOUT", "ZEROISE")


class MatrixStep:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cases: list[Case] = []
        self.forbidden = Result("matrix.forbidden", 4, "7.4",
                                "role x service matrix (OPERATIONAL): forbidden calls refused and audited")
        self.allowed = Result("matrix.allowed", 4, "7.4",
                              "role x service matrix (OPERATIONAL): allowed calls not refused for access, audited")

    def _who(self, role: str) -> str | None:
        if role == "NONE":
            return None
        name = ROLE_OPERATOR[role]
        return self.world.officer_name if name == "officer" else name

    def run(self) -> list[Result]:
        w = self.world
        started = time.perf_counter()
        w.ensure_operational()
        roles = [r for r in w.policy.roles if r in ("NONE", "CRYPTO_OFFICER", "USER", "AUDITOR")]
        services = sorted(w.policy.services, key=lambda s: (s.command in LAST, LAST.index(s.command)
                                                             if s.command in LAST else 0, s.code))
        zeroise_co = False
        for svc in services:
            for role in roles:
                if svc.command == "ZEROISE" and role == "CRYPTO_OFFICER":
                    zeroise_co = True  # disruptive: runs last of all, then the device is re-initialised
                    continue
                self._cell(svc.command, role)
        if zeroise_co:
            self._cell("ZEROISE", "CRYPTO_OFFICER")
            state = w.state()
            if state == "ZEROISED":
                w.reinitialise()
                self.allowed.notes.append("ZEROISE as Crypto Officer ran last; the device was power-cycled and "
                                          "re-initialised after it")
        self.forbidden.seconds = self.allowed.seconds = (time.perf_counter() - started) / 2
        return [self.forbidden, self.allowed]

    def _cell(self, command: str, role: str) -> None:
        w = self.world
        svc = w.policy.by_name[command]
        permitted = svc.public or role in svc.roles
        available = "OPERATIONAL" in svc.states
        result = self.allowed if permitted and available else self.forbidden
        case = Case(result, f"{command} as {role}")
        self.cases.append(case)
        who = self._who(role)
        index = w.mark()
        reply = w.raw(svc.code, {}, who)
        case.audited.append(index)
        if not available:
            case.expect(reply.status is Status.INVALID_STATE or reply.status in ACCESS,
                        f"not available in OPERATIONAL, answered {reply.status.name} (expected INVALID_STATE)")
        elif not permitted:
            expected = Status.NOT_AUTHENTICATED if role == "NONE" else Status.ACCESS_DENIED
            case.expect(reply.status is expected, f"forbidden for {role}, answered {reply.status.name} "
                                                  f"(expected {expected.name})")
        else:
            case.expect(reply.status not in (*ACCESS, Status.INVALID_STATE, Status.MODULE_ERROR),
                        f"allowed for {role} in OPERATIONAL, refused with {reply.status.name}: {reply.message}")
        if reply.status is not Status.OK:
            case.expect(not reply.data, f"a refusal carried data {sorted(reply.data)}")
        w.maybe_drain()


class IndicatorCheck:
    """The approved-service indicator over every answered request of the run (7.4, SP 800-140B 4.3)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.result = Result("matrix.indicator", 4, "7.4",
                             "approved-service indicator: set on every served approved service, never otherwise")
        self.cases: list[Case] = []

    def run(self) -> Result:
        """Serve SIGN_ECDSA_SHA1 once, so the indicator's clear side is seen on a served call.

        One purpose per key: a key made for approved signing is refused by the non-approved service,
        so the key is generated for non-approved signing only. A refusal fails the check."""
        w = self.world
        w.ensure_operational()
        svc = w.policy.by_name.get("SIGN_ECDSA_SHA1")
        if svc is None or svc.approved:
            self.result.notes.append("the published table lists no non-approved SIGN_ECDSA_SHA1: not called")
            return self.result
        self.result.calls.append(w.mark())
        key = w.raw(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256), "uses": int(KeyUse.SIGN_NON_APPROVED)},
                    USER)
        if not self.result.check(key.status is Status.OK and "key_id" in key.data,
                                 f"KEY_GENERATE of a P-256 key for non-approved signing answered {key.status.name}: "
                                 f"{key.message}"):
            return self.result
        self.result.calls.append(w.mark())
        reply = w.raw(Command.SIGN_ECDSA_SHA1, {"key_id": key.data["key_id"], "message": b"abc"}, USER)
        self.result.check(reply.status is Status.OK and not reply.approved,
                          f"SIGN_ECDSA_SHA1 with a key for non-approved signing answered {reply.status.name} with "
                          f"the indicator {'set' if reply.approved else 'clear'} (expected OK, indicator clear): "
                          f"{reply.message}")
        w.raw(Command.KEY_DELETE, {"key_id": key.data["key_id"]}, USER)
        return self.result

    def finish(self, view: AuditView) -> None:
        r = self.result
        wrong: list[str] = []
        served_non_approved = 0
        for call in view.calls:
            if call.status is None:
                continue
            svc = self.world.policy.by_code.get(call.command)
            expected = bool(svc and svc.approved and call.status is Status.OK)
            if svc is not None and not svc.approved and call.status is Status.OK:
                served_non_approved += 1
            r.run += 1
            if call.approved != expected:
                r.failed += 1
                wrong.append(f"{call.describe()}: indicator {'set' if call.approved else 'not set'}")
            else:
                r.passed += 1
            seq = view.call_to_seq.get(call.index)
            if seq is not None and seq in view.collector.records:
                if bool(view.collector.records[seq].approved) != call.approved:
                    r.add_failure(f"{call.describe()}: the record at seq {seq} disagrees with the answer's indicator")
                    r.failed += 1
        for message in wrong[:50]:
            r.add_failure(message)
        r.check(served_non_approved > 0, "no non-approved service was served in the whole run: the indicator's "
                                         "clear side was never seen on a served call")
        r.notes.append(f"{r.run} answers checked; {served_non_approved} served non-approved calls "
                       "(indicator clear)")
        if served_non_approved:
            r.calls += [c.index for c in view.calls
                        if c.status is Status.OK and not getattr(self.world.policy.by_code.get(c.command),
                                                                 "approved", True)]
