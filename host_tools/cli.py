"""`cmsim`: the host command line, a thin click shell over the client API.

Exit codes: 0 ok; 2 usage error; 3 the device refused (status code named on stderr); 4
authentication failed; 5 verification failed (an audit export or archive does not verify, or a
signature or MAC does not); 6 no device (cannot open or no answer); 7 the device's identity key
is not the one pinned for its serial (or given with --expect-fingerprint). Errors are one line on
stderr with the status name and a hint, never a traceback. ``--json`` prints one JSON document
per command with stable keys (bytes as hex). Passwords come from ``CMSIM_PASSWORD`` or a prompt
without echo, never from examples' command lines.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click
from rich.console import Console
from rich.table import Table

from host_tools.api import Ciphertext, KeyInfo
from host_tools.archive import (
    FORMATS,
    Archive,
    ArchiveRefused,
    QueryFilter,
    code_name,
    export_file_records,
    record_dict,
    write_records,
)
from host_tools.audit_drain import TrustedKey, export_through, fetch_public_key
from host_tools.audit_verify import VerifyResult, verify_export
from host_tools.client import Session
from host_tools.device import Device
from host_tools.errors import AuthenticationError, CmsimError, DeviceError, IdentityMismatchError, TransportError
from host_tools.known_devices import cmsim_home
from module.wire.audit_format import ExportFormat, KeyStatement, decode_record
from module.wire.defs import AuditPolicy, Command, DigestAlg, KdfAlg, KeyType, Role, Status

__all__ = ["main", "EXIT_DEVICE", "EXIT_AUTH", "EXIT_VERIFY", "EXIT_NO_DEVICE", "EXIT_IDENTITY"]

EXIT_DEVICE, EXIT_AUTH, EXIT_VERIFY, EXIT_NO_DEVICE, EXIT_IDENTITY = 3, 4, 5, 6, 7
FACTORY_OPERATOR, FACTORY_PASSWORD = "co", "cmsim-factory"

KEY_TYPES = {
    "aes-256": KeyType.AES_256, "hmac-sha256": KeyType.HMAC_SHA256, "hmac-sha384": KeyType.HMAC_SHA384,
    "hmac-sha512": KeyType.HMAC_SHA512, "generic-secret": KeyType.GENERIC_SECRET, "ecdsa-p256": KeyType.EC_P256,
    "ecdsa-p384": KeyType.EC_P384, "ed25519": KeyType.ED25519, "ml-dsa-65": KeyType.ML_DSA_65,
    "ml-kem-768": KeyType.ML_KEM_768,
}
KEY_TYPE_NAMES = {v: k for k, v in KEY_TYPES.items()}
DIGESTS = {"sha256": DigestAlg.SHA2_256, "sha384": DigestAlg.SHA2_384, "sha512": DigestAlg.SHA2_512,
           "sha3-256": DigestAlg.SHA3_256, "sha3-384": DigestAlg.SHA3_384, "sha3-512": DigestAlg.SHA3_512}
KDFS = {"hkdf-sha256": KdfAlg.HKDF_SHA256, "kbkdf-hmac-sha256": KdfAlg.KBKDF_CTR_HMAC_SHA256}
ROLES = {"co": Role.CRYPTO_OFFICER, "user": Role.USER, "auditor": Role.AUDITOR}
HINTS = {
    Status.AUTH_FAILED: "check the operator and the password (CMSIM_PASSWORD)",
    Status.AUTH_DELAYED: "wait a second after a failed login, then try again",
    Status.OPERATOR_LOCKED: "a Crypto Officer can unlock the operator (cmsim operator unlock), or wait",
    Status.NOT_AUTHENTICATED: "give --operator and a password (CMSIM_PASSWORD)",
    Status.ACCESS_DENIED: "log in as an operator whose role may call this service",
    Status.AUDIT_FULL: "drain the audit trail: cmsim audit archive --db FILE",
    Status.MODULE_ERROR: "the module is in an error state; power-cycle it (cmsim device stop; cmsim device start)",
    Status.INVALID_STATE: "see `cmsim status` for the module's state",
    Status.CREDENTIAL_REJECTED: "passwords need at least 8 printable characters and must differ from the factory one",
}


def state_home() -> Path:
    """Where `cmsim device start` remembers its device (CMSIM_HOME, else ~/.cmsim)."""
    return cmsim_home()


# ------------------------------------------------------------------ output
def jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return value.name
    return value


@dataclass
class Ctx:
    port: str | None
    as_json: bool
    operator: str | None
    password: str | None
    timeout: float
    expect_fingerprint: str | None = None
    console: Console = field(default_factory=lambda: Console(highlight=False))
    _device: Device | None = None

    @property
    def tty(self) -> bool:
        return sys.stdout.isatty() and not self.as_json

    def emit(self, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
        """One JSON document with --json; otherwise the human rendering (or key: value lines)."""
        if self.as_json:
            click.echo(json.dumps(jsonable(data), sort_keys=True))
        elif human is not None:
            human()
        else:
            for key, value in data.items():
                click.echo(f"{key}: {jsonable(value)}")

    @contextmanager
    def progress(self, what: str, unit: str = "records") -> Iterator[Callable[[int, int], None]]:
        """A progress bar with rate and ETA on a terminal's stderr; a no-op otherwise (and with --json)."""
        if self.as_json or not sys.stderr.isatty():
            yield lambda done, total: None
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
        from rich.progress import TimeRemainingColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                return Text(f"{task.speed:,.0f} {unit}/s" if task.speed else "")

        columns = (TextColumn(what), BarColumn(), TaskProgressColumn(), Rate(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(what, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)

    def device(self) -> Device:
        if self._device is None:
            port = self.port or remembered_port()
            if not port:
                raise click.UsageError("no device: give --port (or CMSIM_PORT), or run `cmsim device start`")
            self._device = Device.open(port, timeout=self.timeout, expect_fingerprint=self.expect_fingerprint)
        return self._device

    def identity_notice(self) -> None:
        """The visible notice of a first contact: the fingerprint just pinned, on stderr."""
        ident = self.device().identity()
        if ident.newly_pinned:
            click.echo(f"cmsim: pinned device {ident.serial} with identity fingerprint {ident.fingerprint} "
                       f"in {self.device().known_devices.path}", err=True)

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None

    def secret(self, prompt: str = "Password", confirm: bool = False) -> str:
        """The login password: --password / CMSIM_PASSWORD, else a prompt without echo."""
        if self.password is not None:
            return self.password
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))

    @contextmanager
    def session(self) -> Iterator[Session]:
        if not self.operator:
            raise click.UsageError("this command needs a login: give --operator (and CMSIM_PASSWORD)")
        with self.device().login(self.operator, self.secret(f"Password for {self.operator}")) as s:
            self.identity_notice()
            yield s


