"""`make docs`: regenerate the tables and worked examples in docs/protocol.md from the code.

The sections between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` are generated; the rest
is prose. ``tests/test_protocol_doc.py`` regenerates them and fails if the file differs, so the
document cannot drift from the code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from module.identity import DeviceIdentity  # noqa: E402
from module.services.catalog import SPECS  # noqa: E402
from module.wire import handshake as hs  # noqa: E402
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


# The handshake example: every input fixed, so every byte below can be recomputed by hand.
HS_SERIAL, HS_OPERATOR, HS_PASSWORD = "CMSIM-0001", "alice", "alice-pass-12"
HS_IDENTITY_SEED = bytes(range(0x40, 0x60))
HS_HOST_RANDOM = bytes(range(0x20, 0x48))  # the host's 40 random bytes for its ephemeral key
HS_MODULE_RANDOM = bytes(range(0x80, 0xA8))  # the module's 40 DRBG bytes for its ephemeral key
HS_HOST_NONCE, HS_MODULE_NONCE, HS_SALT = bytes(range(16)), bytes(range(16, 32)), bytes(range(32, 48))
HS_ITERATIONS, HS_CLEAR_SEQ = 100_000, 0x2A5F0C31


def _point(private: object) -> bytes:
    return private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def handshake_example() -> dict[str, bytes | int]:
    """Every value of the worked login, computed by the code both ends run."""
    identity = DeviceIdentity(HS_IDENTITY_SEED)
    host, module = hs.ephemeral_from_random(HS_HOST_RANDOM), hs.ephemeral_from_random(HS_MODULE_RANDOM)
    th = hs.transcript_hash(HS_SERIAL, HS_OPERATOR, EXAMPLE_SESSION, _point(host), HS_HOST_NONCE, _point(module),
                            HS_MODULE_NONCE, HS_SALT, HS_ITERATIONS)
    z = hs.shared_secret(module, _point(host))
    keys = hs.derive_session_keys(z, th)
    auth_key = hs.derive_auth_key(HS_PASSWORD, HS_SALT, HS_ITERATIONS)
    return {
        "host ephemeral private d": host.private_numbers().private_value,
        "module ephemeral private d": module.private_numbers().private_value,
        "host_ephemeral": _point(host), "module_ephemeral": _point(module),
        "identity public key": identity.public_key, "fingerprint": bytes.fromhex(identity.fingerprint),
        "TH": th, "Z": z, "host_to_module key": keys.host_to_module, "module_to_host key": keys.module_to_host,
        "confirm key": keys.confirm, "audit digest key": keys.digest, "signature": identity.sign(th), "auth_key": auth_key,
        "verifier": hs.verifier_of(auth_key), "module_confirm": hs.module_confirm(keys, th),
    }


def example_handshake_values() -> str:
    rows = ["| value | hex |", "|---|---|"]
    for name, value in handshake_example().items():
        text = f"{value:064x}" if isinstance(value, int) else value.hex()
        rows.append(f"| {name} | `{text}` |")
    return "\n".join(rows)


def example_auth_begin() -> str:
    v = handshake_example()
    params = {"operator": HS_OPERATOR, "host_ephemeral": v["host_ephemeral"], "host_nonce": HS_HOST_NONCE}
    return "```hex\n" + _hex(encode_frame(request_frame(int(Command.AUTH_BEGIN), params, 0, HS_CLEAR_SEQ))) + "\n```"


def example_auth_begin_reply() -> str:
    v = handshake_example()
    data = {"session_id": EXAMPLE_SESSION, "module_ephemeral": v["module_ephemeral"], "module_nonce": HS_MODULE_NONCE,
            "salt": HS_SALT, "iterations": HS_ITERATIONS, "signature": v["signature"]}
    return "```hex\n" + _hex(encode_frame(response_frame(Reply(Status.OK, True, data, ""), 0, HS_CLEAR_SEQ))) + "\n```"


def example_auth_finish() -> str:
    v = handshake_example()
    frame = request_frame(int(Command.AUTH_FINISH), {"auth_key": v["auth_key"]}, EXAMPLE_SESSION, 1,
                          AESGCM(bytes(v["host_to_module key"])))  # type: ignore[arg-type]
    return "```hex\n" + _hex(encode_frame(frame)) + "\n```"


def example_auth_finish_reply() -> str:
    v = handshake_example()
    data = {"role": int(Role.USER), "factory_credential": False, "module_confirm": v["module_confirm"]}
    frame = response_frame(Reply(Status.OK, True, data, ""), EXAMPLE_SESSION, 1,
                           AESGCM(bytes(v["module_to_host key"])))  # type: ignore[arg-type]
    return "```hex\n" + _hex(encode_frame(frame)) + "\n```"


SECTIONS: dict[str, Callable[[], str]] = {
    "status-table": status_table,
    "command-table": command_table,
    "example-clear-request": example_clear_request,
    "example-refusal": example_refusal,
    "example-protected-request": example_protected_request,
    "example-handshake-values": example_handshake_values,
    "example-auth-begin": example_auth_begin,
    "example-auth-begin-reply": example_auth_begin_reply,
    "example-auth-finish": example_auth_finish,
    "example-auth-finish-reply": example_auth_finish_reply,
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
