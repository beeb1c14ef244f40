"""Power-loss soak: a host drives mixed services while the device is SIGKILLed at random moments,
then restarted on the same state directory, many times over.

After every restart: the device boots OPERATIONAL; the host's archive takes the trail's
continuation (so no acknowledged record is missing and the chain extends what was verified);
every key whose generation was answered is in the key store and has its audit record. The short
variant runs in `make test`; `make soak` runs the long one (marker `soak`).
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from conftest import PASSWORDS, initialise_device

from firmware_sim.integrity import write_seal
from host_tools.archive import Archive, QueryFilter
from host_tools.audit_drain import fetch_public_key
from host_tools.device import Device
from host_tools.device_process import running_device
from host_tools.errors import CmsimError
from module.wire.defs import Command, KeyType, Status

PW = PASSWORDS


def archive_now(dev: Device, archive: Archive) -> int:
    trusted = archive.trusted_key()
    assert trusted is not None
    with dev.login("audrey", PW["audrey"]) as auditor:
        return archive.archive(auditor, trusted).stored


def soak(tmp_path: Path, cycles: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    seal = tmp_path / "seal"
    write_seal(seal)
    state, args = tmp_path / "state", ["--pbkdf2-iterations", "1000", "--seal", str(seal), "--capacity", "20000"]
    archive = Archive(tmp_path / "archive.db")
    answered: dict[str, int] = {}  # key label -> key id, for every generation whose answer arrived
    figures = {"cycles": 0, "answered": 0, "archived": 0, "cut_mid_archive": 0}
    for cycle in range(cycles + 1):
        with running_device(state, args=args) as proc:
            with Device.open(proc.port, timeout=2.0, retries=0) as dev:
                if cycle == 0:
                    initialise_device(dev)
                    archive.bind(fetch_public_key(dev))
                status = dev.status()
                assert status["state_name"] == "OPERATIONAL", (cycle, status["last_error"])
                assert status["boot_counter"] == cycle + 1
                figures["archived"] += archive_now(dev, archive)  # refuses (raises) unless it extends the archive
                with dev.login("alice", PW["alice"]) as alice:
                    labels = {label for _, _, label in alice.list_keys()}
                    missing = sorted(set(answered) - labels)
                    assert not missing, f"cycle {cycle}: answered keys missing after the power cut: {missing}"
                if cycle == cycles:
                    break
                killer = threading.Timer(rng.uniform(0.02, 0.4), proc.power_cut)
                killer.start()
                try:
                    with dev.login("alice", PW["alice"]) as alice:
                        for i in range(10_000):
                            action = rng.random()
                            if action < 0.4:
                                label = f"c{cycle}-{i}"
                                info = alice.generate_key(rng.choice([KeyType.AES_256, KeyType.EC_P256]), label=label)
                                answered[label] = info.key_id
                                figures["answered"] += 1
                            elif action < 0.7:
                                alice.random(32)
                            elif action < 0.9:
                                keys = alice.list_keys()
                                if keys:
                                    alice.key_attributes(rng.choice(keys)[0])
                            else:
                                figures["cut_mid_archive"] += 1
                                archive_now(dev, archive)
                                figures["cut_mid_archive"] -= 1
                except (CmsimError, OSError):
                    pass  # the power went
                killer.join()
                figures["cycles"] += 1
    # Every answered generation has its audit record, now in the archive.
    generated = {rec.key_ids[0] for rec, _ in archive.query(QueryFilter(service=Command.KEY_GENERATE,
                                                                         status=Status.OK)) if rec.key_ids}
    assert set(answered.values()) <= generated
    assert archive.verify().ok
    archive.close()
    return figures


def test_power_cut_soak_short(tmp_path: Path) -> None:
    figures = soak(tmp_path, cycles=5, seed=1)
    assert figures["cycles"] == 5 and figures["answered"] > 0
    print(f"soak: {figures}")


@pytest.mark.soak
@pytest.mark.parametrize("seed", [2, 3])
def test_power_cut_soak_long(tmp_path: Path, seed: int) -> None:
    figures = soak(tmp_path, cycles=60, seed=seed)
    print(f"soak seed {seed}: {figures}")