def remembered_port() -> str | None:
    path = state_home() / "device.json"
    if not path.exists():
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("port") or "") or None


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"cmsim: {message}", err=True)
    sys.exit(code)


class Main(click.Group):
    """Turns every CmsimError into one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IdentityMismatchError as exc:
            fail(EXIT_IDENTITY, str(exc))
        except AuthenticationError as exc:
            fail(EXIT_AUTH, f"{exc.status.name} (0x{exc.status:02x}): {exc.message} — {HINTS.get(exc.status, '')}")
        except DeviceError as exc:
            hint = HINTS.get(exc.status)
            fail(EXIT_DEVICE, f"{exc.status.name} (0x{exc.status:02x}): {exc.message}" + (f" — {hint}" if hint else ""))
        except ArchiveRefused as exc:
            fail(EXIT_VERIFY, f"archive refused the export, nothing stored: {exc}")
        except TransportError as exc:
            fail(EXIT_NO_DEVICE, f"{exc} — is the device running? (cmsim device start, or --port)")
        except CmsimError as exc:
            fail(EXIT_DEVICE, str(exc))
        except OSError as exc:
            fail(EXIT_NO_DEVICE if isinstance(exc, ConnectionError) else 1, str(exc))


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", envvar="CMSIM_PORT", help="Device: a path, pty or socket://HOST:PORT [CMSIM_PORT].")
@click.option("--json", "as_json", is_flag=True, help="Machine output: one JSON document.")
@click.option("--operator", envvar="CMSIM_OPERATOR", help="Operator to log in as [CMSIM_OPERATOR].")
@click.option("--password", envvar="CMSIM_PASSWORD", show_envvar=False,
              help="Password [CMSIM_PASSWORD]; prompted without echo when absent.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for an answer.")
@click.option("--expect-fingerprint", help="The device's identity fingerprint (64 hex digits): pin it, refuse another.")
@click.pass_context
def main(ctx: click.Context, port: str | None, as_json: bool, operator: str | None, password: str | None,
         timeout: float, expect_fingerprint: str | None) -> None:
    """Drive a cmsim device (a simulated FIPS 140-3 module; not a validated one).

    Exit codes: 0 ok, 2 usage, 3 device refused, 4 authentication failed, 5 verification failed,
    6 no device, 7 identity mismatch (not the pinned device)."""
    c = Ctx(port, as_json, operator, password, timeout, expect_fingerprint)
    ctx.obj = c
    ctx.call_on_close(c.close)


pass_ctx = click.make_pass_decorator(Ctx)


def _read(path: str) -> bytes:
    """Binary input from a file, or stdin for -."""
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _write(c: Ctx, path: str, data: bytes, key: str) -> None:
    """Binary output to a file or stdout; with --json, hex inside the JSON document instead of stdout."""
    if path != "-":
        Path(path).write_bytes(data)
        c.emit({key: len(data), "out": path}, lambda: click.echo(f"{len(data)} bytes -> {path}", err=True))
    elif c.as_json:
        c.emit({key: data})
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _key_table(c: Ctx, keys: list[KeyInfo]) -> None:
    table = Table("id", "type", "label", "exportable", "origin")
    for k in keys:
        table.add_row(str(k.key_id), KEY_TYPE_NAMES.get(k.key_type, k.key_type.name), k.label,
                      "yes" if k.exportable else "no", k.origin)
    c.console.print(table)


def _key_data(k: KeyInfo) -> dict[str, Any]:
    return {"key_id": k.key_id, "key_type": KEY_TYPE_NAMES.get(k.key_type, k.key_type.name), "label": k.label,
            "uses": int(k.uses), "exportable": k.exportable, "origin": k.origin, "public_key": k.public_key}


# ------------------------------------------------------------------ module
@main.command()
@pass_ctx
def status(c: Ctx) -> None:
    """State, counters, audit fill and the identity fingerprint, checked against the pin (no login)."""
    data = c.device().status()
    if data.get("identity_fingerprint") and data.get("state_name") in ("UNINITIALISED", "OPERATIONAL"):
        data["identity_fingerprint"] = c.device().identity().fingerprint  # signed, and checked against the pin
        c.identity_notice()

    def human() -> None:
        audit = data.get("audit", {})
        table = Table(show_header=False, box=None)
        for key in ("module", "version", "serial", "identity_fingerprint", "state_name", "approved_mode",
                    "boot_counter", "sessions", "keys", "last_error", "self_test_ms"):
            table.add_row(key, str(data.get(key, "")))
        for key in ("policy", "used", "capacity", "next_seq", "oldest_retained", "records_lost", "records_refused",
                    "would_block"):
            if key in audit:
                table.add_row(f"audit.{key}", str(audit[key]))
        c.console.print(table)

    c.emit(data, human)


@main.command()
@pass_ctx
def selftest(c: Ctx) -> None:
    """Run every self-test on demand (no login)."""
    c.emit(c.device().call(Command.SELF_TEST).data)


@main.command()
@click.option("--operator", "officer", help="Name of the first Crypto Officer (or the global --operator).")
@click.option("--factory-password", default=FACTORY_PASSWORD, show_default=True, help="The documented factory credential.")
@pass_ctx
def init(c: Ctx, officer: str | None, factory_password: str) -> None:
    """Initialise: the operator named becomes the first Crypto Officer, with the password from
    CMSIM_PASSWORD (or a prompt); the factory credential is replaced."""
    officer = officer or c.operator
    if not officer:
        raise click.UsageError("give --operator NAME for the first Crypto Officer")
    password = c.secret(f"New password for {officer}", confirm=True)
    with c.device().login(FACTORY_OPERATOR, factory_password) as factory:
        factory.initialise(officer, password)
    c.emit({"initialised": True, "operator": officer, "identity_fingerprint": c.device().identity().fingerprint})


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def zeroise(c: Ctx, yes: bool) -> None:
    """Overwrite every key, operator and session (Crypto Officer). Irreversible."""
    if not yes:
        click.confirm("Zeroise the module: every key and operator is destroyed. Continue?", abort=True, err=True)
    with c.session() as s:
        s.zeroise()
    c.emit({"zeroised": True})


# ----------------------------------------------------------------- operators
@main.group()
def operator() -> None:
    """Operators (Crypto Officer)."""


def _new_password(name: str, env: str | None) -> str:
    """A new operator password: from the named environment variable, or prompted twice without echo."""
    if env:
        if env not in os.environ:
            raise click.UsageError(f"environment variable {env} is not set")
        return os.environ[env]
    return str(click.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True, err=True))


@operator.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(sorted(ROLES)), required=True)
@click.option("--password-env", metavar="VAR", help="Read the new operator's password from this variable.")
@pass_ctx
def operator_add(c: Ctx, name: str, role: str, password_env: str | None) -> None:
    new_password = _new_password(name, password_env)
    with c.session() as s:
        s.create_operator(name, ROLES[role], new_password)
    c.emit({"operator": name, "role": ROLES[role].name})


@operator.command("list")
@pass_ctx
def operator_list(c: Ctx) -> None:
    with c.session() as s:
        ops = s.list_operators()

    def human() -> None:
        table = Table("operator", "role", "locked", "failures")
        for o in ops:
            table.add_row(o.operator, o.role.name, "yes" if o.locked else "no", str(o.failures))
        c.console.print(table)

    c.emit({"operators": [o.__dict__ for o in ops]}, human)


@operator.command("delete")
@click.argument("name")
@pass_ctx
def operator_delete(c: Ctx, name: str) -> None:
    with c.session() as s:
        s.delete_operator(name)
    c.emit({"deleted": name})


@operator.command("passwd")
@click.argument("name", required=False)
@click.option("--password-env", metavar="VAR", help="Read the new password from this variable.")
@pass_ctx
def operator_passwd(c: Ctx, name: str | None, password_env: str | None) -> None:
    """Change your own password, or NAME's (Crypto Officer)."""
    new_password = _new_password(name or c.operator or "", password_env)
    with c.session() as s:
        s.change_password(new_password, operator=name)
    c.emit({"changed": name or c.operator})


