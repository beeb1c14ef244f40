"""The module's code image on disk and its seal file (the install-time step, like fipsinstall)."""

from __future__ import annotations

import hashlib
import platform
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import click

import module
from module.integrity import compute_seal

__all__ = ["PackageCodeImage", "DEFAULT_SEAL_PATH", "BoundLibrary", "bound_libraries", "read_seal", "write_seal",
           "main"]

MODULE_DIR = Path(module.__file__).resolve().parent
DEFAULT_SEAL_PATH = MODULE_DIR / "integrity.seal"


class PackageCodeImage:
    """Every ``.py`` and data file of the installed ``module`` package: the cryptographic boundary."""

    def __init__(self, root: Path = MODULE_DIR) -> None:
        self.root = root

    def files(self) -> Iterable[tuple[str, bytes]]:
        paths = sorted(
            p for p in self.root.rglob("*")
            if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts
        )
        for path in paths:
            yield path.relative_to(self.root).as_posix(), path.read_bytes()


@dataclass(frozen=True)
class BoundLibrary:
    """A library the module calls that lies outside its boundary (IG 1.A: named, versioned, hashed)."""

    name: str
    version: str
    provides: str
    file: str = ""  # the file that carries its code, if it is one file
    sha256: str = ""


def bound_libraries() -> tuple[BoundLibrary, ...]:
    """What the running interpreter binds the module to, read from the environment itself."""
    from cryptography.hazmat.backends.openssl.backend import backend
    from cryptography.hazmat.bindings import _rust

    dist = metadata.distribution("cryptography")
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    binding = Path(_rust.__file__).resolve()
    return (
        BoundLibrary(platform.python_implementation(), platform.python_version(), "interpreter; hashlib and hmac (SHA-256, HMAC-SHA-256, "
                     "PBKDF2)"),
        BoundLibrary("OpenSSL (the interpreter's, under hashlib)", ssl.OPENSSL_VERSION.removeprefix("OpenSSL ").strip(),
                     "SHA-256, HMAC-SHA-256 and PBKDF2 for hashlib"),
        BoundLibrary(f"cryptography ({', '.join(tags) or 'wheel tag unknown'})", dist.version,
                     "every service algorithm", f"cryptography/hazmat/bindings/{binding.name}",
                     hashlib.sha256(binding.read_bytes()).hexdigest()),
        BoundLibrary("OpenSSL (bundled in cryptography's binding)",
                     backend.openssl_version_text().removeprefix("OpenSSL ").strip(),
                     "the primitives under cryptography, statically linked into the binding above"),
    )


def read_seal(path: Path = DEFAULT_SEAL_PATH) -> bytes | None:
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_seal(path: Path = DEFAULT_SEAL_PATH, root: Path = MODULE_DIR) -> bytes:
    seal = compute_seal(PackageCodeImage(root))
    path.write_text(seal.hex() + "\n")
    return seal


@click.command(name="cmsim-seal")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SEAL_PATH,
              show_default=True, help="Seal file to write.")
def main(out: Path) -> None:
    """Seal the installed module code (HMAC-SHA-256), as `openssl fipsinstall` does."""
    seal = write_seal(out)
    click.echo(f"sealed {MODULE_DIR} -> {out} ({seal.hex()[:16]}...)")


if __name__ == "__main__":
    main()
