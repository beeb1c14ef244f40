"""`cmsim key`: generate, import, export, delete, list, show, pubkey and agree (Crypto Officer or User).
Keys are named by number or by label (`--key my-aes`)."""

from __future__ import annotations

from typing import Any

import click

from host_tools.cli.formats import PUBLIC_FORMATS, FormatError, public_key_in, public_key_out
from rich.table import Table

from host_tools.api import KeyInfo
from host_tools.audit_formats import cell
from host_tools.cli.context import (
    EXIT_DEVICE,
    EXIT_FILE,
    INPUT_FILE,
    OUTPUT_FILE,
    Binary,
    CommandSession,
    Ctx,
    Emit,
    fail,
    read_input,
    with_session,
)
from host_tools.cli.names import KEY_TYPE_NAMES, KEY_TYPES, KEY_USES, use_names
from module.wire.defs import KeyType, KeyUse

__all__ = ["COMMANDS", "key", "key_data", "resolve_key", "KEY_REF", "use_option"]


def key_data(k: KeyInfo) -> dict[str, Any]:
    return {"key_id": k.key_id, "key_type": KEY_TYPE_NAMES.get(k.key_type, k.key_type.name), "label": k.label,
            "uses": use_names(k.uses), "exportable": k.exportable, "origin": k.origin, "public_key": k.public_key}


class _KeyRef(click.ParamType):
    """A stored key by number or by label; a label is looked up once logged in (`resolve_key`)."""

    name = "KEY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not text:
            self.fail("give a key number or label", param, ctx)
        return text


KEY_REF = _KeyRef()


def resolve_key(s: CommandSession, ref: str) -> int:
    """The key number for a number or a label (exactly one key must carry the label)."""
    if ref.isdigit():
        return int(ref)
    ids = [kid for kid, _, label in s.list_keys() if label == ref]
    if not ids:
        fail(EXIT_DEVICE, f"KEY_NOT_FOUND: no key labelled {ref!r} (cmsim key list shows the keys)")
    if len(ids) > 1:
        fail(EXIT_DEVICE, f"{len(ids)} keys are labelled {ref!r} ({', '.join(map(str, ids))}): give its number")
    return ids[0]


def use_option(f: Any) -> Any:
    return click.option("--use", "uses", type=click.Choice(sorted(KEY_USES)), multiple=True,
                        help="A use of the key's one purpose (repeatable); default: the type's main purpose.")(f)


def _uses(names: tuple[str, ...]) -> KeyUse | None:
    if not names:
        return None
    flags = KeyUse.NONE
    for name in names:
        flags |= KEY_USES[name]
    return flags


def _key_table(c: Ctx, keys: list[KeyInfo]) -> None:
    if not keys:
        click.echo("no keys (cmsim key generate --type TYPE makes one)")
        return
    table = Table("id", "type", "label", "uses", "exportable", "origin")
    for k in keys:
        table.add_row(str(k.key_id), KEY_TYPE_NAMES.get(k.key_type, k.key_type.name), cell(k.label) or "-",
                      ",".join(use_names(k.uses)) or "-", "yes" if k.exportable else "no", k.origin)
    c.console.print(table)


@click.group()
def key() -> None:
    """Keys (Crypto Officer or User)."""


@key.command("generate")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--label", default="")
@click.option("--exportable", is_flag=True)
@use_option
@with_session
def key_generate(c: Ctx, s: CommandSession, key_type: str, label: str, exportable: bool, uses: tuple[str, ...]) -> Emit:
    """A new key on the device, made by its DRBG."""
    info = s.generate_key(KEY_TYPES[key_type], label=label, exportable=exportable, uses=_uses(uses))
    return Emit(key_data(info), lambda: click.echo(f"key {info.key_id} ({key_type}) generated"))


