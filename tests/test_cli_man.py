"""docs/cmsim.1 is generated from the click commands (docs/man.py, `make man`) and is current:
every command appears in it with its options, and `man` renders it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import click
import pytest

from host_tools.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cmsim.1"


@pytest.fixture(scope="module")
def man() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cmsim_man", ROOT / "docs" / "man.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command, found here through click's own registry (not through docs/man.py)."""
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found += walk(command, (*path, name))
    return found


def test_the_page_is_current(man: ModuleType) -> None:
    assert PAGE.read_text(encoding="utf-8") == man.render(), "run `make man` and commit docs/cmsim.1"
    assert man.main(["--check"]) == 0


def test_every_command_and_option_appears() -> None:
    text = PAGE.read_text(encoding="utf-8")
    commands = walk(cli_main)
    assert len(commands) > 30  # the groups and their commands: status ... audit ... lab run
    for path, command in commands:
        assert f".SS cmsim {' '.join(path)}\n" in text, path
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("json",) and not param.hidden:
                assert param.opts[0].replace("-", "\\-") in text, (path, param.opts)
    for option in ("--quiet", "--verbose", "--json", "--port"):
        assert option.replace("-", "\\-") in text


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_man_renders_it() -> None:
    out = subprocess.run(["man", "-l", str(PAGE)], capture_output=True, text=True, timeout=120,
                         env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat"})
    assert out.returncode == 0 and "cmsim lab run" in out.stdout and "SHELL COMPLETION" in out.stdout
