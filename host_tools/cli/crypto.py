"""The cryptographic services as top-level commands: encrypt, decrypt, sign, verify, mac, digest,
random, derive. Binary input and output through files or stdin/stdout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from host_tools.api import Ciphertext
from host_tools.cli.context import (
    EXIT_VERIFY,
    HEX,
    INPUT_FILE,
    OUTPUT_FILE,
    Binary,
    CommandSession,
    Ctx,
    Emit,
    read_input,
    with_session,
    write_output,
)
from host_tools.cli.key import key_data
from host_tools.cli.names import DIGESTS, KDFS, KEY_TYPES

__all__ = ["COMMANDS"]


def _io_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--out", "outfile", type=OUTPUT_FILE, default="-", help="Output file; - for stdout (binary).")(f)
    return click.option("--in", "infile", type=INPUT_FILE, default="-", help="Input file; - for stdin (binary).")(f)


def _verdict(valid: bool) -> Emit:
    """Prints valid or INVALID; exit 5 when invalid."""
    return Emit({"valid": valid}, lambda: click.echo("valid" if valid else "INVALID"), 0 if valid else EXIT_VERIFY)


@click.command()
@click.option("--key", "key_id", type=int, required=True)
@click.option("--aad", default="", help="Additional authenticated data (text).")
@_io_options
@with_session
def encrypt(c: Ctx, s: CommandSession, key_id: int, aad: str, infile: str, outfile: str) -> Binary:
    """AES-256-GCM. Output: IV (12 bytes) || ciphertext || tag (16 bytes)."""
    data = read_input(infile)
    box = s.encrypt(key_id, data, aad.encode())
    return Binary(outfile, box.iv + box.ciphertext, "ciphertext")


@click.command()
@click.option("--key", "key_id", type=int, required=True)
@click.option("--aad", default="")
@_io_options
@with_session
def decrypt(c: Ctx, s: CommandSession, key_id: int, aad: str, infile: str, outfile: str) -> Binary:
    """AES-256-GCM; input as `cmsim encrypt` wrote it."""
    data = read_input(infile)
    if len(data) < 28:
        raise click.UsageError("input shorter than IV and tag")
    plain = s.decrypt(key_id, Ciphertext(data[:12], data[12:]), aad.encode())
    return Binary(outfile, plain, "plaintext")


@click.command()
@click.option("--key", "key_id", type=int, required=True)
@_io_options
@with_session
def sign(c: Ctx, s: CommandSession, key_id: int, infile: str, outfile: str) -> Binary:
    """Sign the input (ECDSA, Ed25519, ML-DSA-65 by key type)."""
    data = read_input(infile)
    return Binary(outfile, s.sign(key_id, data), "signature")


@click.command()
@click.option("--key", "key_id", type=int, help="A stored key.")
@click.option("--pubkey", type=INPUT_FILE, help="Or a public key file (raw bytes)...")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), help="...of this type.")
@click.option("--signature", "sigfile", type=INPUT_FILE, required=True)
@click.option("--in", "infile", type=INPUT_FILE, default="-")
@with_session
def verify(c: Ctx, s: CommandSession, key_id: int | None, pubkey: str | None, key_type: str | None, sigfile: str,
           infile: str) -> Emit:
    """Verify a signature; exit 0 valid, 5 invalid."""
    data, signature = read_input(infile), Path(sigfile).read_bytes()
    if (key_id is None) == (pubkey is None) or (pubkey is not None and key_type is None):
        raise click.UsageError("give --key, or --pubkey with --type")
    valid = s.verify(data, signature, key_id=key_id,
                     key_type=KEY_TYPES[key_type] if key_type else None,
                     public_key=Path(pubkey).read_bytes() if pubkey else None)
    return _verdict(valid)


@click.command()
@click.option("--key", "key_id", type=int, required=True)
@click.option("--verify", "macfile", type=INPUT_FILE, help="Check this MAC instead.")
@_io_options
@with_session
def mac(c: Ctx, s: CommandSession, key_id: int, macfile: str | None, infile: str, outfile: str) -> Emit | None:
    """HMAC of the input, or with --verify check one (exit 5 when it does not match)."""
    data = read_input(infile)
    if macfile is None:
        write_output(c, outfile, s.mac(key_id, data), "mac")  # before the logout, as it always was
        return None
    return _verdict(s.mac_verify(key_id, data, Path(macfile).read_bytes()))


@click.command()
@click.option("--alg", type=click.Choice(list(DIGESTS)), default="sha256", show_default=True)
@_io_options
@with_session
def digest(c: Ctx, s: CommandSession, alg: str, infile: str, outfile: str) -> None:
    data = read_input(infile)
    write_output(c, outfile, s.digest(DIGESTS[alg], data), "digest")  # before the logout, as it always was


@click.command()
@click.argument("length", type=click.IntRange(1, 4096))
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-")
@with_session
def random(c: Ctx, s: CommandSession, length: int, outfile: str) -> None:
    """LENGTH bytes from the module's SP 800-90A DRBG."""
    write_output(c, outfile, s.random(length), "random")  # before the logout, as it always was


@click.command()
@click.option("--base", "base_key_id", type=int, required=True, help="A generic-secret key to derive from.")
@click.option("--kdf", type=click.Choice(list(KDFS)), default="hkdf-sha256", show_default=True)
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--info", default="", help="Context (text).")
@click.option("--salt", type=HEX, default="", help="Salt (hex).")
@click.option("--label", default="")
@with_session
def derive(c: Ctx, s: CommandSession, base_key_id: int, kdf: str, key_type: str, info: str, salt: bytes,
           label: str) -> Emit:
    """Derive a new stored key (HKDF or SP 800-108 KBKDF)."""
    k = s.derive(base_key_id, KDFS[kdf], KEY_TYPES[key_type], salt=salt, info=info.encode(),
                 label=label)
    return Emit(key_data(k), lambda: click.echo(f"key {k.key_id} ({key_type}) derived"))


COMMANDS = [encrypt, decrypt, sign, verify, mac, digest, random, derive]
