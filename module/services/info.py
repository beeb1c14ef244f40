"""Public services: status, version, on-demand self-test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from module import cast
from module.errors import ServiceError
from module.services.context import CallContext, InfoPorts
from module.services.registry import ServiceResult
from module.version import FIRMWARE_VERSION, MODULE_NAME
from module.wire.defs import Status

PARAMS_FORMAT_VERSION = 1


def get_status(module: InfoPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    return ServiceResult(module.status_data())


def get_version(module: InfoPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    return ServiceResult(
        {
            "module": MODULE_NAME,
            "version": FIRMWARE_VERSION,
            "serial": module.config.serial,
            "params_format": PARAMS_FORMAT_VERSION,
            "simulation": "a simulation for development, testing and teaching; not a validated module",
        }
    )


def self_test(module: InfoPorts, ctx: CallContext, params: Mapping[str, Any]) -> ServiceResult:
    """Re-run every pre-operational self-test and CAST; a pass leaves a soft error state."""
    if not module.run_on_demand_self_test():
        raise ServiceError(Status.SELF_TEST_FAILED, module.status_data()["last_error"])
    return ServiceResult({"passed": True, "tests": 3 + len(cast.CAST_NAMES), "duration_ms": int(module.self_test_ms)})
