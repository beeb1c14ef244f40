"""The module's code image on disk and its seal file (the install-time step, like fipsinstall)."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import platform
import ssl
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import click

import module
from module.integrity import check_compiled, check_seal, compute_seal
from module.ports import CompiledFile

__all__ = ["PackageCodeImage", "DEFAULT_SEAL_PATH", "BoundLibrary", "bound_libraries", "read_seal", "write_seal",
           "main", "EXIT_SEAL_MISMATCH"]

MODULE_DIR = Path(module.__file__).resolve().parent
DEFAULT_SEAL_PATH = MODULE_DIR / "integrity.seal"


_OPTIMIZATIONS = (0, 1, 2)  # the levels a cached pyc's name can carry (none, opt-1, opt-2)
# Files the import system executes that are not source: bytecode beside a module, extensions.
_LOADABLE_SUFFIXES = frozenset(importlib.machinery.BYTECODE_SUFFIXES + importlib.machinery.EXTENSION_SUFFIXES)


class PackageCodeImage:
    """Every ``.py`` and data file of the installed ``module`` package: the cryptographic boundary.

    :meth:`compiled` adds what the interpreter could run instead of those sources: each source's
    cached bytecode, where this interpreter would look for it (``__pycache__``, or under
    ``sys.pycache_prefix``), and any bare ``.pyc`` or extension file in the package.
    """

    def __init__(self, root: Path = MODULE_DIR) -> None:
        self.root = root

    def _sources(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.py") if p.is_file() and "__pycache__" not in p.parts)

    def files(self) -> Iterable[tuple[str, bytes]]:
        paths = sorted(
            p for p in self.root.rglob("*")
            if p.is_file() and p.suffix in (".py", ".json") and "__pycache__" not in p.parts
        )
        for path in paths:
            yield path.relative_to(self.root).as_posix(), path.read_bytes()

    def compiled(self) -> Iterable[CompiledFile]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and _loadable(path):
                yield CompiledFile(path.relative_to(self.root).as_posix(), path.read_bytes(), None)
        for source in self._sources():
            for level in _OPTIMIZATIONS:
                cached = Path(importlib.util.cache_from_source(str(source), optimization=level or ""))
                if not cached.is_file():
                    continue
                st = source.stat()
                yield CompiledFile(_relative(cached, self.root), cached.read_bytes(),
                                   source.relative_to(self.root).as_posix(), source.read_bytes(),
                                   int(st.st_mtime), st.st_size, level)


def _loadable(path: Path) -> bool:
    return any(path.name.endswith(suffix) for suffix in _LOADABLE_SUFFIXES)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # under sys.pycache_prefix
        return path.as_posix()


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


EXIT_SEAL_MISMATCH = 1  # --verify: the seal is missing or stale, or compiled code is not the sealed source


@click.command(name="cmsim-seal", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SEAL_PATH,
              show_default=True, help="Seal file to write (with --verify: to check).")
@click.option("--verify", is_flag=True, help="Check the seal instead of writing it, as `openssl fipsinstall -verify`: "
                                             "exit 0 when it matches the installed module code, else 1 and one line "
                                             "saying why.")
def main(out: Path, verify: bool) -> None:
    """Seal the installed module code (HMAC-SHA-256), as `openssl fipsinstall` does; or with --verify
    check that the seal still matches it, which the device checks at every power-on.

    Exit codes: 0 sealed (or, with --verify, the seal matches); 1 not sealed, or with --verify the seal
    is missing or does not match the code; 2 usage."""
    code = PackageCodeImage()
    if verify:
        problem = check_seal(code, read_seal(out)) or check_compiled(code)
        if problem is not None:
            click.echo(f"cmsim-seal: {out}: VERIFY FAILED: {problem}", err=True)
            sys.exit(EXIT_SEAL_MISMATCH)
        click.echo(f"{out}: seal matches {MODULE_DIR} (VERIFY PASSED)")
        return
    problem = check_compiled(code)
    if problem is not None:
        raise click.ClickException(f"not sealed: {problem}")
    seal = write_seal(out)
    click.echo(f"sealed {MODULE_DIR} -> {out} ({seal.hex()[:16]}...)")


if __name__ == "__main__":
    main()
