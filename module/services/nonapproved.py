"""Non-approved services, kept apart so the approved surface is obvious.

ECDSA with SHA-1 (SP 800-131A Rev. 2: SHA-1 is disallowed for signature generation) exists to
show the approved-service indicator saying "not approved": its responses always carry
``approved = False``. A key it uses is marked for it (``KeyUse.SIGN_NON_APPROVED``, a purpose of
its own) and serves no approved service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.algorithms import nonapproved
from module.services.keys import own_key, require_type
from module.services.context import CallContext, KeyPorts
from module.services.registry import ServiceResult
from module.wire.defs import KeyType, KeyUse


def sign_ecdsa_sha1(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    key = own_key(module, ctx, params["key_id"])
    require_type(key, KeyType.EC_P256)
    key.require(KeyUse.SIGN_NON_APPROVED)  # never a key made for approved signatures
    return ServiceResult({"signature": nonapproved.ecdsa_p256_sha1_sign(bytes(key.material), params["message"])}, (key.key_id,))
