"""What a person sees when something is wrong: one line on stderr, the documented exit code (0 ok, 2
usage, 3 device refused, 4 authentication, 5 verification, 6 no device, 7 a file, 8 identity
mismatch, 130 interrupted),
never a traceback; and a hint that names the real cause."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import CliRunner, Result

from host_tools.cli import main
from host_tools.device_process import DeviceProcess, running_device

FAST = ["--pbkdf2-iterations", "1000"]
CO_PW, ALICE_PW, AUDREY_PW = "s3cret-pass-1", "alice-pass-12", "audrey-pass-1"
DOCUMENTED = {0: "ok", 2: "usage", 3: "device refused", 4: "authentication", 5: "verification", 6: "no device",
              7: "file", 8: "identity mismatch", 130: "interrupted"}


pytestmark = pytest.mark.usefixtures("known_device")  # output read whole: no first-contact notice in it


def cli(port: str | None, *args: str, password: str | None = None, input: bytes | None = None,
        env: dict[str, str] | None = None) -> Result:
    full_env: dict[str, str | None] = {"CMSIM_PORT": port, "CMSIM_PASSWORD": password, "CMSIM_OPERATOR": None}
    full_env.update(env or {})
    return CliRunner().invoke(main, list(args), env=full_env, input=input, catch_exceptions=False)


def one_line_error(r: Result, code: int) -> str:
    """The result failed with exactly ``code`` and said why in one line, with no traceback: a usage
    error is click's `Error:` line after its usage lines; anything else is the only line printed
    (`cmsim: ...` on stderr, or a verification's FAILED verdict on stdout)."""
    assert r.exit_code == code, (r.exit_code, r.output)
    assert "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert lines, "no message"
    if code == 2:
        assert lines[-1].startswith("Error: "), r.output
    else:
        assert len(lines) == 1, r.output
        assert lines[0].startswith("cmsim: ") or ": FAILED " in lines[0], r.output
    return lines[-1]


def test_error_state_from_a_missing_seal_names_the_seal(tmp_path: Path) -> None:
    """After `make test` alone no seal exists: the module stops in HARD_ERROR, and a power cycle does
    not help. The hint says what does."""
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(tmp_path / "no-such.seal")]) as proc:
        r = cli(proc.port, "init", "--operator", "co", password=CO_PW)
        line = one_line_error(r, 3)
        assert "MODULE_ERROR" in line and "integrity seal is missing or stale" in line and "make seal" in line
        assert "power-cycle it" not in line
        r = cli(proc.port, "--operator", "co", "random", "4", password=CO_PW)
        assert "make seal" in one_line_error(r, 3)


def test_error_state_from_a_stale_seal_names_the_seal(tmp_path: Path) -> None:
    stale = tmp_path / "stale.seal"
    stale.write_text("00" * 32 + "\n")  # a seal of some other code
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(stale)]) as proc:
        line = one_line_error(cli(proc.port, "init", "--operator", "co", password=CO_PW), 3)
        assert "integrity seal is missing or stale: run `make seal`" in line


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    with running_device(tmp_path_factory.mktemp("state"), args=[*FAST, "--seal", str(seal_file)]) as proc:
        assert cli(proc.port, "init", "--operator", "co", password=CO_PW).exit_code == 0
        for name, role, pw in (("alice", "user", ALICE_PW), ("audrey", "auditor", AUDREY_PW)):
            r = cli(proc.port, "--operator", "co", "operator", "add", name, "--role", role, "--password-env", "PW",
                    password=CO_PW, env={"PW": pw})
            assert r.exit_code == 0, r.output
        yield proc