# ----------------------------------------------------------------------- keys
@main.group()
def key() -> None:
    """Keys (Crypto Officer or User)."""


@key.command("generate")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--label", default="")
@click.option("--exportable", is_flag=True)
@pass_ctx
def key_generate(c: Ctx, key_type: str, label: str, exportable: bool) -> None:
    with c.session() as s:
        info = s.generate_key(KEY_TYPES[key_type], label=label, exportable=exportable)
    c.emit(_key_data(info), lambda: click.echo(f"key {info.key_id} ({key_type}) generated"))


@key.command("import")
@click.option("--wrap-key", type=int, required=True, help="AES-256 key that wrapped it (AES-KWP).")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--in", "infile", default="-", help="Wrapped key (binary); - for stdin.")
@click.option("--label", default="")
@click.option("--exportable", is_flag=True)
@pass_ctx
def key_import(c: Ctx, wrap_key: int, key_type: str, infile: str, label: str, exportable: bool) -> None:
    wrapped = _read(infile)
    with c.session() as s:
        info = s.import_key(wrap_key, wrapped, KEY_TYPES[key_type], label=label, exportable=exportable)
    c.emit(_key_data(info), lambda: click.echo(f"key {info.key_id} ({key_type}) imported"))


@key.command("export")
@click.argument("key_id", type=int)
@click.option("--wrap-key", type=int, required=True, help="AES-256 key to wrap it under (AES-KWP).")
@click.option("--out", "outfile", default="-")
@pass_ctx
def key_export(c: Ctx, key_id: int, wrap_key: int, outfile: str) -> None:
    with c.session() as s:
        wrapped = s.export_key(key_id, wrap_key)
    _write(c, outfile, wrapped, "wrapped")


