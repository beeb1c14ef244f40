"""What every command shares: the global options (`Ctx`), output, and `@with_session`, which opens
the device and logs in for a command, so no command repeats that code."""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, Protocol

import click
from rich.console import Console

from host_tools.api import SessionServices
from host_tools.client import OperatorSession
from host_tools.device import Device
from host_tools.known_devices import cmsim_home
from module.wire.defs import Command
from module.wire.messages import Reply

__all__ = [
    "EXIT_DEVICE", "EXIT_AUTH", "EXIT_VERIFY", "EXIT_NO_DEVICE", "EXIT_IDENTITY", "EXIT_UNPROVEN", "FACTORY_OPERATOR", "FACTORY_PASSWORD",
    "Ctx", "pass_ctx", "with_session", "CommandSession", "Output", "Emit", "Binary", "Failure", "fail",
    "state_home", "device_file", "remembered_port", "jsonable", "read_input", "write_output",
    "human_value", "json_option", "indicator_line", "EXIT_USAGE", "EXIT_FILE", "EXIT_INTERRUPTED", "HEX", "INPUT_FILE", "OUTPUT_FILE", "atomic_output",
]

EXIT_USAGE, EXIT_DEVICE, EXIT_AUTH, EXIT_VERIFY, EXIT_NO_DEVICE, EXIT_FILE, EXIT_IDENTITY = 2, 3, 4, 5, 6, 7, 8
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
EXIT_UNPROVEN = 9  # an export verified, but without a nonce: its freshness and tail are unproven
FACTORY_OPERATOR, FACTORY_PASSWORD = "co", "cmsim-factory"


def state_home() -> Path:
    """Where `cmsim device start` remembers its device (CMSIM_HOME, else ~/.cmsim)."""
    return cmsim_home()


def device_file() -> Path:
    return state_home() / "device.json"


def remembered_port() -> str | None:
    path = device_file()
    if not path.exists():
        return None
    return str(json.loads(path.read_text(encoding="utf-8")).get("port") or "") or None


class Failure(Exception):
    """A command gives up with a one-line message and an exit code; the root group prints it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fail(code: int, message: str) -> NoReturn:
    raise Failure(code, message)


def human_value(value: Any) -> str:
    """A value as a person reads it: yes/no, - for nothing, hex for bytes, names for enums; never a
    Python repr such as True or None."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == "":
        return "-"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable(value), sort_keys=True)
    return str(jsonable(value))


def jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "value"):  # enums
        return value.name
    return value


