"""docs/security_policy/ cannot drift from the code.

- The generated tables and the JSON document are regenerated and compared with the committed
  files; a changed declaration (a service's roles, a transition, a CAST, the login policy)
  changes them, so the comparison can fail.
- Every service, status code, state, transition, self-test, role, key type, SSP and audit event
  appears in the tables and in the JSON.
- Every figure in the prose is either generated or checked here against the code.
- The worked examples (```pycon blocks, run with the standard library's doctest) run in document
  order against a freshly started device on a pty.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from audit_view import sink_of
from conftest import ModuleFactory
from firmware_sim.entropy import DEFAULT_MIN_ENTROPY
from firmware_sim.integrity import write_seal
from host_tools.device_process import running_device
from module import fsm
from module.cast import CASTS, Cast
from module.core import ModuleConfig
from module.entropy import ALPHA_LOG2, APT_WINDOW_NON_BINARY, apt_cutoff, rct_cutoff
from module.fsm import TRANSITIONS, Trigger
from module.operators import AuthPolicy
from module.selftests import INTEGRITY_CAST
from module.services.catalog import SPECS
from module.wire.defs import AuditEvent, Command, DigestAlg, KdfAlg, KeyType, Role, State, Status

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "docs" / "security_policy"
DOC = POLICY_DIR / "security-policy.md"
JSON_DOC = POLICY_DIR / "security-policy.json"
AMVP_DOC = POLICY_DIR / "security-policy.amvp.json"
FAST = ["--pbkdf2-iterations", "1000"]  # the examples' logins; the policy itself states the default


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    """docs/security_policy/generate.py, loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("security_policy_generate", POLICY_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the file executes
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(JSON_DOC.read_text(encoding="utf-8"))
    return doc


def section(text: str, name: str) -> str:
    match = re.search(rf"<!-- begin: {re.escape(name)} -->\n(.*?)<!-- end: {re.escape(name)} -->", text, re.S)
    assert match, f"no generated section {name!r}"
    return match.group(1)


def first_cells(table: str) -> list[str]:
    """The first column of a Markdown table's body rows."""
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    return [row.split(" | ")[0].removeprefix("| ").strip() for row in rows]


def column(table: str, index: int) -> list[str]:
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    return [row.strip("| ").split(" | ")[index].strip() for row in rows]


# --------------------------------------------------------------------------- regeneration
def recorded(gen: ModuleType) -> Any:
    """The declarations as now, with the versions the committed policy recorded: the normaliser that
    lets a machine with other interpreter or OpenSSL builds regenerate and compare."""
    env = gen.committed_environment()
    assert env is not None, "the committed JSON records no environment: run `make docs`"
    return gen.Declarations(environment=env)


def test_generated_sections_match_the_code(gen: ModuleType, text: str) -> None:
    assert gen.render(text, recorded(gen)) == text, "run `make docs` (python docs/security_policy/generate.py) and commit"


def test_json_matches_the_code(gen: ModuleType) -> None:
    assert JSON_DOC.read_text(encoding="utf-8") == gen.policy_json_text(recorded(gen)), "run `make docs` and commit"


def test_amvp_json_matches_the_code(gen: ModuleType) -> None:
    assert AMVP_DOC.read_text(encoding="utf-8") == gen.amvp_json_text(recorded(gen)), "run `make docs` and commit"


def test_the_recorded_environment_is_complete_and_well_formed(gen: ModuleType, text: str) -> None:
    """Versions are compared by presence and format only: CI may run other patch releases."""
    env, measured = gen.committed_environment(), gen.measured_environment()
    assert env is not None and set(env) == set(measured)
    for key in ("python", "cryptography", "cryptography_openssl", "hashlib_openssl"):
        assert gen.VERSION_FORMAT.match(env[key]), (key, env[key])
        assert gen.VERSION_FORMAT.match(measured[key]), (key, measured[key])
    table = section(text, "operational-environment")
    assert f"| {env['python_implementation']} {env['python']} |" in table
    assert f"| {env['cryptography']} |" in table and f"| {env['hashlib_openssl']} |" in table
    from firmware_sim.integrity import PackageCodeImage
    from module.version import FIRMWARE_VERSION

    assert f"`{FIRMWARE_VERSION}`" in table
    assert "version.py" in {Path(name).name for name, _ in PackageCodeImage().files()}  # the seal covers it


def test_a_changed_environment_changes_only_its_rows(gen: ModuleType, text: str) -> None:
    env = dict(gen.committed_environment())
    env["cryptography_openssl"] = "9.9.9"
    rendered = gen.render(text, gen.Declarations(environment=env))
    assert "| 9.9.9 |" in section(rendered, "operational-environment")
    assert rendered.replace("9.9.9", gen.committed_environment()["cryptography_openssl"]) == text


def test_generator_runs_from_the_repo_root() -> None:
    """As `make docs` runs it: a script, the repository found from its own path; --check writes nothing."""
    done = subprocess.run([sys.executable, "docs/security_policy/generate.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_marker_has_a_generator(gen: ModuleType, text: str) -> None:
    markers = re.findall(r"^<!-- begin: ([\w-]+) -->$", text, re.M)
    assert sorted(markers) == sorted(gen.SECTIONS) and len(markers) == len(set(markers))
    assert re.findall(r"^<!-- end: ([\w-]+) -->$", text, re.M) == markers


# --------------------------------------------------------------------------- drift can fail
def _spec(command: Command) -> Any:
    return next(s for s in SPECS if s.command is command)


def test_a_changed_service_declaration_changes_the_policy(gen: ModuleType, text: str) -> None:
    """The drift test can fail: KEY_GENERATE for the Crypto Officer only changes its rows and the JSON."""
    changed = dataclasses.replace(_spec(Command.KEY_GENERATE), roles=frozenset({Role.CRYPTO_OFFICER}))
    specs = tuple(changed if s.command is Command.KEY_GENERATE else s for s in SPECS)
    decl = gen.Declarations(specs=specs)
    rendered = gen.render(text, decl)
    assert rendered != text
    row = next(line for line in section(rendered, "services").splitlines() if "`KEY_GENERATE`" in line)
    assert "| Crypto Officer |" in row
    user_row = next(line for line in section(rendered, "roles").splitlines() if line.startswith("| User |"))
    assert "`KEY_GENERATE`" not in user_row
    assert gen.policy_json_text(decl) != JSON_DOC.read_text(encoding="utf-8")


def test_a_changed_ssp_access_or_approval_changes_the_policy(gen: ModuleType, text: str) -> None:
    from module.services.registry import SspUse
    from module.wire.defs import SspAccess

    sign = dataclasses.replace(_spec(Command.SIGN), approved=False,
                               ssps=(SspUse("stored keys", SspAccess.E | SspAccess.R),))
    rendered = gen.render(text, gen.Declarations(specs=tuple(sign if s.command is Command.SIGN else s for s in SPECS)))
    row = next(line for line in section(rendered, "services").splitlines() if "`SIGN`" in line)
    assert "| no |" in row and "stored keys (RE)" in row
    assert "`SIGN`" in section(rendered, "non-approved-services")


def test_a_changed_transition_changes_the_policy(gen: ModuleType, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(TRANSITIONS)
    del table[(State.HARD_ERROR, Trigger.ZEROISE)]
    monkeypatch.setattr(fsm, "TRANSITIONS", table)  # module.fsm.mermaid_diagram reads it
    rendered = gen.render(text, gen.Declarations(transitions=table))
    assert "HARD_ERROR --> ZEROISED" not in section(rendered, "state-diagram")
    assert "| `HARD_ERROR` | `ZEROISE` |" not in section(rendered, "transitions")
    assert "HARD_ERROR --> ZEROISED" in section(text, "state-diagram")


def test_a_changed_cast_or_login_policy_changes_the_policy(gen: ModuleType, text: str) -> None:
    casts = (*CASTS[:-1], Cast("PBKDF2-HMAC-SHA-256", "PBKDF2 HMAC-SHA2-256", "derive", "SP 800-132 (changed)"))
    assert "SP 800-132 (changed)" in section(gen.render(text, gen.Declarations(casts=casts)), "casts")
    weak = ModuleConfig(auth=AuthPolicy(min_password_length=3, lockout_threshold=1000))
    strength = section(gen.render(text, gen.Declarations(config=weak)), "auth-strength")
    assert "NOT MET" in strength and "NOT MET" not in section(text, "auth-strength")


# --------------------------------------------------------------------------- completeness
def test_sections_follow_sp_800_140b(gen: ModuleType, text: str) -> None:
    headings = re.findall(r"^## (\d+)\. (.+)$", text, re.M)
    assert headings == [(str(n), title) for n, title in enumerate(gen.SP800_140B_SECTIONS, 1)]


def test_cross_references_name_existing_sections(text: str) -> None:
    numbers = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M))
    for ref in re.findall(r"\b[Ss]ections?\s+(\d+(?:\.\d+)?)", prose(text)):
        assert ref in numbers, f"section {ref} is referred to but does not exist"


def test_links_resolve(text: str) -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in target:
            assert (POLICY_DIR / target).exists(), target


def test_named_cli_commands_exist(text: str) -> None:
    from host_tools.cli import main
    from host_tools.cli.audit import audit

    named = re.findall(r"`cmsim (\w+) (\w+)`", text)
    assert named
    for group, command in named:
        assert main.commands[group] is audit and command in audit.commands, f"cmsim {group} {command}"


def test_the_policy_says_it_is_a_simulation(gen: ModuleType, text: str, policy: dict[str, Any]) -> None:
    assert "It is not a validated cryptographic module" in " ".join(text[:400].split())
    assert policy["module"]["simulation"] is True and policy["module"]["validated"] is False
    levels = section(text, "security-levels")
    assert levels.count("none claimed") == len(gen.SP800_140B_SECTIONS)


def test_every_service_appears(text: str, policy: dict[str, Any]) -> None:
    for name in ("services", "service-states", "service-inputs"):
        assert {c.strip("`") for c in column(section(text, name), 1 if name == "services" else 0)} == {
            c.name for c in Command}, name
    assert [s["command"] for s in policy["services"]] == [c.name for c in sorted(Command, key=int)]
    assert column(section(text, "non-approved-services"), 1) == [
        f"`{s.command.name}`" for s in sorted(SPECS, key=lambda s: int(s.command))
        if not s.approved or s.not_approved_when]  # whole services, and services with calls not approved


def test_every_status_code_appears(text: str, policy: dict[str, Any]) -> None:
    assert column(section(text, "status-codes"), 1) == [f"`{s.name}`" for s in Status]
    assert [s["name"] for s in policy["status_codes"]] == [s.name for s in Status]


def test_every_state_and_transition_appears(text: str, policy: dict[str, Any]) -> None:
    assert column(section(text, "states"), 1) == [f"`{s.name}`" for s in State]
    rows = section(text, "transitions")
    for (src, trig), dst in TRANSITIONS.items():
        assert f"| `{src.name}` | `{trig.name}` | `{dst.name}` |" in rows
        assert f"{src.name} --> {dst.name}: {trig.name}" in section(text, "state-diagram")
    assert len(policy["transitions"]) == len(TRANSITIONS)
    assert {e["state"] for e in policy["error_states"]} == {s.name for s in fsm.ERROR_STATES}
    assert [s["name"] for s in policy["states"]] == [s.name for s in State]


def test_every_self_test_appears(text: str, policy: dict[str, Any]) -> None:
    assert column(section(text, "casts"), 1) == [c.name for c in CASTS]
    casts = [t for t in policy["self_tests"]["conditional"] if t.get("type") == "CAST" and "algorithm" in t]
    assert [t["name"] for t in casts] == [c.name for c in CASTS]
    assert all(t["known_answer_source"] for t in casts)
    overview = first_cells(section(text, "self-tests"))
    for name in ("software integrity", "entropy start-up", "HMAC_DRBG health test", f"algorithm CASTs ({len(CASTS)})",
                 "pairwise consistency test", "Repetition Count Test", "Adaptive Proportion Test"):
        assert name in overview


def test_every_role_key_type_event_and_ssp_appears(gen: ModuleType, text: str, policy: dict[str, Any]) -> None:
    assert first_cells(section(text, "roles")) == [gen.ROLE_LABEL[r] for r in Role]
    assert [r["role"] for r in policy["roles"]] == [r.name for r in Role]
    assert column(section(text, "key-types"), 1) == [f"`{k.name}`" for k in KeyType]
    assert column(section(text, "audit-events"), 1) == [f"`{e.name}`" for e in AuditEvent]
    assert [e["name"] for e in policy["audit"]["events"]] == [e.name for e in AuditEvent]
    from module.ssps import SSPS

    names = [gen._pending(s) for s in SSPS]
    for table in ("ssps", "ssp-handling", "ssp-access"):
        assert first_cells(section(text, table)) == names, table
    assert [s["name"] for s in policy["ssps"]] == [s.name for s in SSPS]
    assert {s["catalogue_group"] for s in policy["ssps"]} - {""} == {use.ssp for s in SPECS for use in s.ssps}


def test_described_facts_cover_the_declarations(gen: ModuleType) -> None:
    """The few facts the generator keeps itself fail here when a declaration gains a member."""
    assert set(gen.ALGORITHMS) == {c.algorithm for c in CASTS}
    assert set(gen.KEY_TYPE_ALGORITHM) == set(KeyType) and set(gen.ROLE_DUTIES) == set(Role)
    named = {c for info in gen.ALGORITHMS.values() for c in info.services}
    crypto = {s.command for s in SPECS if s.approved and s.ssps and s.audit_category.name in ("CRYPTOGRAPHIC",)}
    assert crypto - {Command.RANDOM} <= named  # RANDOM is the DRBG's row
    assert {Command.DIGEST, Command.DERIVE} <= named  # one row per DigestAlg / KdfAlg member below
    algorithms = " ".join(gen.ALGORITHMS)
    for alg in DigestAlg:
        assert alg.name.replace("_", "-") in algorithms, alg
    assert "HKDF" in algorithms and "SP 800-108" in algorithms and len(KdfAlg) == 2


def test_entropy_figures_match_the_simulated_source(text: str) -> None:
    table = section(text, "entropy")
    assert f"| {DEFAULT_MIN_ENTROPY:g} bits per sample |" in table
    assert f"| {rct_cutoff(DEFAULT_MIN_ENTROPY)} (1 + ceil({ALPHA_LOG2} / H)) |" in table
    assert f"cut-off {apt_cutoff(DEFAULT_MIN_ENTROPY)} in a window of {APT_WINDOW_NON_BINARY} samples" in table


def test_login_strength_meets_the_fips_bounds(gen: ModuleType, text: str) -> None:
    policy = ModuleConfig().auth
    assert policy.guess_probability_per_attempt() < gen.FIPS_BOUND_PER_ATTEMPT
    assert policy.guess_probability_per_minute() < gen.FIPS_BOUND_PER_MINUTE
    assert section(text, "auth-strength").count(": met)") == 2


def test_self_tests_run_in_the_documented_order(make_module: ModuleFactory, text: str) -> None:
    """Section 10 says: the HMAC-SHA-256 CAST on hashlib, integrity, entropy start-up, DRBG health test, then the
    other CASTs in table order."""
    module = make_module()
    details = [r.entry.detail for r in sink_of(module).records if r.entry.code == AuditEvent.SELF_TEST_RESULT]
    kinds = ["integrity" if "integrity" in d else "entropy" if "entropy" in d else "drbg" if "DRBG" in d
             else d.rsplit(":", 1)[0].removeprefix("CAST ") for d in details]
    assert kinds == [INTEGRITY_CAST, "integrity", "entropy", "drbg",
                     *(c.name for c in CASTS if c.name != INTEGRITY_CAST)]
    assert all(d.endswith(": pass") for d in details)
    assert ("in this order: the CAST of\nHMAC-SHA-256 on `hashlib` (the integrity test's own algorithm in the "
            "implementation it runs on,\ntested before it is relied on; the DRBG uses the same HMAC), the software\n"
            "integrity test, the entropy start-up test, the HMAC_DRBG health test, then the other CASTs in the\n"
            "order of the table in section 10.2") in text


# --------------------------------------------------------------------------- figures in the prose
def prose(text: str) -> str:
    """The hand-written text: generated sections, code blocks, headings and link targets removed."""
    text = re.sub(r"<!-- begin: ([\w-]+) -->.*?<!-- end: \1 -->", " ", text, flags=re.S)
    text = re.sub(r"^```.*?^```", " ", text, flags=re.S | re.M)
    text = re.sub(r"^#.*$", " ", text, flags=re.M)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text


# References to standards and to this document's sections carry numbers that are names, not figures.
NAME_PATTERNS = (
    r"\b(?:SP|FIPS|RFC|ISO/IEC|IG)\s+[0-9][0-9A-Za-z.-]*(?:\s+Rev\.\s+[0-9]+)?(?:\s+[0-9]+(?:\.[0-9]+)+)?",
    r"\b[Ss]ections?\s+[0-9]+(?:\.[0-9]+)?",
)
# Figures from standards (not from the code): each with its source.
STANDARD_FIGURES = {
    "96-bit IV": "SP 800-38D 8.2.2: the RBG-based IV is at least 96 bits; module.algorithms.GCM_IV_SIZE",
    "2^32 encryptions": "SP 800-38D 8.3: at most 2^32 invocations with random IVs per key",
    "mode 0700": "owner-only directory; tests/test_state_dir.py checks the device creates it so",
    "mode 0600": "owner-only files; tests/test_state_dir.py checks every flash file",
}


def code_figures() -> list[str]:
    """Figures in the prose that come from the code (or from this test), each as the phrase that carries it."""
    from firmware_sim.serve import STATE_DIR_EXIT

    return [f"`{' '.join(FAST)}`", f"exit code {STATE_DIR_EXIT}"]


def test_every_figure_in_the_prose_is_checked(text: str) -> None:
    from module.algorithms import GCM_IV_SIZE

    assert GCM_IV_SIZE * 8 == 96
    body = " ".join(prose(text).split())  # a phrase may be wrapped across lines
    for phrase in [*STANDARD_FIGURES, *code_figures()]:
        assert phrase in body, phrase
        body = body.replace(phrase, " ")
    for pattern in NAME_PATTERNS:
        body = re.sub(pattern, " ", body)
    figures = re.findall(r"(?<![\w.-])[0-9][0-9,.]*(?![\w-])", body)
    assert figures == [], f"unchecked figures in the prose: {figures}; generate them or check them here"


# --------------------------------------------------------------------------- worked examples
def pycon_blocks(text: str) -> list[tuple[int, str]]:
    """(line index where the block's content starts, content) of every ```pycon block."""
    return [(text.count("\n", 0, m.start(1)), m.group(1))
            for m in re.finditer(r"^```pycon\n(.*?)^```", text, re.S | re.M)]


@pytest.fixture
def device_port(tmp_path: Path) -> Iterator[str]:
    """A freshly started device on a pty, sealed for the code as it is now, with an empty state directory."""
    seal = tmp_path / "integrity.seal"
    write_seal(seal)
    with running_device(tmp_path / "state", args=[*FAST, "--seal", str(seal)]) as proc:
        yield proc.port


def test_the_examples_run_against_a_fresh_device(text: str, device_port: str, tmp_path: Path) -> None:
    blocks = pycon_blocks(text)
    assert len(blocks) >= 10
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    namespace: dict[str, Any] = {"__name__": "security_policy_example", "port": device_port}
    try:
        for lineno, block in blocks:
            test = parser.get_doctest(block, namespace, f"{DOC.name}:{lineno + 1}", str(DOC), lineno)
            report: list[str] = []
            result = runner.run(test, out=report.append, clear_globs=False)
            namespace.update(test.globs)  # the next block goes on where this one stopped
            if result.failed:
                pytest.fail("".join(report), pytrace=False)
    finally:
        dev = namespace.get("dev")
        if dev is not None:
            dev.close()
