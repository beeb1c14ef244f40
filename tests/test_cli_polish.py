"""What a person and a packager meet around the commands: inputs over the 64 KiB parameter limit
refused before the device is called, -q and -v, the approved-service indicator in human output,
`cmsim-seal --verify`, shell completion, the lab summary line and --strict, the policy JSON as
package data."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from firmware_sim.integrity import EXIT_SEAL_MISMATCH, write_seal
from host_tools.cli import EXIT_FILE, main
from host_tools.device_process import DeviceProcess, running_device
from host_tools.lab.harness import LabReport
from host_tools.lab.policy import DEFAULT_POLICY_PATH, Policy
from host_tools.lab.results import Outcome, Result as LabResult

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CO_PW, USER_PW = "s3cret-pass-1", "alice-pass-12"
POLICY = json.loads((ROOT / "docs" / "security_policy" / "security-policy.json").read_text(encoding="utf-8"))
APPROVED = {s["command"]: s["approved"] for s in POLICY["services"]}
LIMIT = 64 * 1024  # the module's parameter limit, as docs/protocol.md and the catalogue state it

pytestmark = pytest.mark.usefixtures("known_device")


def cli(port: str | None, *args: str, password: str | None = USER_PW, input: bytes | None = None) -> Result:
    env: dict[str, str | None] = {"CMSIM_PORT": port, "CMSIM_PASSWORD": password, "CMSIM_OPERATOR": None}
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    args = ["--pbkdf2-iterations", "1000", "--seal", str(seal_file)]
    with running_device(tmp_path_factory.mktemp("state"), args=args) as proc:
        assert cli(proc.port, "init", "--operator", "co", password=CO_PW).exit_code == 0
        env = {"CMSIM_PORT": proc.port, "CMSIM_PASSWORD": CO_PW, "ALICE_PW": USER_PW}
        r = CliRunner().invoke(main, ["--operator", "co", "operator", "add", "alice", "--role", "user",
                                      "--password-env", "ALICE_PW"], env=env)
        assert r.exit_code == 0, r.output
        for args_ in (["--type", "aes-256", "--label", "box", "--use", "encrypt", "--use", "decrypt"],
                      ["--type", "hmac-sha256", "--label", "tag", "--use", "mac"],
                      ["--type", "ecdsa-p256", "--label", "sig", "--use", "sign", "--use", "verify"]):
            assert cli(proc.port, "--operator", "alice", "key", "generate", *args_).exit_code == 0
        yield proc


def next_seq(port: str) -> int:
    return int(json.loads(cli(port, "--json", "status").stdout)["audit"]["next_seq"])


# ---------------------------------------------------------------- the 64 KiB parameter limit

@pytest.mark.parametrize("command, limit", [
    (["digest"], LIMIT), (["digest", "--alg", "sha1"], LIMIT), (["sign", "--key", "sig"], LIMIT),
    (["mac", "--key", "tag"], LIMIT), (["encrypt", "--key", "box"], LIMIT - 16), (["decrypt", "--key", "box"], 12 + LIMIT),
])
def test_an_input_over_the_limit_is_refused_before_the_device_is_called(
        device: DeviceProcess, tmp_path: Path, command: list[str], limit: int) -> None:
    """Exit 7 and one line naming the limit, from a file and from stdin; the device sees nothing: its
    trail grows by exactly what two status calls add, as it does without the refused command."""
    big = tmp_path / "big"
    big.write_bytes(bytes(limit + 1))
    a = next_seq(device.port)
    b = next_seq(device.port)
    per_status = b - a
    for r in (cli(device.port, "--operator", "alice", *command, "--in", str(big), "--out", str(tmp_path / "o")),
              cli(device.port, "--operator", "alice", *command, "--out", str(tmp_path / "o"), input=bytes(limit + 1))):
        assert r.exit_code == EXIT_FILE, r.output
        lines = r.output.strip().splitlines()
        assert len(lines) == 1 and f"{limit:,} bytes" in lines[0] and "Traceback" not in r.output
    assert next_seq(device.port) - b == per_status  # nothing recorded between: no login, no call
    assert not (tmp_path / "o").exists()


def test_the_limit_is_named_in_help() -> None:
    for command, limit in (("digest", "65,536"), ("sign", "65,536"), ("mac", "65,536"), ("verify", "65,536"),
                           ("encrypt", "65,520"), ("decrypt", "65,548")):
        r = cli(None, command, "--help")
        assert r.exit_code == 0 and f"{limit} bytes" in " ".join(r.output.split()), (command, r.output)


def test_an_input_at_the_limit_goes_through(device: DeviceProcess, tmp_path: Path) -> None:
    """The boundary from the other side: exactly the limit is one call, and right (hashlib's SHA-256;
    encrypt's largest input comes back whole through decrypt)."""
    data = bytes(range(256)) * (LIMIT // 256)
    r = cli(device.port, "--operator", "alice", "--json", "digest", input=data)
    assert r.exit_code == 0 and json.loads(r.stdout)["digest"] == hashlib.sha256(data).hexdigest()
    box = tmp_path / "box"
    assert cli(device.port, "--operator", "alice", "encrypt", "--key", "box", "--out", str(box),
               input=data[:LIMIT - 16]).exit_code == 0
    assert box.stat().st_size == 12 + LIMIT  # IV, ciphertext, tag: decrypt's largest input
    back = cli(device.port, "--operator", "alice", "decrypt", "--key", "box", "--in", str(box))
    assert back.exit_code == 0 and back.stdout_bytes == data[:LIMIT - 16]


# ---------------------------------------------------------------- -q, -v and the indicator line

def test_the_indicator_is_in_human_output_as_the_policy_publishes_it(device: DeviceProcess) -> None:
    def line(r: Result) -> str:
        return next(x for x in r.stderr.splitlines() if x.startswith("approved-service indicator: "))

    def said(service: str) -> str:
        return f"{service} {'approved' if APPROVED[service] else 'NOT APPROVED'}"

    assert line(cli(device.port, "status")) == f"approved-service indicator: {said('GET_STATUS')}"
    assert line(cli(device.port, "selftest")) == f"approved-service indicator: {said('SELF_TEST')}"
    r = cli(device.port, "--operator", "alice", "random", "8")
    assert len(r.stdout_bytes) == 8 and line(r) == f"approved-service indicator: {said('RANDOM')}"
    r = cli(device.port, "--operator", "alice", "digest", "--alg", "sha1", input=b"abc")
    assert line(r) == f"approved-service indicator: {said('DIGEST_SHA1')}"
    r = cli(device.port, "--operator", "alice", "key", "list")  # KEY_ATTRIBUTES once per key: counted
    assert line(r) == f"approved-service indicator: {said('KEY_LIST')}, {said('KEY_ATTRIBUTES')} (x3)"


def test_quiet_prints_only_the_data(device: DeviceProcess, tmp_path: Path) -> None:
    r = cli(device.port, "-q", "--operator", "alice", "random", "8", "--hex")
    assert r.exit_code == 0 and r.stderr == "" and len(r.stdout.strip()) == 16
    r = cli(device.port, "-q", "--operator", "alice", "random", "8", "--out", str(tmp_path / "r"))
    assert r.exit_code == 0 and r.output == "" and (tmp_path / "r").stat().st_size == 8
    r = cli(device.port, "--operator", "alice", "random", "8", "--out", str(tmp_path / "r"))
    assert "8 bytes -> " in r.stderr  # what -q took away
    bad = cli(device.port, "-q", "--operator", "alice", "key", "show", "no-such-label")
    assert bad.exit_code == 3 and bad.stderr.startswith("cmsim: KEY_NOT_FOUND")  # errors stay
    assert cli(None, "-q", "-v", "status").exit_code == 2


def test_verbose_logs_the_line_and_the_session(device: DeviceProcess) -> None:
    r = cli(device.port, "-v", "--operator", "alice", "random", "4", "--hex")
    assert r.exit_code == 0
    log = [x for x in r.stderr.splitlines() if x.startswith("cmsim: host_tools.")]
    assert log[0] == f"cmsim: host_tools.transport: opened {device.port} at 115200 baud"
    assert any(x.startswith("cmsim: host_tools.client: logged in as alice (session ") for x in log)
    assert any(x.startswith("cmsim: host_tools.client: logged out alice") for x in log)
    assert log[-1] == f"cmsim: host_tools.transport: closed {device.port}"
    assert not [x for x in cli(device.port, "--operator", "alice", "random", "4").stderr.splitlines()
                if x.startswith("cmsim: host_tools.")]  # without -v: none of it


# ---------------------------------------------------------------- console scripts

def test_seal_verify(tmp_path: Path) -> None:
    """As `openssl fipsinstall -verify`: 0 when the seal is the code's, else 1 and one line."""
    seal = tmp_path / "integrity.seal"
    write_seal(seal)
    ok = subprocess.run([BIN / "cmsim-seal", "--verify", "--out", str(seal)], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0 and "VERIFY PASSED" in ok.stdout, ok.stderr
    seal.write_text("00" * 32 + "\n")
    for path in (seal, tmp_path / "missing.seal"):
        bad = subprocess.run([BIN / "cmsim-seal", "--verify", "--out", str(path)], capture_output=True, text=True,
                             timeout=120)
        assert bad.returncode == EXIT_SEAL_MISMATCH == 1 and bad.stdout == ""
        assert len(bad.stderr.strip().splitlines()) == 1 and "VERIFY FAILED" in bad.stderr
    assert not (tmp_path / "missing.seal").exists()  # --verify never writes one
    assert "--verify" in subprocess.run([BIN / "cmsim-seal", "-h"], capture_output=True, text=True,
                                        timeout=120).stdout


def test_bash_completion_script_and_answers() -> None:
    """README: eval "$(_CMSIM_COMPLETE=bash_source cmsim)"; the script then asks cmsim itself."""
    env = {**os.environ, "_CMSIM_COMPLETE": "bash_source"}
    script = subprocess.run([BIN / "cmsim"], env=env, capture_output=True, text=True, timeout=120)
    assert script.returncode == 0 and "complete -o nosort -F _cmsim_completion cmsim" in script.stdout
    env = {**os.environ, "_CMSIM_COMPLETE": "bash_complete", "COMP_WORDS": "cmsim ke", "COMP_CWORD": "1"}
    answer = subprocess.run([BIN / "cmsim"], env=env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0 and "plain,key" in answer.stdout.splitlines()
    assert "_CMSIM_COMPLETE=bash_source cmsim" in (ROOT / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the lab's summary line

def _result(test: str, step: int, outcome: Outcome, reason: str = "") -> LabResult:
    r = LabResult(f"t.{test}", step, "7.2", test)
    if outcome is Outcome.NOT_RUN:
        r.skip(reason)
    elif outcome is Outcome.FAILED:
        r.fail("wrong")
    else:
        r.ok()
    assert r.outcome is outcome
    return r


def test_the_summary_line_names_what_did_not_run_and_why() -> None:
    report = LabReport("quick", 7, "2026-01-01T00:00:00+00:00")
    report.results = [_result("ACVP set", 1, Outcome.PASSED), _result("walk", 5, Outcome.NOT_RUN, "no time"),
                      _result("SHA-256", 1, Outcome.NOT_RUN, "no vectors"),
                      _result("HMAC", 1, Outcome.NOT_RUN, "no vectors")]
    line = report.summary_line()
    assert line.startswith("lab run (quick plan, seed 7): PASSED: 1 passed, 0 failed, 3 not run")
    assert line.endswith("; not run: SHA-256 (step 1), HMAC (step 1): no vectors; not run: walk (step 5): no time")
    assert report.ok
    report.strict = True  # --strict, and --plan full
    assert not report.ok and report.summary_line().startswith("lab run (quick plan, seed 7): FAILED")
    assert report.as_dict()["summary"]["ok"] is False
    report.results = report.results[:1]
    assert report.ok  # strict, with everything run


def test_plan_full_and_strict_are_documented_in_help() -> None:
    text = " ".join(cli(None, "lab", "run", "--help").output.split())
    assert "--strict" in text and "always so with --plan full" in text


# ---------------------------------------------------------------- packaging

def test_the_published_policy_is_package_data() -> None:
    """`pip install .` alone gives `cmsim lab run` its tables: the JSON is in the package, the same as
    the published one, found through importlib.resources, and the lab's default."""
    shipped = resources.files("host_tools.lab").joinpath("security-policy.json")
    published = ROOT / "docs" / "security_policy" / "security-policy.json"
    assert shipped.is_file() and shipped.read_bytes() == published.read_bytes(), "run `make docs`"
    assert Path(str(shipped)) == DEFAULT_POLICY_PATH
    assert Policy.load().source == str(DEFAULT_POLICY_PATH)
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"]
    assert "security-policy.json" in package_data["host_tools.lab"]
