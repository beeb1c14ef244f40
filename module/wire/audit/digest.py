"""The request and response digests of a SERVICE record, keyed per session so that an export
alone opens no guess at what a call carried (a 4-digit PIN has only 10,000 candidates).

A call the module attaches to a session (an authenticated one, or the half-open login that
AUTH_FINISH completes) is digested under that session's digest key ``K_d``
(:attr:`module.wire.handshake.SessionKeys.digest`), which both ends derive at the login and
nobody else holds::

    request_digest  = HMAC-SHA-256(K_d, "cmsim/audit/request/v1\\0"  || encode_map(non-secret request parameters))
    response_digest = HMAC-SHA-256(K_d, "cmsim/audit/response/v1\\0" || encode_map(response data))

A call without a session carries no secret: a public service's digests are SHA-256 of the same
encodings, unkeyed (its parameters and answer are public values: they crossed the line in clear);
any other service, refused for want of a session, gets the all-zero digest for both (nothing of a
request that should never have been sent in clear is kept). Parameters that cannot be encoded
get one fixed digest, :data:`UNENCODABLE_DIGEST`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from module.wire.audit.common import ZERO_DIGEST
from module.wire.params import ParamsError, digest_map, encode_map

__all__ = [
    "REQUEST_LABEL",
    "RESPONSE_LABEL",
    "NO_DIGEST",
    "UNENCODABLE_DIGEST",
    "request_digest",
    "response_digest",
    "call_digests",
]

REQUEST_LABEL: Final = b"cmsim/audit/request/v1\0"
RESPONSE_LABEL: Final = b"cmsim/audit/response/v1\0"
NO_DIGEST: Final = ZERO_DIGEST  # a call with no session to a service that needs one: nothing kept
UNENCODABLE_DIGEST: Final = hashlib.sha256(b"cmsim: unencodable parameters").digest()


def _digest(label: bytes, key: bytes | None, values: Mapping[str, Any]) -> bytes:
    try:
        if key is None:
            return digest_map(values)
        return hmac.digest(key, label + encode_map(values), "sha256")
    except (ParamsError, TypeError):
        return UNENCODABLE_DIGEST


def request_digest(key: bytes | None, params: Mapping[str, Any]) -> bytes:
    """The request digest of ``params`` (secret parameters already left out); ``key`` None: unkeyed."""
    return _digest(REQUEST_LABEL, key, params)


def response_digest(key: bytes | None, data: Mapping[str, Any]) -> bytes:
    """The response digest of an answer's data; ``key`` None: unkeyed."""
    return _digest(RESPONSE_LABEL, key, data)


def call_digests(key: bytes | None, public: bool, params: Mapping[str, Any],
                 data: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """Both digests of one call by the rule above: keyed when the call has a session's ``key``,
    unkeyed for a public service without one, :data:`NO_DIGEST` for any other service without one."""
    if key is None and not public:
        return NO_DIGEST, NO_DIGEST
    return request_digest(key, params), response_digest(key, data)
