"""`make mutate`: apply each hand-written mutation in mutate/mutations.toml and see whether the suite kills it.

A small driver instead of mutmut, because mutmut generates every operator swap it can find (thousands
of mutants over these files, most of them equivalent or absurd) and runs the suite for each, which
does not finish in an afternoon on 2 cores; the curated list holds the one-line bugs someone could
really write, each named, so a survivor is a missing test and not noise. Per mutant the driver:

1. writes the mutated file into a throw-away copy of the tree (one copy per worker, made once
   with the files git knows; the working tree is never touched, the file is restored after);
2. runs the entry's hint tests (or the files mapped to the mutated file), and only if they all
   pass, the rest of the suite (``pytest -q -x -m "not soak"``) before it declares a survivor;
3. counts a run that outlives ``--timeout`` as a timeout (killed by a hang), reported apart.

Two workers run side by side (``--jobs``). A kill whose only failing test checks a generated
document (``docs_tests`` in the list) is re-run without those tests: if nothing else fails, the
mutant counts as a survivor (the generated-text check is no behavioural test). A survivor the list
marks ``[equivalent]`` (with the reason no test can tell it from the code) is printed with that
reason and left out of the score's denominator. An entry whose original snippet is not found
exactly once in its file is stale: reported, not counted, and the driver exits non-zero so the
list is kept current; so does a mutant marked equivalent that a test kills. Exit status 0 only
with neither and a score at or above ``--min-score``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "mutate" / "mutations.toml"
GROUPS = ("core", "handshake-rewrite", "audit-rewrite")  # the last two: files other branches are rewriting
REQUIRED = ("id", "file", "group", "original", "replacement", "bug")


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str
    group: str
    original: str
    replacement: str
    bug: str
    tests: tuple[str, ...] = ()


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # killed, survived, timeout, docs-only, stale
    killer: str = ""
    phase: str = ""  # hint or suite
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    mutations: tuple[Mutation, ...]
    test_map: dict[str, tuple[str, ...]]
    docs_tests: tuple[str, ...]
    equivalent: dict[str, str]
    deselect: tuple[str, ...] = ()


def load(path: Path = LIST) -> Plan:
    """The list, checked for shape (a malformed entry raises ValueError naming it)."""
    doc = tomllib.loads(path.read_text())
    seen: set[str] = set()
    out = []
    for raw in doc.get("mutation", []):
        missing = [k for k in REQUIRED if not isinstance(raw.get(k), str) or (not raw[k] and k != "replacement")]
        if missing:
            raise ValueError(f"mutation {raw.get('id', '?')}: missing {missing}")
        extra = set(raw) - set(REQUIRED) - {"tests"}
        if extra:
            raise ValueError(f"mutation {raw['id']}: unknown fields {sorted(extra)}")
        if raw["id"] in seen:
            raise ValueError(f"mutation {raw['id']}: duplicate id")
        if raw["group"] not in GROUPS:
            raise ValueError(f"mutation {raw['id']}: group {raw['group']!r} not one of {GROUPS}")
        if raw["original"] == raw["replacement"]:
            raise ValueError(f"mutation {raw['id']}: the replacement is the original")
        seen.add(raw["id"])
        out.append(Mutation(raw["id"], raw["file"], raw["group"], raw["original"], raw["replacement"], raw["bug"],
                            tuple(raw.get("tests", ()))))
    settings = doc.get("settings", {})
    test_map = {k: tuple(dict.fromkeys(v)) for k, v in doc.get("map", {}).items()}
    return Plan(tuple(out), test_map, tuple(settings.get("docs_tests", ())), dict(doc.get("equivalent", {})),
                tuple(settings.get("deselect", ())))


def occurrences(m: Mutation, root: Path = ROOT) -> int:
    path = root / m.file
    return path.read_text().count(m.original) if path.is_file() else 0


def _tree_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                         check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and (root / f).is_file()]


def make_copy(root: Path, into: Path) -> Path:
    """The working tree as git sees it (tracked and untracked-but-not-ignored files), without caches."""
    for rel in _tree_files(root):
        dest = into / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dest)
    if (root / ".venv").is_dir():  # tests that run .venv/bin/python or the console scripts by path
        (into / ".venv").symlink_to(root / ".venv")
    return into


DESELECT: list[str] = []  # [settings] deselect: tests failing on the unmutated tree, named in the report


def _pytest(copy: Path, args: list[str], timeout: float, *, first_failure: bool = True) -> tuple[int | None, str]:
    """(exit code or None on timeout, output) of one pytest run in ``copy`` importing ``copy``'s code."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "pytest", "-q", *(["-x"] if first_failure else []), "-m", "not soak",
           "-p", "no:cacheprovider", "-o", "addopts=--strict-markers", "-rf",
           *(f"--deselect={d}" for d in DESELECT), *args]
    proc = subprocess.Popen(cmd, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, ""
    return proc.returncode, out.decode(errors="replace")


def _failed(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 2)[1]
    return "(no FAILED line: collection or setup error)"


def run_one(m: Mutation, plan: Plan, copy: Path, timeout: float, hints_only: bool = False) -> Outcome:
    started = time.monotonic()
    path = copy / m.file
    original = path.read_text()
    if original.count(m.original) != 1:
        return Outcome(m, "stale", notes=[f"snippet found {original.count(m.original)} times"])
    hints = list(m.tests or plan.test_map.get(m.file, ()))
    try:
        path.write_text(original.replace(m.original, m.replacement))
        phases: list[tuple[str, list[str]]] = []
        if hints:
            phases.append(("hint", hints))
        if not hints_only or not hints:
            phases.append(("suite", ["tests", *(f"--ignore={h}" for h in hints)]))
        for phase, args in phases:
            code, output = _pytest(copy, args, timeout)
            if code is None:
                return Outcome(m, "timeout", phase=phase, seconds=time.monotonic() - started)
            if code == 5 and phase == "hint":  # no tests collected: a hint that names nothing
                return Outcome(m, "stale", notes=["hint tests collect nothing"])
            if code != 0:
                killer = _failed(output)
                if any(killer.startswith(d) for d in plan.docs_tests):
                    rest = ["tests", *(f"--ignore={d}" for d in plan.docs_tests)]
                    code, output = _pytest(copy, rest, timeout)
                    if code == 0:
                        return Outcome(m, "docs-only", killer, phase, time.monotonic() - started)
                    killer = _failed(output) if code is not None else "(timeout)"
                return Outcome(m, "killed", killer, phase, time.monotonic() - started)
        return Outcome(m, "survived", seconds=time.monotonic() - started,
                       notes=["hint tests only: the rest of the suite not run"] if hints_only and hints else [])
    finally:
        path.write_text(original)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run before it counts as a hang")
    ap.add_argument("--only", nargs="*", default=None, help="mutation ids (default: all)")
    ap.add_argument("--group", choices=GROUPS, default=None)
    ap.add_argument("--min-score", type=float, default=95.0)
    ap.add_argument("--hints-only", action="store_true",
                    help="a quick look: survivors of the hint tests are not run against the whole suite")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated suite run in the copy")
    args = ap.parse_args(argv)
    plan = load()
    DESELECT[:] = plan.deselect
    if plan.deselect:
        print("deselected (failing on the unmutated tree):", *plan.deselect, sep="\n  ")
    todo = [m for m in plan.mutations if (args.only is None or m.id in args.only)
            and (args.group is None or m.group == args.group)]
    stale = [Outcome(m, "stale", notes=[f"snippet found {occurrences(m)} times in {m.file}"])
             for m in todo if occurrences(m) != 1]
    runnable = [m for m in todo if occurrences(m) == 1]
    print(f"{len(runnable)} mutations to run ({len(stale)} stale), {args.jobs} workers", flush=True)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cmsim-mutate-") as tmp:
        copies: Queue[Path] = Queue()
        for i in range(args.jobs):
            copies.put(make_copy(ROOT, Path(tmp) / f"w{i}"))
        if not args.no_baseline:  # a suite that fails unmutated would make every mutant look killed
            code, output = _pytest(Path(tmp) / "w0", ["tests"], args.timeout, first_failure=False)
            if code != 0:
                failed = [ln for ln in output.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
                print("the unmutated suite fails in the copy:", *(failed or ["timeout"]), sep="\n  ")
                return 3
            print("baseline: the unmutated suite passes in the copy", flush=True)

        def work(m: Mutation) -> Outcome:
            copy = copies.get()
            try:
                return run_one(m, plan, copy, args.timeout, args.hints_only)
            finally:
                copies.put(copy)

        with ThreadPoolExecutor(args.jobs) as pool:
            for n, outcome in enumerate(pool.map(work, runnable), 1):
                outcomes.append(outcome)
                where = f" by {outcome.killer} ({outcome.phase})" if outcome.killer else ""
                print(f"[{n}/{len(runnable)}] {outcome.verdict:9} {outcome.mutation.id}{where} "
                      f"{outcome.seconds:.0f}s", flush=True)
    outcomes += stale
    return report(outcomes, plan, args.min_score)


def report(outcomes: list[Outcome], plan: Plan, min_score: float) -> int:
    """Print the score and what it leaves out; the exit status says whether the list is current and
    the score reached. A survivor listed in [equivalent] is counted apart, out of the denominator
    (no test can tell it from the code); one listed there but killed is reported, so a wrong mark
    does not stay."""
    by = {v: [o for o in outcomes if o.verdict == v] for v in ("killed", "timeout", "survived", "docs-only", "stale")}
    equivalent = [o for o in by["survived"] + by["docs-only"] if o.mutation.id in plan.equivalent]
    survivors = [o for o in by["survived"] + by["docs-only"] if o.mutation.id not in plan.equivalent]
    applicable = len(outcomes) - len(by["stale"]) - len(equivalent)
    killed = len(by["killed"]) + len(by["timeout"])
    score = 100.0 * killed / applicable if applicable else 0.0
    print(f"\nscore: {killed}/{applicable} killed ({score:.1f}%), {len(equivalent)} equivalent left out of the "
          f"count; {len(by['timeout'])} of the kills by a hang (timeout); {len(by['docs-only'])} caught only by a "
          f"generated-document check (counted as survivors)")
    for o in survivors:
        more = f" ({'; '.join(o.notes)})" if o.notes else ""
        print(f"  {o.verdict}: {o.mutation.id} ({o.mutation.file}): {o.mutation.bug} [MISSING TEST]{more}")
    for o in equivalent:
        print(f"  equivalent: {o.mutation.id} ({o.mutation.file}): {plan.equivalent[o.mutation.id]}")
    wrongly_marked = [o for o in by["killed"] + by["timeout"] if o.mutation.id in plan.equivalent]
    for o in wrongly_marked:
        print(f"  MARKED EQUIVALENT BUT KILLED: {o.mutation.id} by {o.killer or 'a hang'}: remove it from [equivalent]")
    for o in by["timeout"]:
        print(f"  timeout: {o.mutation.id}: the suite hung ({o.phase})")
    for o in by["stale"]:
        print(f"  STALE: {o.mutation.id} ({o.mutation.file}, group {o.mutation.group}): {'; '.join(o.notes)}")
    if by["stale"]:
        print("stale entries: refresh their 'original' snippets in mutate/mutations.toml")
    if by["stale"] or wrongly_marked:
        return 2
    return 0 if score >= min_score else 1


if __name__ == "__main__":
    sys.exit(main())
