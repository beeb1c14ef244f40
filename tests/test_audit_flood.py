"""An unauthenticated flood must neither erase nor block what authenticated operators' calls record.

Public calls (no authenticated session: GET_STATUS in the clear, an unknown session id) are held
to a share of the ring (they never take the last ``public_reserve`` slots an authenticated call
may use, and under wrap they never make the ring overwrite) and, when configured, to a rate (at
most ``public_rate`` per ``public_interval_s`` of the module's clock). The excess is refused without a
record, counted, and summarised by one chained LOSS(REFUSED) record.
"""

from __future__ import annotations

from conftest import PASSWORDS, ModuleFactory, initialise, with_config
from module.audit.trail import AuditConfig
from module.ports import ManualClock
from module.wire.audit.record import LossReason, RecordKind, decode_record
from module.wire.defs import AuditPolicy, Command, KeyType, Status

FLOOD = 4200  # more calls than the default ring (4,096 slots) holds


def _flood(module: object, clock: ManualClock, n: int, step_s: float) -> list[Status]:
    out = []
    for _ in range(n):
        clock.advance(step_s)
        out.append(module.call(Command.GET_STATUS).status)  # type: ignore[attr-defined]
    return out


def _retained(module: object) -> list[bytes]:
    trail = module.trail  # type: ignore[attr-defined]
    st = trail.status()
    return trail.export(st.oldest_retained, st.next_seq)


def test_a_clear_flood_under_wrap_does_not_overwrite_a_users_sign_record(make_module: ModuleFactory) -> None:
    clock = ManualClock()
    module = make_module(clock=clock)
    client = initialise(module)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.audit.set_policy(AuditPolicy.WRAP)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        key = alice.generate_key(KeyType.EC_P256).key_id
        alice.sign(key, b"release 1.0")
    signs = [r for r in map(decode_record, _retained(module)) if r.kind is RecordKind.SERVICE
             and r.code == Command.SIGN]
    assert len(signs) == 1
    # No rate bound by default: only the public share protects the record.
    statuses = _flood(module, clock, FLOOD, 0.05)
    assert Status.AUDIT_FULL in statuses  # the excess was refused ...
    records = [decode_record(r) for r in _retained(module)]
    assert signs[0] in records  # ... and the User's SIGN record is still on the device
    assert module.trail.status().records_lost == 0
    refused = module.trail.status().records_refused
    assert refused == statuses.count(Status.AUDIT_FULL)  # every refusal counted


def test_a_clear_flood_under_block_does_not_refuse_a_logged_in_users_call(make_module: ModuleFactory) -> None:
    clock = ManualClock()
    module = make_module(clock=clock)
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        statuses = _flood(module, clock, FLOOD, 0.05)
        assert Status.AUDIT_FULL in statuses
        assert len(alice.random(16)) == 16  # served: the flood did not take the User's room
    records = [decode_record(r) for r in _retained(module)]
    summaries = [r for r in records if r.kind is RecordKind.LOSS and r.code == LossReason.REFUSED]
    assert summaries and summaries[0].loss is not None
    assert summaries[0].loss.count == statuses.count(Status.AUDIT_FULL)  # one chained summary names them all


def test_public_calls_beyond_the_rate_are_refused_and_summarised_once(make_module: ModuleFactory) -> None:
    clock = ManualClock()
    module = make_module(clock=clock, config=with_config(audit=AuditConfig(public_rate=50, public_interval_s=1.0)))
    client = initialise(module)
    clock.advance(1.0)  # a fresh interval
    statuses = [module.call(Command.GET_STATUS).status for _ in range(80)]
    assert statuses == [Status.OK] * 50 + [Status.AUDIT_FULL] * 30
    clock.advance(1.0)
    assert module.call(Command.GET_STATUS).status is Status.OK  # the next interval serves again
    with client.login("alice", PASSWORDS["alice"]) as alice:
        alice.random(4)
    records = [decode_record(r) for r in _retained(module)]
    summaries = [r for r in records if r.kind is RecordKind.LOSS and r.code == LossReason.REFUSED]
    assert [s.loss.count for s in summaries if s.loss is not None] == [30]


def test_a_flood_of_calls_refused_on_the_line_is_held_to_the_share_too(make_module: ModuleFactory) -> None:
    """Messages refused before dispatch (bad parameters, no channel) from no authenticated session
    are recorded like calls, so they are held to the public share as well."""
    clock = ManualClock()
    module = make_module(clock=clock)
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        for _ in range(FLOOD):
            clock.advance(0.05)
            module.record_refusal(int(Command.GET_STATUS), 0, Status.INVALID_PARAMETER, "undecodable parameters")
        assert len(alice.random(16)) == 16  # served: the flood did not take the User's room
    assert module.trail.status().records_refused > 0
