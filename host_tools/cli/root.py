"""The root group: the global options, and the one place where errors become a line and an exit code."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from host_tools.archive import ArchiveRefused
from host_tools.cli import audit, crypto, device, key, lab, lifecycle, operator, pkcs11
from host_tools.cli.context import (
    EXIT_AUTH,
    EXIT_DEVICE,
    EXIT_FILE,
    EXIT_IDENTITY,
    EXIT_INTERRUPTED,
    EXIT_NO_DEVICE,
    EXIT_VERIFY,
    Ctx,
    Failure,
    json_option,
)
from host_tools.errors import (
    AuthenticationError,
    CmsimError,
    DeviceError,
    IdentityMismatchError,
    ModuleErrorStateError,
    TransportError,
)
from module.wire.defs import Status

__all__ = ["main", "HINTS"]

HINTS = {
    Status.AUTH_FAILED: "check the operator and the password (CMSIM_PASSWORD)",
    Status.AUTH_DELAYED: "wait a second after a failed login, then try again",
    Status.OPERATOR_LOCKED: "a Crypto Officer can unlock it: cmsim --operator CO operator unlock NAME; or wait",
    Status.DECRYPT_FAILED: "verification failed: wrong key or AAD, or the input was altered; nothing was output",
    Status.NOT_AUTHENTICATED: "give --operator and a password (CMSIM_PASSWORD)",
    Status.ACCESS_DENIED: "log in as an operator whose role may call this service",
    Status.AUDIT_FULL: "drain the audit trail: cmsim audit archive --db FILE",
    Status.MODULE_ERROR: "the module is in an error state; power-cycle it (cmsim device stop; cmsim device start)",
    Status.INVALID_STATE: "see `cmsim status` for the module's state",
    Status.CREDENTIAL_REJECTED: "passwords need at least 8 printable characters and must differ from the factory one",
}


SEAL_HINT = "the integrity seal is missing or stale: run `make seal` (cmsim-seal), then power-cycle the device"


def _error_state_hint(ctx: click.Context) -> str:
    """Why the module is in an error state, from its status (the one service it still answers): a
    missing or stale seal is fixed by sealing, which no power cycle does."""
    c = ctx.obj
    try:
        last_error = str(c.device().status().get("last_error") or "") if isinstance(c, Ctx) else ""
    except (CmsimError, OSError):  # the line is gone as well: the generic hint is all there is
        last_error = ""
    if last_error.startswith("integrity:") and "seal" in last_error:
        return SEAL_HINT
    generic = HINTS[Status.MODULE_ERROR]
    return f"its last error: {last_error}; {generic.removeprefix('the module is in an error state; ')}" if last_error \
        else generic


VERIFY_STATUSES = frozenset({Status.DECRYPT_FAILED})  # a refusal that is a failed verification: exit 5


def _exit(ctx: click.Context, code: int, message: str, status: Status | None = None) -> NoReturn:
    """One line on stderr; under --json instead one JSON document on stdout, as a command's answer would be."""
    c = ctx.obj
    if isinstance(c, Ctx) and c.as_json:
        click.echo(json.dumps({"error": {"exit_code": code, "message": message,
                                         "status": status.name if status is not None else None}}, sort_keys=True))
    else:
        click.echo(f"cmsim: {message}", err=True)
    sys.exit(code)


def _refusal(exc: DeviceError, hint: str | None) -> str:
    return f"{exc.status.name} (0x{exc.status:02x}): {exc.message}" + (f" — {hint}" if hint else "")


