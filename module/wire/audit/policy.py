"""The digest of the audit policy, signed in every checkpoint.

A host comparing digests sees that the policy changed, and that the device ran in lab mode
(fault injection enabled) when it signed. The policy itself is :class:`module.wire.defs.AuditPolicy`:
its codes go into the digest, its labels ("block", "wrap") are how callers spell it.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from module.wire.audit.common import AuditFormatError
from module.wire.defs import AuditPolicy

__all__ = ["POLICY_TAG", "LAB_MODE_MARK", "policy_digest"]

POLICY_TAG: Final = b"cmsim/audit/policy/v1\x00"
LAB_MODE_MARK: Final = b"\x01"  # appended to the policy digest's input by a device in lab mode
_POLICY = struct.Struct(">BIIHIB")
_FSYNC_CODES: Final = {"always": 1, "os": 2}


def policy_digest(
    policy: str, capacity: int, checkpoint_every: int, high_water: float, reserve: int, fsync: str,
    lab_mode: bool = False,
) -> bytes:
    """Digest of the audit policy (``policy`` as its label, ``fsync`` "always" or "os")."""
    try:
        code = AuditPolicy.from_label(policy)
    except ValueError:
        code = None
    if code is None or fsync not in _FSYNC_CODES:
        raise AuditFormatError(f"unknown policy {policy!r} / fsync {fsync!r}")
    body = _POLICY.pack(code, capacity, checkpoint_every, round(high_water * 1000), reserve, _FSYNC_CODES[fsync])
    return hashlib.sha256(POLICY_TAG + body + (LAB_MODE_MARK if lab_mode else b"")).digest()
