"""The integrity test failing for real: a code image changed after it was sealed.

Elsewhere the suite seals the code it is running, so the check always passes. Here the module's
package is copied to a temporary tree and sealed there; then one file of the copy changes (as an
edit after `make seal` would), and the module booted on that image must refuse to operate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import TEST_CONFIG, begin_params
from firmware_sim.entropy import OsNoiseSource
from firmware_sim.integrity import MODULE_DIR, PackageCodeImage, read_seal, write_seal
from host_tools.device import Device
from host_tools.device_process import running_device
from host_tools.errors import DeviceError
from module.core import Module
from module.ports import ManualClock, MemoryFlash
from module.wire.defs import Command, State, Status


@pytest.fixture
def sealed_copy(tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of the module package, a seal of that copy)."""
    copy = tmp_path / "module"
    shutil.copytree(MODULE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    seal = tmp_path / "integrity.seal"
    write_seal(seal, root=copy)
    return copy, seal


def boot(code: Path, seal: Path) -> Module:
    module = Module(flash=MemoryFlash(), clock=ManualClock(), entropy=OsNoiseSource(), code=PackageCodeImage(code),
                    seal=read_seal(seal), config=TEST_CONFIG)
    module.power_on()
    return module


def test_the_sealed_copy_boots(sealed_copy: tuple[Path, Path]) -> None:
    assert boot(*sealed_copy).state is State.UNINITIALISED


@pytest.mark.parametrize("change", ["append", "remove", "add"])
def test_a_change_after_sealing_stops_the_module(sealed_copy: tuple[Path, Path], change: str) -> None:
    code, seal = sealed_copy
    if change == "append":
        with (code / "sessions.py").open("a", encoding="utf-8") as f:
            f.write("\n# edited after sealing\n")
    elif change == "remove":
        (code / "version.py").unlink()
    else:
        (code / "extra.py").write_text("VALUE = 1\n", encoding="utf-8")
    module = boot(code, seal)
    assert module.state is State.HARD_ERROR
    status = module.call(Command.GET_STATUS)
    assert status.status is Status.OK and "does not match" in status.data["last_error"]
    for command, params in ((Command.AUTH_BEGIN, begin_params("co")),
                            (Command.SELF_TEST, {}), (Command.AUDIT_PUBKEY, {})):
        reply = module.call(command, params)
        assert (reply.status, reply.data) == (Status.MODULE_ERROR, {}), command.name


def test_a_device_given_a_stale_seal_refuses(sealed_copy: tuple[Path, Path], tmp_path: Path) -> None:
    """The device runs the installed package; the seal it is given was made before a change."""
    code, seal = sealed_copy
    (code / "extra.py").write_text("VALUE = 1\n", encoding="utf-8")
    write_seal(seal, root=code)  # the seal of code that is not the code the device runs
    with running_device(tmp_path / "state", args=["--pbkdf2-iterations", "1000", "--seal", str(seal)]) as proc:
        with Device.open(proc.port) as dev:
            status = dev.status()
            assert status["state_name"] == "HARD_ERROR" and "does not match" in status["last_error"]
            with pytest.raises(DeviceError) as refused:
                dev.login("co", "cmsim-factory")
            assert refused.value.status is Status.MODULE_ERROR
