"""Control characters stop at the boundary, and no output format lets a record forge a line
(issue 14). The attack: an unauthenticated login attempt with the operator id
"\\n<109>1 - - - - - ZEROISE OK co" forged lines in `audit query --format syslog`."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from conftest import PASSWORDS, begin_params
from firmware_sim.device import InProcessTransport
from host_tools.audit_drain import drain, fetch_public_key
from host_tools.audit_formats import export_file_records, one_line, write_records
from host_tools.client import Client
from host_tools.errors import DeviceError
from module.core import Module
from module.wire.defs import Command, KeyType, Role, Status

FORGED = "\n<109>1 - - - - - ZEROISE OK co"


def export_of(module: Module) -> bytes:
    client = Client(InProcessTransport(module))
    key = fetch_public_key(client)
    out = io.BytesIO()
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        assert drain(auditor, key, out).verify.ok
    return out.getvalue()


def test_a_forged_operator_id_neither_logs_in_nor_forges_a_syslog_line(module: Module) -> None:
    begin = module.call(Command.AUTH_BEGIN, begin_params(FORGED))
    assert begin.status is Status.INVALID_PARAMETER and "control character" in begin.message
    if begin.status is Status.OK:  # the old module: finish the attempt as the attacker did
        module.call(Command.AUTH_FINISH, {"auth_key": bytes(32)}, begin.data["session_id"])
    records = list(export_file_records(io.BytesIO(export_of(module))))
    out = io.StringIO()
    assert write_records(iter(records), out, "syslog") == len(records)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(records)
    assert all(line.startswith(("<110>1 ", "<108>1 ")) for line in lines)


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "tab\there", "nul\x00", "del\x7f", "nel\x85", "ls\u2028"])
def test_control_characters_in_ids_and_labels_are_refused(module: Module, text: str) -> None:
    client = Client(InProcessTransport(module))
    with client.login("alice", PASSWORDS["alice"]) as alice:
        with pytest.raises(DeviceError) as info:
            alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256), "label": text})
        assert info.value.status is Status.INVALID_PARAMETER and "control character" in info.value.message
    with client.login("officer", PASSWORDS["officer"]) as officer:
        with pytest.raises(DeviceError) as info:
            officer.call(Command.OPERATOR_CREATE, {"operator": text, "role": int(Role.USER), "password": "pass-word-123"})
        assert info.value.status is Status.INVALID_PARAMETER
    assert module.call(Command.AUTH_BEGIN, begin_params(text)).status \
        is Status.INVALID_PARAMETER


def test_every_format_keeps_one_record_on_one_line(module: Module) -> None:
    """A record carrying CR/LF (as one from an older module could) still takes one line each."""
    (first, h), *_ = export_file_records(io.BytesIO(export_of(module)))
    evil = dataclasses.replace(first, operator="x\r\n<109>1 forged", detail="d\n<109>1 forged\r")
    for fmt in ("syslog", "jsonl"):
        out = io.StringIO()
        write_records([(evil, h), (evil, h)], out, fmt)
        assert len(out.getvalue().splitlines()) == 2, fmt
        assert "\n<109>" not in out.getvalue() and "\r" not in out.getvalue()
    out = io.StringIO()
    write_records([(evil, h), (evil, h)], out, "csv")
    assert len(out.getvalue().splitlines()) == 3  # header and two rows, no field spans a line
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["operator"] == "x\\r\\n<109>1 forged"
    assert one_line("a\nb\\n") == "a\\nb\\\\n"  # a literal backslash stays distinguishable
