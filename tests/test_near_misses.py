"""Near misses are refused: an auth key, a stored verifier, a key confirmation, a chain head, a MAC
or a GCM tag that is wrong in only its first byte or only its last byte gets the same refusal as a
wholly wrong one.

A comparison that looks at a prefix (the first 16 bytes of a verifier, 4 bytes of a head) passes a
value wrong in its last byte; one that looks at a suffix passes a value wrong in its first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pytest

from conftest import PASSWORDS, begin_params
from firmware_sim.device import InProcessTransport
from host_tools.audit_drain import drain, fetch_public_key
from host_tools.client import Client
from host_tools.errors import AuthenticationError, DeviceError, LineAttackError
from module.core import Module
from module.wire.defs import Command, KeyType, Role, Status
from module.wire.messages import Reply

ENDS = ("first", "last")


def off_by_one_byte(value: bytes, where: str) -> bytes:
    """``value`` with one bit of its first or its last byte flipped."""
    i = 0 if where == "first" else len(value) - 1
    return value[:i] + bytes([value[i] ^ 0x01]) + value[i + 1 :]


def auth_key_of(operator: str, salt: bytes, iterations: int) -> bytes:
    """The auth key a host sends in AUTH_FINISH: PBKDF2-HMAC-SHA-256 of the password, 32 bytes (hashlib)."""
    return hashlib.pbkdf2_hmac("sha256", PASSWORDS[operator].encode(), salt, iterations, 32)


@pytest.mark.parametrize("where", ENDS)
def test_auth_key_wrong_in_one_end_byte_is_refused(module: Module, client: Client, where: str) -> None:
    begin = client.call(Command.AUTH_BEGIN, begin_params("alice")).data
    auth_key = auth_key_of("alice", begin["salt"], begin["iterations"])
    # In process, the call goes to the half-open session directly (the line's channel adds nothing here).
    reply = module.call(Command.AUTH_FINISH, {"auth_key": off_by_one_byte(auth_key, where)}, begin["session_id"])
    assert reply.status is Status.AUTH_FAILED and reply.data == {}
    # The same login with the exact auth key goes through: the refusal was the byte, not the set-up.
    module.clock.advance(module.config.auth.failure_delay_s)  # type: ignore[attr-defined]
    again = client.call(Command.AUTH_BEGIN, begin_params("alice")).data
    ok = module.call(Command.AUTH_FINISH, {"auth_key": auth_key}, again["session_id"])
    assert ok.status is Status.OK and ok.data["role"] == Role.USER


@pytest.mark.parametrize("where", ENDS)
def test_stored_verifier_wrong_in_one_end_byte_does_not_log_in(module: Module, client: Client, where: str) -> None:
    op = module.operators.get("alice")
    assert op is not None
    exact = bytes(op.verifier)
    op.verifier[:] = off_by_one_byte(exact, where)
    with pytest.raises(AuthenticationError):
        client.login("alice", PASSWORDS["alice"])
    op.verifier[:] = exact  # the exact verifier logs in: the refusal was the byte
    module.clock.advance(module.config.auth.failure_delay_s)  # type: ignore[attr-defined]
    client.login("alice", PASSWORDS["alice"]).logout()


class ForgingModule(InProcessTransport):
    """The line to a module whose login answer carries a key confirmation changed in one byte."""

    def __init__(self, module: Module, where: str) -> None:
        super().__init__(module)
        self.where = where

    def call(self, command: int, params: Mapping[str, Any], session_id: int) -> Reply:
        reply = super().call(command, params, session_id)
        if command == Command.AUTH_FINISH and reply.status is Status.OK:
            reply.data["module_confirm"] = off_by_one_byte(reply.data["module_confirm"], self.where)
        return reply


@pytest.mark.parametrize("where", ENDS)
def test_host_refuses_a_module_confirmation_wrong_in_one_end_byte(module: Module, where: str) -> None:
    with pytest.raises(LineAttackError, match="confirmation"):
        Client(ForgingModule(module, where)).login("alice", PASSWORDS["alice"])


@pytest.mark.parametrize("where", ENDS)
def test_acknowledgement_with_a_head_wrong_in_one_end_byte_is_refused(module: Module, client: Client,
                                                                      where: str) -> None:
    key = fetch_public_key(client, expected_serial=module.config.serial)
    with client.login("audrey", PASSWORDS["audrey"]) as auditor:
        result = drain(auditor, key, acknowledge=False).verify
        assert result.ok and result.verified_through is not None and result.verified_head is not None
        before = client.call(Command.GET_STATUS).data["audit"]["oldest_retained"]
        with pytest.raises(DeviceError) as refused:
            auditor.call(Command.AUDIT_ACK, {"seq": result.verified_through,
                                             "head": off_by_one_byte(result.verified_head, where)})
        assert refused.value.status is Status.AUDIT_DIGEST_MISMATCH
        assert client.call(Command.GET_STATUS).data["audit"]["oldest_retained"] == before  # nothing freed
        auditor.call(Command.AUDIT_ACK, {"seq": result.verified_through, "head": result.verified_head})
        assert client.call(Command.GET_STATUS).data["audit"]["oldest_retained"] == result.verified_through + 1


@pytest.mark.parametrize("where", ENDS)
@pytest.mark.parametrize("key_type", [KeyType.HMAC_SHA256, KeyType.HMAC_SHA512])
def test_mac_wrong_in_one_end_byte_does_not_verify(client: Client, key_type: KeyType, where: str) -> None:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        kid = int(alice.call(Command.KEY_GENERATE, {"key_type": int(key_type)}).data["key_id"])
        mac = alice.call(Command.MAC_GENERATE, {"key_id": kid, "message": b"m"}).data["mac"]
        check = {"key_id": kid, "message": b"m"}
        assert alice.call(Command.MAC_VERIFY, {**check, "mac": off_by_one_byte(mac, where)}).data["valid"] is False
        assert alice.call(Command.MAC_VERIFY, {**check, "mac": mac[:-1]}).data["valid"] is False  # a prefix
        assert alice.call(Command.MAC_VERIFY, {**check, "mac": mac}).data["valid"] is True


@pytest.mark.parametrize("where", ENDS)
def test_gcm_tag_wrong_in_one_end_byte_outputs_nothing(client: Client, where: str) -> None:
    with client.login("alice", PASSWORDS["alice"]) as alice:
        kid = int(alice.call(Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256)}).data["key_id"])
        box = alice.call(Command.ENCRYPT, {"key_id": kid, "plaintext": b"secret"}).data
        body, tag = box["ciphertext"][:-16], box["ciphertext"][-16:]
        with pytest.raises(DeviceError) as refused:
            alice.call(Command.DECRYPT, {"key_id": kid, "iv": box["iv"],
                                         "ciphertext": body + off_by_one_byte(tag, where)})
        assert refused.value.status is Status.DECRYPT_FAILED and refused.value.message != "secret"
        plain = alice.call(Command.DECRYPT, {"key_id": kid, "iv": box["iv"], "ciphertext": box["ciphertext"]})
        assert plain.data["plaintext"] == b"secret"
