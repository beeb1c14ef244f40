"""The SQLite audit archive: continuity across drains, refusals, crash safety, append-only, queries."""

from __future__ import annotations

import copy
import io
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import PASSWORDS, ModuleFactory, initialise, with_config
from firmware_sim.device import InProcessTransport
from host_tools.archive import Archive, ArchiveRefused, QueryFilter
from host_tools.known_devices import KnownDevices
from host_tools.audit_formats import FORMATS, write_records
from host_tools.audit_drain import fetch_public_key
from host_tools.audit_verify import Reason
from host_tools.client import Client
from module.audit.trail import AuditConfig
from module.core import Module
from module.ports import MemoryFlash
from module.wire.defs import AuditPolicy, Command, DigestAlg, KeyType, Role, Status


def work(client: Client, n: int = 10) -> int:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        key = alice.generate_key(KeyType.AES_256).key_id
        for _ in range(n):
            alice.encrypt(key, b"x")
        return key


def run(archive: Archive, client: Client, **kw: object) -> object:
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        # The key the archive trusts: no clear AUDIT_PUBKEY (a full ring under wrap refuses
        # unauthenticated calls beyond their share).
        key = archive.trusted_key() or fetch_public_key(client)
        return archive.archive(auditor, key, **kw)  # type: ignore[arg-type]


@pytest.fixture
def archive(tmp_path: Path, client: Client) -> Archive:
    a = Archive(tmp_path / "audit.db")
    a.bind(fetch_public_key(client))
    return a


def test_continuity_across_many_drains(module: Module, client: Client, archive: Archive) -> None:
    last = None
    for round_ in range(5):
        work(client, 5 + round_)
        result = run(archive, client)
        assert result.acknowledged and result.stored > 0  # type: ignore[attr-defined]
        assert last is None or archive.head()[0] > last  # type: ignore[index]
        last = archive.head()[0]  # type: ignore[index]
    assert archive.verify().ok
    seqs = [rec.seq for rec, _ in archive.query(QueryFilter())]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps, no duplicates
    assert module.trail.status().oldest_retained == last + 1  # type: ignore[operator]


def test_rerun_is_idempotent_and_a_crash_before_ack_loses_nothing(client: Client, archive: Archive) -> None:
    work(client)

    class Crash(Exception):
        pass

    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        run(archive, client, after_store=crash)  # stored, never acknowledged
    stored = archive.count()
    result = run(archive, client)  # exports from the archive's head: the same records are not stored twice
    assert archive.count() == stored + result.stored  # type: ignore[attr-defined]
    assert archive.verify().ok
    seqs = [rec.seq for rec, _ in archive.query(QueryFilter())]
    assert len(seqs) == len(set(seqs))


