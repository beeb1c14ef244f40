"""The offline tools trust an audit key through the device's pinned identity, not through a file.

The attack: an impostor device made with the victim's serial (its own identity, its own audit key)
hands over its export and its audit key file. A key statement is only self-signed, so a verifier that
trusts the file accepts the impostor's trail as the victim's. The host that knows the victim (its
identity is pinned) must refuse it, offline, with the identity-mismatch exit code; a file whose key
statement was swapped under the real identity's signature must fail its signature check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from host_tools.archive import Archive
from host_tools.audit_key_file import MAGIC, AuditKeyFile
from host_tools.cli import EXIT_FILE, EXIT_IDENTITY, EXIT_UNPROVEN, EXIT_VERIFY, main
from host_tools.device_process import DeviceProcess, running_device
from host_tools.known_devices import KnownDevices
from module.wire.audit.signature import KeyStatement
from module.wire.handshake import fingerprint

FAST = ["--pbkdf2-iterations", "1000"]
SERIAL = "CMSIM-KEYFILE"
CO_PW = "s3cret-pass-1"


def cli(port: str | None, home: Path, *args: str, password: str | None = None) -> Result:
    env = {"CMSIM_PORT": port or "/nonexistent", "CMSIM_HOME": str(home)}
    if password is not None:
        env["CMSIM_PASSWORD"] = password
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _device(tmp: pytest.TempPathFactory, seal_file: Path) -> Iterator[DeviceProcess]:
    with running_device(tmp.mktemp("state"), args=[*FAST, "--seal", str(seal_file), "--serial", SERIAL]) as proc:
        yield proc


@pytest.fixture(scope="module")
def real(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    yield from _device(tmp_path_factory, seal_file)


@pytest.fixture(scope="module")
def impostor(seal_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeviceProcess]:
    yield from _device(tmp_path_factory, seal_file)


def _export(dev: DeviceProcess, home: Path, out: Path) -> tuple[Path, str]:
    """Initialise ``dev`` (once), write its audit key file and a fresh export; (key file, nonce)."""
    cli(dev.port, home, "init", "--operator", "co", password=CO_PW)  # a second init is refused: harmless
    pub = out / "audit.pub"
    r = cli(dev.port, home, "audit", "pubkey", "--out", str(pub))
    assert r.exit_code == 0, r.output
    trail = out / "trail.jsonl"
    r = cli(dev.port, home, "--operator", "co", "--json", "audit", "export", "--out", str(trail), password=CO_PW)
    assert r.exit_code == 0, r.output
    return pub, json.loads(r.stdout)["nonce"]


@pytest.fixture(scope="module")
def files(real: DeviceProcess, impostor: DeviceProcess,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    victim_home, attacker_home = tmp_path_factory.mktemp("victim"), tmp_path_factory.mktemp("attacker")
    real_dir, fake_dir = tmp_path_factory.mktemp("real"), tmp_path_factory.mktemp("fake")
    real_pub, real_nonce = _export(real, victim_home, real_dir)
    fake_pub, fake_nonce = _export(impostor, attacker_home, fake_dir)
    return {"victim_home": victim_home, "real_pub": real_pub, "real_nonce": real_nonce, "real_dir": real_dir,
            "fake_pub": fake_pub, "fake_nonce": fake_nonce, "fake_dir": fake_dir}


def _pin(home: Path) -> str:
    return KnownDevices(home / "known_devices.json").get(SERIAL) or ""


def test_the_devices_are_two_identities_under_one_serial(files: dict[str, object]) -> None:
    real = AuditKeyFile.parse(Path(str(files["real_pub"])).read_bytes())
    fake = AuditKeyFile.parse(Path(str(files["fake_pub"])).read_bytes())
    assert real.key_statement.serial == fake.key_statement.serial == SERIAL
    assert real.fingerprint != fake.fingerprint and real.statement != fake.statement
    assert _pin(Path(str(files["victim_home"]))) == real.fingerprint  # pinned at the victim's first contact


def test_the_real_trail_verifies_offline_against_the_pin(files: dict[str, object]) -> None:
    home, d = Path(str(files["victim_home"])), Path(str(files["real_dir"]))
    r = cli(None, home, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(files["real_pub"]),
            "--nonce", str(files["real_nonce"]))
    assert r.exit_code == 0 and "OK" in r.output, r.output


def test_an_impostors_trail_and_key_file_are_refused_by_a_host_that_knows_the_device(
        files: dict[str, object]) -> None:
    home, d = Path(str(files["victim_home"])), Path(str(files["fake_dir"]))
    before = (home / "known_devices.json").read_bytes()
    for nonce in ([], ["--nonce", str(files["fake_nonce"])]):
        r = cli(None, home, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(files["fake_pub"]), *nonce)
        assert r.exit_code == EXIT_IDENTITY, r.output
        assert "impostor" in r.output and "Traceback" not in r.output
    assert (home / "known_devices.json").read_bytes() == before  # the pin is not replaced


def test_an_impostors_key_file_cannot_found_an_archive(files: dict[str, object], tmp_path: Path) -> None:
    home, d = Path(str(files["victim_home"])), Path(str(files["fake_dir"]))
    db = tmp_path / "a.db"
    r = cli(None, home, "audit", "archive", "--db", str(db), "--import", str(d / "trail.jsonl"),
            "--pubkey", str(files["fake_pub"]))
    assert r.exit_code == EXIT_IDENTITY, r.output
    if db.exists():  # the file may have been opened; nothing is bound or stored in it
        with Archive(str(db)) as archive:
            assert archive.trusted_key() is None
            assert archive.db.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0


def test_a_key_statement_swapped_under_the_real_identitys_signature_fails(files: dict[str, object],
                                                                          tmp_path: Path) -> None:
    home, d = Path(str(files["victim_home"])), Path(str(files["fake_dir"]))
    real = AuditKeyFile.parse(Path(str(files["real_pub"])).read_bytes())
    fake = AuditKeyFile.parse(Path(str(files["fake_pub"])).read_bytes())
    spliced = tmp_path / "spliced.pub"
    spliced.write_bytes(AuditKeyFile(fake.statement, real.identity_public_key, real.identity_signature).encode())
    r = cli(None, home, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(spliced))
    assert r.exit_code == EXIT_VERIFY and "not vouched for by the identity" in r.output, r.output
    # a key of the attacker's own, self-signed for the serial and "vouched" by the real identity's
    # signature over something else: the signature is over (serial, audit key, lab), so it fails too
    own = KeyStatement.sign(SERIAL, Ed25519PrivateKey.generate()).encode()
    spliced.write_bytes(AuditKeyFile(own, real.identity_public_key, real.identity_signature).encode())
    r = cli(None, home, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(spliced))
    assert r.exit_code == EXIT_VERIFY, r.output


def test_a_bare_key_statement_is_not_enough(files: dict[str, object], tmp_path: Path) -> None:
    home, d = Path(str(files["victim_home"])), Path(str(files["real_dir"]))
    bare = tmp_path / "bare.pub"
    bare.write_bytes(AuditKeyFile.parse(Path(str(files["real_pub"])).read_bytes()).statement)
    r = cli(None, home, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(bare))
    assert r.exit_code == EXIT_FILE and "names no identity" in r.output, r.output
    assert not bare.read_bytes().startswith(MAGIC)


def test_first_contact_offline_pins_with_a_notice_and_an_explicit_fingerprint_decides(
        files: dict[str, object], tmp_path: Path) -> None:
    d = Path(str(files["real_dir"]))
    real = AuditKeyFile.parse(Path(str(files["real_pub"])).read_bytes())
    fake = AuditKeyFile.parse(Path(str(files["fake_pub"])).read_bytes())
    assert real.fingerprint == fingerprint(real.identity_public_key)
    fresh = tmp_path / "fresh-home"
    r = cli(None, fresh, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(files["real_pub"]))
    assert r.exit_code == EXIT_UNPROVEN, r.output  # no --nonce: verified, tail unproven
    assert f"pinned device {SERIAL} with identity fingerprint {real.fingerprint}" in r.output
    assert _pin(fresh) == real.fingerprint
    other = tmp_path / "other-home"
    r = cli(None, other, "--expect-fingerprint", fake.fingerprint, "audit", "verify", str(d / "trail.jsonl"),
            "--pubkey", str(files["real_pub"]))
    assert r.exit_code == EXIT_IDENTITY and not (other / "known_devices.json").exists(), r.output
    r = cli(None, other, "--expect-fingerprint", real.fingerprint, "audit", "verify", str(d / "trail.jsonl"),
            "--pubkey", str(files["real_pub"]), "--nonce", str(files["real_nonce"]))
    assert r.exit_code == 0 and _pin(other) == real.fingerprint, r.output


def test_an_edited_identity_signature_fails(files: dict[str, object], tmp_path: Path) -> None:
    home, d = Path(str(files["victim_home"])), Path(str(files["real_dir"]))
    data = bytearray(Path(str(files["real_pub"])).read_bytes())
    for where in (len(data) - 1, len(data) - 64):  # the identity signature's last and first byte
        edited = bytearray(data)
        edited[where] ^= 0x01
        f = tmp_path / f"edited{where}.pub"
        f.write_bytes(bytes(edited))
        r = cli(None, home, "audit", "verify", str(d / "trail.jsonl"), "--pubkey", str(f))
        assert r.exit_code == EXIT_VERIFY, r.output
    assert os.path.getsize(str(files["real_pub"])) == len(data)
