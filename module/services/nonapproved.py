"""Non-approved services, kept apart so the approved surface is obvious.

They exist to show the approved-service indicator saying "not approved": a response from these
services always carries ``approved = False``. A key they use is marked for them
(``KeyUse.SIGN_NON_APPROVED``, a purpose of its own) and serves no approved service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.algorithms import nonapproved
from module.services.keys import own_key, require_type
from module.services.context import CallContext, KeyPorts
from module.services.registry import ServiceResult
from module.wire.defs import KeyType, KeyUse


def digest_sha1(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    return ServiceResult({"digest": nonapproved.sha1_digest(params["message"])})


def sign_ecdsa_sha1(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    require_type(key, KeyType.EC_P256)
    key.require(KeyUse.SIGN_NON_APPROVED)  # never a key made for approved signatures
    return ServiceResult({"signature": nonapproved.ecdsa_p256_sha1_sign(bytes(key.material), params["message"])}, (key.key_id,))
