"""`make demo`: an end-to-end walk-through on a simulated device that this command starts itself
(a `cmsim-device` subprocess on a fresh pty), driven through the host API over the serial protocol.

Power on (self-tests), initialise out of the factory state, log in as Crypto Officer and as User,
generate keys, encrypt, sign, show the approved-service indicator, a refused call, status and the
audit records every step left behind.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
from enum import IntEnum
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from host_tools.device import Device
from host_tools.device_process import running_device
from host_tools.known_devices import KnownDevices
from host_tools.errors import DeviceError
from host_tools.archive import Archive
from host_tools.audit_formats import code_name
from host_tools.audit_drain import export_through, fetch_public_key
from host_tools.audit_verify import verify_export
from module.wire.audit.export import RecordItem, iter_export
from module.wire.audit.record import RecordKind, decode_record
from module.wire.defs import Command, DigestAlg, KeyType, KeyUse, Role, Status

__all__ = ["main", "run_demo"]

# Demo credentials only: real operators choose their own (and the CLI never takes them as arguments).
OFFICER_PASSWORD = "officer-demo-pass"
ALICE_PASSWORD = "alice-demo-pass"
AUDREY_PASSWORD = "audrey-demo-pass"
FACTORY_OPERATOR, FACTORY_PASSWORD = "co", "cmsim-factory"


def run_demo(state_dir: Path, console: Console, seal_path: Path | None = None) -> int:
    """Run the walk-through against a device subprocess on a pty; returns the audit records drained."""
    args = ["--seal", str(seal_path)] if seal_path is not None else []
    started = time.perf_counter()
    # A fresh device has a fresh identity under the default serial: the demo pins it in a store of
    # its own, so it neither pollutes nor trips over the user's known_devices.json.
    pins = KnownDevices(Path(tempfile.mkdtemp(prefix="cmsim-demo-pins-")) / "known_devices.json")
    with running_device(state_dir, args=args) as proc, Device.open(proc.port, known_devices=pins) as client:
        status = client.status()
        boot_ms = (time.perf_counter() - started) * 1000
        console.rule("[bold]cmsim: simulated FIPS 140-3 module (a simulation, not a validated module)")
        console.print(f"Device started on pty [bold]{proc.port}[/] (state directory {state_dir}) and reached "
                      f"[bold]{status['state_name']}[/] in {boot_ms:.0f} ms, process start included; self-tests "
                      f"(integrity, entropy start-up, DRBG health, every CAST) took {status['self_test_ms']} ms")
        if status["last_error"]:
            console.print(f"[red]Self-test failure:[/] {status['last_error']}")
            return 0
        console.print(f"Device identity fingerprint (SHA-256 of its Ed25519 identity key, pinned on first "
                      f"contact): [bold]{client.identity().fingerprint}[/]")
        return _walk_through(client, console, state_dir)


def _walk_through(client: Device, console: Console, state_dir: Path) -> int:
    console.print("\n[bold]1. Initialise[/]: the factory Crypto Officer must replace the factory credential")
    with client.login(FACTORY_OPERATOR, FACTORY_PASSWORD) as factory:  # the documented factory credential
        factory.call(Command.INITIALISE, {"operator": "officer", "password": OFFICER_PASSWORD})
    console.print(f"   state now {client.status()['state_name']}")

    console.print("\n[bold]2. Crypto Officer[/] creates a User and an Auditor")
    with client.login("officer", OFFICER_PASSWORD) as officer:
        officer.call(Command.OPERATOR_CREATE, {"operator": "alice", "role": int(Role.USER), "password": ALICE_PASSWORD})
        officer.call(Command.OPERATOR_CREATE, {"operator": "audrey", "role": int(Role.AUDITOR), "password": AUDREY_PASSWORD})
        ops = officer.call(Command.OPERATOR_LIST).data["operators"]
        console.print("   operators: " + ", ".join(f"{o['operator']} ({Role(o['role']).name})" for o in ops))

    console.print("\n[bold]3. User[/] generates keys, encrypts and signs")
    table = Table("service", "result", "approved indicator")
    with client.login("alice", ALICE_PASSWORD) as alice:
        aes = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256), "label": "demo-aes"}).data["key_id"]
        table.add_row("KEY_GENERATE AES-256", f"key {aes}", "approved")
        enc = alice.call(Command.ENCRYPT, {"key_id": aes, "plaintext": b"attack at dawn", "aad": b"hdr"})
        table.add_row("ENCRYPT AES-256-GCM", f"{len(enc.data['ciphertext'])} bytes", _indicator(enc.approved))
        dec = alice.call(Command.DECRYPT, {"key_id": aes, "iv": enc.data["iv"], "ciphertext": enc.data["ciphertext"], "aad": b"hdr"})
        table.add_row("DECRYPT AES-256-GCM", repr(dec.data["plaintext"]), _indicator(dec.approved))
        for key_type in (KeyType.EC_P256, KeyType.ED25519, KeyType.ML_DSA_65):
            kid = alice.call(Command.KEY_GENERATE, {"key_type": int(key_type)}).data["key_id"]
            sig = alice.call(Command.SIGN, {"key_id": kid, "message": b"release v1.0"})
            ver = alice.call(Command.VERIFY, {"key_id": kid, "message": b"release v1.0", "signature": sig.data["signature"]})
            table.add_row(f"SIGN+VERIFY {key_type.name}", f"{len(sig.data['signature'])}-byte signature, valid={ver.data['valid']}", _indicator(sig.approved))
        dig = alice.call(Command.DIGEST, {"algorithm": int(DigestAlg.SHA3_256), "message": b"abc"})
        table.add_row("DIGEST SHA3-256", dig.data["digest"].hex()[:16] + "...", _indicator(dig.approved))
        sha1 = alice.call(Command.DIGEST_SHA1, {"message": b"abc"})
        table.add_row("DIGEST_SHA1 (no signature)", sha1.data["digest"].hex()[:16] + "...", _indicator(sha1.approved))
        ec_key = alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.EC_P256),  # a key made for it alone
                                                   "uses": int(KeyUse.SIGN_NON_APPROVED)}).data["key_id"]
        legacy = alice.call(Command.SIGN_ECDSA_SHA1, {"key_id": ec_key, "message": b"release v1.0"})
        table.add_row("SIGN_ECDSA_SHA1", f"{len(legacy.data['signature'])}-byte signature", _indicator(legacy.approved))
        try:
            alice.call(Command.OPERATOR_CREATE, {"operator": "mallory", "role": int(Role.CRYPTO_OFFICER), "password": "mallory-pass-1"})
        except DeviceError as exc:
            table.add_row("OPERATOR_CREATE as User", f"[red]refused: {exc.status.name}[/]", "-")
    console.print(table)

    console.print("\n[bold]4. A failed login[/]: a wrong password is refused without saying which part was wrong")
    try:
        client.login("alice", "not-alices-password")
    except DeviceError as exc:
        console.print(f"   [red]{exc.status.name}[/]: {exc.message} (and recorded in the audit trail)")

    status = client.status()
    console.print(f"\n[bold]5. Status[/]: state={status['state_name']} boot={status['boot_counter']} "
                  f"keys={status['keys']} approved_mode={status['approved_mode']} "
                  f"audit={status['audit']['used']}/{status['audit']['capacity']} records ({status['audit']['policy']})")

    console.print("\n[bold]6. Auditor[/] exports the audit trail under a checkpoint bound to a fresh nonce and "
                  "verifies it offline against the module's public key")
    key = fetch_public_key(client, expected_serial=status["serial"])
    export_path = state_dir / "audit-export.bin"
    nonce = os.urandom(16)
    with client.login("audrey", AUDREY_PASSWORD) as auditor, export_path.open("wb") as out:
        cp = auditor.audit.checkpoint(nonce)
        count = export_through(auditor, out, key.serial, cp.seq)
    with export_path.open("rb") as f:
        result = verify_export(f, key.public_key, expected_serial=key.serial, expected_nonce=nonce)
    console.print(f"   public key {key.public_key.hex()[:16]}... (its self-signed statement of serial {key.serial} "
                  f"verified)")
    console.print(f"   {count} records -> {export_path}: "
                  + ("[green]verified[/]" if result.ok else f"[red]{result.reason}[/]")
                  + f", {result.checkpoints} signed checkpoints, through seq {result.verified_through}")

    records = Table("seq", "kind", "code", "operator", "role", "status", "appr.", "detail", title="7. Audit records")
    decoded = [decode_record(item.data) for item in iter_export(io.BytesIO(export_path.read_bytes()))
               if isinstance(item, RecordItem)]
    for rec in decoded:
        records.add_row(str(rec.seq), rec.kind.name, code_name(rec), rec.operator or "-",
                        _enum_name(Role, rec.role) if rec.role else "-", _enum_name(Status, rec.status),
                        "yes" if rec.approved else "no", rec.detail[:48])
    console.print(records)
    services = sum(1 for r in decoded if r.kind is RecordKind.SERVICE)
    console.print(f"{len(decoded)} records: {services} service calls (one record each), "
                  f"{len(decoded) - services} events and checkpoints.")

    db = state_dir / "audit.db"
    with Archive(db) as archive, client.login("audrey", AUDREY_PASSWORD) as auditor:
        archive.bind(key)
        archived = archive.archive(auditor, key)
        whole = archive.verify()
    console.print(f"\n[bold]8. Archive[/]: {archived.stored} records verified into SQLite ({db}), append-only, "
                  f"then acknowledged on the device (digest-bound); re-verifying the archive: "
                  + ("[green]OK[/]" if whole.ok else f"[red]{whole.reason}[/]"))

    tampered = bytearray(export_path.read_bytes())
    victim = next(r for r in decoded if r.kind is RecordKind.SERVICE and r.code == Command.SIGN)
    at = bytes(tampered).find(victim.encode()) + len(victim.encode()) - 1  # the last byte of a SIGN record
    tampered[at] ^= 0x01
    bad = verify_export(io.BytesIO(bytes(tampered)), key.public_key, expected_serial=key.serial, expected_nonce=nonce)
    console.print(f"\n[bold]9. Tamper evidence[/]: one bit changed in the record of seq {victim.seq} (a SIGN call) -> "
                  f"verification [red]{bad.reason.value if bad.reason else 'passed?!'}[/]: {bad.message}")

    console.print("\n[bold]Next[/]: drive a device from the shell (see README):\n"
                  "   .venv/bin/cmsim device start            # a device on a pty, remembered for later commands\n"
                  "   CMSIM_PASSWORD=... .venv/bin/cmsim init --operator co\n"
                  "   .venv/bin/cmsim status\n"
                  "   .venv/bin/cmsim audit pubkey --out audit.pub\n"
                  "   .venv/bin/cmsim --help")
    console.print(f"State directory of this run: {state_dir}")
    return len(decoded)


def _enum_name(enum: type[IntEnum], value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)


def _indicator(approved: bool) -> str:
    return "[green]approved[/]" if approved else "[yellow]NOT approved[/]"


@click.command(name="cmsim-demo", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="State directory (flash); a temporary one when omitted.")
def main(state_dir: Path | None) -> None:
    """Start a simulated device on a pty and walk through it with the host API."""
    console = Console()
    if state_dir is not None:
        run_demo(state_dir, console)
        return
    with tempfile.TemporaryDirectory(prefix="cmsim-demo-") as tmp:
        run_demo(Path(tmp), console)
        console.print("(that temporary state directory is removed now; `cmsim-demo --state DIR` keeps one)")


if __name__ == "__main__":
    main()
