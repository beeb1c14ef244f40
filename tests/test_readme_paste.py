"""The README as a person meets it: its shell block pasted into a new `bash` in the checkout, with a
PATH that does not hold the project's virtualenv (only the block's own first line activates it), no
CMSIM_* variables, a fresh HOME and CMSIM_HOME; its Python blocks run by the interpreter the README
names, `.venv/bin/python`, from a scratch directory. `make seal` is reproduced first, as the README
asks (`make demo` seals)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from firmware_sim.integrity import DEFAULT_SEAL_PATH, write_seal

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"  # the interpreter the README names
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _shell_block() -> str:
    blocks = re.findall(r"<!-- test: sh -->\n```sh\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(blocks) == 1
    return str(blocks[0])


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def _fresh_env(tmp: Path) -> dict[str, str]:
    """What a new login shell has: a system PATH, a HOME; nothing of this project, no CMSIM_*."""
    home = tmp / "user-home"
    home.mkdir()
    return {"PATH": SYSTEM_PATH, "HOME": str(home), "CMSIM_HOME": str(tmp / "cmsim-home"), "TMPDIR": str(tmp),
            "LANG": "C.UTF-8"}


def _paste(script: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`bash` reading the lines from stdin, as a terminal would feed them (no -e, no -u)."""
    proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-s"], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own group, so a device it started cannot outlive it
    try:
        out, err = proc.communicate(script, timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_fresh_path_has_no_cmsim(tmp_path: Path) -> None:
    """The premise: without the block's activation, nothing of the project is on PATH."""
    result = _paste("command -v cmsim || echo absent\n", _fresh_env(tmp_path))
    assert result.stdout.strip() == "absent"


def test_shell_block_as_pasted(tmp_path: Path) -> None:
    write_seal(DEFAULT_SEAL_PATH)  # what `make seal` does (part of `make demo`)
    result = _paste(_shell_block(), _fresh_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "command not found" not in result.stderr
    assert "Traceback" not in result.stderr
    scratch = [p for p in tmp_path.iterdir() if p.name.startswith("tmp.")]
    assert len(scratch) == 1  # the block's mktemp -d: its files go there, not into the checkout
    made = {p.name for p in scratch[0].iterdir()}
    assert {"state", "port.txt", "release.sig", "audit.pub", "trail.jsonl", "audit.db"} <= made
    for name in ("release.sig", "audit.pub", "trail.jsonl", "audit.db"):
        assert (scratch[0] / name).stat().st_size > 0, name
    assert (scratch[0] / "port.txt").read_text().startswith("/dev/")
    assert '"state_name": "OPERATIONAL"' in result.stdout
    assert not (ROOT / "port.txt").exists()


def test_wait_loop_notices_a_dead_device(tmp_path: Path) -> None:
    """A device that cannot start (its state path lies under a file) ends the wait loop; the block
    then runs to its end with errors instead of hanging."""
    write_seal(DEFAULT_SEAL_PATH)
    block = _shell_block()
    assert '--state "$PWD/state"' in block
    result = _paste(block.replace('--state "$PWD/state"', "--state /dev/null/state"), _fresh_env(tmp_path),
                    timeout=120)
    assert result.returncode != 0
    assert "no device" in result.stderr


def test_python_blocks_with_the_named_interpreter(tmp_path: Path) -> None:
    write_seal(DEFAULT_SEAL_PATH)
    assert VENV_PYTHON.exists(), "make test / make demo create .venv"
    blocks = _python_blocks()
    assert len(blocks) >= 2
    env = _fresh_env(tmp_path)
    for i, block in enumerate(blocks):
        script = tmp_path / f"example_{i}.py"
        script.write_text(block, encoding="utf-8")
        result = subprocess.run([str(VENV_PYTHON), str(script)], cwd=tmp_path, env=env, text=True,
                                capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr
