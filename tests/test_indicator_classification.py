"""The approved-service indicator of every service, against a classification written from the
standards (not read from the catalogue), and SHA-1 classified as SP 800-131A Rev. 2 does it.

SP 800-131A Rev. 2 disallows SHA-1 for digital signature generation only; SHA-1 for
non-digital-signature applications (a plain digest) remains acceptable. So DIGEST_SHA1 is an
approved service (and SHA-1 then needs its CAST), and ECDSA with SHA-1 is the non-approved example.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from audit_view import sink_of
from role_policy import LAB_ONLY
from service_examples import DISRUPTIVE, EXAMPLES, prepare
from module.services.catalog import SPECS
from module.wire.defs import AuditEvent, Command, Role, State, Status

# Served calls that must answer "not approved", and why; every other served call is approved.
NOT_APPROVED = {
    Command.SIGN_ECDSA_SHA1: "SP 800-131A Rev. 2 section 9: SHA-1 is disallowed for digital signature generation",
    Command.ENCAPSULATE: "FIPS 203: m from an approved RBG; here it comes from OpenSSL's RNG (IG 2.4.C)",
    Command.LAB_ALGORITHM_TEST: "lab mode only: DRBG output from caller-chosen entropy is no random output",
}
POLICY = Path(__file__).resolve().parent.parent / "docs" / "security_policy" / "security-policy.md"


@pytest.fixture(scope="module")
def operational():  # type: ignore[no-untyped-def]
    return prepare(State.OPERATIONAL)


LOGIN = {Command.AUTH_BEGIN, Command.AUTH_FINISH}  # the handshake's own halves, driven by every login here


@pytest.mark.parametrize("spec", [s for s in SPECS if State.OPERATIONAL in s.states and s.command not in LOGIN],
                         ids=lambda s: s.command.name)
def test_each_served_call_answers_with_its_classification(operational, spec) -> None:  # type: ignore[no-untyped-def]
    prep = prepare(State.OPERATIONAL) if spec.command in DISRUPTIVE else operational
    role = next(r for r in (Role.USER, Role.CRYPTO_OFFICER, Role.AUDITOR, Role.NONE) if r in spec.roles)
    params = EXAMPLES[spec.command](prep.fixture)
    if spec.command is Command.AUDIT_ACK:  # frees records only through this session's own checkpoint
        cp = prep.module.call(Command.AUDIT_CHECKPOINT, {"nonce": bytes(range(16))}, prep.sessions[role])
        params = {"seq": cp.data["seq"], "head": prep.module.trail.chain_hash(cp.data["seq"])}
    if spec.command in LAB_ONLY:  # this module is not in lab mode; tests/test_lab_algorithm_test.py serves it
        prep = prepare(State.OPERATIONAL, lab_mode=True)
    reply = prep.module.call(spec.command, params, prep.sessions[role])
    assert reply.status is Status.OK, (reply.status, reply.message)
    assert reply.approved is (spec.command not in NOT_APPROVED), NOT_APPROVED.get(spec.command, "approved")


def test_a_sha1_digest_is_approved_and_correct(operational) -> None:  # type: ignore[no-untyped-def]
    reply = operational.module.call(Command.DIGEST_SHA1, {"message": b"abc"}, operational.sessions[Role.USER])
    assert reply.status is Status.OK and reply.approved is True
    assert reply.data["digest"] == hashlib.sha1(b"abc").digest()


def test_an_ecdsa_sha1_signature_is_real_and_not_approved(operational) -> None:  # type: ignore[no-untyped-def]

    key_id = operational.fixture.legacy  # a P-256 key made for the SHA-1 signature alone
    reply = operational.module.call(Command.SIGN_ECDSA_SHA1, {"key_id": key_id, "message": b"legacy"},
                                    operational.sessions[Role.USER])
    assert reply.status is Status.OK and reply.approved is False
    point = operational.module.call(Command.KEY_ATTRIBUTES, {"key_id": key_id},
                                    operational.sessions[Role.USER]).data["public_key"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    sig = reply.data["signature"]
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    public.verify(der, b"legacy", ec.ECDSA(hashes.SHA1()))  # raises if it is not a SHA-1 signature


def test_sha1_is_known_answer_tested_at_power_on(operational) -> None:  # type: ignore[no-untyped-def]
    details = [r.entry.detail for r in sink_of(operational.module).records
               if r.entry.code == AuditEvent.SELF_TEST_RESULT]
    assert "CAST SHA-1: pass" in details


def test_the_policy_lists_sha1_signatures_as_non_approved_not_the_digest() -> None:
    text = POLICY.read_text(encoding="utf-8")
    table = text.split("<!-- begin: non-approved-services -->", 1)[1].split("<!-- end: non-approved-services -->")[0]
    assert "`SIGN_ECDSA_SHA1`" in table and "`DIGEST_SHA1`" not in table
