"""One drift test per table added in the CMVP template's form: a changed declaration changes that
table (so the regenerate-and-compare test in test_security_policy.py can fail), and the facts the
generator keeps itself name things that exist in the code."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from module import ssps
from module.audit.ring import AuditRing, RingMeta
from module.services.catalog import SPECS
from module.wire import frame
from module.wire.defs import AuditEvent, Command, KeyType, SspAccess, State, Status

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "docs" / "security_policy"
TEXT = (POLICY_DIR / "security-policy.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("security_policy_generate_tables", POLICY_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _decl(gen: ModuleType, **changes: Any) -> Any:
    return gen.Declarations(environment=gen.committed_environment(), **changes)


def _ssp(name: str) -> ssps.Ssp:
    return next(s for s in ssps.SSPS if s.name == name)


def _replace_ssp(name: str, **changes: Any) -> tuple[ssps.Ssp, ...]:
    return tuple(dataclasses.replace(s, **changes) if s.name == name else s for s in ssps.SSPS)


def test_a_changed_ssp_changes_its_tables(gen: ModuleType) -> None:
    base = _decl(gen)
    weaker = _decl(gen, ssps=_replace_ssp("AES-256 key", strength="112 bits"))
    assert "112 bits" in gen.ssp_table(weaker) and "112 bits" not in gen.ssp_table(base)
    no_delete = _decl(gen, ssps=_replace_ssp("AES-256 key", zeroisation=(ssps.Z_POWER,)))
    assert gen.ssp_handling(no_delete) != gen.ssp_handling(base)
    exported = _decl(gen, ssps=_replace_ssp("session key-confirmation key", access=(ssps.Access(Command.KEY_EXPORT, SspAccess.R),)))
    row = next(line for line in gen.ssp_access(exported).splitlines() if line.startswith("| session key-confirmation key"))
    assert "`KEY_EXPORT` R (CO, U)" in row
    assert gen.amvp_json_text(exported) != gen.amvp_json_text(base)


def test_a_changed_storage_io_or_zeroisation_declaration_changes_its_table(gen: ModuleType,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    d = _decl(gen)
    for name, attr, render in (("STORAGE_AREAS", "description", gen.storage_areas), ("SSP_IO", "source", gen.ssp_io),
                               ("ZEROISATION_METHODS", "rationale", gen.ssp_zeroisation),
                               ("FLASH_OBJECTS", "holds", gen.flash_objects)):
        before = render(d)
        items = getattr(gen, name)
        monkeypatch.setattr(gen, name, (dataclasses.replace(items[0], **{attr: "changed here"}), *items[1:]))
        assert "changed here" in render(d) and render(d) != before, name


def test_the_acvp_table_follows_the_lab_registration(gen: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _decl(gen)
    # the lab harness's device is in lab mode: its registration has the lab-only hmacDRBG and PBKDF too
    assert gen.acvp_algorithms(d).count("| yes |") == len(gen.acvp_registration(lab=True))
    monkeypatch.setattr(gen, "acvp_registration", lambda **_: [])
    assert "| yes |" not in gen.acvp_algorithms(d)


def test_every_acvp_row_names_a_cast_that_exists(gen: ModuleType) -> None:
    from module.cast import CASTS

    algorithms = {c.algorithm for c in CASTS}
    for entry, _ in gen.acvp_entries():
        assert set(gen.ACVP_CAST[gen._acvp_key(entry)]) <= algorithms, entry
    covered = {a for names in gen.ACVP_CAST.values() for a in names}
    assert covered == algorithms  # every approved algorithm has its ACVP row


def test_non_approved_and_factory_tables_follow_the_catalogue(gen: ModuleType) -> None:
    sign = next(s for s in SPECS if s.command is Command.SIGN)
    specs = tuple(dataclasses.replace(sign, approved=False) if s is sign else s for s in SPECS)
    assert "`SIGN`" in gen.non_approved_not_allowed(_decl(gen, specs=specs))
    assert "`SIGN`" not in gen.non_approved_not_allowed(_decl(gen))
    policy = next(s for s in SPECS if s.command is Command.AUDIT_SET_POLICY)
    widened = tuple(dataclasses.replace(policy, factory_credential=True) if s is policy else s for s in SPECS)
    assert "`AUDIT_SET_POLICY`" not in gen.factory_operator(_decl(gen))
    assert "`AUDIT_SET_POLICY`" in gen.factory_operator(_decl(gen, specs=widened))
    initialise = next(s for s in SPECS if s.command is Command.INITIALISE)
    narrowed = tuple(dataclasses.replace(initialise, states=initialise.states - {State.UNINITIALISED})
                     if s is initialise else s for s in SPECS)
    assert "`INITIALISE`" in gen.factory_operator(_decl(gen))
    assert "`INITIALISE`" not in gen.factory_operator(_decl(gen, specs=narrowed))


def test_what_does_not_apply_is_computed_where_it_can_be(gen: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _decl(gen)
    assert not any("LOAD" in c.name or "FIRMWARE" in c.name for c in Command)
    assert "| software/firmware load | none |" in gen.not_applicable(d)
    monkeypatch.setattr(gen, "_has_software_load", lambda d: True)
    assert "| software/firmware load | present |" in gen.not_applicable(d)
    assert all(m.entry == "Electronic" for m in ssps.SSP_IO)


def test_the_vendor_affirmed_table_names_every_key_type(gen: ModuleType) -> None:
    table = gen.vendor_affirmed(_decl(gen))
    for kt in KeyType:
        assert kt.name in table


def test_the_facts_kept_in_the_generator_name_real_code(gen: ModuleType) -> None:
    """The critical functions, the no-security-claimed uses and the error indicator name what exists."""
    assert "open" in vars(AuditRing) and "_verify_window" in vars(AuditRing)
    assert AuditEvent.AUDIT_TORN_SLOT and AuditEvent.ERROR_ENTERED
    assert "crc32" in inspect.getsource(frame)
    assert "digest()[:16]" in inspect.getsource(RingMeta)
    for status in (Status.MODULE_ERROR, Status.SELF_TEST_FAILED, Status.INTERNAL_ERROR):
        assert f"`{status.name}`" in gen.ERROR_INDICATOR
    assert gen.ERROR_INDICATOR in gen.error_states(_decl(gen))


def test_the_new_sections_are_in_the_policy(gen: ModuleType) -> None:
    for name in ("storage-areas", "ssp-io", "ssp-zeroisation", "ssp-handling", "ssp-access", "acvp-algorithms",
                 "vendor-affirmed", "non-approved-allowed", "no-security-claimed", "non-approved-not-allowed",
                 "not-applicable", "factory-operator", "critical-functions"):
        assert f"<!-- begin: {name} -->" in TEXT and name in gen.SECTIONS, name
    assert "Periodic self-tests (IG 10.3.E)" in TEXT
