"""Step 6, data output in error and zeroised states, and zeroisation completeness.

ISO/IEC 19790 7.3 (data output inhibited in error states), 7.11 (no cryptographic operation in
an error state: no signed checkpoint), 7.9 (zeroisation of every SSP) and 7.4 (the factory
credential's scope). What the host can reach is tried, through the wire:

* SOFT_ERROR and HARD_ERROR entered with live sessions (a CAST or the integrity test failing at
  the on-demand self-test): the exact frames of earlier data-bearing requests (RANDOM, KEY_EXPORT,
  AUDIT_EXPORT) sent again, and new requests on the same sessions, must be refused with no data;
  AUDIT_CHECKPOINT must be refused. Before the fault the same retransmit must get the cached
  answer (so the retransmits are known to reach the cache at all).
* ZEROISE from HARD_ERROR and from OPERATIONAL: afterwards, and again after the power cycle,
  every earlier frame sent again and a new request under each old session's keys must be
  refused as an unknown session, in the clear, with no data; the old operators' passwords must
  not log in; after re-initialisation no earlier key is listed.
* In the factory state, the factory credential's session is refused every service but its own
  (``factory_operator_services`` in the policy), with no data.
* Over the whole run's trail: from every ERROR_ENTERED record to the next passing self-test
  (SELF_TEST->OPERATIONAL or ->UNINITIALISED) no checkpoint carries a signature.
"""

from __future__ import annotations

import secrets
import time

from host_tools.errors import DeviceError
from host_tools.lab.replay import Answer, SentFrame
from host_tools.lab.results import Result
from host_tools.lab.steps.base import AuditView, Case
from host_tools.lab.world import AUDITOR, FACTORY_OPERATOR, FACTORY_PASSWORD, USER, World
from module.wire.audit.record import AuditRecord, RecordKind
from module.wire.defs import AuditEvent, Command, KeyType, KeyUse, Status
from module.wire.messages import Reply

__all__ = ["OutputStep", "signed_checkpoints_in_error"]

STATE_REFUSALS = (Status.MODULE_ERROR, Status.INVALID_STATE)
GONE = (Status.SESSION_INVALID,)
PASSING = ("SELF_TEST->OPERATIONAL", "SELF_TEST->UNINITIALISED")


def signed_checkpoints_in_error(records: list[AuditRecord]) -> list[tuple[int, int]]:
    """(ERROR_ENTERED seq, checkpoint seq) for every checkpoint with a signature between an error
    entry and the next passing self-test, in a list of records sorted by seq."""
    out: list[tuple[int, int]] = []
    since: int | None = None
    for r in records:
        if r.kind is RecordKind.EVENT and r.code == AuditEvent.ERROR_ENTERED and since is None:
            since = r.seq
        elif r.kind is RecordKind.EVENT and r.code == AuditEvent.STATE_CHANGE and r.detail.startswith(PASSING):
            since = None
        elif r.kind is RecordKind.CHECKPOINT and since is not None and r.checkpoint is not None \
                and r.checkpoint.signature:
            out.append((since, r.seq))
    return out


