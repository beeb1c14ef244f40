"""`cmsim lab run` (the validation-lab battery) and `cmsim acvp-wrapper` (acvptool's module-wrapper
protocol on stdin/stdout), both in host_tools/lab/."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from host_tools.cli.context import EXIT_VERIFY, Ctx, pass_ctx
from host_tools.client import OperatorSession
from host_tools.errors import CmsimError
from module.wire.defs import Command

__all__ = ["COMMANDS", "lab", "acvp_wrapper"]


@click.group()
def lab() -> None:
    """Validation-lab harness against a lab-mode device (docs/lab.md)."""


@lab.command("run")
@click.option("--plan", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: the core battery; full: also Monte Carlo digests, HMAC and AES-GCM with imported keys, "
                   "every CAST at power-on, every PCT key type, a longer state walk.")
@click.option("--seed", type=int, help="Seed of the state-machine walk (random when omitted; the report names it).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write lab-report.json and lab-report.md into this directory.")
@click.option("--port", "data_port", help="Data line of a running lab-mode device (with --lab-port). "
                                          "Without it the harness starts its own device and stops it after.")
@click.option("--lab-port", help="That device's fault-injection port (the `lab: PATH` line it printed).")
@click.option("--device-arg", "device_args", multiple=True,
              help="Extra cmsim-device option for the device the harness starts (repeatable), "
                   "e.g. --device-arg=--seal=PATH.")
@click.option("--policy", "policy_path", type=click.Path(exists=True, dir_okay=False),
              help="The published security-policy JSON (default: the copy installed with the package, "
                   "host_tools/lab/security-policy.json, the same as docs/security_policy/security-policy.json).")
@click.option("--strict", is_flag=True, help="A test that did not run fails the run (always so with --plan full).")
@pass_ctx
def lab_run(c: Ctx, plan: str, seed: int | None, report_dir: Path | None, data_port: str | None,
            lab_port: str | None, device_args: tuple[str, ...], policy_path: str | None, strict: bool) -> None:
    """Run the lab battery (algorithm vectors, self-tests, fault injection, role x service matrix, state
    machine, data output and zeroisation, modified image, authentication, key management, audit
    completeness, in that order) through the wire and the lab port; exit 0 when everything passed, 5
    when anything failed or, with --strict or --plan full, did not run (the summary line names each
    test not run and why). With --port the device must be factory-fresh, or give a Crypto Officer's
    --operator (and CMSIM_PASSWORD); the run zeroises and re-initialises it."""
    from host_tools.lab.harness import run_lab
    from host_tools.lab.report import summary_text, write_report

    if bool(data_port) != bool(lab_port):
        raise click.UsageError("give --port and --lab-port together, or neither (the harness then starts a device)")
    officer = (c.operator, c.secret(f"Password for {c.operator}")) if data_port and c.operator else None
    show = (lambda m: c.note(f"cmsim lab: {m}")) if sys.stderr.isatty() else None
    report = run_lab(plan=plan, seed=seed, port=data_port, lab_port=lab_port, device_args=device_args,
                     policy_path=policy_path, officer=officer, progress=show)
    report.strict = strict or plan == "full"
    if report_dir is not None:
        write_report(report, report_dir)
    if c.as_json:
        click.echo(json.dumps(report.as_dict(), sort_keys=True))
    else:
        click.echo(summary_text(report, report_dir))
    if not report.ok:
        sys.exit(EXIT_VERIFY)


@click.command("acvp-wrapper")
@click.option("--port", "wrapper_port", help="The device (default: the global --port, CMSIM_PORT, or the started one).")
@click.option("--dialect", type=click.Choice(["BoringSSL", "AWS-LC"]), default="BoringSSL", show_default=True,
              help="Whose acvptool reads getConfig (the request names of both are always answered).")
@click.option("--archive", "archive_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Drain the audit trail into this SQLite archive as the run goes (verified, then acknowledged), "
                   "so a long run needs no `wrap` policy; needs --auditor.")
@click.option("--auditor", help="Auditor (or Crypto Officer) who drains, with CMSIM_AUDITOR_PASSWORD.")
@click.option("--lab", "lab_mode", is_flag=True,
              help="Also register the lab-only algorithm tests (hmacDRBG, PBKDF): the device must run in lab mode "
                   "(its signed identity says so), and its lab-mode trail is archived as such.")
@pass_ctx
def acvp_wrapper(c: Ctx, wrapper_port: str | None, dialect: str, archive_path: Path | None,
                 auditor: str | None, lab_mode: bool) -> None:
    """Speak the module-wrapper protocol of BoringSSL's/AWS-LC's acvptool on stdin/stdout and forward each
    request to the device (docs/lab.md). Logs in as --operator, a User, with CMSIM_PASSWORD (never a
    prompt: stdin carries the protocol) at the first request that needs the device."""
    import os

    from host_tools.archive import Archive
    from host_tools.lab.acvp import AcvpWrapper, WrapperError, archiving_drain, serve

    if wrapper_port:
        c.port = wrapper_port
    sessions: list[OperatorSession] = []  # every login, logged out at the end
    users: list[OperatorSession] = []  # the User's, made at the first request that needs the device

    def call(command: Command, params: dict[str, Any]) -> Any:
        if not users:
            if not c.operator or c.password is None:
                raise WrapperError(3, "the device needs a login: give --operator (a User) and CMSIM_PASSWORD")
            users.append(c.device().login(c.operator, c.password))
            sessions.append(users[0])
        return c.device().transport.call(int(command), params, users[0].session_id)

    if lab_mode and not c.device().identity().lab_mode:
        raise click.UsageError("--lab needs a lab-mode device (cmsim-device --lab); this one is not")
    drain = None
    archive: Archive | None = None
    if archive_path is not None:
        auditor_password = os.environ.get("CMSIM_AUDITOR_PASSWORD")
        if not auditor or auditor_password is None:
            raise click.UsageError("--archive needs --auditor and CMSIM_AUDITOR_PASSWORD")
        sessions.append(c.device().login(auditor, auditor_password))
        archive = Archive(archive_path)
        drain = archiving_drain(archive, sessions[-1], allow_lab=lab_mode)
    try:
        code = serve(sys.stdin.buffer, sys.stdout.buffer, AcvpWrapper(call, drain=drain, dialect=dialect, lab=lab_mode))
    finally:
        for s in sessions:
            try:
                s.logout()
            except CmsimError as exc:  # the answers are out; a logout the line lost ends at the idle timeout
                print(f"cmsim acvp-wrapper: logout of {s.operator}: {exc}", file=sys.stderr)
        if archive is not None:
            archive.close()
    sys.exit(code)


COMMANDS = [lab, acvp_wrapper]
