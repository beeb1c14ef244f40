"""The state directory cannot be taken over by another local user (issue 14): the device refuses
one that is not its own or that others may write, creates it 0700, and never follows a planted
symlink: every flash file is created O_EXCL|O_NOFOLLOW with mode 0600, temporary files included."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import initialise
from firmware_sim.device import build_module
from firmware_sim.flash import DirectoryFlash
from module.ports import FlashError

STATE_DIR_EXIT = 78  # EX_CONFIG (sysexits.h): documented in README.md and `cmsim-device --help`


def start_device(state: Path, seal_file: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-m", "firmware_sim", "--state", str(state), "--seal", str(seal_file)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the device started serving on {state} instead of refusing it")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o720])
def test_a_state_directory_others_may_write_is_refused(tmp_path: Path, seal_file: Path, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    done = start_device(state, seal_file)
    assert done.returncode == STATE_DIR_EXIT
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(state) in lines[0] and "writable" in lines[0]
    assert list(state.iterdir()) == []  # nothing was written into it


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory to another user")
def test_a_state_directory_of_another_user_is_refused(tmp_path: Path, seal_file: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    done = start_device(state, seal_file)
    assert done.returncode == STATE_DIR_EXIT and "owned by uid 65534" in done.stderr


def test_a_symlinked_state_directory_is_refused(tmp_path: Path, seal_file: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "state").symlink_to(real)
    assert start_device(tmp_path / "state", seal_file).returncode == STATE_DIR_EXIT


def test_files_are_0600_in_a_0700_directory(tmp_path: Path, seal_file: Path) -> None:
    state = tmp_path / "fresh" / "state"
    module = build_module(state, seal_path=seal_file)
    module.power_on()
    initialise(module)
    module.power_off()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = list(state.iterdir())
    assert {f.name for f in files} >= {"keystore", "operators"} or len(files) >= 3
    for f in files:
        st = f.lstat()
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, f.name


def test_a_planted_temporary_symlink_is_not_followed(tmp_path: Path) -> None:
    state, victim = tmp_path / "state", tmp_path / "victim"
    state.mkdir(mode=0o700)
    victim.write_bytes(b"someone else's file")
    (state / ".keystore.tmp").symlink_to(victim)
    flash = DirectoryFlash(state)
    flash.write("keystore", b"new content")
    assert victim.read_bytes() == b"someone else's file"
    st = (state / "keystore").lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert flash.read("keystore") == b"new content"


def test_planted_symlinks_in_place_of_flash_objects_are_neither_read_nor_written(tmp_path: Path) -> None:
    state, victim = tmp_path / "state", tmp_path / "victim"
    state.mkdir(mode=0o700)
    victim.write_bytes(b"secret of another user")
    for name in ("keystore", "audit-ring"):
        (state / name).symlink_to(victim)
    flash = DirectoryFlash(state)
    with pytest.raises(FlashError):
        flash.read("keystore")
    with pytest.raises(FlashError):
        flash.region("audit-ring", 64)
    flash.delete("keystore")  # removes the link, never overwrites what it points at
    assert victim.read_bytes() == b"secret of another user" and not (state / "keystore").is_symlink()
