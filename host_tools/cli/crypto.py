"""The cryptographic services as top-level commands: encrypt, decrypt, sign, verify, mac, digest,
random, derive, encapsulate, decapsulate. Binary input and output through files or stdin/stdout;
keys by number or label.

Inputs are one service parameter each, so at most the module's 64 KiB parameter limit
(``MAX_PARAM_LEN``); a larger file is refused before the device is asked anything (exit 7), never
sent in parts: the module has no streaming digest or GCM, and chunks sealed one by one would be a
format of this tool's own that no other tool reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from host_tools.api import Ciphertext, KeyInfo
from host_tools.cli.context import (
    EXIT_FILE,
    EXIT_USAGE,
    EXIT_VERIFY,
    HEX,
    INPUT_FILE,
    OUTPUT_FILE,
    Binary,
    CommandSession,
    Ctx,
    Emit,
    fail,
    read_input,
    with_session,
    write_output,
)
from host_tools.cli.formats import SIGNATURE_FORMATS, FormatError, signature_in, signature_out
from host_tools.cli.key import KEY_REF, key_data, read_public_key, resolve_key
from host_tools.cli.names import DIGESTS, KDFS, KEY_TYPES
from module.wire.defs import MAX_PARAM_LEN, Command, KeyType

__all__ = ["COMMANDS"]


GCM_IV, GCM_TAG = 12, 16
MESSAGE_LIMIT = MAX_PARAM_LEN  # sign, verify, mac, digest: the message is one parameter
# Encrypt leaves room for the tag, so that `cmsim decrypt` takes any output back (its ciphertext
# parameter holds ciphertext and tag); decrypt's input is the IV, then that parameter.
ENCRYPT_LIMIT = MAX_PARAM_LEN - GCM_TAG
DECRYPT_LIMIT = GCM_IV + MAX_PARAM_LEN


def _in_option(limit: int, what: str = "Input file; - for stdin (binary)") -> Callable[..., Any]:
    return click.option("--in", "infile", type=INPUT_FILE, default="-",
                        help=f"{what}. At most {limit:,} bytes (the module's 64 KiB parameter limit): a larger "
                             "input is refused before the device is called (exit 7).")


def _io_options(limit: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option("--out", "outfile", type=OUTPUT_FILE, default="-",
                         help="Output file; - for stdout (binary).")(f)
        return _in_option(limit)(f)
    return apply


def _sig_format(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(SIGNATURE_FORMATS), default="raw", show_default=True,
                        help="Signature form: raw (as the device gives it; r || s for ECDSA) or der (X9.62 ECDSA).")(f)


def _converted(convert: Callable[[KeyType, bytes, str], bytes], key_type: KeyType, data: bytes, fmt: str,
               what: str) -> bytes:
    try:
        return convert(key_type, data, fmt)
    except FormatError as exc:
        fail(EXIT_USAGE if what == "--format" else EXIT_FILE, f"{what}: {exc}")


def _verdict(valid: bool) -> Emit:
    """Prints valid or INVALID; exit 5 when invalid."""
    return Emit({"valid": valid}, lambda: click.echo("valid" if valid else "INVALID"), 0 if valid else EXIT_VERIFY)


@click.command()
@click.option("--key", "key_id", type=KEY_REF, required=True, help="Key number or label.")
@click.option("--aad", default="", help="Additional authenticated data (text).")
@_io_options(ENCRYPT_LIMIT)
@with_session
def encrypt(c: Ctx, s: CommandSession, key_id: str, aad: str, infile: str, outfile: str) -> Binary:
    """AES-256-GCM. Output: IV (12 bytes) || ciphertext || tag (16 bytes). At most 65,520 bytes in (64 KiB
    less the tag, so `cmsim decrypt` takes the output back); larger files are refused, not chunked."""
    data = read_input(infile, ENCRYPT_LIMIT, "encrypt")
    box = s.encrypt(resolve_key(s, key_id), data, aad.encode())
    return Binary(outfile, box.iv + box.ciphertext, "ciphertext")


@click.command()
@click.option("--key", "key_id", type=KEY_REF, required=True, help="Key number or label.")
@click.option("--aad", default="")
@_io_options(DECRYPT_LIMIT)
@with_session
def decrypt(c: Ctx, s: CommandSession, key_id: str, aad: str, infile: str, outfile: str) -> Binary:
    """AES-256-GCM; input as `cmsim encrypt` wrote it."""
    data = read_input(infile, DECRYPT_LIMIT, "decrypt")
    if len(data) < 28:
        raise click.UsageError("input shorter than IV and tag")
    plain = s.decrypt(resolve_key(s, key_id), Ciphertext(data[:12], data[12:]), aad.encode())
    return Binary(outfile, plain, "plaintext")


@click.command()
@click.option("--key", "key_id", type=KEY_REF, required=True, help="Key number or label.")
@_sig_format
@_io_options(MESSAGE_LIMIT)
@with_session
def sign(c: Ctx, s: CommandSession, key_id: str, fmt: str, infile: str, outfile: str) -> Binary:
    """Sign the input (ECDSA, Ed25519, ML-DSA-65 by key type). ECDSA signatures are r || s (raw) or,
    with --format der, X9.62 DER as `openssl dgst -verify` reads."""
    data = read_input(infile, MESSAGE_LIMIT, "sign")
    number = resolve_key(s, key_id)
    signature = s.sign(number, data)
    if fmt != "raw":
        signature = _converted(signature_out, s.key_attributes(number).key_type, signature, fmt, "--format")
    return Binary(outfile, signature, "signature")


@click.command()
@click.option("--key", "key_id", type=KEY_REF, help="A stored key (number or label).")
@click.option("--pubkey", type=INPUT_FILE, help="Or a public key file (PEM, DER or raw)...")
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), help="...of this type.")
@click.option("--signature", "sigfile", type=INPUT_FILE, required=True)
@_sig_format
@_in_option(MESSAGE_LIMIT, "The signed message; - for stdin")
@with_session
def verify(c: Ctx, s: CommandSession, key_id: str | None, pubkey: str | None, key_type: str | None, sigfile: str,
           fmt: str, infile: str) -> Emit:
    """Verify a signature; exit 0 valid, 5 invalid."""
    data, signature = read_input(infile, MESSAGE_LIMIT, "verify"), Path(sigfile).read_bytes()
    if (key_id is None) == (pubkey is None) or (pubkey is not None and key_type is None):
        raise click.UsageError("give --key, or --pubkey with --type")
    if pubkey is not None and key_type is not None:
        kt = KEY_TYPES[key_type]
        if fmt != "raw":
            signature = _converted(signature_in, kt, signature, fmt, sigfile)
        return _verdict(s.verify(data, signature, key_type=kt, public_key=read_public_key(pubkey, kt)))
    assert key_id is not None
    number = resolve_key(s, key_id)
    if fmt != "raw":
        signature = _converted(signature_in, s.key_attributes(number).key_type, signature, fmt, sigfile)
    return _verdict(s.verify(data, signature, key_id=number))


@click.command()
@click.option("--key", "key_id", type=KEY_REF, required=True, help="Key number or label.")
@click.option("--verify", "macfile", type=INPUT_FILE, help="Check this MAC instead.")
@_io_options(MESSAGE_LIMIT)
@with_session
def mac(c: Ctx, s: CommandSession, key_id: str, macfile: str | None, infile: str, outfile: str) -> Emit | None:
    """HMAC of the input, or with --verify check one (exit 5 when it does not match)."""
    data = read_input(infile, MESSAGE_LIMIT, "mac")
    number = resolve_key(s, key_id)
    if macfile is None:
        write_output(c, outfile, s.mac(number, data), "mac")  # before the logout, as it always was
        return None
    return _verdict(s.mac_verify(number, data, Path(macfile).read_bytes()))


@click.command()
@click.option("--alg", type=click.Choice([*DIGESTS, "sha1"]), default="sha256", show_default=True,
              help="sha1 is the module's legacy SHA-1 service (approved for non-signature uses only).")
@_io_options(MESSAGE_LIMIT)
@with_session
def digest(c: Ctx, s: CommandSession, alg: str, infile: str, outfile: str) -> None:
    """A digest of the input (SHA-2, SHA-3; or legacy SHA-1). One DIGEST call: at most 65,536 bytes."""
    data = read_input(infile, MESSAGE_LIMIT, "digest")
    if alg == "sha1":
        value = bytes(s.call(Command.DIGEST_SHA1, {"message": data}).data["digest"])
    else:
        value = s.digest(DIGESTS[alg], data)
    write_output(c, outfile, value, "digest")  # before the logout, as it always was


@click.command()
@click.argument("length", type=click.IntRange(1, 4096))
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-")
@click.option("--hex", "as_hex", is_flag=True, help="Output hex text and a newline instead of the bytes.")
@with_session
def random(c: Ctx, s: CommandSession, length: int, outfile: str, as_hex: bool) -> None:
    """LENGTH bytes from the module's SP 800-90A DRBG."""
    data = s.random(length)
    if as_hex and not c.as_json:  # under --json the bytes are hex already
        data = data.hex().encode() + b"\n"
    write_output(c, outfile, data, "random")  # before the logout, as it always was


