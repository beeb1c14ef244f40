"""Shared fixtures: modules on in-memory flash with a manual clock and the real noise source."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware_sim.device import InProcessTransport
from firmware_sim.entropy import OsNoiseSource
from firmware_sim.integrity import PackageCodeImage, write_seal
from host_tools.client import Client
from host_tools.device import Device
from module.core import Module, ModuleConfig
from module.identity import IDENTITY_FLASH_NAME
from module.integrity import compute_seal
from module.operators import AuthPolicy
from module.ports import EntropySource, Flash, ManualClock, MemoryFlash
from module.wire.defs import Command, Role

# Fewer PBKDF2 iterations keep the suite fast; the policy maths does not depend on them.
TEST_CONFIG = ModuleConfig(auth=AuthPolicy(pbkdf2_iterations=1000))
PASSWORDS = {"officer": "officer-pass-1", "alice": "alice-pass-12", "audrey": "audrey-pass-1"}
ROLES = {"officer": Role.CRYPTO_OFFICER, "alice": Role.USER, "audrey": Role.AUDITOR}

_SEAL = compute_seal(PackageCodeImage())


@pytest.fixture(autouse=True, scope="module")
def _module_cmsim_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A pin store for a test file's module-scoped devices (set before they start)."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("cmsim-home")
        patch.setenv("CMSIM_HOME", str(home))
        patch.setenv("CMSIM_MIN_ITERATIONS", "1000")
        yield home


@pytest.fixture(autouse=True)
def cmsim_home(_module_cmsim_home: Path, tmp_path_factory: pytest.TempPathFactory,
               monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own pin store in CMSIM_HOME (a fresh device identity per test under the
    same serial) and a host PBKDF2 floor at the device's lowest setting (the suite's devices use 1000)."""
    home = tmp_path_factory.mktemp("cmsim-home")
    monkeypatch.setenv("CMSIM_HOME", str(home))
    monkeypatch.setenv("CMSIM_MIN_ITERATIONS", "1000")
    return home


@pytest.fixture
def known_device(request: pytest.FixtureRequest) -> None:
    """The test's ``device`` already pinned in its CMSIM_HOME: for tests that read a command's output
    whole, which the first-contact notice on stderr would join (tests/test_cli.py tests that notice)."""
    if "device" in request.fixturenames:
        with Device.open(request.getfixturevalue("device").port) as dev:
            dev.identity()


@pytest.fixture(scope="session")
def seal() -> bytes:
    return _SEAL


ModuleFactory = Callable[..., Module]

# The suite's in-process modules all carry the serial CMSIM-0001; with one identity seed they are
# one device to the host's pin store, as a real device re-flashed would be (the identity is made
# at the first power-on only when flash holds none; tests of that path use their own flash).
TEST_IDENTITY_SEED = bytes.fromhex("c0ffee" * 10 + "c0ff")


def with_test_identity(flash: Flash) -> Flash:
    if flash.read(IDENTITY_FLASH_NAME) is None:
        flash.write(IDENTITY_FLASH_NAME, TEST_IDENTITY_SEED)
    return flash


@pytest.fixture
def make_module() -> ModuleFactory:
    """Build and power on a module; keyword arguments override flash, clock, entropy, config, seal."""

    def factory(
        *,
        flash: Flash | None = None,
        clock: ManualClock | None = None,
        entropy: EntropySource | None = None,
        config: ModuleConfig | None = None,
        seal: bytes | None = _SEAL,
        power_on: bool = True,
    ) -> Module:
        module = Module(
            flash=with_test_identity(flash if flash is not None else MemoryFlash()),
            clock=clock if clock is not None else ManualClock(),
            entropy=entropy if entropy is not None else OsNoiseSource(),
            code=PackageCodeImage(),
            seal=seal,
            config=config or TEST_CONFIG,
        )
        if power_on:
            module.power_on()
        return module

    return factory


def initialise(module: Module) -> Client:
    """Take a factory module to OPERATIONAL with a Crypto Officer, a User and an Auditor."""
    client = Client(InProcessTransport(module))
    with client.login(module.config.factory_operator, module.config.factory_password) as factory:
        factory.call(Command.INITIALISE, {"operator": "officer", "password": PASSWORDS["officer"]})
    with client.login("officer", PASSWORDS["officer"]) as officer:
        for name in ("alice", "audrey"):
            officer.call(Command.OPERATOR_CREATE, {"operator": name, "role": int(ROLES[name]), "password": PASSWORDS[name]})
    return client


@pytest.fixture
def module(make_module: ModuleFactory) -> Module:
    """An initialised, operational module."""
    mod = make_module()
    initialise(mod)
    return mod


@pytest.fixture
def client(module: Module) -> Client:
    return Client(InProcessTransport(module))




@pytest.fixture(scope="session")
def seal_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seal of the module's code in a file, for device subprocesses (`--seal`)."""
    path = tmp_path_factory.mktemp("seal") / "integrity.seal"
    write_seal(path)
    return path


def initialise_device(dev: Client) -> None:
    """Take a factory device to OPERATIONAL over its line: Crypto Officer, a User and an Auditor."""
    with dev.login("co", "cmsim-factory") as factory:
        factory.initialise("officer", PASSWORDS["officer"])
    with dev.login("officer", PASSWORDS["officer"]) as officer:
        for name in ("alice", "audrey"):
            officer.create_operator(name, ROLES[name], PASSWORDS[name])


# A fixed host ephemeral key (d = 7) for tests that call AUTH_BEGIN directly, not through login.
HOST_EPHEMERAL = ec.derive_private_key(7, ec.SECP256R1()).public_key().public_bytes(
    Encoding.X962, PublicFormat.UncompressedPoint)


def begin_params(operator: str) -> dict[str, object]:
    """Valid AUTH_BEGIN parameters for ``operator`` (the answer is not used to log in)."""
    return {"operator": operator, "host_ephemeral": HOST_EPHEMERAL, "host_nonce": bytes(16)}


def with_config(**changes: object) -> ModuleConfig:
    return replace(TEST_CONFIG, **changes)  # type: ignore[arg-type]
