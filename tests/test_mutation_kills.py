"""Behaviour the first `make mutate` run found untested (each test names the mutant it kills).

Expected values come from the security policy and the published formats, never from the module's
own tables: who a record names, what a record's request digest covers.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import PASSWORDS
from audit_view import sink_of
from host_tools.client import Client
from module.core import Module
from module.wire.defs import Command, Role, Status


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