@dataclass
class Ctx:
    port: str | None
    as_json: bool
    operator: str | None
    password: str | None
    timeout: float
    expect_fingerprint: str | None = None
    quiet: bool = False  # -q: only the data and errors; no notices, indicator line or progress on stderr
    console: Console = field(default_factory=lambda: Console(highlight=False))
    _device: Device | None = None
    # The approved-service indicator of each service a command called, in order (not the login's own calls).
    indicator: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tty(self) -> bool:
        return sys.stdout.isatty() and not self.as_json

    def emit(self, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
        """One JSON document with --json; otherwise the human rendering (or key: value lines). The
        approved-service indicator of the services the command called goes with it: under "indicator"
        in the JSON, and as an "approved-service indicator:" line on stderr (not with -q), so it
        never mixes with data on stdout."""
        if self.as_json:
            click.echo(json.dumps(jsonable({**data, "indicator": self.indicator} if self.indicator else data),
                                  sort_keys=True))
            return
        if human is not None:
            human()
        else:
            for key, value in data.items():
                click.echo(f"{key}: {human_value(value)}")
        if self.indicator:
            self.note(indicator_line(self.indicator))

    def note(self, message: str) -> None:
        """A line for the person on stderr (what was written where, a first contact, the indicator);
        none with -q or --json, whose stdout carries the whole answer."""
        if not self.quiet and not self.as_json:
            click.echo(message, err=True)

    @contextmanager
    def progress(self, what: str, unit: str = "records") -> Iterator[Callable[[int, int], None]]:
        """A progress bar with rate and ETA on a terminal's stderr; a no-op otherwise (and with --json)."""
        if self.as_json or self.quiet or not sys.stderr.isatty():
            yield lambda done, total: None
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
        from rich.progress import TimeRemainingColumn
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                return Text(f"{task.speed:,.0f} {unit}/s" if task.speed else "")

        columns = (TextColumn(what), BarColumn(), TaskProgressColumn(), Rate(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(what, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)

    def device(self) -> Device:
        if self._device is None:
            port = self.port or remembered_port()
            if not port:
                fail(EXIT_NO_DEVICE, "no device: give --port (or CMSIM_PORT), or run `cmsim device start`")
            opened = _IndicatedDevice.open(port, timeout=self.timeout, expect_fingerprint=self.expect_fingerprint)
            assert isinstance(opened, _IndicatedDevice)  # Device.open makes its class
            opened.indicator = self.indicator
            self._device = opened
        return self._device

    def identity_notice(self) -> None:
        """The visible notice of a first contact: the fingerprint just pinned, on stderr (not with -q)."""
        ident = self.device().identity()
        if ident.newly_pinned and not self.quiet:
            click.echo(f"cmsim: pinned device {ident.serial} with identity fingerprint {ident.fingerprint} "
                       f"in {self.device().known_devices.path}", err=True)

    def close(self) -> None:
        if self._device is not None:
            self._device.close()
            self._device = None

    def secret(self, prompt: str = "Password", confirm: bool = False) -> str:
        """The login password: --password-file, else CMSIM_PASSWORD, else a prompt without echo."""
        if self.password is not None:
            return self.password
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))

    def require_operator(self) -> str:
        if not self.operator:
            raise click.UsageError("this command needs a login: give --operator (and CMSIM_PASSWORD)")
        return self.operator

    @contextmanager
    def session(self) -> Iterator[OperatorSession]:
        """Log in as --operator on the device; logged out when the block ends."""
        operator = self.require_operator()
        with self.device().login(operator, self.secret(f"Password for {operator}")) as s:
            self.identity_notice()
            yield s


pass_ctx = click.make_pass_decorator(Ctx)

# The calls a login, a logout and the identity pin make for any command: not services the command named.
_SESSION_PLUMBING = frozenset({Command.IDENTITY, Command.AUTH_BEGIN, Command.AUTH_FINISH, Command.LOGOUT})


class _IndicatedDevice(Device):
    """A device that notes the approved-service indicator of every answered service a command called,
    with or without a session (status, version and selftest too)."""

    indicator: list[dict[str, Any]]

    def call(self, command: Command, params: Mapping[str, Any] | None = None, session_id: int = 0) -> Reply:
        reply = super().call(command, params, session_id)
        if command not in _SESSION_PLUMBING:
            self.indicator.append({"service": command.name, "approved": reply.approved})
        return reply


def indicator_line(indicator: list[dict[str, Any]]) -> str:
    """The human form of the indicator: each service called, approved or NOT APPROVED."""
    runs: list[tuple[str, int]] = []  # a service called again and again (key list) is said once, with a count
    for i in indicator:
        text = f"{i['service']} {'approved' if i['approved'] else 'NOT APPROVED'}"
        if runs and runs[-1][0] == text:
            runs[-1] = (text, runs[-1][1] + 1)
        else:
            runs.append((text, 1))
    return "approved-service indicator: " + ", ".join(text + (f" (x{n})" if n > 1 else "") for text, n in runs)


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        c = ctx.find_object(Ctx)
        if c is not None:
            c.as_json = True


def json_option() -> click.Option:
    """``--json`` for a group or command below the root, so it may come after the subcommand too
    (`cmsim key list --json`); it sets the same flag as the global one."""
    return click.Option(["--json"], is_flag=True, expose_value=False, callback=_set_json,
                        help="Machine output: one JSON document (as the global --json).")


class Output(Protocol):
    """What a command prints once its session is closed (the logout comes first)."""

    def show(self, c: Ctx) -> None: ...


@dataclass(frozen=True)
class Emit:
    """``Ctx.emit`` of this data, then exit with ``exit_code`` when it is not 0 (e.g. a bad signature)."""

    data: dict[str, Any]
    human: Callable[[], None] | None = None
    exit_code: int = 0

    def show(self, c: Ctx) -> None:
        c.emit(self.data, self.human)
        if self.exit_code:
            sys.exit(self.exit_code)


@dataclass(frozen=True)
class Binary:
    """Binary output, as :func:`write_output` writes it."""

    path: str
    data: bytes
    key: str

    def show(self, c: Ctx) -> None:
        write_output(c, self.path, self.data, self.key)


class CommandSession(SessionServices):
    """A command's session, logged in when the command first names a service on it: the prompts, input
    checks and reads a command does before then keep their order, a command that returns early never
    logs in, and a service's arguments are computed after the login, as inside a ``with`` block."""

    def __init__(self, c: Ctx, stack: ExitStack) -> None:
        self._c = c
        self._stack = stack
        self._session: OperatorSession | None = None

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_"):  # a service (or open/call): log in before its arguments are computed
            object.__getattribute__(self, "_login")()
        return object.__getattribute__(self, name)

    def _login(self) -> OperatorSession:
        if self._session is None:
            self._session = self._stack.enter_context(self._c.session())
        return self._session

    def open(self) -> OperatorSession:
        """The logged-in session itself (for an API that takes one)."""
        return self._login()

    def call(self, command: Command, params: Mapping[str, Any] | None = None) -> Reply:
        return self._login().call(command, params)  # the device notes its indicator


def with_session(func: Callable[..., Output | None]) -> Callable[..., None]:
    """Opens the device and logs in for a command (trezorlib's ``@with_client``): the command takes
    ``(c, s, **options)``, logs in at its first call on ``s``, and returns what to print after the logout."""

    @pass_ctx
    @functools.wraps(func)
    def command(c: Ctx, /, *args: Any, **options: Any) -> None:
        c.require_operator()  # before any prompt (a new password asked twice) or output
        with ExitStack() as stack:
            out = func(c, CommandSession(c, stack), *args, **options)
        if out is not None:
            out.show(c)

    return command


class _Hex(click.ParamType):
    """Bytes given as hex on the command line; anything else is a usage error, not a traceback."""

    name = "hex"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bytes:
        if isinstance(value, bytes):
            return value
        try:
            return bytes.fromhex(str(value))
        except ValueError:
            self.fail(f"{value!r} is not hex (pairs of 0-9 a-f)", param, ctx)


class _InputFile(click.ParamType):
    """A file to read (or - for stdin), checked when the command line is parsed: exit 7 otherwise."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        path = str(value)
        if path == "-":
            return path
        p = Path(path)
        if not p.exists():
            fail(EXIT_FILE, f"{path}: no such file")
        if p.is_dir():
            fail(EXIT_FILE, f"{path}: is a directory, not a file")
        if not os.access(p, os.R_OK):
            fail(EXIT_FILE, f"{path}: not readable (permission denied)")
        return path


class _OutputFile(click.ParamType):
    """A file to write (or - for stdout), checked when the command line is parsed, so a command that
    cannot write its output fails before it asks the device for anything (exit 7)."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        path = str(value)
        if path == "-":
            return path
        p = Path(path)
        if p.is_dir():
            fail(EXIT_FILE, f"{path}: is a directory, not a file")
        parent = p.parent
        if not parent.is_dir():
            fail(EXIT_FILE, f"{path}: no such directory {parent}")
        if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
            fail(EXIT_FILE, f"{path}: not writable (permission denied)")
        return path


HEX, INPUT_FILE, OUTPUT_FILE = _Hex(), _InputFile(), _OutputFile()


@contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A file written under a temporary name beside ``path`` and renamed onto it only when the block
    ends normally: an error or a Ctrl-C leaves no half-written output (and an older file intact)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def read_input(path: str, limit: int | None = None, what: str = "input") -> bytes:
    """Binary input from a file, or stdin for -. With ``limit``, more than that many bytes is refused
    here (exit 7), before the device is asked anything, so nothing reaches it or its audit trail."""
    if path != "-":
        if limit is not None and (size := Path(path).stat().st_size) > limit:
            fail(EXIT_FILE, _too_large(f"{path}: {size:,} bytes,", limit, what))
        return Path(path).read_bytes()
    data = sys.stdin.buffer.read() if limit is None else sys.stdin.buffer.read(limit + 1)
    if limit is not None and len(data) > limit:
        fail(EXIT_FILE, _too_large("stdin:", limit, what))
    return data


def _too_large(where: str, limit: int, what: str) -> str:
    return (f"{where} more than the {limit:,} bytes {what} takes (the module's 64 KiB parameter limit; "
            "nothing is sent in parts); nothing was sent to the device")


def write_output(c: Ctx, path: str, data: bytes, key: str) -> None:
    """Binary output to a file or stdout; with --json, hex inside the JSON document instead of stdout."""
    if path != "-":
        with atomic_output(path) as f:
            f.write(data)
        c.emit({key: len(data), "out": path}, lambda: c.note(f"{len(data)} bytes -> {path}"))
    elif c.as_json:
        c.emit({key: data})
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        if c.indicator:
            c.note(indicator_line(c.indicator))
