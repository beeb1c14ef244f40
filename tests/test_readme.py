"""The README's Python examples run as written (the README cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import pytest
from firmware_sim.integrity import DEFAULT_SEAL_PATH, write_seal

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_examples() -> None:
    assert python_blocks(README.read_text(encoding="utf-8"))


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example runs, and leaves what its text promises: a signature that verifies, a drain
    whose export verified and was acknowledged."""
    write_seal(DEFAULT_SEAL_PATH)  # what `make seal` (part of `make demo`) does before the example
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) == 2
    outcomes = []
    for i, block in enumerate(blocks):
        # Each example makes a new device under the default serial: a reader runs one at a time.
        monkeypatch.setenv("CMSIM_HOME", str(tmp_path / f"home-{i}"))
        names: dict[str, Any] = {"__name__": "readme_example"}
        exec(compile(block, str(README), "exec"), names)
        outcomes.append(names)
    signed, drained = outcomes
    signature = signed["signature"]
    assert len(signature) == 64  # ECDSA P-256: r || s
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), signed["key"].public_key)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    public.verify(der, b"release 1.0", ec.ECDSA(hashes.SHA256()))  # checked by pyca, not by the device
    result = drained["result"]
    assert result.verify.ok and result.acknowledged and result.records > 0
    assert drained["module"].trail.status().oldest_retained == result.verify.verified_through + 1


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
           "CMSIM_HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path)}  # the block cds to a mktemp dir
    for name in ("CMSIM_PORT", "CMSIM_PASSWORD", "CMSIM_OPERATOR"):
        env.pop(name, None)
    import signal

    for block in blocks:
        # Its own process group, so a device the script started cannot outlive a failed run.
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block], cwd=README.parent, env=env, text=True,
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
    (work,) = [d for d in tmp_path.iterdir() if d.name.startswith("tmp.")]  # where `cd "$(mktemp -d)"` went
    assert (work / "release.sig").stat().st_size > 0 and (work / "audit.db").stat().st_size > 0
    # "cmsim audit verify ... --nonce  # offline; exit 0 valid, 5 and the reason otherwise": the block ran
    # it under `bash -e` with its nonce (exit 0); without the nonce the same file is only UNPROVEN (9),
    # and one changed bit fails it (5).
    verify = ["cmsim", "audit", "verify", "trail.jsonl", "--pubkey", "audit.pub"]
    unproven = subprocess.run(verify, cwd=work, env=env, capture_output=True, text=True)
    assert unproven.returncode == 9 and "UNPROVEN" in unproven.stdout, unproven.stdout + unproven.stderr
    trail = bytearray((work / "trail.jsonl").read_bytes())
    lines = bytes(trail).split(b"\n")
    spot = len(b"\n".join(lines[:2])) + 1 + lines[2].index(b'"') + 1  # a key name's first letter, line 3
    trail[spot] ^= 0x01  # one bit: still ASCII, still one line
    (work / "trail.jsonl").write_bytes(bytes(trail))
    tampered = subprocess.run(verify, cwd=work, env=env, capture_output=True, text=True)
    assert tampered.returncode == 5, tampered.stdout + tampered.stderr
    assert tampered.stdout + tampered.stderr  # and the reason
