"""Behaviour the first `make mutate` run found untested (each test names the mutant it kills).

Expected values come from the security policy and the published formats, never from the module's
own tables: who a record names, what a record's request digest covers (docs/audit-format.md: the
HMAC under the session's digest key of the canonical encoding of the non-secret request
parameters), which key ids it names.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import PASSWORDS
from audit_view import sink_of
from host_tools.client import Client
from module.core import Module
from module.wire.defs import Command, Role, Status
from module.wire.params import encode_map

KEY_ID_MAX = 2**32 - 1  # key ids are 32-bit unsigned numbers


def test_a_refusal_on_a_half_open_login_names_no_operator(module: Module, client: Client) -> None:
    """A login that never finished proves nothing about who began it: a message refused on its
    session id is recorded against no operator and no role (dispatch-refusal-names-half-open)."""
    host_ephemeral = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint)
    begin = client.call(Command.AUTH_BEGIN, {"operator": "alice", "host_ephemeral": host_ephemeral,
                                             "host_nonce": bytes(16)}).data
    view = sink_of(module)
    start = view.next_seq
    reply = module.record_refusal(int(Command.KEY_LIST), begin["session_id"], Status.MESSAGE_REJECTED, "tampered")
    assert reply.status is Status.MESSAGE_REJECTED
    (record,) = view.since(start)
    assert (record.entry.session_id, record.entry.operator, record.entry.role) == (begin["session_id"], "", Role.NONE)
    # The same for a frame that passed the half-open session's channel check (parameters that do not
    # decode): the channel shows who holds the keys, not that they know alice's password.
    start = view.next_seq
    module.record_refusal(int(Command.AUTH_FINISH), begin["session_id"], Status.INVALID_PARAMETER, "bad params",
                          channel_ok=True)
    (record,) = view.since(start)
    assert (record.entry.session_id, record.entry.operator, record.entry.role) == (begin["session_id"], "", Role.NONE)
    # On alice's finished login: a frame that passed the channel check (parameters that do not decode)
    # is hers; one that failed it proves nothing about who sent it and names no one.
    with client.login("alice", PASSWORDS["alice"]) as alice:
        start = view.next_seq
        module.record_refusal(int(Command.KEY_LIST), alice.session_id, Status.INVALID_PARAMETER, "bad params",
                              channel_ok=True)
        module.record_refusal(int(Command.KEY_LIST), alice.session_id, Status.MESSAGE_REJECTED, "tampered")
        decoded, tampered = view.since(start)
        assert (decoded.entry.operator, decoded.entry.role) == ("alice", Role.USER)
        assert (tampered.entry.operator, tampered.entry.role) == ("", Role.NONE)


def test_a_refused_call_keeps_no_digest_of_its_password(module: Module, client: Client) -> None:
    """A call refused before its parameters are checked (a User creating an operator) still leaves
    the password out of its request digest: a digest over it would let any reader of the trail test
    password guesses offline (dispatch-secret-in-digest)."""
    params = {"operator": "mallory", "role": int(Role.CRYPTO_OFFICER), "password": "guessable-pw-1"}
    view = sink_of(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        start = view.next_seq
        assert module.call(Command.OPERATOR_CREATE, params, alice.session_id).status is Status.ACCESS_DENIED
        (record,) = [r for r in view.since(start) if r.entry.code == Command.OPERATOR_CREATE]
    public = {k: v for k, v in params.items() if k != "password"}
    label = b"cmsim/audit/request/v1\0"  # docs/audit-format.md: keyed by the session's digest key
    assert record.entry.request_digest == hmac.digest(alice.digest_key, label + encode_map(public), "sha256")
    assert record.entry.request_digest != hmac.digest(alice.digest_key, label + encode_map(params), "sha256")


def test_a_refused_request_records_only_numbers_that_can_be_key_ids(module: Module, client: Client) -> None:
    """A refused KEY_DELETE names its key id in the record when it could be one (0..2^32-1) and
    nothing when the number is out of range: the trail never claims a key no request could name
    (dispatch-key-id-unbounded)."""
    view = sink_of(module)
    with client.login("alice", PASSWORDS["alice"]) as alice:
        named = {}
        for key_id in (KEY_ID_MAX, KEY_ID_MAX + 1, 2**63):
            start = view.next_seq
            assert module.call(Command.KEY_DELETE, {"key_id": key_id}, alice.session_id).status is not Status.OK
            (record,) = [r for r in view.since(start) if r.entry.code == Command.KEY_DELETE]
            named[key_id] = record.entry.key_ids
    assert named == {KEY_ID_MAX: (KEY_ID_MAX,), KEY_ID_MAX + 1: (), 2**63: ()}
