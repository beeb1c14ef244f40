"""The lab-only algorithm test: the module's own HMAC_DRBG and PBKDF2 on inputs the caller gives.

ACVP tests a DRBG with known entropy and PBKDF2 over a given password and salt; no service of the
approved mode takes either (RANDOM draws from the module's seeded DRBG, the login's PBKDF2 runs on
the operator's password only). This service exists for a lab: on a device not in lab mode it answers
UNKNOWN_COMMAND, as if it were not there. In lab mode every checkpoint and the identity statement
already say so (module/audit/checkpoints.py), and each call is audited like any other, with its
inputs in the request digest (they are test vectors, not secrets). It is not an approved service:
output from caller-chosen entropy is no random output, and a derivation for a lab no key.

The DRBG is a fresh :class:`module.drbg.HmacDrbg`, never the module's own working state, and is
uninstantiated (its K and V wiped) before the answer leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module.drbg import DrbgError, HmacDrbg
from module.errors import ServiceError
from module.services.context import CallContext, KeyPorts
from module.services.registry import ServiceResult
from module.wire.defs import LabAlgorithm, Status
from module.wire.handshake import derive_auth_key

__all__ = ["algorithm_test", "MAX_OUTPUT_BYTES", "MAX_ITERATIONS", "MIN_PBKDF2_BYTES", "MAX_PBKDF2_BYTES",
           "MIN_SALT_BYTES"]

MAX_OUTPUT_BYTES = 4096  # DRBG output, bytes (one 2^15-bit request: well inside SP 800-90A's 2^19)
MAX_ITERATIONS = 100_000  # the login's own count
MIN_PBKDF2_BYTES = 14  # SP 800-132 5.3: a derived key of at least 112 bits
MAX_PBKDF2_BYTES = 512  # ACVP's largest PBKDF keyLen (4,096 bits): one call costs at most 16 logins
MIN_SALT_BYTES = 16  # SP 800-132 5.1: a salt of at least 128 bits


def _need(params: Mapping[str, Any], *names: str) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise ServiceError(Status.INVALID_PARAMETER, f"{params['algorithm'].name} needs {', '.join(missing)}")


def _drbg(params: Mapping[str, Any], length: int) -> bytes:
    """ACVP hmacDRBG: instantiate, reseed when reseed entropy is given, generate twice; the second output."""
    _need(params, "entropy", "nonce")
    drbg = HmacDrbg()
    try:
        drbg.instantiate(params["entropy"], params["nonce"], params.get("personalization", b""))
        if "reseed_entropy" in params:
            drbg.reseed(params["reseed_entropy"], params.get("reseed_additional", b""))
        drbg.generate(length, params.get("additional_1", b""))
        return drbg.generate(length, params.get("additional_2", b""))
    except (ValueError, DrbgError) as exc:  # a length outside SP 800-90A's (or the module's) limits
        raise ServiceError(Status.INVALID_PARAMETER, f"HMAC_DRBG: {exc}") from None
    finally:
        drbg.uninstantiate()


def _pbkdf2(params: Mapping[str, Any], length: int) -> bytes:
    _need(params, "password", "salt", "iterations")
    if not MIN_PBKDF2_BYTES <= length <= MAX_PBKDF2_BYTES or len(params["salt"]) < MIN_SALT_BYTES \
            or params["iterations"] < 1:
        raise ServiceError(Status.INVALID_PARAMETER, f"PBKDF2: keys of {MIN_PBKDF2_BYTES}..{MAX_PBKDF2_BYTES} "
                                                     f"bytes, salts of at least {MIN_SALT_BYTES}, 1 or more iterations")
    return derive_auth_key(params["password"], params["salt"], params["iterations"], length)


def algorithm_test(module: KeyPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """One ACVP test case of HMAC_DRBG or PBKDF2, on a device in lab mode only."""
    if not module.config.audit.lab_mode:
        raise ServiceError(Status.UNKNOWN_COMMAND, "LAB_ALGORITHM_TEST exists only on a device in lab mode")
    algorithm: LabAlgorithm = params["algorithm"]
    length: int = params["length"]
    if length < 1:
        raise ServiceError(Status.INVALID_PARAMETER, "length must be 1 or more bytes")
    output = _drbg(params, length) if algorithm is LabAlgorithm.HMAC_DRBG_SHA256 else _pbkdf2(params, length)
    return ServiceResult({"output": output}, audit_detail=f"{algorithm.name}, {length} bytes")