class OutputStep:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cases: list[Case] = []
        self.soft = Result("output.soft-error", 6, "7.3", "no data output in SOFT_ERROR: retransmits of earlier "
                           "data-bearing requests and new requests on live sessions refused without data")
        self.hard = Result("output.hard-error", 6, "7.3", "no data output in HARD_ERROR: retransmits of earlier "
                           "data-bearing requests and new requests on live sessions refused without data")
        self.zeroised = Result("output.zeroised", 6, "7.3", "no data output after ZEROISE: earlier frames and new "
                               "requests on old session ids refused as unknown sessions, in ZEROISED and after "
                               "the power cycle")
        self.checkpoint = Result("output.checkpoint", 6, "7.11", "no signed checkpoint from ERROR_ENTERED until a "
                                 "passing self-test (AUDIT_CHECKPOINT refused live; every error stretch of the "
                                 "run's trail checked)")
        self.zeroise = Result("zeroise.completeness", 6, "7.9", "zeroisation from HARD_ERROR and from OPERATIONAL: "
                              "no session, cached answer, key or verifier survives")
        self.factory = Result("factory.scope", 6, "7.4", "the factory credential's session is refused every service "
                              "but its own, without data")
        self.key_ids: list[int] = []

    def results(self) -> list[Result]:
        return [self.soft, self.hard, self.zeroised, self.checkpoint, self.zeroise, self.factory]

    # ------------------------------------------------------------- helpers
    def _case(self, result: Result, label: str) -> Case:
        case = Case(result, label)
        self.cases.append(case)
        return case

    def _data_bearing(self, case: Case) -> list[tuple[SentFrame, Reply]]:
        """One data-bearing request on each lab operator's session; their frames, to repeat."""
        w = self.world
        officer = w.officer_name
        wrap = w.raw(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256), "uses": int(KeyUse.WRAP | KeyUse.UNWRAP)},
                     officer)
        key = w.raw(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256), "exportable": True,
                                           "uses": int(KeyUse.ENCRYPT | KeyUse.DECRYPT)}, officer)
        frames: list[tuple[SentFrame, Reply]] = []
        if not case.expect(wrap.status is Status.OK and key.status is Status.OK,
                           f"KEY_GENERATE for the export answered {wrap.status.name}/{key.status.name}"):
            return frames
        self.key_ids += [int(wrap.data["key_id"]), int(key.data["key_id"])]
        oldest = int(w.status()["audit"]["oldest_retained"])
        for command, params, who in (
            (Command.RANDOM, {"length": 32}, USER),
            (Command.KEY_EXPORT, {"key_id": int(key.data["key_id"]), "wrap_key_id": int(wrap.data["key_id"])}, officer),
            (Command.AUDIT_EXPORT, {"from_seq": oldest, "max_records": 2}, AUDITOR),
        ):
            case.calls.append(w.mark())
            reply, frame = w.sent(command, params, who)
            if case.expect(reply.status is Status.OK and bool(reply.data),
                           f"{Command(command).name} in OPERATIONAL answered {reply.status.name} without data"):
                frames.append((frame, reply))
        return frames

    def _expect_refused(self, case: Case, answer: Answer, what: str, allowed: tuple[Status, ...]) -> None:
        r = answer.reply
        case.expect(r.status in allowed and not r.data and not r.approved,
                    f"{what} answered {r.status.name}" + (f" with data {sorted(r.data)}" if r.data else "")
                    + f" (expected {'/'.join(s.name for s in allowed)}, no data)")

    def _error_state(self, result: Result, label: str, inject: tuple[str, dict[str, str]], test: str) -> list[SentFrame]:
        """Into the error state with live sessions; every retransmit and new request refused."""
        w = self.world
        expected = w.policy.self_test_on_failure(test) or "SOFT_ERROR"
        case = self._case(result, label)
        for name in (USER, AUDITOR, w.officer_name):
            w.session(name)
        sent = self._data_bearing(case)
        frames = [frame for frame, _ in sent]
        for frame, reply in sent[:1]:  # control: before the fault a retransmit gets the cached answer
            again = w.resend(frame, recorded=False)
            case.expect(again.protected and again.reply == reply,
                        f"in OPERATIONAL the retransmitted {Command(frame.command).name} answered "
                        f"{again.reply.status.name}, not its cached answer: the retransmits do not reach the cache")
        w.lab.command(inject[0], **inject[1])
        reply = w.raw(Command.SELF_TEST)
        state = w.state()
        if not case.expect(state == expected, f"after the injected fault and SELF_TEST ({reply.status.name}) the "
                                               f"module is {state}, the policy says {expected}"):
            return frames
        for frame in frames:
            index = w.mark()
            answer = w.resend(frame)
            case.audited.append(index)
            self._expect_refused(case, answer, f"the retransmitted {Command(frame.command).name} in {state}",
                                 STATE_REFUSALS)
        for command, params, who in ((Command.RANDOM, {"length": 32}, USER),
                                     (Command.AUDIT_EXPORT, {"from_seq": 0, "max_records": 2}, AUDITOR)):
            index = w.mark()
            reply = w.raw(command, params, who)
            case.audited.append(index)
            self._expect_refused(case, Answer(reply, True), f"a new {command.name} on the live session in {state}",
                                 STATE_REFUSALS)
        check = self._case(self.checkpoint, f"AUDIT_CHECKPOINT in {state}")
        index = w.mark()
        reply = w.raw(Command.AUDIT_CHECKPOINT, {"nonce": secrets.token_bytes(16)}, AUDITOR)
        check.audited.append(index)
        self._expect_refused(check, Answer(reply, True), f"AUDIT_CHECKPOINT in {state}", STATE_REFUSALS)
        return frames

    def _zeroised(self, label: str, frames: list[SentFrame], passwords: dict[str, str]) -> None:
        """After a ZEROISE: every earlier frame and a new request under every old session's keys refused,
        in ZEROISED and after the power cycle; old passwords refused; no key after re-initialisation."""
        w = self.world
        case = self._case(self.zeroised, label)
        complete = self._case(self.zeroise, label)
        first = w.mark()
        state = w.state()
        complete.expect(state == "ZEROISED", f"after ZEROISE the module is {state}")
        for when in ("in ZEROISED", "after the power cycle"):
            if when != "in ZEROISED":
                answer = w.power_cycle()
                complete.expect(answer.get("state") == "UNINITIALISED",
                                f"the power cycle after ZEROISE brought {answer.get('state')}, expected UNINITIALISED")
            for frame in frames:
                index = w.mark()
                self._expect_refused(case, w.resend(frame, live=False),
                                     f"the repeated {Command(frame.command).name} {when}", GONE)
                case.audited.append(index)
            for frame in {f.session_id: f for f in frames if f.outbound is not None}.values():
                index = w.mark()
                self._expect_refused(case, w.forge(frame, Command.RANDOM, {"length": 16}),
                                     f"a new RANDOM under the keys of old session {frame.session_id:#x} {when}", GONE)
                case.audited.append(index)
        for name, password in passwords.items():
            w.recorder.expect_login(name)
            try:
                w.client.login(name, password).logout()
                complete.failures.append(f"{name}'s password from before the zeroisation still logs in")
            except DeviceError as exc:
                complete.expect(exc.status is Status.AUTH_FAILED, f"{name}'s old login answered {exc.status.name}")
        self._factory_scope(label)
        w.initialise_from_factory()
        w.create_lab_operators()
        listed = w.raw(Command.KEY_LIST, {}, w.officer_name)
        keys = listed.data.get("keys", [])
        complete.expect(listed.status is Status.OK and not keys,
                        f"after re-initialisation KEY_LIST answered {listed.status.name} with {len(keys)} keys")
        for key_id in self.key_ids:
            reply = w.raw(Command.KEY_ATTRIBUTES, {"key_id": key_id}, USER)
            complete.expect(reply.status is Status.KEY_NOT_FOUND,
                            f"key {key_id} from before the zeroisation: KEY_ATTRIBUTES answered {reply.status.name}")
        self.key_ids = []
        complete.calls += range(first, w.mark())

    def _factory_scope(self, label: str) -> None:
        w = self.world
        own = {s["service"] for s in w.policy.doc.get("factory_operator_services", [])}
        case = self._case(self.factory, f"factory credential ({label})")
        case.expect(bool(own), "the policy lists no factory_operator_services")
        w.recorder.expect_login(FACTORY_OPERATOR)
        factory = w.client.login(FACTORY_OPERATOR, FACTORY_PASSWORD)
        w.recorder.name_session(factory.session_id, FACTORY_OPERATOR, factory.role)
        for svc in sorted(w.policy.services, key=lambda s: s.command == "ZEROISE"):  # a wrongly served one last
            if svc.command in own or svc.public:
                continue
            index = w.mark()
            reply = w.raw_session(svc.code, factory.session_id)
            case.audited.append(index)
            case.expect(reply.status in (Status.ACCESS_DENIED, Status.INVALID_STATE) and not reply.data,
                        f"{svc.command} with the factory credential answered {reply.status.name}"
                        + (f" with data {sorted(reply.data)}" if reply.data else ""))
        if factory.open:
            factory.logout()
        if w.state() == "ZEROISED":  # a factory ZEROISE was served: back to the factory state
            w.power_cycle()

    # ----------------------------------------------------------------- run
    def run(self) -> list[Result]:
        w = self.world
        started = time.perf_counter()
        w.ensure_operational()
        cast = w.casts[0] if w.casts else "SHA2-256"
        # SOFT_ERROR, left by a passing self-test: the auditor may then sign a checkpoint again.
        self._error_state(self.soft, "SOFT_ERROR", ("corrupt-cast", {"name": cast}), cast)
        recovered = self._case(self.checkpoint, "after the passing self-test")
        reply = w.raw(Command.SELF_TEST)
        recovered.expect(reply.status is Status.OK and w.state() == "OPERATIONAL",
                         f"SELF_TEST after the soft error answered {reply.status.name}, module {w.state()}")
        reply = w.raw(Command.AUDIT_CHECKPOINT, {"nonce": secrets.token_bytes(16)}, AUDITOR)
        recovered.expect(reply.status is Status.OK and bool(reply.data.get("checkpoint")),
                         f"AUDIT_CHECKPOINT after recovery answered {reply.status.name}")
        w.maybe_drain(force=True)
        # HARD_ERROR, then ZEROISE from it with the officer's live session.
        passwords = {name: w.passwords[name] for name in (USER, AUDITOR, w.officer_name)}
        frames = self._error_state(self.hard, "HARD_ERROR", ("corrupt-integrity", {}), "software integrity")
        if w.state() == "HARD_ERROR":
            reply, zeroise = w.sent(Command.ZEROISE, {}, w.officer_name)
            self._case(self.zeroise, "ZEROISE in HARD_ERROR").expect(
                reply.status is Status.OK, f"ZEROISE in HARD_ERROR answered {reply.status.name}")
            self._zeroised("zeroised from HARD_ERROR", [*frames, zeroise], passwords)
        w.ensure_operational()
        w.maybe_drain(force=True)
        # ZEROISED from OPERATIONAL.
        case = self._case(self.zeroised, "before ZEROISE in OPERATIONAL")
        for name in (USER, AUDITOR, w.officer_name):
            w.session(name)
        frames = [frame for frame, _ in self._data_bearing(case)]
        reply, zeroise = w.sent(Command.ZEROISE, {}, w.officer_name)
        if case.expect(reply.status is Status.OK, f"ZEROISE in OPERATIONAL answered {reply.status.name}"):
            self._zeroised("zeroised from OPERATIONAL", [*frames, zeroise], passwords)
        w.ensure_operational()
        seconds = (time.perf_counter() - started) / len(self.results())
        for r in self.results():
            r.seconds = seconds
        return self.results()

    def finish(self, view: AuditView) -> None:
        """Every error stretch of the collected trail: no checkpoint signed in it."""
        records = [view.collector.records[s] for s in sorted(view.collector.records)]
        errors = sum(1 for r in records if r.kind is RecordKind.EVENT and r.code == AuditEvent.ERROR_ENTERED)
        bad = signed_checkpoints_in_error(records)
        for since, seq in bad:
            self.checkpoint.fail(f"checkpoint at seq {seq} is signed, after ERROR_ENTERED at seq {since} and before "
                                 "a passing self-test")
            self.checkpoint.seqs |= {since, seq}
        if errors and not bad:
            self.checkpoint.ok()
        self.checkpoint.notes.append(f"{errors} error entries in the collected trail, {len(bad)} signed checkpoints "
                                     "inside an error stretch")
