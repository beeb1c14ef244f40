"""`--json` follows its published schema (host_tools/cli/cmsim-json.schema.json, shipped in the
package): real outputs of real commands against a device, each one JSON document, errors included
(with the process's exit code inside)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from host_tools.cli import main
from host_tools.device_process import DeviceProcess, running_device
from json_schema_check import problems

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "host_tools" / "cli" / "cmsim-json.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
CO_PW, USER_PW = "s3cret-pass-1", "alice-pass-12"

pytestmark = pytest.mark.usefixtures("known_device")


def cli(port: str | None, *args: str, password: str | None = None, input: bytes | None = None,
        env: dict[str, str] | None = None) -> Result:
    """``password`` defaults to the operator's own (--operator alice: the User's, else the officer's)."""
    if password is None:
        as_alice = "--operator" in args and args[args.index("--operator") + 1] == "alice"
        password = USER_PW if as_alice else CO_PW
    full: dict[str, str | None] = {"CMSIM_PORT": port, "CMSIM_PASSWORD": password, "CMSIM_OPERATOR": None,
                                   **(env or {})}
    return CliRunner().invoke(main, list(args), env=full, input=input, catch_exceptions=False)


def document(r: Result) -> Any:
    """The command's stdout as exactly one JSON document (json.loads refuses a second one)."""
    return json.loads(r.stdout)


def check(command: str, r: Result) -> dict[str, Any]:
    doc = document(r)
    assert problems(doc, SCHEMA) == [], (command, doc)
    ref = SCHEMA["x-cmsim-commands"].get(command)
    if ref is not None and "error" not in doc:  # an error is the error object, whatever the command
        assert problems(doc, {"$ref": ref}, SCHEMA) == [], (command, ref, doc)
    if "error" in doc:
        assert doc["error"]["exit_code"] == r.exit_code != 0, (command, doc)
    else:
        assert r.exit_code in (0, 5), (command, r.output)  # 5: a verdict of invalid, still an answer
    return dict(doc)


@pytest.fixture(scope="module")
def device(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    args = ["--pbkdf2-iterations", "1000", "--seal", str(seal_file)]
    with running_device(tmp_path_factory.mktemp("state"), args=args) as proc:
        yield proc


def test_the_schema_is_package_data() -> None:
    shipped = resources.files("host_tools.cli").joinpath("cmsim-json.schema.json")
    assert json.loads(shipped.read_text(encoding="utf-8")) == SCHEMA
    assert "cli/cmsim-json.schema.json" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_the_checker_refuses_what_the_schema_forbids() -> None:
    """The checker is not a yes-machine: documents that break the schema in one place each fail."""
    good_key = {"key_id": 1, "key_type": "aes-256", "label": "", "uses": ["encrypt"], "exportable": False,
                "origin": "generated", "public_key": "", "indicator": [{"service": "KEY_GENERATE", "approved": True}]}
    key = {"$ref": "#/$defs/key"}
    assert problems(good_key, key, SCHEMA) == []
    assert problems({**good_key, "extra": 1}, key, SCHEMA)
    assert problems({**good_key, "indicator": [{"service": "KEY_GENERATE", "approved": "yes"}]}, key, SCHEMA)
    assert problems({**good_key, "public_key": "ABC"}, key, SCHEMA)  # not lowercase hex pairs
    assert problems({"error": {"exit_code": 0, "message": "x", "status": None}}, SCHEMA)
    assert problems({"error": {"exit_code": 3, "message": "x"}}, SCHEMA)  # status missing
    assert problems({"error": "x", "valid": True}, SCHEMA)  # an answer never has an error member
    assert problems([1], SCHEMA)


def test_real_outputs_follow_the_schema(device: DeviceProcess, tmp_path: Path) -> None:
    p = device.port
    assert check("init", cli(p, "--json", "init", "--operator", "co"))["initialised"] is True
    check("status", cli(p, "--json", "status"))
    check("version", cli(p, "version", "--json"))
    check("selftest", cli(p, "--json", "selftest"))
    assert check("operator add", cli(p, "--operator", "co", "--json", "operator", "add", "alice", "--role", "user",
                                     "--password-env", "ALICE_PW", env={"ALICE_PW": USER_PW})).get("indicator")
    co = ["--operator", "alice", "--json"]
    aes = check("key generate", cli(p, *co, "key", "generate", "--type", "aes-256", "--label", "box", "--use",
                                    "encrypt", "--use", "decrypt"))
    hmac_key = check("key generate", cli(p, *co, "key", "generate", "--type", "hmac-sha256", "--use", "mac"))
    ec_key = check("key generate", cli(p, *co, "key", "generate", "--type", "ecdsa-p256", "--use", "sign",
                                       "--use", "verify"))
    assert ec_key["public_key"] and not aes["public_key"]
    assert len(check("key list", cli(p, *co, "key", "list"))["keys"]) == 3
    check("key show", cli(p, "--operator", "alice", "key", "show", "box", "--json"))
    check("random", cli(p, *co, "random", "16"))
    check("random", cli(p, *co, "random", "16", "--out", str(tmp_path / "r.bin")))
    check("digest", cli(p, *co, "digest", input=b"abc"))
    check("digest", cli(p, *co, "digest", "--alg", "sha1", input=b"abc"))
    check("mac", cli(p, *co, "mac", "--key", str(hmac_key["key_id"]), "--out", str(tmp_path / "m"), input=b"m"))
    assert check("mac --verify", cli(p, *co, "mac", "--key", str(hmac_key["key_id"]), "--verify",
                                     str(tmp_path / "m"), input=b"m"))["valid"] is True
    check("sign", cli(p, *co, "sign", "--key", str(ec_key["key_id"]), "--out", str(tmp_path / "s"), input=b"m"))
    assert check("verify", cli(p, *co, "verify", "--key", str(ec_key["key_id"]), "--signature",
                               str(tmp_path / "s"), input=b"other"))["valid"] is False
    check("encrypt", cli(p, *co, "encrypt", "--key", "box", "--out", str(tmp_path / "c"), input=b"secret"))
    check("decrypt", cli(p, *co, "decrypt", "--key", "box", "--in", str(tmp_path / "c")))
    check("key pubkey", cli(p, *co, "key", "pubkey", str(ec_key["key_id"]), "--out", str(tmp_path / "pub.pem")))
    check("key delete", cli(p, *co, "key", "delete", str(hmac_key["key_id"])))
    check("audit pubkey", cli(p, "--json", "audit", "pubkey", "--out", str(tmp_path / "audit.pub")))


def test_errors_follow_the_schema_with_their_exit_codes(device: DeviceProcess, tmp_path: Path) -> None:
    p = device.port
    if not document(cli(p, "--json", "status"))["initialised"]:
        cli(p, "--json", "init", "--operator", "co")
    co = ["--operator", "co", "--json"]
    usage = check("random", cli(p, *co, "random", "0"))
    assert usage["error"]["exit_code"] == 2 and usage["error"]["status"] is None
    refused = check("key show", cli(p, *co, "key", "show", "4000"))
    assert refused["error"]["exit_code"] == 3 and refused["error"]["status"]  # the device's status name
    auth = check("key list", cli(p, *co, "key", "list", password="wrong-password-1"))
    assert auth["error"]["exit_code"] == 4 and auth["error"]["status"] == "AUTH_FAILED"
    big = tmp_path / "big"
    big.write_bytes(bytes(65537))
    assert check("digest", cli(p, *co, "digest", "--in", str(big)))["error"]["exit_code"] == 7
    assert check("status", cli(None, "--json", "status"))["error"]["exit_code"] == 6
