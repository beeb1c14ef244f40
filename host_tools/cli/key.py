"""`cmsim key`: generate, import, export, delete, list and show keys (Crypto Officer or User)."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from host_tools.api import KeyInfo
from host_tools.cli.context import INPUT_FILE, OUTPUT_FILE, Binary, CommandSession, Ctx, Emit, read_input, with_session
from host_tools.cli.names import KEY_TYPE_NAMES, KEY_TYPES

__all__ = ["COMMANDS", "key", "key_data"]


def key_data(k: KeyInfo) -> dict[str, Any]:
    return {"key_id": k.key_id, "key_type": KEY_TYPE_NAMES.get(k.key_type, k.key_type.name), "label": k.label,
            "uses": int(k.uses), "exportable": k.exportable, "origin": k.origin, "public_key": k.public_key}


def _key_table(c: Ctx, keys: list[KeyInfo]) -> None:
    if not keys:
        click.echo("no keys (cmsim key generate --type TYPE makes one)")
        return
    table = Table("id", "type", "label", "exportable", "origin")
    for k in keys:
        table.add_row(str(k.key_id), KEY_TYPE_NAMES.get(k.key_type, k.key_type.name), k.label,
                      "yes" if k.exportable else "no", k.origin)
    c.console.print(table)


@click.group()
def key() -> None:
    """Keys (Crypto Officer or User)."""


@key.command("generate")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--label", default="")
@click.option("--exportable", is_flag=True)
@with_session
def key_generate(c: Ctx, s: CommandSession, key_type: str, label: str, exportable: bool) -> Emit:
    info = s.generate_key(KEY_TYPES[key_type], label=label, exportable=exportable)
    return Emit(key_data(info), lambda: click.echo(f"key {info.key_id} ({key_type}) generated"))


@key.command("import")
@click.option("--wrap-key", type=int, required=True, help="AES-256 key that wrapped it (AES-KWP).")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--in", "infile", type=INPUT_FILE, default="-", help="Wrapped key (binary); - for stdin.")
@click.option("--label", default="")
@click.option("--exportable", is_flag=True)
@with_session
def key_import(c: Ctx, s: CommandSession, wrap_key: int, key_type: str, infile: str, label: str,
               exportable: bool) -> Emit:
    wrapped = read_input(infile)
    info = s.import_key(wrap_key, wrapped, KEY_TYPES[key_type], label=label, exportable=exportable)
    return Emit(key_data(info), lambda: click.echo(f"key {info.key_id} ({key_type}) imported"))


@key.command("export")
@click.argument("key_id", type=int)
@click.option("--wrap-key", type=int, required=True, help="AES-256 key to wrap it under (AES-KWP).")
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-")
@with_session
def key_export(c: Ctx, s: CommandSession, key_id: int, wrap_key: int, outfile: str) -> Binary:
    return Binary(outfile, s.export_key(key_id, wrap_key), "wrapped")


@key.command("delete")
@click.argument("key_id", type=int)
@with_session
def key_delete(c: Ctx, s: CommandSession, key_id: int) -> Emit:
    s.delete_key(key_id)
    return Emit({"deleted": key_id})


@key.command("list")
@with_session
def key_list(c: Ctx, s: CommandSession) -> Emit:
    keys = [s.key_attributes(kid) for kid, _, _ in s.list_keys()]
    return Emit({"keys": [key_data(k) for k in keys]}, lambda: _key_table(c, keys))


@key.command("show")
@click.argument("key_id", type=int)
@with_session
def key_show(c: Ctx, s: CommandSession, key_id: int) -> Emit:
    return Emit(key_data(s.key_attributes(key_id)))


COMMANDS = [key]