@key.command("delete")
@click.argument("key_id", type=int)
@pass_ctx
def key_delete(c: Ctx, key_id: int) -> None:
    with c.session() as s:
        s.delete_key(key_id)
    c.emit({"deleted": key_id})


@key.command("list")
@pass_ctx
def key_list(c: Ctx) -> None:
    with c.session() as s:
        keys = [s.key_attributes(kid) for kid, _, _ in s.list_keys()]
    c.emit({"keys": [_key_data(k) for k in keys]}, lambda: _key_table(c, keys))


@key.command("show")
@click.argument("key_id", type=int)
@pass_ctx
def key_show(c: Ctx, key_id: int) -> None:
    with c.session() as s:
        info = s.key_attributes(key_id)
    c.emit(_key_data(info))


# --------------------------------------------------------------------- crypto
def _io_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--out", "outfile", default="-", help="Output file; - for stdout (binary).")(f)
    return click.option("--in", "infile", default="-", help="Input file; - for stdin (binary).")(f)


@main.command()
@click.option("--key", "key_id", type=int, required=True)
@click.option("--aad", default="", help="Additional authenticated data (text).")
@_io_options
@pass_ctx
def encrypt(c: Ctx, key_id: int, aad: str, infile: str, outfile: str) -> None:
    """AES-256-GCM. Output: IV (12 bytes) || ciphertext || tag (16 bytes)."""
    data = _read(infile)
    with c.session() as s:
        box = s.encrypt(key_id, data, aad.encode())
    _write(c, outfile, box.iv + box.ciphertext, "ciphertext")


@main.command()
@click.option("--key", "key_id", type=int, required=True)
@click.option("--aad", default="")
@_io_options
@pass_ctx
def decrypt(c: Ctx, key_id: int, aad: str, infile: str, outfile: str) -> None:
    """AES-256-GCM; input as `cmsim encrypt` wrote it."""
    data = _read(infile)
    if len(data) < 28:
        raise click.UsageError("input shorter than IV and tag")
    with c.session() as s:
        plain = s.decrypt(key_id, Ciphertext(data[:12], data[12:]), aad.encode())
    _write(c, outfile, plain, "plaintext")


@main.command()
@click.option("--key", "key_id", type=int, required=True)
@_io_options
@pass_ctx
def sign(c: Ctx, key_id: int, infile: str, outfile: str) -> None:
    """Sign the input (ECDSA, Ed25519, ML-DSA-65 by key type)."""
    data = _read(infile)
    with c.session() as s:
        signature = s.sign(key_id, data)
    _write(c, outfile, signature, "signature")


