"""`cmsim`: the host command line, a thin click shell over the client API.

Exit codes: 0 ok; 2 usage error; 3 the device refused (status code named on stderr); 4
authentication failed; 5 verification failed (an audit export or archive does not verify, or a
signature or MAC does not); 6 no device (cannot open or no answer); 7 an audit export verified
without ``--nonce``: what it holds is signed, but its freshness and tail are unproven. Errors are one line on
stderr with the status name and a hint, never a traceback. ``--json`` prints one JSON document
per command with stable keys (bytes as hex). Passwords come from ``CMSIM_PASSWORD`` or a prompt
without echo, never from examples' command lines.

One module per command group: ``lifecycle`` (status, selftest, init, zeroise), ``operator``,
``key``, ``crypto``, ``audit``, ``device``, ``lab`` (lab run, acvp-wrapper); ``root`` holds the
global options and turns errors into exit codes; ``context`` the shared options, output and
``@with_session``.
"""

from __future__ import annotations

from host_tools.cli.context import EXIT_AUTH, EXIT_DEVICE, EXIT_NO_DEVICE, EXIT_UNPROVEN, EXIT_VERIFY
from host_tools.cli.root import main

__all__ = ["main", "EXIT_DEVICE", "EXIT_AUTH", "EXIT_VERIFY", "EXIT_NO_DEVICE", "EXIT_UNPROVEN"]
