"""The validation-lab harness (`cmsim lab run`): it passes against a correct lab-mode device, and a
deliberately broken device (the lab port's ``break`` commands) makes the matching step fail with
a precise message. A harness that cannot fail is worthless, so the second half matters most."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from firmware_sim.device import build_module
from firmware_sim.faults import FaultyFlash
from firmware_sim.lab import LabController
from host_tools.cli import EXIT_VERIFY, main
from host_tools.device_process import DeviceProcess, running_device
from host_tools.lab import vectors
from host_tools.lab.harness import run_lab
from host_tools.lab.policy import Policy
from host_tools.lab.report import summary_text
from host_tools.lab.results import Outcome, Result
from host_tools.lab.steps.audit import match
from host_tools.lab.steps.auth import AuthStep
from host_tools.lab.steps.base import AuditView, finalize
from host_tools.lab.steps.image import EVIL_VERSION, IntegrityImageStep
from host_tools.lab.steps import matrix
from host_tools.lab.steps.keys import KeyRulesStep
from host_tools.lab.steps.output import OutputStep
from host_tools.lab.world import World
from host_tools.lab.steps.algorithms import AlgorithmStep
from host_tools.lab_port import LabPort
from module.cast import CAST_NAMES
from module.core import Module, ModuleConfig
from module.operators import AuthPolicy
from module.ports import Flash
from module.wire.audit.record import RecordKind, decode_record
from module.wire.defs import AuditEvent, Command, KeyUse, State, Status
import lab_defects

DEVICE_ARGS = ["--pbkdf2-iterations", "1000"]


@pytest.fixture
def lab_device(seal_file: Path, tmp_path: Path) -> Iterator[DeviceProcess]:
    with running_device(tmp_path / "state", args=[*DEVICE_ARGS, "--seal", str(seal_file), "--lab"]) as proc:
        assert proc.lab_port is not None
        yield proc


# ------------------------------------------------------------- a correct device
def test_quick_plan_passes_from_the_cli_and_writes_its_report(seal_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["lab", "run", "--plan", "quick", "--seed", "11", "--report", str(out),
                                       f"--device-arg=--seal={seal_file}"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("lab run (quick plan, seed 11): PASSED")
    doc = json.loads((out / "lab-report.json").read_text())
    assert doc["summary"]["ok"] and doc["summary"]["failed"] == 0
    assert {r["step"] for r in doc["results"]} == set(range(1, 11))
    assert {r["clause"] for r in doc["results"]} >= {"7.2", "7.3", "7.4", "7.9", "7.10", "7.11"}
    # ISO/IEC 19790 has no audit-trail clause at levels 1-3: the audit results say so.
    audit = [r for r in doc["results"] if r["id"].startswith("audit.")]
    assert audit and {r["clause"] for r in audit} == {"P.audit"}
    assert all("not ISO/IEC 19790" in r["clause_title"] for r in audit)
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["fault.cast-on-demand"]["vectors"] == len(CAST_NAMES) and by_id["fault.cast-on-demand"]["outcome"] == "passed"
    assert by_id["audit.completeness"]["vectors"] > 3000 and by_id["audit.completeness"]["evidence"]
    # Keyed algorithm families need the full plan: reported as not run, never as passed.
    assert by_id["alg.AES-256-GCM-decrypt"]["outcome"] == "not run"
    if vectors.available():
        assert doc["vectors"]["SHA2-256"] == 129 and doc["vectors"]["EdDSA Ed25519 SigVer"] == 1152
        assert doc["vectors"]["ECDSA P-256 SHA2-256 SigVer"] == 15
    markdown = (out / "lab-report.md").read_text()
    assert ("| ISO/IEC 19790:2012 clause (P.audit: product requirement) | test | vectors run | passed | failed | "
            "outcome | evidence (audit seq) |") in markdown
    assert "7.10 Self-tests" in markdown and "## Not covered, and why" in markdown


def test_full_plan_passes(seal_file: Path) -> None:
    printed: list[str] = []
    report = run_lab(plan="full", seed=5, device_args=["--seal", str(seal_file)], progress=printed.append)
    assert report.ok, [(r.id, r.failures[:2]) for r in report.results if r.failed] + report.errors
    # The progress lines come in step order, every step once in a run, and the report's steps
    # (summary and markdown list them in ascending order) are the same steps in the same order.
    printed_steps = [int(line.split(":")[0].removeprefix("step ")) for line in printed]
    assert printed_steps == sorted(printed_steps), printed
    assert list(dict.fromkeys(printed_steps)) == list(range(1, 11)), printed
    assert printed[-1] == "step 10: audit completeness"  # it collects the whole run's trail, so it runs last
    assert sorted({r.step for r in report.results}) == list(dict.fromkeys(printed_steps))
    summary_steps = [int(line.split()[1]) for line in summary_text(report).splitlines()[1:]
                     if line.startswith("  step ")]
    assert summary_steps == list(range(1, 11))
    assert report.not_run == 0 or not vectors.available()
    if vectors.available():
        assert report.vectors["AES-256-GCM decrypt"] == 375
        assert report.vectors["HMAC-SHA2-256"] == report.vectors["HMAC-SHA2-512"] == 6
        assert report.vector_calls["SHA2-256"] > 1000  # the Monte Carlo checkpoint: 1,000 chained calls
    assert report.result("fault.cast-power-on").run == len(CAST_NAMES)
    assert report.result("fault.pct").run == 6  # every key-pair type at generation, and one import
    assert report.result("fsm.transitions").run == 400
    assert report.result("auth.lockout").outcome is Outcome.PASSED  # full plan only
    for result_id in ("output.soft-error", "output.hard-error", "output.zeroised", "output.checkpoint",
                      "zeroise.completeness", "factory.scope", "integrity.pyc", "keys.export", "indicator.per-service"):
        assert report.result(result_id).outcome is Outcome.PASSED, result_id


def test_without_the_vectors_package_the_algorithm_step_reports_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "available", lambda: False)
    results = AlgorithmStep(None, "full").run()  # type: ignore[arg-type]  # never touches the device
    assert results and all(r.outcome is Outcome.NOT_RUN for r in results)
    assert all("cryptography-vectors" in r.not_run_reason for r in results)


# -------------------------------------------------------------- a broken device
def test_a_module_that_ignores_failing_casts_fails_the_fault_step(lab_device: DeviceProcess) -> None:
    assert lab_device.lab_port is not None
    with LabPort(lab_device.lab_port) as port:
        assert port.command("break", what="ignore-self-test-failures")["what"] == "ignore-self-test-failures"
    report = run_lab(plan="quick", seed=1, port=lab_device.port, lab_port=lab_device.lab_port)
    assert not report.ok
    casts = report.result("fault.cast-on-demand")
    assert casts.failed == casts.run == len(CAST_NAMES)
    first = casts.failures[0]
    assert first.startswith("CAST AES-256-GCM encrypt (self-test): the self-test answered OK, expected "
                            "SELF_TEST_FAILED; the module is OPERATIONAL, the policy says SOFT_ERROR")
    # The rest of the battery is not confused by it.
    for result_id in ("fault.integrity", "fault.drbg", "fault.pct", "audit.completeness", "audit.chain",
                      "matrix.forbidden", "matrix.allowed", "selftest.power-on", "selftest.on-demand"):
        assert report.result(result_id).outcome is Outcome.PASSED, result_id


def test_a_dropped_service_record_fails_the_completeness_step(lab_device: DeviceProcess) -> None:
    assert lab_device.lab_port is not None
    with LabPort(lab_device.lab_port) as port:
        port.command("break", what="drop-next-service-record")
    result = CliRunner().invoke(main, ["--json", "lab", "run", "--seed", "2", "--port", lab_device.port,
                                       "--lab-port", lab_device.lab_port])
    assert result.exit_code == EXIT_VERIFY  # non-zero when anything failed
    doc = json.loads(result.output)
    assert [r["id"] for r in doc["results"] if r["outcome"] == "failed"] == ["audit.completeness"]
    completeness = next(r for r in doc["results"] if r["id"] == "audit.completeness")
    assert completeness["failed"] == 1
    assert completeness["failures"][0].startswith(
        "request #0 GET_STATUS (no session, session 0x0) -> OK left no audit record (the record at seq ")
    assert completeness["failures"][0].endswith("belongs to request #1)")


def test_lab_run_wants_both_ports_or_neither() -> None:
    result = CliRunner().invoke(main, ["lab", "run", "--port", "/dev/null"])
    assert result.exit_code == 2 and "--lab-port" in result.output


# ------------------------------------------- the break commands on the lab port
def lab_module(seal_file: Path, state: Path) -> tuple[Module, LabController]:
    from firmware_sim.lab import SwitchableSource

    flashes: list[FaultyFlash] = []

    def wrap(flash: Flash) -> Flash:
        flashes.append(FaultyFlash(flash))
        return flashes[0]

    entropy = SwitchableSource()
    config = ModuleConfig(auth=AuthPolicy(pbkdf2_iterations=1000))
    module = build_module(state, config=config, seal_path=seal_file, entropy=entropy, wrap_flash=wrap)
    module.power_on()

    def cycle() -> None:
        module.power_off()
        module.power_on()

    return module, LabController(module, flashes[0], entropy, cycle)


def send(lab: LabController, **request: object) -> dict[str, object]:
    return dict(json.loads(lab.handle_line(json.dumps(request).encode())))


def events(module: Module, code: AuditEvent) -> list[str]:
    records = [decode_record(r) for r in module.trail.export(0, 10_000)]
    return [r.detail for r in records if r.kind is RecordKind.EVENT and r.code == code]


def test_break_commands_are_audited_before_they_take_effect(seal_file: Path, tmp_path: Path) -> None:
    module, lab = lab_module(seal_file, tmp_path / "state")
    assert send(lab, cmd="break", what="drop-next-service-record")["ok"] is True
    assert "break drop-next-service-record" in events(module, AuditEvent.FAULT_INJECTED)
    before = module.trail.status().next_seq
    assert module.call(Command.GET_STATUS).status is Status.OK
    assert module.trail.status().next_seq == before  # that call left no record
    module.call(Command.GET_STATUS)
    assert module.trail.status().next_seq == before + 1  # one shot: the next one does

    assert send(lab, cmd="break", what="ignore-self-test-failures")["ok"] is True
    assert send(lab, cmd="corrupt-cast", name="SHA2-256")["ok"] is True
    reply = module.call(Command.SELF_TEST)
    assert reply.status is Status.OK and module.state is State.UNINITIALISED  # the defect: no error state
    assert "CAST SHA2-256: FAIL" in " ".join(events(module, AuditEvent.SELF_TEST_RESULT))
    assert "break ignore-self-test-failures" in events(module, AuditEvent.FAULT_INJECTED)

    answer = send(lab, cmd="break", what="something-else")
    assert answer["ok"] is False and "unknown break" in str(answer["error"])


def test_no_break_is_on_by_default(seal_file: Path, tmp_path: Path) -> None:
    module, lab = lab_module(seal_file, tmp_path / "state")
    send(lab, cmd="corrupt-cast", name="SHA2-256")
    assert module.call(Command.SELF_TEST).status is Status.SELF_TEST_FAILED
    assert module.state is State.SOFT_ERROR
    assert not any(d.startswith("break") for d in events(module, AuditEvent.FAULT_INJECTED))



# ------------------------------------- the issue-16 steps against broken devices
def defect_device(seal_file: Path, tmp_path: Path, defect: str) -> AbstractContextManager[DeviceProcess]:
    return running_device(tmp_path / "state", args=[*DEVICE_ARGS, "--seal", str(seal_file), "--lab"],
                          python=lab_defects.wrapper(tmp_path, defect))


def run_step(proc: DeviceProcess, make: Callable[[World], Any]) -> dict[str, Result]:
    """One step against a lab-mode device, with its live checks and its audit checks (the trail
    collected and verified afterwards, as the whole run does)."""
    assert proc.lab_port is not None
    world = World(proc.port, proc.lab_port, Policy.load())
    try:
        world.setup()
        step = make(world)
        results = step.run()
        world.drain()
        world.drain()
        assert world.collector is not None
        view = AuditView(world.collector, world.calls)
        match(world.calls, [r for r in world.collector.service_records() if r.seq <= world.collector.verified_through],
              view, Result("audit", 10, "P.audit", "completeness"))
        finalize(step.cases, view)
        if hasattr(step, "finish"):
            step.finish(view)
        return {r.id: r for r in results}
    finally:
        world.close()


def test_stale_retransmits_fail_the_output_step(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "stale-retransmits") as proc:
        results = run_step(proc, OutputStep)
    for result_id, state in (("output.soft-error", "SOFT_ERROR"), ("output.hard-error", "HARD_ERROR")):
        result = results[result_id]
        assert result.outcome is Outcome.FAILED, result_id
        assert f"the retransmitted RANDOM in {state} answered OK with data" in result.failures[0]
    zeroised = results["output.zeroised"]
    assert zeroised.outcome is Outcome.FAILED
    assert "the repeated RANDOM in ZEROISED answered OK with data" in zeroised.failures[0]
    assert results["factory.scope"].outcome is Outcome.PASSED


def test_signed_checkpoints_in_an_error_state_fail_the_checkpoint_check(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "signed-error-checkpoints") as proc:
        results = run_step(proc, OutputStep)
    checkpoint = results["output.checkpoint"]
    assert checkpoint.outcome is Outcome.FAILED
    assert any(f.startswith("checkpoint at seq ") and "is signed, after ERROR_ENTERED at seq " in f
               for f in checkpoint.failures), checkpoint.failures


def test_a_factory_credential_that_reaches_the_audit_services_fails_the_scope_check(seal_file: Path,
                                                                                   tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "factory-drains-audit") as proc:
        results = run_step(proc, OutputStep)
    scope = results["factory.scope"]
    assert scope.outcome is Outcome.FAILED
    assert "AUDIT_EXPORT with the factory credential answered" in scope.failures[0]
    assert results["output.soft-error"].outcome is Outcome.PASSED


def test_a_zeroisation_that_keeps_keys_fails_the_completeness_check(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "zeroise-keeps-keys") as proc:
        results = run_step(proc, OutputStep)
    complete = results["zeroise.completeness"]
    assert complete.outcome is Outcome.FAILED
    assert "after re-initialisation KEY_LIST answered OK with 4 keys" in complete.failures[0]


def test_an_integrity_test_blind_to_bytecode_fails_the_image_step(tmp_path: Path) -> None:
    step = IntegrityImageStep(Policy.load(), python=lab_defects.wrapper(tmp_path, "integrity-skips-bytecode"))
    results = {r.id: r for r in step.run()}
    assert results["integrity.pyc"].outcome is Outcome.FAILED
    assert results["integrity.pyc"].failures[0].startswith(
        f"the image with bytecode reporting {EVIL_VERSION} planted for module/version.py (the source's size and "
        "mtime) booted into UNINITIALISED")
    assert results["integrity.pyc"].notes[0].endswith(f"version {EVIL_VERSION!r}")  # the planted code ran
    for passing in ("integrity.control", "integrity.py", "integrity.seal"):
        assert results[passing].outcome is Outcome.PASSED, results[passing].failures


def test_logins_without_a_failure_delay_fail_the_delay_check(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "no-failure-delay") as proc:
        results = run_step(proc, lambda world: AuthStep(world, "quick"))
    delay = results["auth.delay"]
    assert delay.outcome is Outcome.FAILED
    assert delay.failures[0].startswith("right password within the failure delay: within 1 s of a failure the right "
                                        "password answered OK")
    assert results["auth.lockout"].outcome is Outcome.NOT_RUN  # full plan only
    for passing in ("auth.parallel", "auth.enumeration", "auth.factory"):
        assert results[passing].outcome is Outcome.PASSED, results[passing].failures


def test_a_salt_that_changes_for_unknown_ids_fails_the_enumeration_check(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "enumerable-ids") as proc:
        results = run_step(proc, lambda world: AuthStep(world, "quick"))
    enumeration = results["auth.enumeration"]
    assert enumeration.outcome is Outcome.FAILED
    assert "a salt changes between logins for the same id" in enumeration.failures[0]


def test_unchecked_key_uses_fail_the_usage_check(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "key-use-unchecked") as proc:
        results = run_step(proc, KeyRulesStep)
    usage = results["keys.usage"]
    assert usage.outcome is Outcome.FAILED
    assert "ENCRYPT with a wrapping key answered OK with data" in usage.failures[0]


def test_a_host_known_kek_that_wraps_a_generated_key_fails_the_export_check(seal_file: Path, tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "nothing-known-outside") as proc:
        results = run_step(proc, KeyRulesStep)
    export = results["keys.export"]
    assert export.outcome is Outcome.FAILED
    assert "KEY_EXPORT of a generated key under the host-known KEK answered OK with data" in export.failures[0]
    assert results["keys.usage"].outcome is Outcome.PASSED


def test_an_indicator_set_on_non_approved_services_fails_the_per_service_check(seal_file: Path,
                                                                               tmp_path: Path) -> None:
    with defect_device(seal_file, tmp_path, "indicator-always-set") as proc:
        results = run_step(proc, KeyRulesStep)
    indicator = results["indicator.per-service"]
    assert indicator.outcome is Outcome.FAILED
    assert indicator.failures == ["ENCAPSULATE: 1 of 1 served calls answered with the indicator set, the table says "
                                  "not approved"]


# ------------------------------------------------- step 4's indicator check: the clear side
def run_indicator_check(proc: DeviceProcess) -> tuple[Result, list[Any]]:
    """Step 4's indicator check alone, with its audit checks over the calls it made."""
    assert proc.lab_port is not None
    world = World(proc.port, proc.lab_port, Policy.load())
    try:
        world.setup()
        check = matrix.IndicatorCheck(world)
        result = check.run()
        world.drain()
        world.drain()
        assert world.collector is not None
        view = AuditView(world.collector, world.calls)
        match(world.calls, [r for r in world.collector.service_records() if r.seq <= world.collector.verified_through],
              view, Result("audit", 10, "P.audit", "completeness"))
        check.finish(view)
        return result, list(world.calls)
    finally:
        world.close()


