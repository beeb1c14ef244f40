"""`cmsim operator`: operators (Crypto Officer)."""

from __future__ import annotations

import os

import click
from rich.table import Table

from host_tools.audit_formats import cell
from host_tools.cli.context import CommandSession, Ctx, Emit, with_session
from host_tools.cli.names import ROLES

__all__ = ["COMMANDS", "operator"]


@click.group()
def operator() -> None:
    """Operators (Crypto Officer)."""


def _new_password(name: str, env: str | None) -> str:
    """A new operator password: from the named environment variable, or prompted twice without echo."""
    if env:
        if env not in os.environ:
            raise click.UsageError(f"environment variable {env} is not set")
        return os.environ[env]
    return str(click.prompt(f"New password for {name}", hide_input=True, confirmation_prompt=True, err=True))


@operator.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(sorted(ROLES)), required=True)
@click.option("--password-env", metavar="VAR", help="Read the new operator's password from this variable.")
@with_session
def operator_add(c: Ctx, s: CommandSession, name: str, role: str, password_env: str | None) -> Emit:
    new_password = _new_password(name, password_env)
    s.create_operator(name, ROLES[role], new_password)
    return Emit({"operator": name, "role": ROLES[role].name})


@operator.command("list")
@with_session
def operator_list(c: Ctx, s: CommandSession) -> Emit:
    ops = s.list_operators()

    def human() -> None:
        table = Table("operator", "role", "locked", "failures")
        for o in ops:
            table.add_row(cell(o.operator), o.role.name, "yes" if o.locked else "no", str(o.failures))
        c.console.print(table)

    return Emit({"operators": [o.__dict__ for o in ops]}, human)


@operator.command("delete")
@click.argument("name")
@with_session
def operator_delete(c: Ctx, s: CommandSession, name: str) -> Emit:
    s.delete_operator(name)
    return Emit({"deleted": name})


@operator.command("unlock")
@click.argument("name")
@with_session
def operator_unlock(c: Ctx, s: CommandSession, name: str) -> Emit:
    """Clear NAME's lockout after too many failed logins (Crypto Officer)."""
    s.unlock_operator(name)
    return Emit({"unlocked": name}, lambda: click.echo(f"operator {name} unlocked"))


@operator.command("passwd")
@click.argument("name", required=False)
@click.option("--password-env", metavar="VAR", help="Read the new password from this variable.")
@with_session
def operator_passwd(c: Ctx, s: CommandSession, name: str | None, password_env: str | None) -> Emit:
    """Change your own password, or NAME's (Crypto Officer)."""
    own = name is None or name == c.operator
    current = c.secret(f"Current password for {c.operator}") if own else None
    new_password = _new_password(name or c.operator or "", password_env)
    s.change_password(new_password, operator=name, current_password=current)
    return Emit({"changed": name or c.operator})


COMMANDS = [operator]
