"""Step 1, ACVP (ISO/IEC 19790 7.2): NIST ACVP vector sets through the ``cmsim acvp-wrapper`` code path.

The requests are those acvptool of BoringSSL and of AWS-LC would send for each vector set
(:mod:`host_tools.lab.acvp_driver`), answered by :class:`host_tools.lab.acvp.AcvpWrapper` in process,
its service calls going to the device as the lab's User (keys through the approved key entry).
The shared sets (acvptool's test data, with the server's answers) are read from
``CMSIM_ACVP_VECTORS`` (default ``tests/vectors/acvp`` of the checkout, a copy of them); the generated sets
(answers by ``cryptography``) always run, and so do NIST's CAVP HMAC_DRBG vectors (``tests/vectors``) shaped as
an ACVP set: the harness's device is in lab mode, so the wrapper registers the lab-only algorithm test
(hmacDRBG, PBKDF through LAB_ALGORITHM_TEST). One result per dialect and ACVP algorithm. Monte Carlo
tests: full plan only, one checkpoint (1,000 chained DIGEST calls) per SHA set, BoringSSL's requests
(AWS-LC's are the same).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from host_tools.lab.acvp import DIALECTS, AcvpWrapper
from host_tools.lab.acvp_driver import SetResult, run_file, run_vector_set, shared_files
from host_tools.lab.acvp_generated import generated_sets, nist_drbg_set
from host_tools.lab.results import Result
from host_tools.lab.world import USER, World
from module.wire.defs import Command
from module.wire.messages import Reply

__all__ = ["AcvpStep", "vector_root"]


def vector_root() -> Path:
    """Where the shared ACVP trees are: ``CMSIM_ACVP_VECTORS``, else the checkout's ``tests/vectors/acvp``."""
    configured = os.environ.get("CMSIM_ACVP_VECTORS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "tests" / "vectors" / "acvp"


class AcvpStep:
    def __init__(self, world: World, plan: str, root: Path | None = None) -> None:
        self.world = world
        self.plan = plan
        self.root = root if root is not None else vector_root()
        self.nist_drbg = self.root.parent / "hmac_drbg_sha256.json"  # beside the ACVP trees, as in tests/vectors
        self.results: list[Result] = []

    def _call(self, command: Command, params: dict[str, Any]) -> Reply:
        reply = self.world.raw(command, params, USER)
        self.world.maybe_drain()
        return reply

    def run(self) -> list[Result]:
        by_algorithm: dict[tuple[str, str], Result] = {}
        have_shared = self.root.exists()
        for dialect in DIALECTS:
            wrapper = AcvpWrapper(self._call, dialect=dialect, lab=True)
            checkpoints = 1 if self.plan == "full" and dialect == "BoringSSL" else 0
            runs: list[tuple[str, Any]] = []
            if have_shared:
                runs += [(v.name, (v, e)) for _, v, e in shared_files(self.root)]
            runs += [("generated", pair) for pair in generated_sets(dialect)]
            if self.nist_drbg.exists():
                runs.append(("generated", nist_drbg_set(self.nist_drbg)))
            for source, item in runs:
                first, started = self.world.mark(), time.perf_counter()
                if source == "generated":
                    sets = [run_vector_set(item[0], item[1], wrapper.handle, dialect=dialect, source=source, lab=True)]
                else:
                    sets = run_file(item[0], item[1], wrapper.handle, dialect=dialect, mct_checkpoints=checkpoints,
                                    lab=True)
                for s in sets:
                    self._record(by_algorithm, dialect, s, range(first, self.world.mark()),
                                 time.perf_counter() - started)
            wrapper.close()  # the key transport's keys
        for r in by_algorithm.values():
            if r.run == 0 and not r.failures:
                r.skip("no case of these sets lies inside the wrapper's registration (docs/lab.md)")
        if not have_shared:
            for r in by_algorithm.values():
                r.notes.append(f"acvptool's shared vector sets not found at {self.root} (set CMSIM_ACVP_VECTORS): "
                               "only the generated sets ran")
        self.results += sorted(by_algorithm.values(), key=lambda r: r.id)
        return self.results

    def _record(self, by_algorithm: dict[tuple[str, str], Result], dialect: str, s: SetResult, calls: range,
                seconds: float) -> None:
        if not s.registered:
            return  # an algorithm the wrapper does not register: docs/lab.md says why
        r = by_algorithm.get((dialect, s.algorithm))
        if r is None:
            r = Result(f"acvp.{dialect}.{s.algorithm.replace(' ', '-')}", 1, "7.2",
                       f"ACVP {s.algorithm} ({dialect} acvptool requests through the wrapper)")
            by_algorithm[(dialect, s.algorithm)] = r
        r.ok(s.passed)
        for failure in s.failures:
            r.fail(f"{s.source}: {failure}")
        r.calls += calls
        r.seconds += seconds
        note = f"{s.source}: {s.run} cases ({s.negative} must fail), {s.outside} outside the registration"
        if s.bounded:
            note += f", {s.bounded} left out"
        r.notes.append(note)