def test_the_indicator_check_serves_sign_ecdsa_sha1_with_the_indicator_clear(lab_device: DeviceProcess) -> None:
    result, calls = run_indicator_check(lab_device)
    assert result.outcome is Outcome.PASSED, result.failures
    signs = [c for c in calls if c.command == Command.SIGN_ECDSA_SHA1]
    assert len(signs) == 1 and signs[0].status is Status.OK and signs[0].approved is False
    assert any(n.endswith("1 served non-approved calls (indicator clear)") for n in result.notes), result.notes


def test_the_indicator_check_fails_when_sign_ecdsa_sha1_is_refused(lab_device: DeviceProcess,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The check's old key: made for approved signing, which the module keeps from the non-approved service.
    class ApprovedUse:
        SIGN_NON_APPROVED = KeyUse.SIGN

    monkeypatch.setattr(matrix, "KeyUse", ApprovedUse)
    result, calls = run_indicator_check(lab_device)
    assert result.outcome is Outcome.FAILED
    assert [c.status for c in calls if c.command == Command.SIGN_ECDSA_SHA1] == [Status.KEY_USE_DENIED]
    assert result.failures[0].startswith("SIGN_ECDSA_SHA1 with a key for non-approved signing answered "
                                         "KEY_USE_DENIED with the indicator clear (expected OK, indicator clear)")
    assert result.failures[1] == ("no non-approved service was served in the whole run: the indicator's clear "
                                  "side was never seen on a served call")
