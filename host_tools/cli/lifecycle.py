"""The module as a whole: status, version, self-tests, initialise, zeroise."""

from __future__ import annotations

import importlib.metadata

import click

from host_tools.cli.context import (
    EXIT_DEVICE,
    FACTORY_OPERATOR,
    FACTORY_PASSWORD,
    CommandSession,
    Ctx,
    Emit,
    fail,
    human_value,
    pass_ctx,
    with_session,
)
from module.wire.defs import Command

__all__ = ["COMMANDS"]


@click.command()
@pass_ctx
def status(c: Ctx) -> None:
    """State, counters, the identity fingerprint (checked against the pin), and the audit trail's fill:
    high water reached, acknowledged through (no login)."""
    data = c.device().status()
    if data.get("identity_fingerprint") and data.get("state_name") in ("UNINITIALISED", "OPERATIONAL"):
        data["identity_fingerprint"] = c.device().identity().fingerprint  # signed, and checked against the pin
        c.identity_notice()

    def human() -> None:  # aligned lines, not a table a narrow terminal would crop (the fingerprint)
        audit = data.get("audit", {})
        rows = [(key, data.get(key)) for key in ("module", "version", "serial", "identity_fingerprint", "state_name",
                                                 "approved_mode", "boot_counter", "sessions", "keys", "last_error",
                                                 "self_test_ms")]
        for key in ("policy", "used", "capacity", "high_water_permille", "high_water_reached", "next_seq",
                    "oldest_retained", "records_lost", "records_refused", "would_block"):
            if key in audit:
                rows.append((f"audit.{key}", audit[key]))
            if key == "high_water_reached" and "next_seq" in audit:  # the device omits it before the first ack
                rows.append(("audit.acknowledged_through", audit.get("acked_through", "none yet")))
        width = max(len(key) for key, _ in rows)
        for key, value in rows:
            click.echo(f"{key:<{width}}  {human_value(value)}")

    c.emit(data, human)


@click.command()
@pass_ctx
def version(c: Ctx) -> None:
    """The host tools' version and the device's: module, firmware and format versions (no login)."""
    data = {"host_tools": importlib.metadata.version("cmsim"), **c.device().call(Command.GET_VERSION).data}
    c.emit(data)


@click.command()
@pass_ctx
def selftest(c: Ctx) -> None:
    """Run every self-test on demand (no login)."""
    c.emit(c.device().call(Command.SELF_TEST).data)


@click.command()
@click.option("--operator", "officer", help="Name of the first Crypto Officer (or the global --operator).")
@click.option("--factory-password", default=FACTORY_PASSWORD, show_default=True, help="The documented factory credential.")
@pass_ctx
def init(c: Ctx, officer: str | None, factory_password: str) -> None:
    """Initialise: the operator named becomes the first Crypto Officer, with the password from
    CMSIM_PASSWORD (or a prompt); the factory credential is replaced."""
    officer = officer or c.operator
    if not officer:
        raise click.UsageError("give --operator NAME for the first Crypto Officer")
    if c.device().status().get("initialised"):  # else the factory login would only say AUTH_FAILED
        fail(EXIT_DEVICE, "the device is already initialised (its factory credential is gone); log in as its "
                          "Crypto Officer, or zeroise it to start again")
    password = c.secret(f"New password for {officer}", confirm=True)
    with c.device().login(FACTORY_OPERATOR, factory_password) as factory:
        factory.initialise(officer, password)
    c.emit({"initialised": True, "operator": officer, "identity_fingerprint": c.device().identity().fingerprint})


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_session
def zeroise(c: Ctx, s: CommandSession, yes: bool) -> Emit:
    """Overwrite every key, operator and session (Crypto Officer). Irreversible."""
    if not yes:
        click.confirm("Zeroise the module: every key and operator is destroyed. Continue?", abort=True, err=True)
    s.zeroise()
    return Emit({"zeroised": True})


COMMANDS = [status, version, selftest, init, zeroise]