@click.command()
@click.option("--base", "base_key_id", type=KEY_REF, required=True, help="A generic-secret key to derive from.")
@click.option("--kdf", type=click.Choice(list(KDFS)), default="hkdf-sha256", show_default=True)
@click.option("--type", "key_type", type=click.Choice(sorted(KEY_TYPES)), required=True)
@click.option("--info", default="", help="Context (text).")
@click.option("--salt", type=HEX, default="", help="Salt (hex).")
@click.option("--label", default="")
@with_session
def derive(c: Ctx, s: CommandSession, base_key_id: str, kdf: str, key_type: str, info: str, salt: bytes,
           label: str) -> Emit:
    """Derive a new stored key (HKDF or SP 800-108 KBKDF)."""
    k = s.derive(resolve_key(s, base_key_id), KDFS[kdf], KEY_TYPES[key_type], salt=salt, info=info.encode(),
                 label=label)
    return Emit(key_data(k), lambda: click.echo(f"key {k.key_id} ({key_type}) derived"))


@click.command()
@click.option("--pubkey", type=INPUT_FILE, required=True, help="The recipient's ML-KEM-768 public key (PEM, DER or raw).")
@click.option("--label", default="", help="Label of the new shared-secret key.")
@click.option("--out", "outfile", type=OUTPUT_FILE, default="-", help="The ciphertext to send; - for stdout.")
@with_session
def encapsulate(c: Ctx, s: CommandSession, pubkey: str, label: str, outfile: str) -> _Encapsulated:
    """ML-KEM-768 to a public key: the shared secret becomes a new stored key; the ciphertext is output."""
    public_key = read_public_key(pubkey, KeyType.ML_KEM_768)
    info, ciphertext = s.encapsulate(public_key, label=label)
    return _Encapsulated(info, Binary(outfile, ciphertext, "ciphertext"))


