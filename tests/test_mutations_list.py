"""The mutation list (mutate/mutations.toml, run by `make mutate`) stays current: every entry is well
formed and its snippet is found exactly once in its file, so a code change that stales a mutation
fails here and the list gets updated with it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = tomllib.loads((ROOT / "mutate" / "mutations.toml").read_text())
MUTATIONS = DOC["mutation"]
FIELDS = {"id", "file", "group", "original", "replacement", "bug", "tests"}
GROUPS = {"core", "handshake-rewrite", "audit-rewrite"}


def test_ids_are_unique_and_the_list_is_not_trivial() -> None:
    ids = [m["id"] for m in MUTATIONS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 80


@pytest.mark.parametrize("m", MUTATIONS, ids=[m["id"] for m in MUTATIONS])
def test_entry_is_well_formed_and_applies_once(m: dict[str, object]) -> None:
    assert set(m) <= FIELDS and {"id", "file", "group", "original", "replacement", "bug"} <= set(m)
    assert m["group"] in GROUPS
    assert isinstance(m["bug"], str) and m["bug"].strip()
    original, replacement = m["original"], m["replacement"]
    assert isinstance(original, str) and original and isinstance(replacement, str) and original != replacement
    source = (ROOT / str(m["file"])).read_text()
    assert source.count(original) == 1, f"{m['id']}: refresh its snippet in mutate/mutations.toml"
    mutated = source.replace(original, replacement)
    compile(mutated, str(m["file"]), "exec")  # a mutant that does not even parse tests nothing
    for hint in m.get("tests", []):  # type: ignore[attr-defined]
        assert (ROOT / hint).is_file()


def test_mapped_test_files_exist() -> None:
    for source, tests in DOC["map"].items():
        assert (ROOT / source).is_file(), source
        for name in tests:
            assert (ROOT / name).is_file(), name


def test_equivalent_entries_name_listed_mutations() -> None:
    ids = {m["id"] for m in MUTATIONS}
    assert set(DOC.get("equivalent", {})) <= ids
    for mid, why in DOC.get("equivalent", {}).items():  # one line saying why no test can tell it apart
        assert isinstance(why, str) and why.strip() and "\n" not in why, mid
