"""`make demo` runs end to end: the walk-through, the drain and its offline verification."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from host_tools.demo import run_demo
from firmware_sim.integrity import write_seal


def test_demo_runs_and_its_audit_export_verifies(tmp_path: Path) -> None:
    seal = tmp_path / "integrity.seal"
    write_seal(seal)
    out = io.StringIO()
    records = run_demo(tmp_path / "state", Console(file=out, width=400), seal_path=seal)
    text = out.getvalue()
    assert records > 50
    assert "reached UNINITIALISED" in text and "Device started on pty /dev/" in text
    assert "[green]" not in text and ": verified, " in text  # the export verified against the public key
    assert "AUTH_FAILED" in text and "re-verifying the archive: OK" in text
    assert "Tamper evidence" in text and "HASH_MISMATCH" in text
    assert (tmp_path / "state" / "audit.db").exists()
