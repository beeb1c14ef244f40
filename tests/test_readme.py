"""The README's Python examples run as written (the README cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_sim.integrity import DEFAULT_SEAL_PATH, write_seal

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_examples() -> None:
    assert python_blocks(README.read_text(encoding="utf-8"))


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_seal(DEFAULT_SEAL_PATH)  # what `make seal` (part of `make demo`) does before the example
    for i, block in enumerate(python_blocks(README.read_text(encoding="utf-8"))):
        # Each example makes a new device under the default serial: a reader runs one at a time.
        monkeypatch.setenv("CMSIM_HOME", str(tmp_path / f"home-{i}"))
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})


def shell_blocks(text: str) -> list[str]:
    """The ```sh blocks marked <!-- test: sh --> (the quick start's `make` lines are not run here)."""
    return re.findall(r"<!-- test: sh -->\n```sh\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_shell_examples_run(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    write_seal(DEFAULT_SEAL_PATH)
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    assert blocks
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "CMSIM_HOME": str(tmp_path / "home")}
    for name in ("CMSIM_PORT", "CMSIM_PASSWORD", "CMSIM_OPERATOR"):
        env.pop(name, None)
    import signal

    for block in blocks:
        # Its own process group, so a device the script started cannot outlive a failed run.
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        assert proc.returncode == 0, out + err
        assert "SIGN OK" in out and '"state_name": "OPERATIONAL"' in out