@key.command("import")
@click.option("--wrap-key", type=KEY_REF, required=True, help="AES-256 key that wrapped it (AES-KWP).")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--in", "infile", type=INPUT_FILE, default="-", help="Wrapped key (binary); - for stdin.")
@click.option("--label", default="")
@click.option("--exportable", is_flag=True)
@use_option
@with_session
def key_import(c: Ctx, s: CommandSession, wrap_key: str, key_type: str, infile: str, label: str,
               exportable: bool, uses: tuple[str, ...]) -> Emit:
    """A key wrapped under a stored AES-256 key (AES-KWP)."""
    wrapped = read_input(infile)
    info = s.import_key(resolve_key(s, wrap_key), wrapped, KEY_TYPES[key_type], label=label, exportable=exportable,
                        uses=_uses(uses))
    return Emit(key_data(info), lambda: click.echo(f"key {info.key_id} ({key_type}) imported"))


@key.command("export")
@click.argument("key_id", metavar="KEY", type=KEY_REF)
@click.option("--wrap-key", type=KEY_REF, required=True, help="AES-256 key to wrap it under (AES-KWP).")
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-")
@with_session
def key_export(c: Ctx, s: CommandSession, key_id: str, wrap_key: str, outfile: str) -> Binary:
    """KEY wrapped under a stored AES-256 key (only a key made exportable)."""
    return Binary(outfile, s.export_key(resolve_key(s, key_id), resolve_key(s, wrap_key)), "wrapped")


@key.command("delete")
@click.argument("key_id", metavar="KEY", type=KEY_REF)
@with_session
def key_delete(c: Ctx, s: CommandSession, key_id: str) -> Emit:
    number = resolve_key(s, key_id)
    s.delete_key(number)
    return Emit({"deleted": number})


@key.command("list")
@with_session
def key_list(c: Ctx, s: CommandSession) -> Emit:
    keys = [s.key_attributes(kid) for kid, _, _ in s.list_keys()]
    return Emit({"keys": [key_data(k) for k in keys]}, lambda: _key_table(c, keys))


@key.command("show")
@click.argument("key_id", metavar="KEY", type=KEY_REF)
@with_session
def key_show(c: Ctx, s: CommandSession, key_id: str) -> Emit:
    return Emit(key_data(s.key_attributes(resolve_key(s, key_id))))


@key.command("pubkey")
@click.argument("key_id", metavar="KEY", type=KEY_REF)
@click.option("--format", "fmt", type=click.Choice(PUBLIC_FORMATS), default="pem", show_default=True,
              help="pem or der (SubjectPublicKeyInfo, as openssl reads), or raw (as the device gives it).")
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-")
@with_session
def key_pubkey(c: Ctx, s: CommandSession, key_id: str, fmt: str, outfile: str) -> Binary:
    """The public key of a stored key pair (ECDSA, Ed25519, ML-DSA-65, ML-KEM-768)."""
    info = s.key_attributes(resolve_key(s, key_id))
    if not info.public_key:
        fail(EXIT_DEVICE, f"key {info.key_id} ({KEY_TYPE_NAMES.get(info.key_type, info.key_type.name)}) is "
                          "secret: it has no public key")
    return Binary(outfile, public_key_out(info.key_type, info.public_key, fmt), "public_key")


def read_public_key(path: str, key_type: KeyType) -> bytes:
    """A public key file (PEM, DER or raw) as the raw bytes the device takes; exit 7 when it is not one."""
    try:
        return public_key_in(key_type, read_input(path))
    except FormatError as exc:
        fail(EXIT_FILE, f"{path}: {exc}")


@key.command("agree")
@click.option("--key", "key_id", type=KEY_REF, required=True, help="Your ECDSA P-256 key pair.")
@click.option("--peer", type=INPUT_FILE, required=True, help="The peer's P-256 public key (PEM, DER or raw).")
@click.option("--label", default="", help="Label of the new shared-secret key.")
@with_session
def key_agree(c: Ctx, s: CommandSession, key_id: str, peer: str, label: str) -> Emit:
    """ECDH (P-256): the shared secret becomes a new stored key (to derive from); it never leaves the device."""
    peer_key = read_public_key(peer, KeyType.EC_P256)
    info = s.key_agree(resolve_key(s, key_id), peer_key, label=label)
    return Emit(key_data(info), lambda: click.echo(f"key {info.key_id} (shared secret) agreed"))


COMMANDS = [key]