@dataclass(frozen=True)
class _Encapsulated:
    info: KeyInfo
    ciphertext: Binary

    def show(self, c: Ctx) -> None:
        if self.ciphertext.path == "-" and c.as_json:
            c.emit({**key_data(self.info), "ciphertext": self.ciphertext.data})
            return
        self.ciphertext.show(c)
        if not c.as_json:
            c.note(f"key {self.info.key_id} (shared secret) stored")


@click.command()
@click.option("--key", "key_id", type=KEY_REF, required=True, help="Your ML-KEM-768 key (number or label).")
@click.option("--in", "infile", type=INPUT_FILE, default="-", help="The ciphertext; - for stdin.")
@click.option("--label", default="", help="Label of the new shared-secret key.")
@with_session
def decapsulate(c: Ctx, s: CommandSession, key_id: str, infile: str, label: str) -> Emit:
    """ML-KEM-768: the shared secret in the ciphertext becomes a new stored key."""
    ciphertext = read_input(infile)
    info = s.decapsulate(resolve_key(s, key_id), ciphertext, label=label)
    return Emit(key_data(info), lambda: click.echo(f"key {info.key_id} (shared secret) stored"))


COMMANDS = [encrypt, decrypt, sign, verify, mac, digest, random, derive, encapsulate, decapsulate]
