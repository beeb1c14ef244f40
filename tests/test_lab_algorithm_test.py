"""LAB_ALGORITHM_TEST: the module's own HMAC_DRBG and PBKDF2 on given inputs, in lab mode only.

Expected values come from NIST (the CAVP HMAC_DRBG vectors in tests/vectors/hmac_drbg_sha256.json, the ACVP
server's answers in tests/vectors/acvp) or from `cryptography` (PBKDF2), never from the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from audit_view import sink_of
from conftest import PASSWORDS, ModuleFactory, initialise, with_config
from host_tools.client import Client, OperatorSession
from host_tools.lab.acvp import AcvpWrapper, WrapperError
from host_tools.lab.acvp_driver import run_file, run_vector_set
from host_tools.lab.acvp_generated import nist_drbg_set
from module.audit.sink import RecordKind
from module.audit.trail import AuditConfig
from module.core import Module
from module.wire.audit.record import decode_record
from module.wire.defs import Command, LabAlgorithm, Status

VECTORS = Path(__file__).resolve().parent / "vectors"
NIST_DRBG = VECTORS / "hmac_drbg_sha256.json"
ACVP = VECTORS / "acvp" / "boringssl"
DRBG = int(LabAlgorithm.HMAC_DRBG_SHA256)
PBKDF2 = int(LabAlgorithm.PBKDF2_HMAC_SHA256)


def _user(make_module: ModuleFactory, *, lab: bool) -> tuple[Module, Client, OperatorSession]:
    module = make_module(config=with_config(audit=AuditConfig(lab_mode=lab)))
    client = initialise(module)
    return module, client, client.login("alice", PASSWORDS["alice"])


def _drbg_params(case: dict[str, str]) -> dict[str, object]:
    params: dict[str, object] = {"algorithm": DRBG, "length": len(case["returnedBits"]) // 2,
                                 "entropy": bytes.fromhex(case["entropyInput"]), "nonce": bytes.fromhex(case["nonce"])}
    for name, key in (("personalization", "personalizationString"), ("additional_1", "additionalInput1"),
                      ("additional_2", "additionalInput2"), ("reseed_entropy", "entropyInputReseed"),
                      ("reseed_additional", "additionalInputReseed")):
        if key in case:
            params[name] = bytes.fromhex(case[key])
    return params


def test_outside_lab_mode_it_is_refused_and_audited(make_module: ModuleFactory) -> None:
    module, client, alice = _user(make_module, lab=False)
    case = json.loads(NIST_DRBG.read_text())["tests"][0]
    sink = sink_of(module)
    before = sink.next_seq
    reply = client.transport.call(int(Command.LAB_ALGORITHM_TEST), _drbg_params(case), alice.session_id)
    assert reply.status is Status.UNKNOWN_COMMAND and reply.data == {} and reply.approved is False
    assert "lab mode" in reply.message
    services = [r for r in sink.since(before) if r.entry.kind is RecordKind.SERVICE]
    assert [(r.entry.code, r.entry.status) for r in services] == [(Command.LAB_ALGORITHM_TEST, Status.UNKNOWN_COMMAND)]
    wrapper = AcvpWrapper(lambda c, p: client.transport.call(int(c), p, alice.session_id))
    assert not {c["algorithm"] for c in wrapper.config} & {"hmacDRBG", "PBKDF"}  # not registered either
    with pytest.raises(WrapperError) as info:
        wrapper.handle([b"PBKDF", b"SHA2-256", (256).to_bytes(4, "little"), bytes(16), b"password", b"\x01\0\0\0"])
    assert info.value.code == 3 and "not in lab mode" in str(info.value)


def test_in_lab_mode_the_drbg_gives_nists_answers_audited_and_marked(make_module: ModuleFactory) -> None:
    module, client, alice = _user(make_module, lab=True)
    cases = json.loads(NIST_DRBG.read_text())["tests"]
    assert len(cases) == 17 and sum("entropyInputReseed" in c for c in cases) == 2
    sink = sink_of(module)
    before = sink.next_seq
    for case in cases:
        reply = client.transport.call(int(Command.LAB_ALGORITHM_TEST), _drbg_params(case), alice.session_id)
        assert reply.status is Status.OK, reply.message
        assert reply.data["output"] == bytes.fromhex(case["returnedBits"]), case["count"]
        assert reply.approved is False  # caller-chosen entropy makes no random output
    services = [r for r in sink.since(before) if r.entry.kind is RecordKind.SERVICE]
    assert [r.entry.code for r in services] == [Command.LAB_ALGORITHM_TEST] * len(cases)
    assert all(r.entry.status is Status.OK and "HMAC_DRBG_SHA256, 128 bytes" in r.entry.detail for r in services)
    auditor = client.login("audrey", PASSWORDS["audrey"])
    cp = auditor.audit.checkpoint(bytes(range(16)))
    checkpoint = decode_record(cp.record).checkpoint
    assert checkpoint is not None and checkpoint.statement.lab  # the run is marked as lab mode


def test_in_lab_mode_pbkdf2_matches_cryptography_and_bad_inputs_are_refused(make_module: ModuleFactory) -> None:
    _, client, alice = _user(make_module, lab=True)
    salt = bytes(range(32))
    for length, iterations in ((14, 1), (32, 1000), (512, 7)):
        reply = client.transport.call(int(Command.LAB_ALGORITHM_TEST),
                                      {"algorithm": PBKDF2, "length": length, "salt": salt, "password": "pass word",
                                       "iterations": iterations}, alice.session_id)
        assert reply.status is Status.OK, reply.message
        assert reply.data["output"] == PBKDF2HMAC(hashes.SHA256(), length, salt, iterations).derive(b"pass word")
    for bad in ({"length": 13}, {"length": 513}, {"salt": bytes(15)}, {"iterations": 0}, {"iterations": 100_001}, {"password": None}):
        params = {"algorithm": PBKDF2, "length": 32, "salt": salt, "password": "pass word", "iterations": 1, **bad}
        params = {k: v for k, v in params.items() if v is not None}
        reply = client.transport.call(int(Command.LAB_ALGORITHM_TEST), params, alice.session_id)
        assert reply.status is Status.INVALID_PARAMETER and reply.data == {}, bad
    reply = client.transport.call(int(Command.LAB_ALGORITHM_TEST),  # a nonce shorter than SP 800-90A's minimum
                                  {"algorithm": DRBG, "length": 32, "entropy": bytes(32), "nonce": bytes(15)},
                                  alice.session_id)
    assert reply.status is Status.INVALID_PARAMETER


def test_the_wrapper_serves_acvps_hmacdrbg_and_pbkdf_sets(make_module: ModuleFactory) -> None:
    """The shared sets (the server's answers) and NIST's CAVP vectors shaped as an ACVP set, through acvptool's
    requests (the same in both trees' drbg.go and pbkdf.go)."""
    _, client, alice = _user(make_module, lab=True)
    wrapper = AcvpWrapper(lambda c, p: client.transport.call(int(c), p, alice.session_id), lab=True)
    results = [*run_file(ACVP / "vectors" / "hmacDRBG.bz2", ACVP / "expected" / "hmacDRBG.bz2", wrapper.handle,
                         lab=True),
               *run_file(ACVP / "vectors" / "PBKDF.bz2", ACVP / "expected" / "PBKDF.bz2", wrapper.handle, lab=True),
               run_vector_set(*nist_drbg_set(NIST_DRBG), wrapper.handle, lab=True, source="NIST CAVP")]
    assert [f for r in results for f in r.failures] == []
    drbg, pbkdf, nist = results
    assert (drbg.run, drbg.outside) == (1, 1)  # the reseed case; prediction resistance is not implemented
    assert (pbkdf.run, pbkdf.outside) == (1, 9)  # the SHA2-256 case; other HMACs are not the module's
    assert (nist.run, nist.outside) == (17, 0)
