"""`cmsim`: the host command line, a thin click shell over the client API.

Exit codes: 0 ok; 1 declined at a confirmation prompt; 2 usage error (including a malformed value
such as hex or a time); 3 the device refused (status code named on stderr); 4 authentication
failed; 5 verification failed (an audit export or archive does not verify, or a signature, MAC or
GCM tag does not); 6 no device (none configured, cannot open, no answer, or a followed one went away); 7 a file
cannot be read or written, or is not what the option needs (a key statement, an export, an
archive), or `audit forward`'s syslog server cannot be reached or drops the connection; 8
the device's identity key is not the one pinned for its serial (or given with
``--expect-fingerprint``); 9 an audit export verified without ``--nonce``: what it holds is
signed, but its freshness and tail are unproven; 130 interrupted by Ctrl-C (outputs are written to a temporary name and renamed, so none is left
half-written). Errors are one line on
stderr with the status name and a hint, never a traceback. ``--json`` prints one JSON document
per command with stable keys (bytes as hex). Passwords come from ``--password-file``, ``CMSIM_PASSWORD``
or a prompt without echo, never from the command line. Under ``--json`` an error is a JSON
document (``{"error": {...}}``) on stdout.

One module per command group: ``lifecycle`` (status, selftest, init, zeroise), ``operator``,
``key``, ``crypto``, ``audit``, ``device``, ``lab`` (lab run, acvp-wrapper); ``root`` holds the
global options and turns errors into exit codes; ``context`` the shared options, output and
``@with_session``.
"""

from __future__ import annotations

from host_tools.cli.context import (
    EXIT_AUTH,
    EXIT_DEVICE,
    EXIT_FILE,
    EXIT_IDENTITY,
    EXIT_INTERRUPTED,
    EXIT_NO_DEVICE,
    EXIT_UNPROVEN,
    EXIT_USAGE,
    EXIT_VERIFY,
)
from host_tools.cli.root import main

__all__ = ["main", "EXIT_USAGE", "EXIT_DEVICE", "EXIT_AUTH", "EXIT_VERIFY", "EXIT_NO_DEVICE", "EXIT_FILE",
           "EXIT_IDENTITY", "EXIT_UNPROVEN", "EXIT_INTERRUPTED"]
