"""The README's Python examples run as written (the README cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

from firmware_sim.integrity import DEFAULT_SEAL_PATH, write_seal

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_has_examples() -> None:
    assert python_blocks(README.read_text(encoding="utf-8"))


def test_readme_examples_run() -> None:
    write_seal(DEFAULT_SEAL_PATH)  # what `make seal` (part of `make demo`) does before the example
    for block in python_blocks(README.read_text(encoding="utf-8")):
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})