class Main(click.Group):
    """Turns every CmsimError (and a command's Failure) into one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Failure as exc:
            _exit(ctx, exc.code, exc.message)
        except IdentityMismatchError as exc:
            _exit(ctx, EXIT_IDENTITY, str(exc))
        except AuthenticationError as exc:
            _exit(ctx, EXIT_AUTH, _refusal(exc, HINTS.get(exc.status)), exc.status)
        except ModuleErrorStateError as exc:
            _exit(ctx, EXIT_DEVICE, _refusal(exc, _error_state_hint(ctx)), exc.status)
        except DeviceError as exc:
            code = EXIT_VERIFY if exc.status in VERIFY_STATUSES else EXIT_DEVICE
            _exit(ctx, code, _refusal(exc, HINTS.get(exc.status)), exc.status)
        except ArchiveRefused as exc:
            _exit(ctx, EXIT_VERIFY, f"archive refused the export, nothing stored: {exc}")
        except TransportError as exc:
            _exit(ctx, EXIT_NO_DEVICE, f"{exc} — is the device running? (cmsim device start, or --port)")
        except CmsimError as exc:
            _exit(ctx, EXIT_DEVICE, str(exc))
        except OSError as exc:
            if isinstance(exc, ConnectionError):
                _exit(ctx, EXIT_NO_DEVICE, f"{exc} — is the device running? (cmsim device start, or --port)")
            where = f"{exc.filename}: " if exc.filename else ""
            _exit(ctx, EXIT_FILE, f"{where}{exc.strerror or exc}")
        except KeyboardInterrupt:
            _exit(ctx, EXIT_INTERRUPTED, "interrupted; no output was left half-written")
        except click.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):  # Ctrl-C at a prompt (click turns it into Abort)
                _exit(ctx, EXIT_INTERRUPTED, "interrupted")
            raise  # a declined confirmation: click's "Aborted!", exit 1
        except click.ClickException as exc:
            if isinstance(ctx.obj, Ctx) and ctx.obj.as_json:
                _exit(ctx, exc.exit_code, exc.format_message())
            raise


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cmsim", prog_name="cmsim", message="%(prog)s %(version)s (host tools)")
@click.option("--port", envvar="CMSIM_PORT", help="Device: a path, pty or socket://HOST:PORT [CMSIM_PORT].")
@click.option("--json", "as_json", is_flag=True, help="Machine output: one JSON document.")
@click.option("--operator", envvar="CMSIM_OPERATOR", help="Operator to log in as [CMSIM_OPERATOR].")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False),
              help="Read the login password from this file's first line. Otherwise CMSIM_PASSWORD, else a prompt "
                   "without echo; never the command line, where other users see it (ps).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for an answer.")
@click.option("--expect-fingerprint", help="The device's identity fingerprint (64 hex digits): pin it, refuse another.")
@click.option("-q", "--quiet", is_flag=True, help="Only the data and errors: no notices, indicator line or progress "
                                                  "on stderr.")
@click.option("-v", "--verbose", is_flag=True, help="Log the host's side on stderr: opening and closing the line, "
                                                    "logins, logouts, retransmits.")
@click.pass_context
def main(ctx: click.Context, port: str | None, as_json: bool, operator: str | None, password_file: str | None,
         timeout: float, expect_fingerprint: str | None, quiet: bool, verbose: bool) -> None:
    """Drive a cmsim device (a simulated FIPS 140-3 module; not a validated one).

    Exit codes: 0 ok, 1 declined at a prompt, 2 usage, 3 device refused, 4 authentication failed,
    5 verification failed (an export, archive, signature, MAC or GCM tag), 6 no device, 7 a file cannot
    be read or written or is not what it should be, 8 identity mismatch (not the pinned device),
    9 audit export verified without --nonce (freshness and tail unproven),
    130 interrupted (Ctrl-C).

    --json: one JSON document per command on stdout, an error too ({"error": {...}}); the schema is
    host_tools/cli/cmsim-json.schema.json. File inputs of the crypto commands are one service
    parameter: at most 64 KiB (65,536 bytes; 65,520 for encrypt), refused before the device is called."""
    if quiet and verbose:
        raise click.UsageError("-q and -v contradict each other: give one")
    password = os.environ.get("CMSIM_PASSWORD") or None
    if password_file:
        lines = Path(password_file).read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    c = Ctx(port, as_json, operator, password, timeout, expect_fingerprint, quiet=quiet)
    ctx.obj = c
    if verbose:
        ctx.call_on_close(_log_to_stderr())
    ctx.call_on_close(c.close)  # runs first (callbacks run last in, first out): the close is logged too


def _log_to_stderr() -> Callable[[], None]:
    """-v: the host tools' log (open, close, login, logout, retransmit) on stderr for this command;
    returns what undoes it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cmsim: %(name)s: %(message)s"))
    logger = logging.getLogger("host_tools")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(before)
    return undo


for _module in (lifecycle, operator, key, crypto, audit, device, lab, pkcs11):
    for _command in _module.COMMANDS:
        main.add_command(_command)


def _add_json(command: click.Command) -> None:
    if not any(p.name == "json" for p in command.params):
        command.params.append(json_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_json(sub)


for _command in main.commands.values():
    _add_json(_command)