def test_archive_is_append_only(client: Client, archive: Archive) -> None:
    work(client, 2)
    run(archive, client)
    for sql in ("UPDATE records SET detail = 'x'", "DELETE FROM records", "DELETE FROM anchors",
                "UPDATE record_keys SET key_id = 0"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            archive.db.execute(sql)


@pytest.mark.parametrize("impostor_work", [0, 40])
def test_an_export_that_does_not_extend_the_archive_is_refused(
    tmp_path: Path, make_module: ModuleFactory, impostor_work: int
) -> None:
    """Another module with the same serial (another key, another chain) cannot continue this archive,
    whether its chain is shorter (looks rolled back) or longer (a fork)."""
    first = make_module()
    c1 = initialise(first)
    a = Archive(tmp_path / "a.db")
    a.bind(fetch_public_key(c1))
    work(c1, 2)
    run(a, c1)
    before = a.count()
    impostor = make_module()
    KnownDevices().path.unlink()  # an impostor past the host's pin (reset by its user) still meets the archive
    c2 = initialise(impostor)
    work(c2, impostor_work)
    with pytest.raises(ArchiveRefused) as info:
        run(a, c2)
    assert info.value.reason is Reason.FORK, info.value
    assert a.count() == before  # nothing stored


def test_wrap_losses_are_named_and_the_archive_still_verifies(tmp_path: Path, make_module: ModuleFactory) -> None:
    module = make_module(config=with_config(audit=AuditConfig(capacity=128, reserve=16, checkpoint_every=0, wrap_batch=8)))
    client = initialise(module)
    a = Archive(tmp_path / "w.db")
    a.bind(fetch_public_key(client))
    run(a, client)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.audit.set_policy(AuditPolicy.WRAP)
        for _ in range(200):
            officer.digest(DigestAlg.SHA2_256, b"m")
    result = run(a, client)
    assert result.verify.records_lost_named > 0  # type: ignore[attr-defined]
    assert a.verify().ok


def test_key_handover_is_followed(tmp_path: Path, make_module: ModuleFactory) -> None:
    module = make_module()
    client = initialise(module)
    a = Archive(tmp_path / "k.db")
    a.bind(fetch_public_key(client))
    run(a, client)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.zeroise()
    module.power_off()
    module.power_on()
    initialise(module)
    run(a, client)  # signed by the new key, trusted through the old key's handover
    run(a, client)
    assert a.verify().ok and len(set(r for r, in a.db.execute("SELECT public_key FROM signers"))) == 2


def test_queries_and_formats(client: Client, archive: Archive) -> None:
    key = work(client, 3)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        with pytest.raises(Exception):
            alice.call(Command.OPERATOR_LIST)  # refused: ACCESS_DENIED
    run(archive, client)
    enc = list(archive.query(QueryFilter(service=Command.ENCRYPT)))
    assert len(enc) == 3 and all(r.operator == "alice" for r, _ in enc)
    assert len(list(archive.query(QueryFilter(key_id=key)))) == 4  # generate + 3 encrypt
    denied = list(archive.query(QueryFilter(status=Status.ACCESS_DENIED, role=Role.USER)))
    assert [r.code for r, _ in denied] == [Command.OPERATOR_LIST]
    assert list(archive.query(QueryFilter(operator="nobody"))) == []
    for fmt in FORMATS:
        out = io.StringIO()
        assert write_records(archive.query(QueryFilter(service=Command.ENCRYPT)), out, fmt) == 3
        text = out.getvalue()
        assert "ENCRYPT" in text
        if fmt == "syslog":
            assert text.startswith("<") and 'seq="' in text and "hash=" in text


def test_a_device_restored_from_a_backup_is_a_fork_and_nothing_is_stored(
    tmp_path: Path, make_module: ModuleFactory
) -> None:
    """State restored from a backup forgets the archive's acknowledgement; wrap plus a flood then
    overwrites the seqs the archive holds with a second history, and its LOSS record names a range
    starting at or before the acknowledged head. That is a fork: refused, nothing stored."""
    flash = MemoryFlash()
    config = with_config(audit=AuditConfig(capacity=128, reserve=16, checkpoint_every=0, wrap_batch=32))
    first = make_module(flash=flash, config=config)
    client = initialise(first)
    a = Archive(tmp_path / "fork.db")
    a.bind(fetch_public_key(client))
    work(client, 3)
    run(a, client)
    backup = copy.deepcopy(flash)  # the device's state as it was here
    work(client, 5)
    assert run(a, client).acknowledged  # type: ignore[attr-defined]
    acked = a.head()
    before = a.count()
    first.power_off()
    restored = make_module(flash=backup, config=config)
    rclient = Client(InProcessTransport(restored))
    with rclient.login("officer", PASSWORDS["officer"]) as officer:
        officer.audit.set_policy(AuditPolicy.WRAP)
        # The second history overwrites the seqs the archive holds, and leaves room for the drain's
        # own records (a drop while the archive exports would cut the export instead).
        while True:
            officer.digest(DigestAlg.SHA2_256, b"m")
            st = restored.trail.status()
            if st.oldest_retained > acked[0] + 1 and st.capacity - st.used >= 24:  # type: ignore[index]
                break
    with pytest.raises(ArchiveRefused) as info:
        run(a, rclient)
    assert info.value.reason is Reason.FORK, info.value
    assert "acknowledged" in str(info.value)
    assert (a.count(), a.head()) == (before, acked)  # nothing stored
    assert a.verify().ok


def test_a_refusal_summary_shows_its_count_in_query_output(tmp_path: Path, make_module: ModuleFactory) -> None:
    """LOSS(REFUSED) carries its count in its body, not in detail text: the query output shows it."""
    module = make_module(config=with_config(audit=AuditConfig(public_rate=40)))
    client = initialise(module)
    module.clock.advance(1.0)  # type: ignore[attr-defined]  # a fresh interval: 40 clear calls recorded
    replies = [module.call(Command.GET_STATUS).status for _ in range(46)]
    assert replies.count(Status.AUDIT_FULL) == 6
    a = Archive(tmp_path / "refused.db")
    module.clock.advance(1.0)  # type: ignore[attr-defined]
    a.bind(fetch_public_key(client))
    run(a, client)
    out = io.StringIO()
    write_records(a.query(QueryFilter()), out, "jsonl")
    summaries = [d for d in map(json.loads, out.getvalue().splitlines()) if d["kind"] == "LOSS"]
    assert [d["detail"] for d in summaries] == ["6 calls refused unrecorded (total 6)"]


def test_a_lab_mode_trail_is_refused_unless_allowed(tmp_path: Path, make_module: ModuleFactory) -> None:
    module = make_module(config=with_config(audit=AuditConfig(lab_mode=True)))
    client = initialise(module)
    work(client, 2)
    a = Archive(tmp_path / "lab.db")
    a.bind(fetch_public_key(client))
    with pytest.raises(ArchiveRefused) as info:
        run(a, client)
    assert info.value.reason is Reason.LAB_MODE and a.count() == 0  # nothing stored
    result = run(a, client, allow_lab=True)
    assert result.verify.lab and a.count() > 0  # type: ignore[attr-defined]
    assert a.verify().reason is Reason.LAB_MODE  # re-verified, it fails again unless allowed
    assert a.verify(allow_lab=True).ok