@main.command()
@click.option("--key", "key_id", type=int, help="A stored key.")
@click.option("--pubkey", type=click.Path(exists=True, dir_okay=False), help="Or a public key file (raw bytes)...")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), help="...of this type.")
@click.option("--signature", "sigfile", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--in", "infile", default="-")
@pass_ctx
def verify(c: Ctx, key_id: int | None, pubkey: str | None, key_type: str | None, sigfile: str, infile: str) -> None:
    """Verify a signature; exit 0 valid, 5 invalid."""
    data, signature = _read(infile), Path(sigfile).read_bytes()
    if (key_id is None) == (pubkey is None) or (pubkey is not None and key_type is None):
        raise click.UsageError("give --key, or --pubkey with --type")
    with c.session() as s:
        valid = s.verify(data, signature, key_id=key_id,
                         key_type=KEY_TYPES[key_type] if key_type else None,
                         public_key=Path(pubkey).read_bytes() if pubkey else None)
    c.emit({"valid": valid}, lambda: click.echo("valid" if valid else "INVALID"))
    if not valid:
        sys.exit(EXIT_VERIFY)


@main.command()
@click.option("--key", "key_id", type=int, required=True)
@click.option("--verify", "macfile", type=click.Path(exists=True, dir_okay=False), help="Check this MAC instead.")
@_io_options
@pass_ctx
def mac(c: Ctx, key_id: int, macfile: str | None, infile: str, outfile: str) -> None:
    """HMAC of the input, or with --verify check one (exit 5 when it does not match)."""
    data = _read(infile)
    with c.session() as s:
        if macfile is None:
            _write(c, outfile, s.mac(key_id, data), "mac")
            return
        valid = s.mac_verify(key_id, data, Path(macfile).read_bytes())
    c.emit({"valid": valid}, lambda: click.echo("valid" if valid else "INVALID"))
    if not valid:
        sys.exit(EXIT_VERIFY)


@main.command()
@click.option("--alg", type=click.Choice(list(DIGESTS)), default="sha256", show_default=True)
@_io_options
@pass_ctx
def digest(c: Ctx, alg: str, infile: str, outfile: str) -> None:
    data = _read(infile)
    with c.session() as s:
        _write(c, outfile, s.digest(DIGESTS[alg], data), "digest")


@main.command()
@click.argument("length", type=click.IntRange(1, 4096))
@click.option("--out", "outfile", default="-")
@pass_ctx
def random(c: Ctx, length: int, outfile: str) -> None:
    """LENGTH bytes from the module's SP 800-90A DRBG."""
    with c.session() as s:
        _write(c, outfile, s.random(length), "random")


@main.command()
@click.option("--base", "base_key_id", type=int, required=True, help="A generic-secret key to derive from.")
@click.option("--kdf", type=click.Choice(list(KDFS)), default="hkdf-sha256", show_default=True)
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--info", default="", help="Context (text).")
@click.option("--salt", default="", help="Salt (hex).")
@click.option("--label", default="")
@pass_ctx
def derive(c: Ctx, base_key_id: int, kdf: str, key_type: str, info: str, salt: str, label: str) -> None:
    """Derive a new stored key (HKDF or SP 800-108 KBKDF)."""
    with c.session() as s:
        k = s.derive(base_key_id, KDFS[kdf], KEY_TYPES[key_type], salt=bytes.fromhex(salt), info=info.encode(),
                     label=label)
    c.emit(_key_data(k), lambda: click.echo(f"key {k.key_id} ({key_type}) derived"))


# ---------------------------------------------------------------------- audit
@main.group()
def audit() -> None:
    """The audit trail: public key, export, offline verification, drain, archive, query."""


@audit.command("pubkey")
@click.option("--out", "outfile", default="-", help="Where to write the key statement (binary).")
@pass_ctx
def audit_pubkey(c: Ctx, outfile: str) -> None:
    """The audit public key with its self-signed statement of the serial (no login)."""
    k = fetch_public_key(c.device())
    if outfile != "-":
        Path(outfile).write_bytes(k.statement)
    elif not c.as_json:
        sys.stdout.buffer.write(k.statement)
        return
    c.emit({"serial": k.serial, "public_key": k.public_key, "out": outfile},
           lambda: click.echo(f"{k.serial} audit key {k.public_key.hex()} -> {outfile}", err=True))


def _load_pubkey(path: str) -> TrustedKey:
    statement = KeyStatement.parse(Path(path).read_bytes())
    if not statement.verify():
        fail(EXIT_VERIFY, f"{path}: the key statement's self-signature does not verify")
    return TrustedKey(statement.serial, statement.public_key, Path(path).read_bytes())


def _format_of(path: str, given: str | None) -> ExportFormat:
    if given:
        return ExportFormat.JSONL if given == "jsonl" else ExportFormat.BINARY
    return ExportFormat.JSONL if path.endswith(".jsonl") else ExportFormat.BINARY


@audit.command("export")
@click.option("--out", "outfile", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "binary"]), help="Default: by extension (.jsonl).")
@click.option("--from", "from_seq", type=int, default=0, show_default=True)
@pass_ctx
def audit_export(c: Ctx, outfile: str, fmt: str | None, from_seq: int) -> None:
    """Checkpoint with a fresh nonce, then export everything retained up to it (Auditor or CO)."""
    nonce = os.urandom(16)
    with c.session() as s, open(outfile, "wb") as out, c.progress("export") as bar:
        cp = s.audit.checkpoint(nonce)
        serial = c.device().status()["serial"]
        count = export_through(s, out, serial, cp.seq, from_seq=from_seq, fmt=_format_of(outfile, fmt), progress=bar)
    c.emit({"records": count, "checkpoint_seq": cp.seq, "nonce": nonce, "out": outfile},
           lambda: click.echo(f"{count} records through checkpoint {cp.seq} -> {outfile} (nonce {nonce.hex()})"))


