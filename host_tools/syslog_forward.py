"""Forward archived audit records to a syslog server: RFC 5424 messages over TCP, octet-counted
(RFC 6587 section 3.4.1: ``MSG-LEN SP SYSLOG-MSG``), each record once and in order.

The records come from the archive, so only verified records leave, each with its sequence number
and chain hash in its structured data (the message is :func:`~host_tools.audit_formats.syslog_message`,
the one `cmsim audit query --format syslog` prints). The archive keeps, per destination, the last
seq sent, written after each batch has been handed to the socket: a forwarder that stops (Ctrl-C
between batches, the server closing, the device going away) resumes after it and sends nothing
twice. Syslog over TCP has no acknowledgement, so a batch the kernel took but the server never
read (the connection cut under it) is lost to that server, and a forwarder killed between a send
and its commit sends that one batch again.

No library: the standard library's SysLogHandler speaks neither RFC 5424 nor octet counting, and
the RFC 5424 handlers on PyPI are logging handlers (fire and forget, no way to know which record
reached the socket, so no cursor to resume from) without a release in years.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from host_tools.archive import Archive
from host_tools.audit_formats import syslog_message
from module.wire.audit.record import AuditRecord

__all__ = ["SyslogTarget", "frame", "forward"]

BATCH = 256  # records per send and cursor commit


@dataclass(frozen=True)
class SyslogTarget:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> SyslogTarget:
        """``tcp://HOST:PORT`` (an IPv6 host in brackets); ValueError otherwise."""
        parts = urlsplit(url)
        if parts.scheme != "tcp" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{url!r} is not tcp://HOST:PORT")
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None or port == 0:
            raise ValueError(f"{url!r} names no port (tcp://HOST:PORT)")
        return cls(parts.hostname, port)

    @property
    def destination(self) -> str:
        """The name the archive keeps this destination's cursor under."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)


def frame(record: AuditRecord, h: bytes) -> bytes:
    """One record as an octet-counted RFC 5424 message (no trailer: the count delimits it)."""
    msg = syslog_message(record, h).encode("utf-8")
    return b"%d " % len(msg) + msg


def forward(archive: Archive, sock: socket.socket, destination: str, *,
            stop: Callable[[], bool] = lambda: False) -> int:
    """Send every archived record after ``destination``'s cursor, in order, batch by batch,
    committing the cursor after each; ``stop()`` is asked between batches. Returns the count sent."""
    sent = 0
    while not stop():
        batch = archive.records_after(archive.forwarded(destination), BATCH)
        if not batch:
            break
        sock.sendall(b"".join(frame(r, h) for r, h in batch))
        archive.set_forwarded(destination, batch[-1][0].seq)
        sent += len(batch)
    return sent