@pytest.fixture(scope="module")
def files(device: DeviceProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good files from the device, and wrong ones of every kind."""
    d = tmp_path_factory.mktemp("files")
    f = {"pub": d / "audit.pub", "trail": d / "trail.jsonl", "db": d / "audit.db", "text": d / "hello.txt",
         "binary": d / "noise.bin", "sqlite": d / "other.sqlite", "dir": d / "a-dir", "missing": d / "missing"}
    assert cli(device.port, "audit", "pubkey", "--out", str(f["pub"])).exit_code == 0
    assert cli(device.port, "--operator", "audrey", "audit", "export", "--out", str(f["trail"]),
               password=AUDREY_PW).exit_code == 0
    assert cli(device.port, "--operator", "audrey", "audit", "archive", "--db", str(f["db"]),
               password=AUDREY_PW).exit_code == 0
    f["text"].write_text("hello\n")
    f["binary"].write_bytes(bytes(range(256)) * 4)
    con = sqlite3.connect(f["sqlite"])  # a real SQLite file, not an archive
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    f["dir"].mkdir()
    return f


# (arguments with {placeholders} for the files, who logs in, the documented exit code)
AUDIT_CASES = [
    ("audit pubkey --out {missing}/x", None, 7),
    ("audit pubkey --out {dir}", None, 7),
    ("audit export --out {missing}/x", "audrey", 7),
    ("audit export --out {dir}", "audrey", 7),
    ("audit export --out {text} --from minus-one", "audrey", 2),
    ("audit verify", None, 2),
    ("audit verify {trail}", None, 2),
    ("audit verify {missing} --pubkey {pub}", None, 7),
    ("audit verify {dir} --pubkey {pub}", None, 7),
    ("audit verify {trail} --pubkey {missing}", None, 7),
    ("audit verify {trail} --pubkey {text}", None, 7),
    ("audit verify {trail} --pubkey {binary}", None, 7),
    ("audit verify {trail} --pubkey {trail}", None, 7),
    ("audit verify {text} --pubkey {pub}", None, 5),
    ("audit verify {binary} --pubkey {pub}", None, 5),
    ("audit verify {pub} --pubkey {pub}", None, 5),
    ("audit verify {trail} --pubkey {pub} --nonce zz", None, 2),
    ("audit verify {trail} --pubkey {pub} --nonce 0", None, 2),
    ("audit verify {trail} --pubkey {pub} --nonce 00112233", None, 5),  # no checkpoint binds it
    ("audit verify --db {text}", None, 7),
    ("audit verify --db {trail}", None, 7),
    ("audit verify --db {missing}", None, 7),
    ("audit ack {text} --pubkey {pub}", "audrey", 5),
    ("audit ack {trail} --pubkey {text}", "audrey", 7),
    ("audit ack {missing} --pubkey {pub}", "audrey", 7),
    ("audit checkpoint --nonce zz", "audrey", 2),
    ("audit checkpoint --nonce abc", "audrey", 2),
    ("audit policy sideways", "co", 2),
    ("audit policy block --high-water 5000", "co", 2),
    ("audit tail -n 0", "audrey", 2),
    ("audit tail -n many", "audrey", 2),
    ("audit archive --db {missing}/x.db", "audrey", 7),
    ("audit archive --db {dir}", "audrey", 7),
    ("audit archive --db {text} --import {trail}", None, 7),
    ("audit archive --db {binary} --import {trail}", None, 7),
    ("audit archive --db {missing}.db --import {text} --pubkey {pub}", None, 5),
    ("audit archive --db {missing}.db2 --import {trail} --pubkey {text}", None, 7),
    ("audit archive --db {missing}.db3 --import {missing} --pubkey {pub}", None, 7),
    ("audit query --db {text}", None, 7),
    ("audit query --db {sqlite}", None, 7),
    ("audit query --db {trail}", None, 7),
    ("audit query --db {missing}", None, 7),
    ("audit query --db {db} --since yesterday", None, 2),
    ("audit query --db {db} --until 2026-13-45", None, 2),
    ("audit query --db {db} --key-id x", None, 2),
    ("audit query --db {db} --format xml", None, 2),
    ("audit query --db {db} --service nothing", None, 2),
    ("audit show {text}", None, 7),
    ("audit show {binary}", None, 7),
    ("audit show {pub}", None, 7),
    ("audit show {missing}", None, 7),
    ("audit show {dir}", None, 7),
]
PASSWORDS = {"audrey": AUDREY_PW, "co": CO_PW, "alice": ALICE_PW}


@pytest.mark.parametrize(("args", "who", "code"), AUDIT_CASES, ids=[a for a, _, _ in AUDIT_CASES])
def test_audit_commands_with_wrong_files_formats_and_values(device: DeviceProcess, files: dict[str, Path],
                                                           args: str, who: str | None, code: int) -> None:
    assert code in DOCUMENTED
    argv = (["--operator", who] if who else []) + args.format(**{k: str(v) for k, v in files.items()}).split()
    r = cli(device.port, *argv, password=PASSWORDS.get(who or ""))
    one_line_error(r, code)


def test_wrong_files_say_what_they_are_not(device: DeviceProcess, files: dict[str, Path]) -> None:
    r = cli(device.port, "audit", "verify", str(files["text"]), "--pubkey", str(files["pub"]))
    assert "not a cmsim audit export" in r.output and "seq None" not in r.output
    assert "not a cmsim audit export" in one_line_error(cli(device.port, "audit", "show", str(files["text"])), 7)
    assert "not an audit key file" in one_line_error(
        cli(device.port, "audit", "verify", str(files["trail"]), "--pubkey", str(files["text"])), 7)
    assert "not a cmsim audit archive" in one_line_error(cli(device.port, "audit", "query", "--db", str(files["text"])), 7)
    assert "no such file" in one_line_error(cli(device.port, "audit", "show", str(files["missing"])), 7)


def test_another_modules_export_is_named_so(device: DeviceProcess, files: dict[str, Path], seal_file: Path,
                                           tmp_path: Path) -> None:
    other, db = tmp_path / "other.jsonl", tmp_path / "copy.db"
    db.write_bytes(files["db"].read_bytes())  # the first module's archive, copied: this test changes nothing of it
    # Reached through a host that never pinned the first module (its own CMSIM_HOME): the identity
    # check cannot tell them apart there, the archive must.
    home = {"CMSIM_HOME": str(tmp_path / "other-home")}
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(seal_file)]) as proc:
        assert cli(proc.port, "init", "--operator", "co", password=CO_PW, env=home).exit_code == 0
        assert cli(proc.port, "--operator", "co", "audit", "export", "--out", str(other), password=CO_PW,
                   env=home).exit_code == 0
        # the same serial (both default), a shorter chain: the archive alone would take it for a rollback
        line = one_line_error(cli(proc.port, "--operator", "co", "audit", "archive", "--db", str(db),
                                  password=CO_PW, env=home), 5)
        assert "another module" in line and "nothing stored" in line
    imported = one_line_error(cli(None, "audit", "archive", "--db", str(db), "--import", str(other)), 5)
    assert "another module" in imported and "nothing stored" in imported
    r = cli(None, "audit", "verify", str(other), "--pubkey", str(files["pub"]))
    assert r.exit_code == 5 and "another module" in r.output and "Traceback" not in r.output
    assert json.loads(cli(None, "--json", "audit", "verify", str(other), "--pubkey", str(files["pub"])).output)[
        "reason"] == "BAD_SIGNATURE"  # the machine-readable reason is the verifier's, unchanged


def test_no_device_configured_exits_6() -> None:
    line = one_line_error(cli(None, "status", env={"CMSIM_HOME": "/nonexistent-cmsim-home"}), 6)
    assert "no device" in line


def test_outputs_are_checked_before_the_device_is_called(files: dict[str, Path]) -> None:
    """With no device at all the command still fails on its output first: it never got to the device."""
    for args in (["encrypt", "--key", "1", "--out", f"{files['missing']}/x"],
                 ["sign", "--key", "1", "--out", str(files["dir"])],
                 ["audit", "export", "--out", f"{files['missing']}/x"]):
        r = cli("/dev/pts/does-not-exist", "--operator", "alice", *args, password=ALICE_PW, input=b"data")
        assert "no such directory" in one_line_error(r, 7) or "is a directory" in r.output


def test_wrong_values_elsewhere_are_usage_errors(device: DeviceProcess, files: dict[str, Path]) -> None:
    r = cli(device.port, "--operator", "alice", "derive", "--base", "1", "--type", "aes-256", "--salt", "zz",
            password=ALICE_PW)
    assert "not hex" in one_line_error(r, 2)
    assert "no such file" in one_line_error(cli(device.port, "--operator", "alice", "encrypt", "--key", "1", "--in",
                                                str(files["missing"]), password=ALICE_PW), 7)


def test_a_wrong_gcm_tag_is_a_failed_verification(device: DeviceProcess) -> None:
    key = json.loads(cli(device.port, "--operator", "alice", "--json", "key", "generate", "--type", "aes-256",
                         password=ALICE_PW).output)["key_id"]
    box = cli(device.port, "--operator", "alice", "encrypt", "--key", str(key), input=b"secret", password=ALICE_PW)
    assert box.exit_code == 0
    altered = box.stdout_bytes[:-1] + bytes([box.stdout_bytes[-1] ^ 1])
    r = cli(device.port, "--operator", "alice", "decrypt", "--key", str(key), input=altered, password=ALICE_PW)
    line = one_line_error(r, 5)
    assert "DECRYPT_FAILED" in line and "verification failed" in line and r.stdout_bytes == b""


def test_init_on_an_initialised_device_says_so(device: DeviceProcess) -> None:
    line = one_line_error(cli(device.port, "init", "--operator", "eve", password="another-pass-1"), 3)
    assert "already initialised" in line and "AUTH_FAILED" not in line


def test_the_locked_hint_names_a_command_that_exists(device: DeviceProcess) -> None:
    from host_tools.cli.root import HINTS
    from module.wire.defs import Status

    assert "operator unlock NAME" in HINTS[Status.OPERATOR_LOCKED]
    r = cli(device.port, "--operator", "co", "operator", "unlock", "alice", password=CO_PW)  # not locked: a no-op
    assert r.exit_code == 0, r.output
    assert cli(device.port, "operator", "unlock", "--help").exit_code == 0


def test_ctrl_c_exits_130_and_leaves_no_half_written_export(device: DeviceProcess, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import host_tools.cli.audit as audit_cli

    real = audit_cli.export_through

    def interrupted(session: object, out: BinaryIO, *args: object, **kwargs: object) -> int:
        out.write(b'{"half": ')  # a part of the file is written, then the user presses Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(audit_cli, "export_through", interrupted)
    out = tmp_path / "trail.jsonl"
    r = cli(device.port, "--operator", "audrey", "audit", "export", "--out", str(out), password=AUDREY_PW)
    assert "interrupted" in one_line_error(r, 130)
    assert list(tmp_path.iterdir()) == []  # neither the export nor its temporary file
    out.write_text("an older export\n")
    cli(device.port, "--operator", "audrey", "audit", "export", "--out", str(out), password=AUDREY_PW)
    assert out.read_text() == "an older export\n"  # an interrupted run leaves an existing file as it was
    monkeypatch.setattr(audit_cli, "export_through", real)
    assert cli(device.port, "--operator", "audrey", "audit", "export", "--out", str(out),
               password=AUDREY_PW).exit_code == 0
    assert out.read_text() != "an older export\n"
