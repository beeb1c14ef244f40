"""What a person sees when something is wrong: one line on stderr, the documented exit code (0 ok, 2
usage, 3 device refused, 4 authentication, 5 verification, 6 no device, 7 a file, 130 interrupted),
never a traceback; and a hint that names the real cause."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from host_tools.cli import main
from host_tools.device_process import running_device

FAST = ["--pbkdf2-iterations", "1000"]
CO_PW, ALICE_PW, AUDREY_PW = "s3cret-pass-1", "alice-pass-12", "audrey-pass-1"
DOCUMENTED = {0: "ok", 2: "usage", 3: "device refused", 4: "authentication", 5: "verification", 6: "no device",
              7: "file", 130: "interrupted"}


def cli(port: str | None, *args: str, password: str | None = None, input: bytes | None = None,
        env: dict[str, str] | None = None) -> Result:
    full_env: dict[str, str | None] = {"CMSIM_PORT": port, "CMSIM_PASSWORD": password, "CMSIM_OPERATOR": None}
    full_env.update(env or {})
    return CliRunner().invoke(main, list(args), env=full_env, input=input, catch_exceptions=False)


def one_line_error(r: Result, code: int) -> str:
    """The result failed with exactly ``code``, one line on stderr starting `cmsim:`/`Error:`, no traceback."""
    assert r.exit_code == code, (r.exit_code, r.output)
    assert "Traceback" not in r.output
    err = r.stderr.strip().splitlines()
    assert err, r.output
    last = err[-1]
    assert last.startswith(("cmsim: ", "Error: ")), r.stderr
    if last.startswith("cmsim: "):
        assert len(err) == 1, r.stderr  # usage errors from click carry its two usage lines before
    return last


def test_error_state_from_a_missing_seal_names_the_seal(tmp_path: Path) -> None:
    """After `make test` alone no seal exists: the module stops in HARD_ERROR, and a power cycle does
    not help. The hint says what does."""
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(tmp_path / "no-such.seal")]) as proc:
        r = cli(proc.port, "init", "--operator", "co", password=CO_PW)
        line = one_line_error(r, 3)
        assert "MODULE_ERROR" in line and "integrity seal is missing or stale" in line and "make seal" in line
        assert "power-cycle it" not in line
        r = cli(proc.port, "--operator", "co", "random", "4", password=CO_PW)
        assert "make seal" in one_line_error(r, 3)


def test_error_state_from_a_stale_seal_names_the_seal(tmp_path: Path) -> None:
    stale = tmp_path / "stale.seal"
    stale.write_text("00" * 32 + "\n")  # a seal of some other code
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(stale)]) as proc:
        line = one_line_error(cli(proc.port, "init", "--operator", "co", password=CO_PW), 3)
        assert "integrity seal is missing or stale: run `make seal`" in line
