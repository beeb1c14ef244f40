"""Smaller things a person meets at the command line: a login is asked for before any prompt,
`--json` after the subcommand, an empty key list said in words, no Python reprs, `-h` on every
console script, the versions, the package's SPDX licence, and the device's temporary state and
debug frame trace."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from host_tools.cli import main
from host_tools.device_process import DeviceProcess, running_device

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FAST = ["--pbkdf2-iterations", "1000"]
CO_PW = "s3cret-pass-1"


pytestmark = pytest.mark.usefixtures("known_device")  # output read whole: no first-contact notice in it


def cli(port: str | None, *args: str, password: str | None = None, input: bytes | None = None) -> Result:
    env: dict[str, str | None] = {"CMSIM_PORT": port, "CMSIM_PASSWORD": password, "CMSIM_OPERATOR": None}
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    with running_device(tmp_path_factory.mktemp("state"), args=[*FAST, "--seal", str(seal_file)]) as proc:
        assert cli(proc.port, "init", "--operator", "co", password=CO_PW).exit_code == 0
        yield proc


def test_operator_add_without_a_login_says_so_before_any_prompt(device: DeviceProcess) -> None:
    r = cli(device.port, "operator", "add", "alice", "--role", "user", input=b"alice-pass-12\nalice-pass-12\n")
    assert r.exit_code == 2 and "needs a login" in r.output
    assert "password" not in r.output.lower().replace("cmsim_password", "")  # never prompted


def test_json_after_the_subcommand(device: DeviceProcess) -> None:
    for args in (["--json", "key", "list"], ["key", "--json", "list"], ["key", "list", "--json"]):
        r = cli(device.port, "--operator", "co", *args, password=CO_PW)
        assert r.exit_code == 0 and json.loads(r.output)["keys"] == [], (args, r.output)
    assert json.loads(cli(device.port, "status", "--json").output)["state_name"] == "OPERATIONAL"


def test_no_keys_is_said_in_words(device: DeviceProcess) -> None:
    r = cli(device.port, "--operator", "co", "key", "list", password=CO_PW)
    assert r.exit_code == 0 and r.output.startswith("no keys")
    assert not re.search(r"[┏━┃┡│└─]", r.output)  # no empty table drawn


def test_human_output_has_no_python_reprs(device: DeviceProcess) -> None:
    for args in (["status"], ["selftest"], ["version"], ["init", "--help"]):
        r = cli(device.port, *args)
        assert r.exit_code == 0, r.output
        assert not re.search(r"\b(True|False|None)\b", r.output), (args, r.output)
    assert re.search(r"approved_mode\s+yes", cli(device.port, "status").output)


def test_versions(device: DeviceProcess) -> None:
    expected = importlib.metadata.version("cmsim")
    assert PYPROJECT["project"]["version"] == expected
    r = cli(None, "--version")
    assert r.exit_code == 0 and expected in r.output
    v = cli(device.port, "--json", "version")
    assert v.exit_code == 0
    data = json.loads(v.output)
    assert data["host_tools"] == expected and data["module"] == "cmsim"


@pytest.mark.parametrize("script", sorted(PYPROJECT["project"]["scripts"]))
def test_every_console_script_takes_dash_h(script: str) -> None:
    exe = Path(sys.executable).parent / script
    assert exe.exists(), f"{script} is not installed next to {sys.executable}"
    for flag in ("-h", "--help"):
        r = subprocess.run([str(exe), flag], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "Usage:" in r.stdout, (script, flag, r.stderr)


def test_licence_is_an_spdx_expression() -> None:
    """The same licence as before (Apache-2.0), as a PEP 639 SPDX string rather than a deprecated table."""
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    requires = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires)


def test_a_device_without_state_removes_its_temporary_directory(seal_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", *FAST, "--seal", str(seal_file)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().decode().strip()
        assert port.startswith("/dev/")
        made = [p for p in tmp_path.iterdir() if p.name.startswith("cmsim-state-")]
        assert len(made) == 1 and any(made[0].iterdir())  # the flash lived there while it ran
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert not made[0].exists()


def test_debug_log_traces_frames_without_payloads(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(seal_file), "--log-level", "debug"]) as proc:
        assert cli(proc.port, "init", "--operator", "co", password=CO_PW).exit_code == 0
        r = cli(proc.port, "--operator", "co", "--json", "random", "32", password=CO_PW)
        assert r.exit_code == 0
        random_hex = json.loads(r.output)["random"]
        assert proc.stop() == 0
        assert proc.process.stderr is not None
        log = proc.process.stderr.read().decode()
    assert re.search(r"frame GET_STATUS session 0 seq \d+ -> OK", log), log
    assert re.search(r"frame AUTH_BEGIN session 0 seq \d+ -> OK", log), log
    assert re.search(r"frame RANDOM session \d+ seq \d+ encrypted -> OK", log), log
    assert re.search(r"frame AUTH_FINISH session \d+ seq \d+( encrypted)? -> OK", log), log
    assert CO_PW not in log and random_hex not in log and random_hex[:16] not in log
    assert CO_PW.encode().hex() not in log


def test_errors_under_json_are_json_documents(device: DeviceProcess) -> None:
    r = CliRunner().invoke(main, ["--json", "status"], env={"CMSIM_PORT": None, "CMSIM_HOME": "/nonexistent-home"},
                           catch_exceptions=False)
    assert r.exit_code == 6
    assert json.loads(r.stdout) == {"error": {"exit_code": 6, "status": None, "message": json.loads(r.stdout)[
        "error"]["message"]}} and "no device" in r.stdout
    wrong = cli(device.port, "--json", "--operator", "mallory", "random", "4", password="not-the-password")
    assert wrong.exit_code == 4 and json.loads(wrong.stdout)["error"]["status"] == "AUTH_FAILED"
    usage = cli(device.port, "--json", "audit", "query", "--since", "yesterday", "--db", "x")
    assert usage.exit_code == 2 and "ISO 8601" in json.loads(usage.stdout)["error"]["message"]


def test_ctrl_c_at_the_password_prompt_exits_130(device: DeviceProcess) -> None:
    """In a real terminal: the prompt appears on a pty, Ctrl-C (the byte 0x03) makes the tty driver
    send SIGINT, and cmsim exits 130 with one line."""
    import pty
    import select

    env = {**os.environ, "CMSIM_PORT": device.port, "CMSIM_HOME": "/nonexistent-home"}
    env.pop("CMSIM_PASSWORD", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, as in a terminal window
        os.execve(sys.executable, [sys.executable, "-m", "host_tools.cli", "--operator", "co", "operator", "list"], env)
    seen, status = b"", -1
    try:
        while b"Password" not in seen:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, seen
            seen += os.read(fd, 1024)
        os.write(fd, b"\x03")
        while True:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, seen
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:  # a failed run must not leave the child waiting at its prompt
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130, seen
    assert b"interrupted" in seen and b"Traceback" not in seen


def test_password_file_and_no_password_option(device: DeviceProcess, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(CO_PW + "\n")
    r = cli(device.port, "--operator", "co", "--password-file", str(pw), "--json", "operator", "list")
    assert r.exit_code == 0 and "co" in {o["operator"] for o in json.loads(r.output)["operators"]}
    assert cli(device.port, "--password", CO_PW, "status").exit_code == 2  # not on the command line
    assert "--password " not in cli(None, "--help").output


def test_random_hex(device: DeviceProcess) -> None:
    r = cli(device.port, "--operator", "co", "random", "16", "--hex", password=CO_PW)
    assert r.exit_code == 0 and re.fullmatch(r"[0-9a-f]{32}\n", r.stdout)  # the indicator line is on stderr


def test_the_approved_service_indicator_is_in_the_json(device: DeviceProcess, tmp_path: Path) -> None:
    """Each service the command called, with the indicator the device answered; the expected flags
    come from the published security policy, not from the CLI."""
    policy = json.loads((ROOT / "docs" / "security_policy" / "security-policy.json").read_text(encoding="utf-8"))
    approved = {s["command"]: s["approved"] for s in policy["services"]}
    r = cli(device.port, "--operator", "co", "--json", "random", "8", password=CO_PW)
    assert r.exit_code == 0
    assert json.loads(r.output)["indicator"] == [{"service": "RANDOM", "approved": approved["RANDOM"]}]
    out = tmp_path / "r.bin"
    r = cli(device.port, "--operator", "co", "--json", "random", "8", "--out", str(out), password=CO_PW)
    indicator = json.loads(r.output)["indicator"]
    assert indicator == [{"service": "RANDOM", "approved": approved["RANDOM"]}] and out.stat().st_size == 8
    sha1 = cli(device.port, "--operator", "co", "--json", "digest", "--alg", "sha1", input=b"abc", password=CO_PW)
    data = json.loads(sha1.output)
    assert data["digest"] == "a9993e364706816aba3e25717850c26c9cd0d89d"  # FIPS 180 example: SHA-1("abc")
    assert data["indicator"] == [{"service": "DIGEST_SHA1", "approved": approved["DIGEST_SHA1"]}]
    assert approved["DIGEST_SHA1"] is True  # SP 800-131A Rev. 2 disallows SHA-1 for signatures only