def _report(c: Ctx, result: VerifyResult, what: str) -> None:
    data = {"ok": result.ok, "reason": result.reason.value if result.reason else None,
            "first_bad_seq": result.first_bad_seq, "message": result.message, "records": result.records,
            "verified_through": result.verified_through, "checkpoints": result.checkpoints,
            "serial": result.serial}
    c.emit(data, lambda: click.echo(f"{what}: OK, {result.message}" if result.ok else
                                     f"{what}: FAILED {result.reason.value if result.reason else ''} "
                                     f"at seq {result.first_bad_seq}: {result.message}"))
    if not result.ok:
        sys.exit(EXIT_VERIFY)


@audit.command("verify")
@click.argument("export_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--pubkey", type=click.Path(exists=True, dir_okay=False), help="Key statement from `audit pubkey`.")
@click.option("--nonce", help="Require a checkpoint binding this nonce (hex).")
@click.option("--db", type=click.Path(exists=True, dir_okay=False), help="Re-verify a whole archive instead.")
@pass_ctx
def audit_verify(c: Ctx, export_file: str | None, pubkey: str | None, nonce: str | None, db: str | None) -> None:
    """Offline, no device: exit 0 when the export (or archive) verifies, 5 with the reason otherwise."""
    if db:
        with Archive(db) as archive:
            _report(c, archive.verify(), db)
        return
    if not export_file or not pubkey:
        raise click.UsageError("give EXPORT_FILE and --pubkey, or --db")
    trusted = _load_pubkey(pubkey)
    size = Path(export_file).stat().st_size
    with open(export_file, "rb") as f, c.progress("verify", unit="bytes") as bar:
        counted = io.BufferedReader(_Counting(f, lambda n: bar(n, size)))
        result = verify_export(counted, trusted.public_key, expected_serial=trusted.serial,
                               expected_nonce=bytes.fromhex(nonce) if nonce else None)
    _report(c, result, export_file)


class _Counting(io.RawIOBase):
    """A read-only file wrapper that reports how far the reader got (for a progress bar)."""

    def __init__(self, f: BinaryIO, report: Callable[[int], None]) -> None:
        self._f, self._report, self._done = f, report, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._done += len(data)
        self._report(self._done)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


@audit.command("ack")
@click.argument("export_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--pubkey", type=click.Path(exists=True, dir_okay=False), required=True)
@pass_ctx
def audit_ack(c: Ctx, export_file: str, pubkey: str) -> None:
    """Verify an export, then acknowledge on the device what it proved (frees those records)."""
    trusted = _load_pubkey(pubkey)
    with open(export_file, "rb") as f:
        result = verify_export(f, trusted.public_key, expected_serial=trusted.serial)
    if not result.ok or result.verified_through is None or result.verified_head is None:
        _report(c, result, export_file)
        return
    with c.session() as s:
        oldest = s.audit.acknowledge(result.verified_through, result.verified_head)
    c.emit({"acknowledged_through": result.verified_through, "oldest_retained": oldest})


@audit.command("checkpoint")
@click.option("--nonce", default="", help="Hex nonce to bind (freshness).")
@pass_ctx
def audit_checkpoint(c: Ctx, nonce: str) -> None:
    with c.session() as s:
        cp = s.audit.checkpoint(bytes.fromhex(nonce))
    c.emit({"seq": cp.seq, "checkpoint": cp.record})


@audit.command("policy")
@click.argument("policy", type=click.Choice(["block", "wrap"]))
@click.option("--high-water", type=click.IntRange(1, 1000), help="High-water mark in permille.")
@pass_ctx
def audit_policy(c: Ctx, policy: str, high_water: int | None) -> None:
    """Full-ring policy (Crypto Officer)."""
    with c.session() as s:
        digest_ = s.audit.set_policy(AuditPolicy[policy.upper()], high_water)
    c.emit({"policy": policy, "policy_digest": digest_})


@audit.command("tail")
@click.option("-n", "count", type=click.IntRange(1, 256), default=20, show_default=True)
@pass_ctx
def audit_tail(c: Ctx, count: int) -> None:
    """The newest records (Auditor or CO)."""
    with c.session() as s:
        first = max(0, s.audit.export(0, 0).next_seq - count)
        page = s.audit.export(first, count)
    records = [decode_record(r) for r in page.records]
    _records_out(c, [(r, b"") for r in records])


