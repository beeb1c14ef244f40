"""The module's code image on disk and its seal file (the install-time step, like fipsinstall)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

import module
from module.integrity import compute_seal

__all__ = ["PackageCodeImage", "DEFAULT_SEAL_PATH", "read_seal", "write_seal", "main"]

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


def read_seal(path: Path = DEFAULT_SEAL_PATH) -> bytes | None:
    try:
        return bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def write_seal(path: Path = DEFAULT_SEAL_PATH, root: Path = MODULE_DIR) -> bytes:
    seal = compute_seal(PackageCodeImage(root))
    path.write_text(seal.hex() + "\n")
    return seal


@click.command(name="cmsim-seal", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SEAL_PATH,
              show_default=True, help="Seal file to write.")
def main(out: Path) -> None:
    """Seal the installed module code (HMAC-SHA-256), as `openssl fipsinstall` does."""
    seal = write_seal(out)
    click.echo(f"sealed {MODULE_DIR} -> {out} ({seal.hex()[:16]}...)")


if __name__ == "__main__":
    main()
