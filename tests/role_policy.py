"""The role policy, written down by hand from the published security policy
(docs/security_policy/security-policy.md, section 4.1 "Roles", 4.3 "Services" and 4.4
"Services by state"), not read from the service catalogue it is meant to check.

The role matrix and the stateful test take their expected answers from this table, so a wrong
entry in ``module/services/catalog.py`` makes them fail; ``test_role_matrix`` also checks this
table against the published document, so the table cannot drift from it unnoticed either.
"""

from __future__ import annotations

from dataclasses import dataclass

from module.wire.defs import Command as C
from module.wire.defs import Role, State, Status

ANYONE = frozenset(Role)  # no session needed, and any session may call it too
LOGIN = frozenset({Role.NONE})  # the login handshake: for the caller who has no session yet
CO = frozenset({Role.CRYPTO_OFFICER})
USER = frozenset({Role.USER})
CO_USER = CO | USER
CO_AUDITOR = CO | {Role.AUDITOR}
SIGNED_IN = frozenset({Role.CRYPTO_OFFICER, Role.USER, Role.AUDITOR})

T, U, O, S, H, Z = (State.SELF_TEST, State.UNINITIALISED, State.OPERATIONAL, State.SOFT_ERROR,
                    State.HARD_ERROR, State.ZEROISED)
ERROR_STATES = frozenset({S, H})  # section 2.4: refused there with MODULE_ERROR, elsewhere INVALID_STATE


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]  # with Role.NONE in it the service is public: served to every caller
    states: frozenset[State]
    approved: bool = True


POLICY: dict[C, Rule] = {
    C.GET_STATUS: Rule(ANYONE, frozenset({T, U, O, S, H, Z})),
    C.GET_VERSION: Rule(ANYONE, frozenset({T, U, O, S, H, Z})),
    C.SELF_TEST: Rule(ANYONE, frozenset({U, O, S})),
    C.IDENTITY: Rule(ANYONE, frozenset({U, O})),
    C.AUTH_BEGIN: Rule(LOGIN, frozenset({U, O})),
    C.AUTH_FINISH: Rule(LOGIN, frozenset({U, O})),
    C.LOGOUT: Rule(SIGNED_IN, frozenset({U, O, S, H})),
    C.INITIALISE: Rule(CO, frozenset({U})),
    C.OPERATOR_CREATE: Rule(CO, frozenset({O})),
    C.OPERATOR_DELETE: Rule(CO, frozenset({O})),
    C.OPERATOR_CHANGE_PASSWORD: Rule(SIGNED_IN, frozenset({O})),
    C.OPERATOR_LIST: Rule(CO, frozenset({O})),
    C.OPERATOR_UNLOCK: Rule(CO, frozenset({O})),
    C.KEY_GENERATE: Rule(CO_USER, frozenset({O})),
    C.KEY_IMPORT: Rule(CO_USER, frozenset({O})),
    C.KEY_EXPORT: Rule(CO_USER, frozenset({O})),
    C.KEY_DELETE: Rule(CO_USER, frozenset({O})),
    C.KEY_LIST: Rule(CO_USER, frozenset({O})),
    C.KEY_ATTRIBUTES: Rule(CO_USER, frozenset({O})),
    C.ENCRYPT: Rule(USER, frozenset({O})),
    C.DECRYPT: Rule(USER, frozenset({O})),
    C.SIGN: Rule(USER, frozenset({O})),
    C.VERIFY: Rule(USER, frozenset({O})),
    C.MAC_GENERATE: Rule(USER, frozenset({O})),
    C.MAC_VERIFY: Rule(USER, frozenset({O})),
    C.DIGEST: Rule(CO_USER, frozenset({O})),
    C.RANDOM: Rule(CO_USER, frozenset({O})),
    C.DERIVE: Rule(USER, frozenset({O})),
    C.KEY_AGREE: Rule(USER, frozenset({O})),
    C.ENCAPSULATE: Rule(USER, frozenset({O}), approved=False),  # m from the library's RNG (FIPS 203)
    C.DECAPSULATE: Rule(USER, frozenset({O})),
    C.AUDIT_PUBKEY: Rule(ANYONE, frozenset({U, O})),
    C.AUDIT_EXPORT: Rule(CO_AUDITOR, frozenset({U, O})),
    C.AUDIT_CHECKPOINT: Rule(CO_AUDITOR, frozenset({U, O})),
    C.AUDIT_ACK: Rule(CO_AUDITOR, frozenset({U, O})),
    C.AUDIT_SET_POLICY: Rule(CO, frozenset({U, O})),
    C.ZEROISE: Rule(CO, frozenset({U, O, S, H})),
    C.DIGEST_SHA1: Rule(CO_USER, frozenset({O})),  # SP 800-131A Rev. 2: SHA-1 disallowed for signatures only
    C.SIGN_ECDSA_SHA1: Rule(USER, frozenset({O}), approved=False),
    # section 4.3: lab mode only (answered UNKNOWN_COMMAND otherwise), not approved (caller-chosen entropy)
    C.LAB_ALGORITHM_TEST: Rule(CO_USER, frozenset({O}), approved=False),
}

# Section 4.3: services that exist only on a device started in lab mode. Where the policy above serves
# them, a device not in lab mode answers UNKNOWN_COMMAND instead (after the role and state checks).
LAB_ONLY = frozenset({C.LAB_ALGORITHM_TEST})


# Section 4.1: in UNINITIALISED the only Crypto Officer is the factory credential, which may call
# these and the public services, nothing else.
FACTORY_CREDENTIAL = frozenset({C.INITIALISE, C.LOGOUT})


def expected_status(command: C, state: State, role: Role) -> Status | None:
    """The refusal the policy implies, or None when the call must be served (section 2.4, 4.1)."""
    rule = POLICY[command]
    if state not in rule.states:
        return Status.MODULE_ERROR if state in ERROR_STATES else Status.INVALID_STATE
    if Role.NONE in rule.roles:
        return None
    if role is Role.NONE:
        return Status.NOT_AUTHENTICATED
    if role not in rule.roles:
        return Status.ACCESS_DENIED
    if state is U and role is Role.CRYPTO_OFFICER and command not in FACTORY_CREDENTIAL:
        return Status.ACCESS_DENIED  # the factory credential initialises and nothing else
    return None
