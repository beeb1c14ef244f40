"""The `cmsim` command line against a real device on a pty: the scriptable contract, every command
group, --json output, exit codes, binary-safe stdin/stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from host_tools.cli import EXIT_AUTH, EXIT_DEVICE, EXIT_IDENTITY, EXIT_NO_DEVICE, EXIT_UNPROVEN, EXIT_VERIFY, main
from host_tools.device import Device
from host_tools.known_devices import KnownDevices
from host_tools.device_process import DeviceProcess, running_device

FAST = ["--pbkdf2-iterations", "1000"]
CO_PW, ALICE_PW, AUDREY_PW = "s3cret-pass-1", "alice-pass-12", "audrey-pass-1"


def cli(port: str, *args: str, password: str | None = None, input: bytes | None = None,
        env: dict[str, str] | None = None) -> Result:
    full_env = {"CMSIM_PORT": port, **(env or {})}
    if password is not None:
        full_env["CMSIM_PASSWORD"] = password
    return CliRunner().invoke(main, list(args), env=full_env, input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    """A device set up through the scriptable contract itself."""
    with running_device(tmp_path_factory.mktemp("state"), args=[*FAST, "--seal", str(seal_file)]) as proc:
        port = proc.port
        assert cli(port, "init", "--operator", "co", password=CO_PW).exit_code == 0
        r = cli(port, "--operator", "co", "operator", "add", "alice", "--role", "user", "--password-env", "ALICE_PW",
                password=CO_PW, env={"ALICE_PW": ALICE_PW})
        assert r.exit_code == 0, r.output
        r = cli(port, "--operator", "co", "operator", "add", "audrey", "--role", "auditor", "--password-env", "PW",
                password=CO_PW, env={"PW": AUDREY_PW})
        assert r.exit_code == 0, r.output
        yield proc


def test_scriptable_contract(device: DeviceProcess, tmp_path: Path) -> None:
    port = device.port
    r = cli(port, "--operator", "alice", "--json", "key", "generate", "--type", "ecdsa-p256", "--label", "k1",
            password=ALICE_PW)
    assert r.exit_code == 0 and json.loads(r.stdout)["label"] == "k1"
    pub, trail = tmp_path / "audit.pub", tmp_path / "trail.jsonl"
    assert cli(port, "audit", "pubkey", "--out", str(pub)).exit_code == 0  # public, no login
    exported = cli(port, "--operator", "co", "--json", "audit", "export", "--out", str(trail), password=CO_PW)
    assert exported.exit_code == 0
    nonce = json.loads(exported.output)["nonce"]
    ok = cli(port, "audit", "verify", str(trail), "--pubkey", str(pub), "--nonce", nonce,
             env={"CMSIM_PORT": "/nonexistent"})
    assert ok.exit_code == 0 and "OK" in ok.output  # offline: no device needed
    unproven = cli(port, "audit", "verify", str(trail), "--pubkey", str(pub), env={"CMSIM_PORT": "/nonexistent"})
    assert unproven.exit_code == EXIT_UNPROVEN and "UNPROVEN" in unproven.output and "unproven" in unproven.output
    acked = cli(port, "--operator", "co", "--json", "audit", "ack", str(trail), "--pubkey", str(pub), password=CO_PW)
    assert acked.exit_code == 0, acked.output  # through a checkpoint of its own session, past the file's
    assert json.loads(acked.output)["oldest_retained"] == json.loads(acked.output)["acknowledged_through"] + 1
    status = json.loads(cli(port, "--json", "status").stdout)
    assert status["state_name"] == "OPERATIONAL" and status["audit"]["policy"] == "block"
    lines = trail.read_text().splitlines()
    tampered = tmp_path / "tampered.jsonl"
    record = json.loads(lines[5])
    record["record"] = record["record"][:-2] + ("00" if record["record"][-2:] != "00" else "01")
    tampered.write_text("\n".join(lines[:5] + [json.dumps(record)] + lines[6:]) + "\n")
    bad = cli(port, "--json", "audit", "verify", str(tampered), "--pubkey", str(pub))
    assert bad.exit_code == EXIT_VERIFY and json.loads(bad.stdout)["reason"] in ("HASH_MISMATCH", "MALFORMED")


def test_binary_safe_crypto_through_stdin_and_stdout(device: DeviceProcess, tmp_path: Path) -> None:
    port = device.port
    key = json.loads(cli(port, "--operator", "alice", "--json", "key", "generate", "--type", "aes-256",
                         password=ALICE_PW).stdout)["key_id"]
    data = bytes(range(256)) * 3 + b"\n\r\x00"
    enc = cli(port, "--operator", "alice", "encrypt", "--key", str(key), input=data, password=ALICE_PW)
    assert enc.exit_code == 0 and len(enc.stdout_bytes) == 12 + len(data) + 16
    dec = cli(port, "--operator", "alice", "decrypt", "--key", str(key), input=enc.stdout_bytes, password=ALICE_PW)
    assert dec.exit_code == 0 and dec.stdout_bytes == data
    rnd = cli(port, "--operator", "alice", "random", "64", password=ALICE_PW)
    assert len(rnd.stdout_bytes) == 64
    hx = json.loads(cli(port, "--operator", "alice", "--json", "random", "16", password=ALICE_PW).stdout)
    assert len(bytes.fromhex(hx["random"])) == 16
    d = cli(port, "--operator", "alice", "digest", "--alg", "sha3-256", input=b"abc", password=ALICE_PW)
    assert d.stdout_bytes.hex().startswith("3a985da7")  # SHA3-256("abc")


def test_sign_verify_and_mac_exit_codes(device: DeviceProcess, tmp_path: Path) -> None:
    port, sig, tag = device.port, tmp_path / "sig", tmp_path / "mac"
    for key_type in ("ed25519", "hmac-sha256"):
        cli(port, "--operator", "alice", "key", "generate", "--type", key_type, "--label", key_type, password=ALICE_PW)
    keys = json.loads(cli(port, "--operator", "alice", "--json", "key", "list", password=ALICE_PW).stdout)["keys"]
    ed = next(k for k in keys if k["key_type"] == "ed25519")
    hm = next(k for k in keys if k["key_type"] == "hmac-sha256")
    assert cli(port, "--operator", "alice", "sign", "--key", str(ed["key_id"]), "--out", str(sig),
               input=b"msg", password=ALICE_PW).exit_code == 0
    good = cli(port, "--operator", "alice", "verify", "--key", str(ed["key_id"]), "--signature", str(sig),
               input=b"msg", password=ALICE_PW)
    assert good.exit_code == 0 and "valid" in good.output
    pub = tmp_path / "ed.pub"
    pub.write_bytes(bytes.fromhex(ed["public_key"]))
    bad = cli(port, "--operator", "alice", "verify", "--pubkey", str(pub), "--type", "ed25519", "--signature",
              str(sig), input=b"other", password=ALICE_PW)
    assert bad.exit_code == EXIT_VERIFY and "INVALID" in bad.output
    cli(port, "--operator", "alice", "mac", "--key", str(hm["key_id"]), "--out", str(tag), input=b"m", password=ALICE_PW)
    assert cli(port, "--operator", "alice", "mac", "--key", str(hm["key_id"]), "--verify", str(tag), input=b"m",
               password=ALICE_PW).exit_code == 0
    assert cli(port, "--operator", "alice", "mac", "--key", str(hm["key_id"]), "--verify", str(tag), input=b"x",
               password=ALICE_PW).exit_code == EXIT_VERIFY


def test_key_and_operator_groups(device: DeviceProcess, tmp_path: Path) -> None:
    port = device.port
    wrap = json.loads(cli(port, "--operator", "alice", "--json", "key", "generate", "--type", "aes-256",
                          "--use", "wrap", "--use", "unwrap", password=ALICE_PW).stdout)["key_id"]
    agree = json.loads(cli(port, "--operator", "alice", "--json", "key", "generate", "--type", "ecdsa-p256",
                           "--use", "agree", password=ALICE_PW).stdout)
    assert agree["uses"] == ["agree"]  # KeyUse.AGREE alone (SP 800-57: one key, one purpose)
    secret = json.loads(cli(port, "--operator", "alice", "--json", "key", "generate", "--type", "generic-secret",
                            "--exportable", password=ALICE_PW).stdout)["key_id"]
    blob = tmp_path / "wrapped"
    assert cli(port, "--operator", "alice", "key", "export", str(secret), "--wrap-key", str(wrap), "--out", str(blob),
               password=ALICE_PW).exit_code == 0
    imported = json.loads(cli(port, "--operator", "alice", "--json", "key", "import", "--wrap-key", str(wrap),
                              "--type", "generic-secret", "--in", str(blob), password=ALICE_PW).stdout)
    derived = json.loads(cli(port, "--operator", "alice", "--json", "derive", "--base", str(imported["key_id"]),
                             "--type", "aes-256", "--info", "ctx", password=ALICE_PW).stdout)
    assert derived["key_type"] == "aes-256"
    shown = json.loads(cli(port, "--operator", "alice", "--json", "key", "show", str(derived["key_id"]),
                           password=ALICE_PW).stdout)
    assert shown["key_id"] == derived["key_id"]
    assert cli(port, "--operator", "alice", "key", "delete", str(derived["key_id"]), password=ALICE_PW).exit_code == 0
    gone = cli(port, "--operator", "alice", "key", "show", str(derived["key_id"]), password=ALICE_PW)
    assert gone.exit_code == EXIT_DEVICE and "KEY_NOT_FOUND" in gone.output
    ops = json.loads(cli(port, "--operator", "co", "--json", "operator", "list", password=CO_PW).stdout)["operators"]
    assert {o["operator"] for o in ops} >= {"co", "alice", "audrey"}
    r = cli(port, "--operator", "co", "operator", "add", "bob", "--role", "user", "--password-env", "PW",
            password=CO_PW, env={"PW": "bob-pass-1234"})
    assert r.exit_code == 0
    assert cli(port, "--operator", "co", "operator", "passwd", "bob", "--password-env", "PW", password=CO_PW,
               env={"PW": "bob-pass-5678"}).exit_code == 0
    assert cli(port, "--operator", "bob", "random", "4", password="bob-pass-5678").exit_code == 0
    assert cli(port, "--operator", "co", "operator", "delete", "bob", password=CO_PW).exit_code == 0


def test_errors_are_one_line_with_an_exit_code(device: DeviceProcess) -> None:
    port = device.port
    wrong = cli(port, "--operator", "mallory", "random", "4", password="not-the-password")  # no delay on alice
    assert wrong.exit_code == EXIT_AUTH and wrong.output.count("\n") == 1 and "AUTH_FAILED" in wrong.output
    denied = cli(port, "--operator", "alice", "operator", "list", password=ALICE_PW)
    assert denied.exit_code == EXIT_DEVICE and "ACCESS_DENIED (0x21)" in denied.output
    assert "Traceback" not in denied.output
    nodev = cli("/dev/pts/does-not-exist", "status")
    assert nodev.exit_code == EXIT_NO_DEVICE and "cmsim device start" in nodev.output
    assert cli(port, "key", "generate").exit_code == 2  # usage: --type missing


def test_audit_group_with_archive_and_query(device: DeviceProcess, tmp_path: Path) -> None:
    port, db = device.port, tmp_path / "audit.db"
    first = cli(port, "--operator", "audrey", "--json", "audit", "archive", "--db", str(db), password=AUDREY_PW)
    assert first.exit_code == 0 and json.loads(first.stdout)["acknowledged"]
    cli(port, "--operator", "alice", "random", "4", password=ALICE_PW)
    second = json.loads(cli(port, "--operator", "audrey", "--json", "audit", "archive", "--db", str(db),
                            password=AUDREY_PW).stdout)
    assert second["stored"] > 0
    assert cli(port, "audit", "verify", "--db", str(db)).exit_code == 0
    for fmt in ("jsonl", "csv", "syslog"):
        q = cli(port, "audit", "query", "--db", str(db), "--service", "random", "--operator", "alice", "--format", fmt)
        assert q.exit_code == 0 and "RANDOM" in q.output
    assert cli(port, "audit", "query", "--db", str(db), "--status", "auth_failed").output.count("AUTH_FINISH") >= 1
    tail = json.loads(cli(port, "--operator", "audrey", "--json", "audit", "tail", "-n", "5", password=AUDREY_PW).stdout)
    assert len(tail["records"]) == 5
    cp = json.loads(cli(port, "--operator", "audrey", "--json", "audit", "checkpoint", "--nonce", "00ff",
                        password=AUDREY_PW).stdout)
    assert cp["seq"] > 0
    pol = cli(port, "--operator", "co", "--json", "audit", "policy", "block", "--high-water", "900", password=CO_PW)
    assert pol.exit_code == 0 and len(json.loads(pol.stdout)["policy_digest"]) == 64
    assert cli(port, "selftest").exit_code == 0


def test_zeroise_asks_first(seal_file: Path, tmp_path: Path) -> None:
    with running_device(tmp_path, args=[*FAST, "--seal", str(seal_file)]) as proc:
        cli(proc.port, "init", "--operator", "co", password=CO_PW)
        no = cli(proc.port, "--operator", "co", "zeroise", password=CO_PW, input=b"n\n")
        assert no.exit_code == 1 and json.loads(cli(proc.port, "--json", "status").stdout)["state_name"] == "OPERATIONAL"
        yes = cli(proc.port, "--operator", "co", "zeroise", "--yes", password=CO_PW)
        assert yes.exit_code == 0
        assert json.loads(cli(proc.port, "--json", "status").stdout)["state_name"] == "ZEROISED"


def test_device_start_status_stop(seal_file: Path, tmp_path: Path) -> None:
    """The real console script in subprocesses: the device outlives the command that started it."""
    env = {**os.environ, "CMSIM_HOME": str(tmp_path / "home")}
    env.pop("CMSIM_PORT", None)
    exe = [sys.executable, "-m", "host_tools.cli"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, *args], env=env, capture_output=True, text=True, timeout=60)

    started = run("--json", "device", "start", f"--arg=--seal={seal_file}", "--arg=--pbkdf2-iterations=1000")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert run("--json", "device", "status").returncode == 0
    assert json.loads(run("--json", "status").stdout)["state_name"] == "UNINITIALISED"  # port remembered
    assert run("device", "start").returncode == EXIT_DEVICE  # one at a time
    assert run("device", "stop").returncode == 0
    assert run("device", "status").returncode == EXIT_NO_DEVICE
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)


def test_archive_an_export_file_offline(device: DeviceProcess, tmp_path: Path) -> None:
    port, pub, trail, db = device.port, tmp_path / "a.pub", tmp_path / "t.bin", tmp_path / "offline.db"
    cli(port, "audit", "pubkey", "--out", str(pub))
    cli(port, "--operator", "audrey", "audit", "export", "--out", str(trail), password=AUDREY_PW)
    r = cli("/nonexistent", "--json", "audit", "archive", "--db", str(db), "--import", str(trail), "--pubkey", str(pub))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["stored"] > 0 and not json.loads(r.stdout)["acknowledged"]
    again = cli("/nonexistent", "audit", "archive", "--db", str(db), "--import", str(trail))
    assert again.exit_code == EXIT_VERIFY and "nothing stored" in again.output  # does not extend the archive


# ------------------------------------------------------------------ pinning the device identity
def test_first_contact_pins_with_a_notice_and_a_mismatch_exits_with_its_own_code(
        device: DeviceProcess, cmsim_home: Path) -> None:
    first = cli(device.port, "--json", "status")
    assert first.exit_code == 0, first.output
    fingerprint = json.loads(first.stdout)["identity_fingerprint"]
    assert f"pinned device CMSIM-0001 with identity fingerprint {fingerprint}" in first.stderr
    pins = json.loads((cmsim_home / "known_devices.json").read_text())["devices"]
    assert pins == {"CMSIM-0001": fingerprint} and len(fingerprint) == 64
    again = cli(device.port, "--json", "status")
    assert again.exit_code == 0 and "pinned" not in again.stderr  # known now: no notice
    (cmsim_home / "known_devices.json").write_text(json.dumps({"devices": {"CMSIM-0001": "ab" * 32}}))
    for args in (("status",), ("--operator", "alice", "random", "8")):
        refused = cli(device.port, *args, password=ALICE_PW)
        assert refused.exit_code == EXIT_IDENTITY == 8, refused.output
        assert "ab" * 32 in refused.stderr and fingerprint in refused.stderr and "impostor" in refused.stderr


def test_an_explicit_fingerprint_pins_and_a_wrong_one_is_refused(device: DeviceProcess, cmsim_home: Path) -> None:
    wrong = cli(device.port, "--expect-fingerprint", "00" * 32, "--operator", "alice", "random", "8",
                password=ALICE_PW)
    assert wrong.exit_code == EXIT_IDENTITY and not (cmsim_home / "known_devices.json").exists()
    with Device.open(device.port, known_devices=KnownDevices(cmsim_home / "elsewhere.json")) as dev:
        right = dev.identity().fingerprint  # read through another pin store, so this one stays empty
    spaced = " ".join(right[i:i + 4] for i in range(0, 64, 4)).upper()  # as a person might copy it
    ok = cli(device.port, "--expect-fingerprint", spaced, "--operator", "alice", "--json", "random", "8",
             password=ALICE_PW)
    assert ok.exit_code == 0, ok.output
    assert json.loads((cmsim_home / "known_devices.json").read_text())["devices"] == {"CMSIM-0001": right}
