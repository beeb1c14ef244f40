"""The host's end of a lab-mode device's fault-injection port (JSON lines on a second pty)."""

from __future__ import annotations

import json
from typing import Any

from host_tools.errors import CmsimError, TransportError
from host_tools.transport import SerialTransport

__all__ = ["LabPort", "LabCommandFailed"]


class LabCommandFailed(CmsimError):
    """The device refused a lab command (unknown CAST, seq not retained, ...)."""


class LabPort:
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self._line = SerialTransport(path)
        self._line.open()
        self._timeout = timeout
        self._buffer = b""

    def close(self) -> None:
        self._line.close()

    def __enter__(self) -> LabPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one command, return its answer; LabCommandFailed when the device says no."""
        self._line.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        while b"\n" not in self._buffer:
            chunk = self._line.read(self._timeout)
            if not chunk:
                raise TransportError(f"no answer from the lab port to {cmd!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise LabCommandFailed(f"lab {cmd}: {answer.get('error')}")
        return dict(answer)
