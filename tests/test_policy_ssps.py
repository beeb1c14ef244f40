"""module/ssps.py cannot drift from the module it describes.

- Every flash object a freshly initialised and used module writes is declared, and every declared
  flash object is written (the device identity key's object is declared ahead of the code that
  writes it, and tolerated while absent).
- Per service, the accesses declared for the SSPs of one catalogue group add up to exactly the
  access the service catalogue declares for that group.
- Every name an SSP refers to (storage area, input/output method, zeroisation method, flash
  object) is declared.
- The claim about the endpoint's channel copies is checked against a running module, both ways.
"""

from __future__ import annotations

from collections import defaultdict

from conftest import PASSWORDS, ModuleFactory, initialise
from firmware_sim.device import EndpointLine
from host_tools.client import Client
from host_tools.link import WireTransport
from module import ssps
from module.endpoint import Endpoint
from module.ports import MemoryFlash
from module.services.catalog import SPECS
from module.wire.defs import Command, KeyType, SspAccess


def _exercised_module(make_module: ModuleFactory) -> tuple[MemoryFlash, Client]:
    """A module initialised, with operators and a key, as it stands after ordinary use."""
    flash = MemoryFlash()
    module = make_module(flash=flash)
    client = initialise(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)})
    return flash, client


def test_every_flash_object_written_is_declared_and_every_declared_one_is_written(make_module: ModuleFactory) -> None:
    flash, _ = _exercised_module(make_module)
    written = set(flash.names())
    declared = {f.name for f in ssps.FLASH_OBJECTS}
    pending = {f.name for f in ssps.FLASH_OBJECTS if f.pending}
    assert written - declared == set(), "a flash object the module writes is not declared in module/ssps.py"
    assert declared - pending - written == set(), "a declared flash object is never written"
    assert written  # the module does write something (the test can fail)


def test_the_identity_object_is_still_pending_only_while_nothing_writes_it(make_module: ModuleFactory) -> None:
    """Once the module writes the identity object, its declaration must drop ``pending``."""
    flash, _ = _exercised_module(make_module)
    for obj in ssps.FLASH_OBJECTS:
        if obj.pending:
            assert obj.name not in flash.names(), f"{obj.name} is written now: clear its pending mark"
    for ssp in ssps.SSPS:
        if ssp.pending:
            assert set(ssp.flash) <= {f.name for f in ssps.FLASH_OBJECTS if f.pending}


def test_flash_objects_with_ssps_are_named_by_an_ssp() -> None:
    named = {name for s in ssps.SSPS for name in s.flash}
    assert named == {f.name for f in ssps.FLASH_OBJECTS if f.ssps}


def test_a_zeroised_module_keeps_only_what_the_declarations_say_survives(make_module: ModuleFactory) -> None:
    flash, client = _exercised_module(make_module)
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    survivors = {f.name for f in ssps.FLASH_OBJECTS if not f.ssps}
    survivors |= {name for s in ssps.SSPS if s.survives_zeroise for name in s.flash}
    left = set(flash.names())
    assert left <= survivors, f"left in flash after ZEROISE but not declared to survive: {left - survivors}"
    assert ssps.keystore.FLASH_NAME not in left and ssps.operators.FLASH_NAME not in left


def test_per_service_access_adds_up_to_the_catalogue() -> None:
    declared: dict[tuple[Command, str], SspAccess] = defaultdict(lambda: SspAccess(0))
    for ssp in ssps.SSPS:
        if ssp.group and not ssp.pending:
            for a in ssp.access:
                declared[(a.command, ssp.group)] |= a.access
    catalogue = {(spec.command, use.ssp): use.access for spec in SPECS for use in spec.ssps}
    assert dict(declared) == catalogue


def test_every_catalogue_group_has_ssps() -> None:
    groups = {use.ssp for spec in SPECS for use in spec.ssps}
    assert groups == {s.group for s in ssps.SSPS if s.group}


def test_every_name_an_ssp_uses_is_declared() -> None:
    areas = {a.name for a in ssps.STORAGE_AREAS}
    methods = {m.name for m in ssps.SSP_IO}
    zeroisation = {z.name for z in ssps.ZEROISATION_METHODS}
    names = [s.name for s in ssps.SSPS]
    assert len(names) == len(set(names))
    for s in ssps.SSPS:
        assert s.category in ("CSP", "PSP"), s.name
        assert set(s.storage) <= areas and set(s.inputs) | set(s.outputs) <= methods, s.name
        assert s.zeroisation and set(s.zeroisation) <= zeroisation, s.name
        assert bool(s.flash) == (ssps.FLASH in s.storage), s.name
    used = {n for s in ssps.SSPS for n in (*s.inputs, *s.outputs)}
    assert used == methods and {z for s in ssps.SSPS for z in s.zeroisation} == zeroisation


def test_the_channel_copy_claim_matches_a_running_module(make_module: ModuleFactory) -> None:
    """CHANNEL_COPIES_SURVIVE_ZEROISE says whether the endpoint still holds a closed session's
    AES-GCM channel or its encrypted last response after ZEROISE; checked either way, so fixing
    the endpoint fails this test until the declaration (and with it the policy) says so too."""
    module = make_module()
    initialise(module)
    endpoint = Endpoint(module)
    client = Client(WireTransport(EndpointLine(endpoint), timeout=0.05, retries=0))
    with client.login("officer", PASSWORDS["officer"]) as officer:
        officer.call(Command.ZEROISE)
    held = [ch for ch in endpoint._channels.values() if ch.inbound is not None or ch.last_response]
    assert bool(held) == ssps.CHANNEL_COPIES_SURVIVE_ZEROISE
