"""The journal that makes a call's writes one step: whole or absent after a cut at any write point,
committed once the journal is in flash even when a write in place then fails."""

from __future__ import annotations

import pytest

from firmware_sim.faults import FaultyFlash, PowerCut
from module.ports import JOURNAL_FLASH_NAME, FlashError, JournalledFlash, MemoryFlash

OLD = {"a": b"old a", "b": b"old b"}


def _flash() -> tuple[MemoryFlash, FaultyFlash]:
    inner = MemoryFlash()
    for name, data in OLD.items():
        inner.write(name, data)
    inner.region("r", 64).write(0, b"\x00" * 64)
    return inner, FaultyFlash(inner)


def _step(flash: JournalledFlash) -> None:
    flash.begin()
    flash.write("a", b"new a")
    flash.delete("b")
    flash.region("r", 64).write(8, b"slot")
    assert flash.read("a") == b"new a" and flash.read("b") is None  # the call sees its own writes
    assert flash.region("r", 64).read(8, 4) == b"slot"
    flash.commit()


def _seen(inner: MemoryFlash) -> tuple[bytes | None, bytes | None, bytes]:
    rebooted = JournalledFlash(inner)  # the next boot, on the same flash
    return rebooted.read("a"), rebooted.read("b"), rebooted.region("r", 64).read(8, 4)


BEFORE = (b"old a", b"old b", b"\x00" * 4)
AFTER = (b"new a", None, b"slot")


def test_a_step_writes_the_journal_then_its_writes_then_removes_the_journal() -> None:
    inner, faulty = _flash()
    _step(JournalledFlash(faulty))
    assert [(p.kind, p.name) for p in faulty.points] == [
        ("write", JOURNAL_FLASH_NAME), ("write", "a"), ("delete", "b"), ("region", "r"), ("delete", JOURNAL_FLASH_NAME)]
    assert _seen(inner) == AFTER and JOURNAL_FLASH_NAME not in inner.names()


@pytest.mark.parametrize("at", range(1, 6))
def test_a_cut_at_any_write_point_leaves_all_or_nothing(at: int) -> None:
    inner, faulty = _flash()
    faulty.cut_at(at)
    with pytest.raises(PowerCut):
        _step(JournalledFlash(faulty))
    assert _seen(inner) == (BEFORE if at == 1 else AFTER)
    assert JOURNAL_FLASH_NAME not in inner.names()  # the boot rolled it forward and removed it


def test_a_journal_that_cannot_be_written_leaves_nothing() -> None:
    inner, faulty = _flash()
    faulty.fail_next_write()
    with pytest.raises(FlashError):
        _step(JournalledFlash(faulty))
    assert _seen(inner) == BEFORE


def test_a_write_in_place_failing_after_the_journal_is_still_committed_and_owed() -> None:
    inner, faulty = _flash()
    flash = JournalledFlash(faulty)
    flash.begin()
    flash.write("a", b"new a")
    flash.region("r", 64).write(8, b"slot")
    points = faulty.count  # the journal will be write point points + 1, "a" in place points + 2
    original_write = inner.write

    def failing_once(name: str, data: bytes) -> None:
        if name == "a" and faulty.count == points + 2:
            raise FlashError("worn out")
        original_write(name, data)

    inner.write = failing_once  # type: ignore[method-assign]
    flash.commit()  # the journal is in flash: committed, though "a" did not reach its place
    inner.write = original_write  # type: ignore[method-assign]
    assert inner.read("a") == b"old a" and flash.read("a") == b"new a"
    flash.write("c", b"later")  # outside a call: a step of its own that still carries what is owed
    assert JournalledFlash(inner).read("a") == b"new a" and inner.read("c") == b"later"
    assert JOURNAL_FLASH_NAME not in inner.names()


def test_a_damaged_journal_is_refused_not_guessed_at() -> None:
    inner, _ = _flash()
    inner.write(JOURNAL_FLASH_NAME, b"CMSC\x00\x00\x00\x01 cut short")
    with pytest.raises(FlashError, match="damaged"):
        JournalledFlash(inner).read("a")
