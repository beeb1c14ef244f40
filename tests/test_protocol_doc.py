"""docs/protocol.md cannot drift: generated sections match the code, examples decode as described."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firmware_sim.serve import FRAME_TIMEOUT
from module.core import ModuleConfig
from module.wire.channel import HOST_TO_MODULE, open_payload, reply_of, request_params
from module.wire.defs import Command, Status
from module.wire.frame import HEADER_SIZE, MAX_PAYLOAD, Flags, FrameDecoder

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def example(name: str) -> bytes:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- begin: {name} -->\n```hex\n(.*?)```", text, re.S)
    assert match, name
    return bytes.fromhex("".join(match.group(1).split()))


def test_generated_sections_match_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert generator().render(text) == text, "run `make docs` and commit docs/protocol.md"


def test_every_status_and_command_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for status in Status:
        assert re.search(rf"\| 0x{status.value:02X} \| `{status.name}` \| \S", text), status
    for command in Command:
        assert f"| 0x{command.value:02X} | `{command.name}` |" in text, command


def test_clear_request_example() -> None:
    (frame,) = FrameDecoder().feed(example("example-clear-request"))
    assert not isinstance(frame, Exception)
    assert (frame.version, frame.flags, frame.session_id, frame.seq, frame.code) == (1, Flags.NONE, 0, 1, Command.GET_STATUS)
    assert frame.payload == bytes.fromhex("0600000000") and request_params(frame.payload) == {}
    assert frame.header().hex() == "01" "00" "00000000" "00000001" "0001" "00000005"  # as the prose says


def test_refusal_example() -> None:
    (frame,) = FrameDecoder().feed(example("example-refusal"))
    assert not isinstance(frame, Exception)
    assert frame.flags == Flags.RESPONSE and frame.seq == 2
    reply = reply_of(frame)
    assert reply.status is Status.NOT_AUTHENTICATED and reply.data == {} and not reply.approved
    assert reply.message == "Random bytes needs an authenticated session"


def test_protected_request_example() -> None:
    (frame,) = FrameDecoder().feed(example("example-protected-request"))
    assert not isinstance(frame, Exception)
    assert frame.flags == Flags.ENCRYPTED and (frame.session_id, frame.seq) == (0x01020304, 1)
    assert frame.code == Command.RANDOM
    plaintext = open_payload(frame, AESGCM(bytes(range(32))), HOST_TO_MODULE)
    assert request_params(plaintext) == {"length": 32}


def test_figures_in_the_prose() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"{MAX_PAYLOAD:,} bytes" in text and HEADER_SIZE == 16 and "Header (16 bytes" in text
    assert f"no byte for {FRAME_TIMEOUT:g} s" in text
    assert f"at most {ModuleConfig().max_sessions} sessions are open" in text