def _records_out(c: Ctx, records: list[Any]) -> None:
    if c.as_json:
        c.emit({"records": [record_dict(r, h) for r, h in records]})
        return
    if not c.tty:
        write_records(iter(records), sys.stdout, "jsonl")
        return
    table = Table("seq", "time (UTC)", "kind", "name", "operator", "status", "detail")
    for r, _ in records:
        d = record_dict(r)
        table.add_row(str(r.seq), d["time"][11:23], r.kind.name, code_name(r), r.operator or "-", str(d["status"]),
                      r.detail[:40])
    c.console.print(table)


@audit.command("archive")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite archive (created on first use).")
@click.option("--import", "import_file", type=click.Path(exists=True, dir_okay=False),
              help="Offline: take this export file instead of the device (nothing is acknowledged).")
@click.option("--pubkey", type=click.Path(exists=True, dir_okay=False),
              help="Key statement to bind a new archive to (default: fetched from the device).")
@pass_ctx
def audit_archive(c: Ctx, db: str, import_file: str | None, pubkey: str | None) -> None:
    """Pull new records, verify them against the archive, store them, then acknowledge them."""
    started = time.perf_counter()
    with Archive(db) as archive:
        if archive.trusted_key() is None:  # trust on first use, from a self-signed statement
            archive.bind(_load_pubkey(pubkey) if pubkey else fetch_public_key(c.device()))
        trusted = archive.trusted_key()
        assert trusted is not None
        if import_file:
            with open(import_file, "rb") as f:
                stored, verified = archive.ingest(f)
            last, acked = verified.verified_through, False
        else:
            with c.session() as s:
                result = archive.archive(s, trusted)
            stored, last, acked = result.stored, result.last_seq, result.acknowledged
    elapsed = time.perf_counter() - started
    c.emit({"stored": stored, "last_seq": last, "acknowledged": acked, "seconds": round(elapsed, 3)},
           lambda: click.echo(f"{stored} records archived in {elapsed:.2f} s, through seq {last}"
                              + (", acknowledged on the device" if acked else "")))


def _time(value: str | None) -> int | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1e9)


