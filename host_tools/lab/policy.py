"""The module's published tables, as the lab reads them: ``docs/security_policy/security-policy.json``,
installed with this package as ``host_tools/lab/security-policy.json`` (package data, written by
``make docs`` beside the docs copy; a test keeps the two the same), so ``pip install .`` alone gives a
working ``cmsim lab run``.

The harness never imports the module's service catalogue or state machine: like a real lab it
works from what the vendor published (the JSON is generated from the module's own declarations,
and a test keeps it in step with them). Everything the steps need comes through :class:`Policy`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host_tools.errors import CmsimError

__all__ = ["Policy", "ServiceEntry", "PolicyError", "DEFAULT_POLICY_PATH", "CONTROL_SERVICES"]

DEFAULT_POLICY_PATH = Path(__file__).resolve().parent / "security-policy.json"

# Services that output no data (status, or a control action): the only ones an error state may serve.
CONTROL_SERVICES = frozenset({"GET_STATUS", "GET_VERSION", "SELF_TEST", "LOGOUT", "ZEROISE"})


class PolicyError(CmsimError):
    """The security-policy JSON is missing or not the format the harness reads."""


@dataclass(frozen=True)
class ServiceEntry:
    code: int
    command: str
    roles: frozenset[str]
    states: frozenset[str]
    approved: bool
    params: tuple[dict[str, Any], ...]

    @property
    def public(self) -> bool:
        """Listed for the role NONE: callable without a session, and so by anyone."""
        return "NONE" in self.roles

    @property
    def secret_params(self) -> frozenset[str]:
        return frozenset(p["name"] for p in self.params if p.get("secret"))


class Policy:
    def __init__(self, doc: dict[str, Any], source: str = "") -> None:
        if doc.get("format") != "cmsim-security-policy":
            raise PolicyError(f"{source or 'policy'}: not a cmsim security-policy document")
        self.doc = doc
        self.source = source
        self.services = [
            ServiceEntry(int(s["code"]), str(s["command"]), frozenset(s["roles"]), frozenset(s["states"]),
                         bool(s["approved"]), tuple(s.get("params", ())))
            for s in doc["services"]
        ]
        self.by_name = {s.command: s for s in self.services}
        self.by_code = {s.code: s for s in self.services}
        self.transitions: dict[tuple[str, str], str] = {
            (t["from"], t["trigger"]): t["to"] for t in doc["transitions"]
        }
        self.states = {s["name"]: s for s in doc["states"]}
        self.roles = [r["role"] for r in doc["roles"]]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        where = Path(path) if path else DEFAULT_POLICY_PATH
        try:
            doc = json.loads(where.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PolicyError(f"no security-policy JSON at {where} (give --policy PATH)") from None
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{where}: not JSON: {exc}") from None
        return cls(doc, str(where))

    # ------------------------------------------------------------- states
    def error_states(self) -> set[str]:
        return {name for name, s in self.states.items() if s.get("error_state")}

    def allowed_in(self, state: str) -> set[str]:
        return set(self.states[state]["services"]) if state in self.states else set()

    def next_state(self, state: str, trigger: str) -> str | None:
        return self.transitions.get((state, trigger))

    def refusal_for_state(self, state: str) -> str:
        """The status a service not available in ``state`` gets (protocol.md: 0x10 / 0x11)."""
        return "MODULE_ERROR" if state in self.error_states() else "INVALID_STATE"

    # --------------------------------------------------------- self-tests
    def cast_entries(self) -> list[dict[str, Any]]:
        return [t for t in self.doc["self_tests"]["conditional"] if t.get("type") == "CAST"]

    def self_test_on_failure(self, name: str) -> str | None:
        """The error state the policy names for a failing self-test (by its policy name)."""
        for group in ("pre_operational", "conditional"):
            for t in self.doc["self_tests"].get(group, []):
                if t.get("name") == name:
                    return str(t.get("on_failure"))
        return None

    def pre_operational_tests(self) -> list[str]:
        """Every self-test the module runs at power-on: the pre-operational ones and every CAST."""
        names = [t["name"] for t in self.doc["self_tests"]["pre_operational"]]
        return names + [t["name"] for t in self.cast_entries()]

    def pct_key_types(self) -> list[str]:
        for t in self.doc["self_tests"]["conditional"]:
            if t.get("name") == "pairwise consistency test":
                return list(t.get("key_types", []))
        return []

    # ----------------------------------------------------------- helpers
    def services_named(self, names: Iterable[str]) -> list[ServiceEntry]:
        return [self.by_name[n] for n in names if n in self.by_name]

    def approved_algorithms(self) -> list[str]:
        return [a["name"] for a in self.doc["algorithms"]["approved"]]
