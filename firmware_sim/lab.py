"""Lab mode: the fault-injection port of `cmsim-device --lab`.

As swtpm keeps its control channel apart from its data channel, the lab port is a second pty
(printed as the second line of stdout, ``lab: PATH``); without ``--lab`` it does not exist.
It takes one JSON object per line and answers one JSON object per line:

    {"cmd": "status"}                                   lab mode, state, armed faults
    {"cmd": "corrupt-cast", "name": "AES-256-GCM encrypt"}  that CAST fails at its next run
    {"cmd": "corrupt-integrity"}                        the integrity test fails at its next run
    {"cmd": "corrupt-drbg"}                             the DRBG health test fails at its next run
    {"cmd": "corrupt-pct"}                              the next pairwise consistency test fails
    {"cmd": "entropy", "mode": "stuck" | "biased" | "ok"}   the noise source from now on
    {"cmd": "fail-next-flash-write"}                    the next flash write fails (FLASH_FAILURE)
    {"cmd": "flip-audit-bit", "seq": 12, "bit": 0}      flip a bit of a stored audit slot
    {"cmd": "cut-power-at-write", "n": 3, "tear": 0}    the device dies at the n-th flash write from now
    {"cmd": "power-cycle"}                              power off and on (the self-tests run again)
    {"cmd": "break", "what": "ignore-self-test-failures"}   a deliberately broken module: a failing
                                                        CAST is recorded but the module stays usable
    {"cmd": "break", "what": "drop-next-service-record"}    the next service call leaves no record

The two ``break`` commands exist to prove that the lab harness (``cmsim lab run``) fails when the
module misbehaves; like every injection they are recorded (FAULT_INJECTED) before they take effect.

Every injection is recorded in the audit trail (FAULT_INJECTED) before it takes effect, and the
device says it is in lab mode in status and in every checkpoint's policy digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from firmware_sim.entropy import OsNoiseSource, StuckSource
from firmware_sim.faults import FaultyFlash
from module.audit.ring import META_NAME, REGION_NAME, SLOT_SIZE
from module.cast import CAST_NAMES
from module.core import Module
from module.ports import EntropySource

__all__ = ["SwitchableSource", "LabController", "LabError"]


class LabError(ValueError):
    """A lab command that cannot be carried out (answered with ok: false)."""


class SwitchableSource:
    """The device's noise source, which the lab can make stuck or biased (it keeps claiming the
    healthy source's min-entropy: a broken source does not know it is broken)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self._source: EntropySource = OsNoiseSource()

    @property
    def min_entropy_per_sample(self) -> float:
        return self._source.min_entropy_per_sample

    def read(self, n: int) -> bytes:
        return self._source.read(n)

    def set(self, mode: str) -> None:
        sources: dict[str, Callable[[], EntropySource]] = {
            "ok": OsNoiseSource,
            "stuck": lambda: StuckSource(0x5A),
            "biased": _AlternatingSource,
        }
        if mode not in sources:
            raise LabError(f"entropy mode must be one of {sorted(sources)}")
        self.mode, self._source = mode, sources[mode]()


class _AlternatingSource:
    """Biased without ever repeating: 0x00, 0x01, 0x00, 0x01, ... (one bit of entropy per sample at
    best). The Repetition Count Test cannot see it; the Adaptive Proportion Test must, whatever
    sample a window starts on, since that value fills half of every window (256 of 512, cut-off 62)."""

    min_entropy_per_sample = OsNoiseSource().min_entropy_per_sample

    def __init__(self) -> None:
        self._next = 0

    def read(self, n: int) -> bytes:
        start, self._next = self._next, (self._next + n) % 2
        return bytes((start + i) % 2 for i in range(n))


class LabController:
    def __init__(self, module: Module, flash: FaultyFlash, entropy: SwitchableSource,
                 power_cycle: Callable[[], None]) -> None:
        self.module = module
        self.flash = flash
        self.entropy = entropy
        self._power_cycle = power_cycle

    def handle_line(self, line: bytes) -> bytes:
        """One command line in, one JSON answer line out; never raises."""
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise LabError('expected a JSON object with "cmd"')
            answer: dict[str, Any] = {"ok": True, **self.run(request)}
        except (LabError, ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "error": str(exc) or type(exc).__name__}
        return json.dumps(answer, sort_keys=True).encode() + b"\n"

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request["cmd"]
        m = self.module
        if cmd == "status":
            armed = {"casts": sorted(m.faults.corrupt_casts), "integrity": m.faults.corrupt_integrity,
                     "drbg": m.faults.corrupt_drbg_kat, "pct": m.faults.corrupt_pct}
            return {"lab_mode": True, "state": m.state.name, "entropy": self.entropy.mode,
                    "flash_writes": self.flash.count, "casts": list(CAST_NAMES), "armed": armed}
        if cmd == "power-cycle":
            self._power_cycle()
            return {"state": m.state.name, "boot_counter": m.boot_counter}
        if cmd in ("corrupt-cast", "corrupt-integrity", "corrupt-drbg", "corrupt-pct"):
            kind = cmd.removeprefix("corrupt-")
            name = str(request.get("name", "")) if kind == "cast" else ""
            if kind == "cast" and name not in CAST_NAMES:
                raise LabError(f"unknown CAST {name!r}")
            m.inject_fault(kind, name)  # recorded by the module
            return {"armed": cmd, "name": name}
        if cmd == "break":
            what = str(request.get("what", ""))
            m.lab_break(what)  # recorded by the module; ValueError for an unknown one
            return {"armed": cmd, "what": what}
        if cmd == "entropy":
            mode = str(request.get("mode", ""))
            self._record(f"entropy source {mode}")
            self.entropy.set(mode)
            return {"entropy": mode}
        if cmd == "fail-next-flash-write":
            self._record("next flash write fails")
            self.flash.fail_next_write()
            return {"armed": cmd}
        if cmd == "cut-power-at-write":
            n, tear = int(request["n"]), int(request.get("tear", 0))
            self._record(f"power cut at flash write {n} from now (tear {tear})")
            self.flash.cut_at(n, tear=tear)
            return {"armed": cmd, "n": n}
        if cmd == "flip-audit-bit":
            return self._flip(int(request["seq"]), int(request.get("bit", 0)))
        raise LabError(f"unknown lab command {cmd!r}")

    def _record(self, what: str) -> None:
        if self.module.state.name == "POWER_OFF":
            raise LabError("the module is powered off")
        self.module.record_fault(what)

    def _flip(self, seq: int, bit: int) -> dict[str, Any]:
        """Flip one bit of the slot holding ``seq`` (inside its record, past the slot header)."""
        trail = self.module.trail
        status = trail.status()
        if not status.oldest_retained <= seq < status.next_seq:
            raise LabError(f"seq {seq} is not retained ({status.oldest_retained}..{status.next_seq - 1})")
        self._record(f"flip bit {bit} of audit slot holding seq {seq}")
        capacity = trail.config.capacity
        region = self.flash.inner.region(REGION_NAME, capacity * SLOT_SIZE)
        offset = (seq % capacity) * SLOT_SIZE + 80 + bit // 8  # 80: past the slot header, inside the record
        byte = region.read(offset, 1)[0] ^ (1 << (bit % 8))
        region.write(offset, bytes([byte]))
        region.sync()
        return {"flipped": seq, "offset": offset, "meta": META_NAME}