@audit.command("query")
@click.option("--db", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--since", help="ISO 8601 time (UTC when no zone).")
@click.option("--until")
@click.option("--operator", "op")
@click.option("--role", type=click.Choice(sorted(ROLES) + ["none"]))
@click.option("--service", type=click.Choice(sorted(c.name.lower() for c in Command)))
@click.option("--status", "outcome", type=click.Choice(sorted(s.name.lower() for s in Status)))
@click.option("--key-id", type=int)
@click.option("--limit", type=int)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
def audit_query(db: str, since: str | None, until: str | None, op: str | None, role: str | None,
                service: str | None, outcome: str | None, key_id: int | None, limit: int | None, fmt: str) -> None:
    """Archived records by time, operator, role, service, outcome or key; jsonl, csv or RFC 5424 syslog."""
    f = QueryFilter(
        since_ns=_time(since), until_ns=_time(until), operator=op,
        role=(Role.NONE if role == "none" else ROLES[role]) if role else None,
        service=Command[service.upper()] if service else None, status=Status[outcome.upper()] if outcome else None,
        key_id=key_id, limit=limit,
    )
    with Archive(db) as archive:
        write_records(archive.query(f), sys.stdout, fmt)


@audit.command("show")
@click.argument("export_file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def audit_show(c: Ctx, export_file: str) -> None:
    """The records of an export file (no verification: use `audit verify`)."""
    with open(export_file, "rb") as f:
        _records_out(c, list(export_file_records(f)))


# --------------------------------------------------------------------- device
@main.group()
def device() -> None:
    """Start, stop and inspect a simulated device in the background."""


def _device_file() -> Path:
    return state_home() / "device.json"


@device.command("start")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), help="State directory (default: CMSIM_HOME/state).")
@click.option("--arg", "extra", multiple=True, help="Extra cmsim-device option (repeatable), e.g. --arg=--fsync=os.")
@pass_ctx
def device_start(c: Ctx, state_dir: str | None, extra: tuple[str, ...]) -> None:
    """Start `cmsim-device` on a new pty and remember its port for later commands."""
    home = state_home()
    home.mkdir(parents=True, exist_ok=True)
    if _alive():
        fail(EXIT_DEVICE, f"a device is already running (port {remembered_port()}); `cmsim device stop` first")
    state = Path(state_dir) if state_dir else home / "state"
    log = open(home / "device.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "firmware_sim", "--state", str(state), *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
    assert proc.stdout is not None
    port = proc.stdout.readline().decode().strip()
    proc.stdout.close()
    if not port:
        fail(EXIT_NO_DEVICE, f"the device did not start; see {home / 'device.log'}")
    _device_file().write_text(json.dumps({"pid": proc.pid, "port": port, "state": str(state)}), encoding="utf-8")
    c.emit({"pid": proc.pid, "port": port, "state": str(state)},
           lambda: click.echo(f"device started: port {port} (pid {proc.pid}, state {state})\n"
                              f"later commands use it; or: export CMSIM_PORT={port}"))


def _alive() -> bool:
    path = _device_file()
    if not path.exists():
        return False
    pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@device.command("stop")
@pass_ctx
def device_stop(c: Ctx) -> None:
    """Power the device off cleanly (SIGTERM)."""
    path = _device_file()
    if not path.exists():
        fail(EXIT_NO_DEVICE, "no device started by `cmsim device start`")
    pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            _reap(pid)
            os.kill(pid, 0)
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    except ProcessLookupError:
        pass
    path.unlink()
    c.emit({"stopped": pid})


def _reap(pid: int) -> None:
    """Collect the exit status if the device is our own child (a zombie still answers kill 0)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


@device.command("status")
@pass_ctx
def device_status(c: Ctx) -> None:
    """Whether the remembered device runs, and where."""
    path = _device_file()
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    info["running"] = _alive()
    c.emit(info)
    if not info["running"]:
        sys.exit(EXIT_NO_DEVICE)


# ------------------------------------------------------------------------ lab
@main.group()
def lab() -> None:
    """Validation-lab harness against a lab-mode device (docs/lab.md)."""


@lab.command("run")
@click.option("--plan", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: the core battery; full: also Monte Carlo digests, HMAC and AES-GCM with imported keys, "
                   "every CAST at power-on, every PCT key type, a longer state walk.")
@click.option("--seed", type=int, help="Seed of the state-machine walk (random when omitted; the report names it).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write lab-report.json and lab-report.md into this directory.")
@click.option("--port", "data_port", help="Data line of a running lab-mode device (with --lab-port). "
                                          "Without it the harness starts its own device and stops it after.")
@click.option("--lab-port", help="That device's fault-injection port (the `lab: PATH` line it printed).")
@click.option("--device-arg", "device_args", multiple=True,
              help="Extra cmsim-device option for the device the harness starts (repeatable), "
                   "e.g. --device-arg=--seal=PATH.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="The published security-policy JSON (default: docs/security_policy/security-policy.json).")
@pass_ctx
def lab_run(c: Ctx, plan: str, seed: int | None, report_dir: Path | None, data_port: str | None,
            lab_port: str | None, device_args: tuple[str, ...], policy_path: str | None) -> None:
    """Run the lab battery (algorithm vectors, self-tests, fault injection, role x service matrix, audit
    completeness, state machine) through the wire and the lab port; exit 0 when everything passed, 5
    when anything failed. With --port the device must be factory-fresh, or give a Crypto Officer's
    --operator (and CMSIM_PASSWORD); the run zeroises and re-initialises it."""
    from host_tools.lab.harness import run_lab
    from host_tools.lab.report import summary_text, write_report

    if bool(data_port) != bool(lab_port):
        raise click.UsageError("give --port and --lab-port together, or neither (the harness then starts a device)")
    officer = (c.operator, c.secret(f"Password for {c.operator}")) if data_port and c.operator else None
    show = (lambda m: click.echo(f"cmsim lab: {m}", err=True)) if sys.stderr.isatty() and not c.as_json else None
    report = run_lab(plan=plan, seed=seed, port=data_port, lab_port=lab_port, device_args=device_args,
                     policy_path=policy_path, officer=officer, progress=show)
    if report_dir is not None:
        write_report(report, report_dir)
    if c.as_json:
        click.echo(json.dumps(report.as_dict(), sort_keys=True))
    else:
        click.echo(summary_text(report, report_dir))
    if not report.ok:
        sys.exit(EXIT_VERIFY)


@main.command("acvp-wrapper")
@click.option("--port", "wrapper_port", help="The device (default: the global --port, CMSIM_PORT, or the started one).")
@pass_ctx
def acvp_wrapper(c: Ctx, wrapper_port: str | None) -> None:
    """Speak the module-wrapper protocol of BoringSSL's/AWS-LC's acvptool on stdin/stdout and forward each
    request to the device (docs/lab.md). Logs in as --operator, a User, with CMSIM_PASSWORD (never a
    prompt: stdin carries the protocol) at the first request that needs the device."""
    from host_tools.lab.acvp import AcvpWrapper, WrapperError, serve

    if wrapper_port:
        c.port = wrapper_port
    sessions: list[Session] = []

    def call(command: Command, params: dict[str, Any]) -> Any:
        if not sessions:
            if not c.operator or c.password is None:
                raise WrapperError(3, "the device needs a login: give --operator (a User) and CMSIM_PASSWORD")
            sessions.append(c.device().login(c.operator, c.password))
        return c.device().transport.call(int(command), params, sessions[0].session_id)

    try:
        code = serve(sys.stdin.buffer, sys.stdout.buffer, AcvpWrapper(call))
    finally:
        for s in sessions:
            try:
                s.logout()
            except CmsimError:
                pass
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover - `python -m host_tools.cli`
    main()
