"""The root group: the global options, and the one place where errors become a line and an exit code."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from host_tools.archive import ArchiveRefused
from host_tools.cli import audit, crypto, device, key, lab, lifecycle, operator
from host_tools.cli.context import EXIT_AUTH, EXIT_DEVICE, EXIT_NO_DEVICE, EXIT_VERIFY, Ctx, Failure
from host_tools.errors import AuthenticationError, CmsimError, DeviceError, TransportError
from module.wire.defs import Status

__all__ = ["main", "HINTS"]

HINTS = {
    Status.AUTH_FAILED: "check the operator and the password (CMSIM_PASSWORD)",
    Status.AUTH_DELAYED: "wait a second after a failed login, then try again",
    Status.OPERATOR_LOCKED: "a Crypto Officer can unlock the operator (cmsim operator unlock), or wait",
    Status.NOT_AUTHENTICATED: "give --operator and a password (CMSIM_PASSWORD)",
    Status.ACCESS_DENIED: "log in as an operator whose role may call this service",
    Status.AUDIT_FULL: "drain the audit trail: cmsim audit archive --db FILE",
    Status.MODULE_ERROR: "the module is in an error state; power-cycle it (cmsim device stop; cmsim device start)",
    Status.INVALID_STATE: "see `cmsim status` for the module's state",
    Status.CREDENTIAL_REJECTED: "passwords need at least 8 printable characters and must differ from the factory one",
}


def _exit(code: int, message: str) -> NoReturn:
    click.echo(f"cmsim: {message}", err=True)
    sys.exit(code)


class Main(click.Group):
    """Turns every CmsimError (and a command's Failure) into one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Failure as exc:
            _exit(exc.code, exc.message)
        except AuthenticationError as exc:
            _exit(EXIT_AUTH, f"{exc.status.name} (0x{exc.status:02x}): {exc.message} — {HINTS.get(exc.status, '')}")
        except DeviceError as exc:
            hint = HINTS.get(exc.status)
            _exit(EXIT_DEVICE, f"{exc.status.name} (0x{exc.status:02x}): {exc.message}" + (f" — {hint}" if hint else ""))
        except ArchiveRefused as exc:
            _exit(EXIT_VERIFY, f"archive refused the export, nothing stored: {exc}")
        except TransportError as exc:
            _exit(EXIT_NO_DEVICE, f"{exc} — is the device running? (cmsim device start, or --port)")
        except CmsimError as exc:
            _exit(EXIT_DEVICE, str(exc))
        except OSError as exc:
            _exit(EXIT_NO_DEVICE if isinstance(exc, ConnectionError) else 1, str(exc))


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", envvar="CMSIM_PORT", help="Device: a path, pty or socket://HOST:PORT [CMSIM_PORT].")
@click.option("--json", "as_json", is_flag=True, help="Machine output: one JSON document.")
@click.option("--operator", envvar="CMSIM_OPERATOR", help="Operator to log in as [CMSIM_OPERATOR].")
@click.option("--password", envvar="CMSIM_PASSWORD", show_envvar=False,
              help="Password [CMSIM_PASSWORD]; prompted without echo when absent.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait for an answer.")
@click.pass_context
def main(ctx: click.Context, port: str | None, as_json: bool, operator: str | None, password: str | None,
         timeout: float) -> None:
    """Drive a cmsim device (a simulated FIPS 140-3 module; not a validated one).

    Exit codes: 0 ok, 2 usage, 3 device refused, 4 authentication failed, 5 verification failed,
    6 no device, 7 audit export verified without --nonce (freshness unproven)."""
    c = Ctx(port, as_json, operator, password, timeout)
    ctx.obj = c
    ctx.call_on_close(c.close)


for _module in (lifecycle, operator, key, crypto, audit, device, lab):
    for _command in _module.COMMANDS:
        main.add_command(_command)
