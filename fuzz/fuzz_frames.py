"""Coverage-guided fuzzing (atheris/libFuzzer) of the frame decoder and the endpoint's dispatch.

    python fuzz/fuzz_frames.py -max_total_time=120 [CORPUS_DIR ...] [libFuzzer options]
    python fuzz/run.py 120            # both targets, with the seeds in fuzz/corpus/, and a summary

The first input byte picks what the rest is (so coverage feedback reaches every layer):

- 0: raw bytes on the line (FrameDecoder cuts them; a delimiter is appended);
- 1: a clear frame built from the bytes (header fields, then payload) with a good CRC and COBS,
  so the fuzzer gets past the frame checks to session 0's services and the login handshake;
- 2 / 3: an authenticated, encrypted request in a User / Crypto Officer session: two bytes of
  command code, then the plaintext payload as any bytes (parameter decoding and every service's
  parameter checks and handler).

Every answer is checked (one well-formed response frame, code a Status, the request's session
and sequence), a refused frame must leave the module's state, keys, operators, sessions and
flash unchanged, INTERNAL_ERROR is a finding, and every 2,000 inputs (and whenever a module is
replaced) the audit chain must verify offline. A broken invariant raises, which atheris saves
as a finding (crash-*) with its input.
"""

from __future__ import annotations

import sys

import atheris

# Everything of the project imported from here on is instrumented for coverage feedback.
with atheris.instrument_imports(include=["module", "host_tools"]):
    from _harness import CheckedLine, build_module, chain_verifies, drain_when_half_full, generate_keys, require
    from module.wire.defs import State
    from module.wire.frame import Frame, encode_frame

VERIFY_EVERY = 2000


class Device:
    """One fuzzed module with a User and a Crypto Officer session; replaced when a run ends it."""

    def __init__(self) -> None:
        self.generation = 0
        self._new()

    def _new(self) -> None:
        self.module = build_module(self.generation)
        self.generation += 1
        self.line = CheckedLine(self.module)
        self.sessions: dict[str, int] = {}
        self.execs = 0
        self.sessions["alice"] = self.line.login("alice")
        generate_keys(self.line, self.sessions["alice"])
        self.sessions["officer"] = self.line.login("officer")

    def retire(self) -> None:
        """The chain verifies before the module goes (a zeroised or error-state one too)."""
        result = chain_verifies(self.module)
        require(result.ok, f"audit chain does not verify: {result.reason} {result.message}")
        self._new()

    def session(self, operator: str) -> int | None:
        sid = self.sessions[operator]
        if self.line.alive(sid):
            return sid
        try:  # logged out, password changed, deleted: log in again, or start a new module
            self.sessions[operator] = self.line.login(operator)
        except Exception:
            self.retire()
        return self.sessions[operator] if self.line.alive(self.sessions[operator]) else None


DEVICE: Device | None = None


def test_one_input(data: bytes) -> None:
    global DEVICE
    if DEVICE is None:
        DEVICE = Device()
    device = DEVICE
    mode, rest = (data[0] % 4, data[1:]) if data else (0, b"")
    if mode == 0:
        device.line.send(rest + b"\x00")
    elif mode == 1:
        head = rest[:11].ljust(11, b"\x00")  # flags and session choice, session id, sequence, code
        session = 0
        if head[0] & 0x80:
            session = device.sessions["alice"]
        elif head[0] & 0x40:
            session = int.from_bytes(head[1:5], "big")
        frame = Frame(head[0] & 0x0F, session, int.from_bytes(head[5:9], "big"), int.from_bytes(head[9:11], "big"),
                      rest[11:])
        device.line.send(encode_frame(frame))
    else:
        sid = device.session("alice" if mode == 2 else "officer")
        if sid is not None:
            code = int.from_bytes(rest[:2].ljust(2, b"\x00"), "big")
            device.line.send(device.line.protected(sid, code, rest[2:]))
    device.execs += 1
    if device.module.state is not State.OPERATIONAL or device.execs >= VERIFY_EVERY:
        device.retire()  # zeroised (or any other end): verify, start again
    else:
        drain_when_half_full(device.module)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
