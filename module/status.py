"""What GET_STATUS reports: state, counters, last error, and what a host needs to drain the audit
trail in time."""

from __future__ import annotations

from typing import Any

from module.config import ModuleConfig
from module.identity import DeviceIdentity
from module.keystore import KeyStore
from module.recorder import AuditRecorder
from module.sessions import SessionTable
from module.states import ModuleState
from module.version import FIRMWARE_VERSION, MODULE_NAME
from module.wire.defs import State

__all__ = ["status_data"]


def status_data(
    *, config: ModuleConfig, states: ModuleState, recorder: AuditRecorder, sessions: SessionTable,
    keys: KeyStore, self_test_ms: float, identity: DeviceIdentity | None,
) -> dict[str, Any]:
    state, last_error, trail = states.state, states.last_error, recorder.chained
    return {
        "module": MODULE_NAME,
        "version": FIRMWARE_VERSION,
        "serial": config.serial,
        "state": int(state),
        "state_name": state.name,
        "approved_mode": state is State.OPERATIONAL,
        "initialised": states.initialised,
        "boot_counter": recorder.boot,
        "sessions": len(sessions),
        "keys": len(keys) if state in (State.OPERATIONAL, State.UNINITIALISED) else 0,
        "last_error": (f"{last_error['test']}: {last_error['message']}" if last_error else ""),
        "self_test_ms": int(self_test_ms),
        "lab_mode": trail is not None and trail.config.lab_mode,
        "identity_fingerprint": identity.fingerprint if identity is not None else "",
        "audit": audit_status(states, recorder),
    }


def audit_status(states: ModuleState, recorder: AuditRecorder) -> dict[str, Any]:
    """What a host needs to drain in time: fill, policy, losses, refusals, the chain head."""
    info: dict[str, Any] = {"fault": recorder.fault, "unrecorded_events": recorder.unrecorded}
    trail = recorder.chained
    if trail is not None and not recorder.fault and states.state is not State.POWER_OFF:
        st = trail.status()
        info |= {
            "next_seq": st.next_seq, "oldest_retained": st.oldest_retained, "used": st.used,
            "capacity": st.capacity, "policy": st.policy, "high_water_permille": round(st.high_water * 1000),
            "high_water_reached": st.high_water_reached, "would_block": st.would_block,
            "records_lost": st.records_lost, "records_refused": st.records_refused, "head": st.head,
            "signing_key": st.signing_key,
        }
        if st.acked_through is not None:
            info["acked_through"] = st.acked_through
    return info
