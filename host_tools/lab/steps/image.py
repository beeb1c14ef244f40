"""Step 7, the integrity test against a modified code image (ISO/IEC 19790 7.10 pre-operational
software integrity test; 7.5 the integrity technique; FIPS 140-3 IG 10.3.A).

The lab copies the code image (the ``module`` package and the ``firmware_sim`` device around it,
without bytecode or seal), seals the copy with the vendor's own tool (``cmsim-seal``), then
changes one thing and boots a device from the copy on a fresh state directory:

* nothing (the control): the device must boot into the factory state (UNINITIALISED);
* a ``.py``: a comment appended to ``module/version.py``;
* a ``.pyc``: bytecode for ``module/version.py`` reporting another version, with a header that
  matches the source's size and mtime, so the interpreter really runs it instead of the source;
* the seal: one hex digit of the seal file changed.

Each modified image must fail the integrity test: the state the policy's ``on_failure`` names for
"software integrity", with the integrity test named in ``last_error``. Only GET_STATUS and
GET_VERSION are asked (through the wire); these devices are not the run's device, so their
requests are not part of the run's audit trail.
"""

from __future__ import annotations

import importlib.util
import marshal
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import module.wire

from host_tools.device_process import running_device
from host_tools.errors import CmsimError
from host_tools.lab.results import Result
from host_tools.lab.policy import Policy
from host_tools.lab.world import LAB_MIN_ITERATIONS
from host_tools.link import WireTransport
from host_tools.transport import SerialTransport
from module.wire.defs import Command, Status

__all__ = ["IntegrityImageStep", "EVIL_VERSION"]

EVIL_VERSION = "6.6.6-evil"
VERSION_FILE = Path("module") / "version.py"
BOOT_TIMEOUT = 20.0  # seconds for GET_STATUS of a freshly started image


def _package_dir(name: str) -> Path:
    """Where an importable package lives on disk, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise CmsimError(f"package {name} not found: the lab needs the code image on disk")
    return Path(spec.origin).resolve().parent


def _change_py(image: Path, seal: Path) -> str:
    with open(image / VERSION_FILE, "ab") as f:
        f.write(b"\n# changed after sealing\n")
    return "a comment appended to module/version.py"


def _change_pyc(image: Path, seal: Path) -> str:
    source = image / VERSION_FILE
    text = source.read_bytes()
    marker = b'FIRMWARE_VERSION = "'
    start = text.index(marker) + len(marker)
    evil = text[:start] + EVIL_VERSION.encode() + text[text.index(b'"', start):]
    st = source.stat()
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
    header += (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    target = Path(importlib.util.cache_from_source(str(source)))
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(header + marshal.dumps(compile(evil, str(source), "exec", dont_inherit=True)))
    return f"bytecode reporting {EVIL_VERSION} planted for module/version.py (the source's size and mtime)"


def _change_seal(image: Path, seal: Path) -> str:
    text = seal.read_text().strip()
    seal.write_text(("0" if text[0] != "0" else "1") + text[1:] + "\n")
    return "the first hex digit of the seal changed"


CHANGES: dict[str, Callable[[Path, Path], str]] = {".py": _change_py, ".pyc": _change_pyc, "seal": _change_seal}


class IntegrityImageStep:
    def __init__(self, policy: Policy, *, python: str = sys.executable) -> None:
        self.policy = policy  # the run's published tables (on_failure of the integrity test)
        self.python = python  # the interpreter the devices run on (tests hand in a deliberately broken one)
        self.control = Result("integrity.control", 7, "7.10", "an unmodified, freshly sealed copy of the code image "
                              "boots into the factory state")
        self.results: dict[str, Result] = {
            name: Result(f"integrity.{name.strip('.')}", 7, "7.10",
                         f"integrity test against a modified image: a changed {name} fails the boot")
            for name in CHANGES
        }

    def run(self) -> list[Result]:
        started = time.perf_counter()
        on_failure = self.policy.self_test_on_failure("software integrity") or "HARD_ERROR"
        state, _, _ = self._boot(None)
        self.control.check(state == "UNINITIALISED", f"the unmodified copy booted into {state}")
        for name, change in CHANGES.items():
            r = self.results[name]
            state, error, version = self._boot(change)
            r.notes.append(f"{self._what}: {state}, last error {error!r}, version {version!r}")
            r.check(state == on_failure and "integrity" in error.lower(),
                    f"the image with {self._what} booted into {state} (last error {error!r}); the policy says "
                    f"{on_failure} by the software integrity test")
        results = [self.control, *self.results.values()]
        for r in results:
            r.seconds = (time.perf_counter() - started) / len(results)
        return results

    _what = ""

    def _boot(self, change: Callable[[Path, Path], str] | None) -> tuple[str, str, str]:
        """Copy, seal, change, boot; the state, last error and version the device reports."""
        with tempfile.TemporaryDirectory(prefix="cmsim-lab-image-") as tmp:
            image = Path(tmp) / "image"
            ignore = shutil.ignore_patterns("__pycache__", "*.seal", "*.pyc")
            shutil.copytree(Path(module.wire.__file__).resolve().parents[1], image / "module", ignore=ignore)
            shutil.copytree(_package_dir("firmware_sim"), image / "firmware_sim", ignore=ignore)
            seal = Path(tmp) / "integrity.seal"
            try:
                subprocess.run([sys.executable, "-c", "from firmware_sim.integrity import main; main()", "--out",
                                str(seal)], cwd=image, check=True, capture_output=True, timeout=120)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                raise CmsimError(f"cmsim-seal on the copied image failed: {exc}: {exc.stderr!r}") from None
            self._what = change(image, seal) if change is not None else "no change"
            args = ["--seal", str(seal), "--pbkdf2-iterations", str(LAB_MIN_ITERATIONS)]
            with running_device(Path(tmp) / "state", args=args, python=self.python, cwd=image) as proc:
                line = SerialTransport(proc.port)
                line.open()
                wire = WireTransport(line, timeout=BOOT_TIMEOUT, retries=1)
                try:
                    status = wire.call(Command.GET_STATUS, {}, 0)
                    version = wire.call(Command.GET_VERSION, {}, 0)
                finally:
                    wire.close()
        if status.status is not Status.OK:
            return f"<GET_STATUS answered {status.status.name}>", "", ""
        error = status.data.get("last_error") or {}
        text = " ".join(str(v) for v in error.values()) if isinstance(error, dict) else str(error)
        return str(status.data.get("state_name")), text, str(version.data.get("version", ""))
