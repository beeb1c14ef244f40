"""Check this host's own call in an exported audit trail: the record's request and response
digests recomputed under the session's digest key (the rule is ``module.wire.audit.digest``'s).

Only a holder of the key can do this: the host that logged in (``OperatorSession.digest_key``,
kept after logout) or whoever it hands the key to, say to prove a call to an auditor. Handing a
key over opens that one session's digests to guessing and no other session's. Verify the export
first (``host_tools.audit_verify``): this checks what a record says, not that the record belongs.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from module.wire.audit.digest import call_digests
from module.wire.audit.record import AuditRecord, RecordKind

__all__ = ["DigestCheck", "check_call", "find_calls"]


@dataclass(frozen=True)
class DigestCheck:
    """What one record says of one call: is it that service's record, and do its digests match."""

    service: bool  # a SERVICE record of the call's command
    request: bool
    response: bool | None  # None: no response data was given to check

    @property
    def ok(self) -> bool:
        return self.service and self.request and self.response is not False


def check_call(record: AuditRecord, digest_key: bytes | None, command: int, params: Mapping[str, Any],
               response: Mapping[str, Any] | None = None, *, secret: Iterable[str] = (),
               public: bool = False) -> DigestCheck:
    """Check ``record`` against the call this host made: ``command`` with ``params`` as sent (the
    names in ``secret``, the service's secret parameters, are left out as the module leaves them
    out) and, if given, the answer's ``response`` data.

    ``digest_key`` is the session's digest key; ``None`` for a call without a session, whose
    digests are unkeyed if the service is ``public`` and all-zero otherwise."""
    hidden = frozenset(secret)
    request_digest, response_digest = call_digests(
        digest_key, public, {k: v for k, v in params.items() if k not in hidden}, response or {})
    service = record.kind is RecordKind.SERVICE and record.code == int(command)
    return DigestCheck(
        service,
        hmac.compare_digest(record.request_digest, request_digest),
        None if response is None else hmac.compare_digest(record.response_digest, response_digest),
    )


def find_calls(records: Iterable[AuditRecord], digest_key: bytes, command: int, params: Mapping[str, Any], *,
               session_id: int | None = None, secret: Iterable[str] = ()) -> list[AuditRecord]:
    """The records of ``command`` whose request digest is that of ``params`` under ``digest_key``
    (and, if given, whose session is ``session_id``): where this host's call is in the trail."""
    hidden = frozenset(secret)
    return [
        rec for rec in records
        if (session_id is None or rec.session_id == session_id)
        and check_call(rec, digest_key, command, params, secret=hidden).ok
    ]
