"""`make docs`: regenerate the tables and worked examples in docs/protocol.md from the code.

The sections between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` are generated; the rest
is prose. ``tests/test_protocol_doc.py`` regenerates them and fails if the file differs, so the
document cannot drift from the code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from module.services.catalog import SPECS  # noqa: E402
from module.wire.channel import request_frame, response_frame  # noqa: E402
from module.wire.defs import Command, Role, Status  # noqa: E402
from module.wire.frame import encode_frame  # noqa: E402
from module.wire.messages import Reply  # noqa: E402

PROTOCOL_MD = ROOT / "docs" / "protocol.md"
DEFS_SOURCE = ROOT / "module" / "wire" / "defs.py"
EXAMPLE_KEY = bytes(range(32))  # the worked example's session key (host to module)
EXAMPLE_SESSION = 0x01020304


def _meaning(name: str) -> str:
    match = re.search(rf"^\s+{name} = 0x[0-9A-Fa-f]+\s*#\s*(.*)$", DEFS_SOURCE.read_text(encoding="utf-8"), re.M)
    return match.group(1).strip() if match else ""


def status_table() -> str:
    rows = ["| code | status | meaning |", "|---|---|---|"]
    rows += [f"| 0x{s.value:02X} | `{s.name}` | {_meaning(s.name)} |" for s in Status]
    return "\n".join(rows)


def command_table() -> str:
    rows = ["| code | command | who may call | approved | what it does |", "|---|---|---|---|---|"]
    for spec in sorted(SPECS, key=lambda s: int(s.command)):
        who = "anyone" if spec.public else ", ".join(r.name for r in Role if r in spec.roles)
        rows.append(f"| 0x{int(spec.command):02X} | `{spec.command.name}` | {who} | "
                    f"{'yes' if spec.approved else 'no'} | {spec.summary} |")
    return "\n".join(rows)


def _hex(data: bytes) -> str:
    text = data.hex()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def example_clear_request() -> str:
    return "```hex\n" + _hex(encode_frame(request_frame(int(Command.GET_STATUS), {}, 0, 1))) + "\n```"


def example_refusal() -> str:
    reply = Reply(Status.NOT_AUTHENTICATED, False, {}, "Random bytes needs an authenticated session")
    return "```hex\n" + _hex(encode_frame(response_frame(reply, 0, 2))) + "\n```"


def example_protected_request() -> str:
    frame = request_frame(int(Command.RANDOM), {"length": 32}, EXAMPLE_SESSION, 1, AESGCM(EXAMPLE_KEY))
    return "```hex\n" + _hex(encode_frame(frame)) + "\n```"


SECTIONS: dict[str, Callable[[], str]] = {
    "status-table": status_table,
    "command-table": command_table,
    "example-clear-request": example_clear_request,
    "example-refusal": example_refusal,
    "example-protected-request": example_protected_request,
}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- begin: {name} -->\n).*?(<!-- end: {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"docs/protocol.md has no generated section {name!r}")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> None:
    PROTOCOL_MD.write_text(render(PROTOCOL_MD.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
