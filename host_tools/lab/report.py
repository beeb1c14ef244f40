"""Render a lab report: JSON for machines, Markdown for people, and a short summary for the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from host_tools.lab.harness import STEP_TITLES, LabReport
from host_tools.lab.results import CLAUSES, Outcome, range_text

__all__ = ["write_report", "markdown", "summary_text"]

JSON_NAME, MARKDOWN_NAME = "lab-report.json", "lab-report.md"
MARK = {Outcome.PASSED: "passed", Outcome.FAILED: "**FAILED**", Outcome.NOT_RUN: "not run"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: LabReport) -> str:
    d = report.device
    lines = [
        "# cmsim validation-lab report",
        "",
        f"A simulation tested as a CMVP lab would test a module; **not a validation**. Plan **{report.plan}**, "
        f"seed {report.seed}, started {report.started}, {report.seconds:.1f} s. Device {d.get('module', '')} "
        f"{d.get('version', '')}, serial {d.get('serial', '')}"
        + (" (started by the harness, lab mode)" if d.get("self_started") else f" on {d.get('port', '')}") + ".",
        "",
        f"**{'PASSED' if report.ok else 'FAILED'}**: {report.passed} passed, {report.failed} failed, "
        f"{report.not_run} not run. Vectors: {report.vectors_package}. Published tables: {d.get('policy', '')}.",
        "",
    ]
    if report.errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in report.errors] + [""]
    lines += [
        "## Summary",
        "",
        "| ISO/IEC 19790:2012 clause (P.audit: product requirement) | test | vectors run | passed | failed | outcome | evidence (audit seq) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for r in sorted(report.results, key=lambda r: (r.step, r.clause)):
        clause = f"{r.clause} {CLAUSES.get(r.clause, '')}"
        lines.append(f"| {clause} | {_cell(r.test)} | {r.run} | {r.passed} | {r.failed} | {MARK[r.outcome]} | "
                     f"{_cell(_compact(r.evidence)) or '-'} |")
    lines.append("")
    if report.vectors:
        lines += ["## Vectors per algorithm", "", "| algorithm | vectors | service calls |", "|---|---:|---:|"]
        lines += [f"| {name} | {count} | {report.vector_calls.get(name, '')} |" for name, count in report.vectors.items()]
        lines.append("")
    for step in sorted({r.step for r in report.results}):
        lines += [f"## Step {step}: {STEP_TITLES.get(step, '')}", ""]
        for r in [x for x in report.results if x.step == step]:
            lines.append(f"### {r.test}")
            lines.append("")
            lines.append(f"Clause {r.clause} ({CLAUSES.get(r.clause, '')}): {MARK[r.outcome]}, {r.run} run, "
                         f"{r.passed} passed, {r.failed} failed, {r.seconds:.2f} s.")
            if r.not_run_reason:
                lines.append(f"Not run: {r.not_run_reason}.")
            if r.evidence:
                lines.append(f"Evidence: audit records {range_text(r.evidence, limit=20)}"
                             + (f" ({r.unmatched_calls} evidence requests without a record)" if r.unmatched_calls
                                else "") + ".")
            lines.append("")
            if r.failures:
                lines += ["Failures:", ""] + [f"- {_cell(f)}" for f in r.failures] + [""]
            notes = [n for n in r.notes if "Traceback" not in n]
            if notes:
                lines += [f"- {_cell(n)}" for n in notes] + [""]
    a = report.audit
    if a:
        lines += ["## Audit trail", "",
                  f"{a.get('requests')} requests sent; {a.get('records')} records collected and verified through "
                  f"seq {a.get('verified_through')} in {a.get('drains')} drains (first seq of this run: "
                  f"{a.get('first_seq')}); audit keys: {', '.join(k[:16] + '...' for k in a.get('keys', []))}.", ""]
    if report.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in report.notes] + [""]
    lines += ["## Not covered, and why", ""] + [f"- {_cell(n)}" for n in report.not_covered] + [""]
    return "\n".join(lines)


def _compact(spans: list[tuple[int, int]]) -> str:
    """Up to three ranges as they are; more as first-last and the number of records."""
    if len(spans) <= 3:
        return range_text(spans)
    return f"{spans[0][0]}-{spans[-1][1]} ({sum(b - a + 1 for a, b in spans)} records)"


def summary_text(report: LabReport, report_dir: Path | None = None) -> str:
    lines = [report.summary_line()]
    ordered = sorted(report.results, key=lambda r: r.step)  # stable: a step's tests keep their order
    for step in sorted({r.step for r in ordered}):
        of_step = [r for r in ordered if r.step == step]
        counts = {o: sum(r.outcome is o for r in of_step) for o in Outcome}
        lines.append(f"  step {step} ({STEP_TITLES.get(step, '')}): {counts[Outcome.PASSED]} passed, "
                     f"{counts[Outcome.FAILED]} failed, {counts[Outcome.NOT_RUN]} not run")
    for r in ordered:
        if r.outcome is Outcome.FAILED:
            first = r.failures[0] if r.failures else ""
            lines.append(f"  FAILED step {r.step} [{r.clause}] {r.test}: {r.failed} of {r.run} failed; {first}")
    for e in report.errors:
        lines.append(f"  ERROR {e}")
    if report.vectors:
        lines.append("  vectors: " + ", ".join(f"{k} {v}" for k, v in report.vectors.items()))
    if report_dir is not None:
        lines.append(f"  report: {report_dir / MARKDOWN_NAME} and {report_dir / JSON_NAME}")
    return "\n".join(lines)


def write_report(report: LabReport, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / JSON_NAME, directory / MARKDOWN_NAME
    json_path.write_text(json.dumps(report.as_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown(report), encoding="utf-8")
    return json_path, md_path
