"""Known devices: serial -> identity key fingerprint, kept like ssh's known_hosts.

The file is ``$CMSIM_HOME/known_devices.json`` (``~/.cmsim`` without CMSIM_HOME). The first contact
with a serial pins its fingerprint with a visible notice (a log line here; the CLI also prints
one on stderr); a later device with that serial and another identity is refused.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from host_tools.errors import IdentityMismatchError

__all__ = ["KnownDevices", "cmsim_home", "normalise_fingerprint"]

log = logging.getLogger(__name__)
FILE_NAME = "known_devices.json"


def cmsim_home() -> Path:
    """CMSIM_HOME, else ~/.cmsim: where the host tools keep what they remember."""
    return Path(os.environ.get("CMSIM_HOME") or Path.home() / ".cmsim")


def normalise_fingerprint(text: str) -> str:
    """Lower-case hex of the full 32 bytes; separators (spaces, colons) are ignored."""
    digits = "".join(ch for ch in text.lower() if ch not in " :-")
    if len(digits) != 64 or any(ch not in "0123456789abcdef" for ch in digits):
        raise ValueError("a fingerprint is the 64 hex digits of SHA-256 of the identity public key")
    return digits


class KnownDevices:
    """The pin store. ``path`` None: the default file under :func:`cmsim_home`, read when used."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else cmsim_home() / FILE_NAME

    def pins(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        doc = json.loads(self.path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in doc.get("devices", {}).items()}

    def get(self, serial: str) -> str | None:
        return self.pins().get(serial)

    def pin(self, serial: str, fingerprint: str) -> None:
        pins = self.pins() | {serial: fingerprint}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{FILE_NAME}.tmp")
        tmp.write_text(json.dumps({"devices": pins}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    def check(self, serial: str, fingerprint: str, expect: str | None = None) -> bool:
        """Accept ``fingerprint`` for ``serial`` or raise IdentityMismatchError; True when it was
        pinned just now. An explicit ``expect`` must match and replaces nothing it contradicts."""
        if expect is not None:
            expect = normalise_fingerprint(expect)
            if fingerprint != expect:
                raise IdentityMismatchError(serial, expect, fingerprint)
        pinned = self.get(serial)
        if pinned is not None:
            if pinned != fingerprint:
                raise IdentityMismatchError(serial, pinned, fingerprint)
            return False
        self.pin(serial, fingerprint)
        how = "as expected" if expect is not None else "on first contact"
        log.warning("pinned device %s with identity fingerprint %s (%s) in %s", serial, fingerprint, how, self.path)
        return True
