"""Step 9, key management and the indicator per service (ISO/IEC 19790 7.9 SSP management; 7.4
and FIPS 140-3 IG 2.4.C for the approved-service indicator), through the wire as the lab's User.

* Key-usage separation: a key is refused every use its attributes do not give it (an encryption
  key does not wrap or MAC, a wrapping key does not encrypt, an agreement key does not sign, a
  signing key does not agree, a key made for approved signatures is refused by the non-approved
  SHA-1 signature service), and a key cannot be made for two purposes; the allowed use of each
  works (so the refusals are not the module refusing everything).
* Export rules for derived secrets: a key the host knows (the KEK derived from an ECDH with the
  harness as the peer) never wraps for export a key the module generated; a key derived from a
  non-exportable secret is not exportable whatever its DERIVE asked; a key derived from an
  exportable agreed secret leaves under that KEK as exactly the value the harness computes
  (HKDF of the shared secret, by ``cryptography``), which it knew already.
* Indicator per service: every approved-table service this step serves is called once with
  valid parameters; at the end, for every service in the published table, each served call's
  indicator must equal the table's ``approved`` flag (services never served in the run are listed).
"""

from __future__ import annotations

import os
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from host_tools.lab.keytransport import KeyTransport
from host_tools.lab.results import Result
from host_tools.lab.steps.base import AuditView, Case
from host_tools.lab.world import USER, World
from module.wire.defs import Command, DigestAlg, KdfAlg, KeyType, KeyUse, Status
from module.wire.messages import Reply

__all__ = ["KeyRulesStep"]

USE_REFUSALS = (Status.KEY_USE_DENIED, Status.KEY_TYPE_MISMATCH)


def _point(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


class KeyRulesStep:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cases: list[Case] = []
        self.usage = Result("keys.usage", 9, "7.9", "key-usage separation: every use a key's attributes do not give "
                            "it refused; one purpose per key")
        self.export = Result("keys.export", 9, "7.9", "export rules for derived secrets: a host-known KEK never wraps "
                             "a generated key; derived keys inherit non-exportability; an exportable derived key "
                             "leaves as the value its peer computes")
        self.indicator = Result("indicator.per-service", 9, "7.4", "approved-service indicator per service against "
                                "the published table (every served call of each service)")
        self._made: list[int] = []

    def results(self) -> list[Result]:
        return [self.usage, self.export, self.indicator]

    def _call(self, case: Case, command: Command, params: dict[str, object]) -> Reply:
        case.calls.append(self.world.mark())
        return self.world.raw(command, params, USER)

    def _key(self, case: Case, key_type: KeyType, uses: KeyUse, **extra: object) -> int | None:
        reply = self._call(case, Command.KEY_GENERATE, {"key_type": int(key_type), "uses": int(uses), **extra})
        if not case.expect(reply.status is Status.OK, f"KEY_GENERATE {key_type.name} {uses!r} answered "
                                                      f"{reply.status.name}: {reply.message}"):
            return None
        self._made.append(int(reply.data["key_id"]))
        return int(reply.data["key_id"])

    def _refused(self, case: Case, what: str, reply: Reply, allowed: tuple[Status, ...]) -> None:
        case.expect(reply.status in allowed and not reply.data,
                    f"{what} answered {reply.status.name}" + (f" with data {sorted(reply.data)}" if reply.data else "")
                    + f" (expected {'/'.join(s.name for s in allowed)})")

    def run(self) -> list[Result]:
        w = self.world
        started = time.perf_counter()
        w.ensure_operational()
        try:
            self._usage()
            self._export()
        finally:
            for key_id in reversed(self._made):
                w.raw(Command.KEY_DELETE, {"key_id": key_id}, USER)
            self._made.clear()
        for r in self.results():
            r.seconds = (time.perf_counter() - started) / len(self.results())
        return self.results()

    # ------------------------------------------------------------ usage
    def _usage(self) -> None:
        case = Case(self.usage, "key-usage separation")
        self.cases.append(case)
        enc = self._key(case, KeyType.AES_256, KeyUse.ENCRYPT | KeyUse.DECRYPT)
        wrap = self._key(case, KeyType.AES_256, KeyUse.WRAP | KeyUse.UNWRAP)
        mac = self._key(case, KeyType.HMAC_SHA256, KeyUse.MAC, exportable=True)
        sign = self._key(case, KeyType.EC_P256, KeyUse.SIGN | KeyUse.VERIFY)
        agree = self._key(case, KeyType.EC_P256, KeyUse.AGREE)
        if None in (enc, wrap, mac, sign, agree):
            return
        peer = _point(ec.generate_private_key(ec.SECP256R1()))
        # The allowed uses work.
        allowed: list[tuple[Command, dict[str, object]]] = [
                                (Command.ENCRYPT, {"key_id": enc, "plaintext": b"lab"}),
                                (Command.SIGN, {"key_id": sign, "message": b"lab"}),
                                (Command.MAC_GENERATE, {"key_id": mac, "message": b"lab"}),
                                (Command.KEY_EXPORT, {"key_id": mac, "wrap_key_id": wrap}),
                                (Command.KEY_AGREE, {"key_id": agree, "peer_public_key": peer})]
        for command, params in allowed:
            reply = self._call(case, command, params)
            case.expect(reply.status is Status.OK, f"{command.name} with a key made for it answered "
                                                   f"{reply.status.name}: {reply.message}")
            if command is Command.KEY_AGREE and reply.status is Status.OK:
                self._made.append(int(reply.data["key_id"]))
        # Every other use is refused.
        refused: list[tuple[str, Command, dict[str, object]]] = [
            ("ENCRYPT with a wrapping key", Command.ENCRYPT, {"key_id": wrap, "plaintext": b"lab"}),
            ("KEY_EXPORT under an encryption key", Command.KEY_EXPORT, {"key_id": mac, "wrap_key_id": enc}),
            ("MAC_GENERATE with an encryption key", Command.MAC_GENERATE, {"key_id": enc, "message": b"lab"}),
            ("SIGN with a key-agreement key", Command.SIGN, {"key_id": agree, "message": b"lab"}),
            ("KEY_AGREE with a signing key", Command.KEY_AGREE, {"key_id": sign, "peer_public_key": peer}),
            ("SIGN_ECDSA_SHA1 (non-approved) with a key made for approved signatures", Command.SIGN_ECDSA_SHA1,
             {"key_id": sign, "message": b"lab"}),
        ]
        for what, command, params in refused:
            self._refused(case, what, self._call(case, command, params), USE_REFUSALS)
        two = self._call(case, Command.KEY_GENERATE, {"key_type": int(KeyType.AES_256),
                                                      "uses": int(KeyUse.ENCRYPT | KeyUse.WRAP)})
        if two.status is Status.OK:
            self._made.append(int(two.data["key_id"]))
        case.expect(two.status is not Status.OK, "KEY_GENERATE of one AES key for encryption and wrapping was served "
                                                 "(one key, one purpose: SP 800-57 part 1, 5.2)")
        # One of each remaining data service the table lists, for the per-service indicator.
        others: list[tuple[Command, dict[str, object]]] = [
            (Command.DIGEST, {"algorithm": int(DigestAlg.SHA2_256), "message": b"lab"}),
            (Command.DIGEST_SHA1, {"message": b"lab"}), (Command.RANDOM, {"length": 16})]
        kem = self._call(case, Command.KEY_GENERATE, {"key_type": int(KeyType.ML_KEM_768)})
        if case.expect(kem.status is Status.OK, f"KEY_GENERATE ML-KEM-768 answered {kem.status.name}"):
            self._made.append(int(kem.data["key_id"]))
            others.append((Command.ENCAPSULATE, {"public_key": bytes(kem.data["public_key"])}))
        for command, params in others:
            reply = self._call(case, command, params)
            case.expect(reply.status is Status.OK, f"{command.name} answered {reply.status.name}: {reply.message}")
            if reply.status is Status.OK and "key_id" in reply.data:
                self._made.append(int(reply.data["key_id"]))
            if command is Command.ENCAPSULATE and reply.status is Status.OK:
                opened = self._call(case, Command.DECAPSULATE, {"key_id": int(kem.data["key_id"]),
                                                                "ciphertext": bytes(reply.data["ciphertext"])})
                case.expect(opened.status is Status.OK, f"DECAPSULATE answered {opened.status.name}")
                if opened.status is Status.OK:
                    self._made.append(int(opened.data["key_id"]))

    # ----------------------------------------------------------- export
    def _export(self) -> None:
        w = self.world
        case = Case(self.export, "export rules for derived secrets")
        self.cases.append(case)
        transport = KeyTransport(w, USER)
        first = w.mark()
        try:
            transport.establish()  # a KEK the harness knows: derived from a (non-exportable) agreed secret
        finally:
            case.calls += range(first, w.mark())
        assert transport.kek_id is not None
        try:
            generated = self._key(case, KeyType.AES_256, KeyUse.ENCRYPT | KeyUse.DECRYPT, exportable=True)
            module_wrap = self._key(case, KeyType.AES_256, KeyUse.WRAP | KeyUse.UNWRAP)
            if generated is None or module_wrap is None:
                return
            ok = self._call(case, Command.KEY_EXPORT, {"key_id": generated, "wrap_key_id": module_wrap})
            case.expect(ok.status is Status.OK, f"KEY_EXPORT of a generated exportable key under a generated wrap key "
                                                f"answered {ok.status.name}")
            self._refused(case, "KEY_EXPORT of a generated key under the host-known KEK",
                          self._call(case, Command.KEY_EXPORT, {"key_id": generated, "wrap_key_id": transport.kek_id}),
                          (Status.KEY_USE_DENIED,))
            # Derived from a non-exportable secret: not exportable, whatever DERIVE was asked.
            pair = self._key(case, KeyType.EC_P256, KeyUse.AGREE)
            peer = ec.generate_private_key(ec.SECP256R1())
            if pair is None:
                return
            secret = self._call(case, Command.KEY_AGREE, {"key_id": pair, "peer_public_key": _point(peer)})
            if not case.expect(secret.status is Status.OK, f"KEY_AGREE answered {secret.status.name}"):
                return
            self._made.append(int(secret.data["key_id"]))
            derived = self._call(case, Command.DERIVE, {
                "base_key_id": int(secret.data["key_id"]), "kdf": int(KdfAlg.HKDF_SHA256),
                "key_type": int(KeyType.HMAC_SHA256), "uses": int(KeyUse.MAC), "salt": b"", "info": b"lab",
                "exportable": True})
            if derived.status is Status.OK:
                self._made.append(int(derived.data["key_id"]))
                self._refused(case, "KEY_EXPORT of a key derived from a non-exportable secret",
                              self._call(case, Command.KEY_EXPORT, {"key_id": int(derived.data["key_id"]),
                                                                    "wrap_key_id": module_wrap}),
                              (Status.KEY_NOT_EXPORTABLE,))
            self._refused(case, "KEY_AGREE asking for an exportable secret from a non-exportable key pair",
                          self._call(case, Command.KEY_AGREE, {"key_id": pair, "peer_public_key": _point(peer),
                                                               "exportable": True}), (Status.KEY_NOT_EXPORTABLE,))
            # Derived from an exportable agreed secret: leaves under the KEK as the value the peer computes.
            pair = self._key(case, KeyType.EC_P256, KeyUse.AGREE, exportable=True)
            if pair is None:
                return
            secret2 = self._call(case, Command.KEY_AGREE, {"key_id": pair, "peer_public_key": _point(peer),
                                                           "exportable": True})
            if not case.expect(secret2.status is Status.OK, f"KEY_AGREE (exportable) answered {secret2.status.name}"):
                return
            self._made.append(int(secret2.data["key_id"]))
            salt = os.urandom(16)
            derived2 = self._call(case, Command.DERIVE, {
                "base_key_id": int(secret2.data["key_id"]), "kdf": int(KdfAlg.HKDF_SHA256),
                "key_type": int(KeyType.HMAC_SHA256), "uses": int(KeyUse.MAC), "salt": salt, "info": b"lab",
                "exportable": True})
            if not case.expect(derived2.status is Status.OK, f"DERIVE (exportable) answered {derived2.status.name}"):
                return
            self._made.append(int(derived2.data["key_id"]))
            attributes = self._call(case, Command.KEY_ATTRIBUTES, {"key_id": pair})
            module_public = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), bytes(attributes.data.get("public_key", b"")))
            z = peer.exchange(ec.ECDH(), module_public)
            expected = HKDF(hashes.SHA256(), 32, salt, b"lab").derive(z)
            case.calls.append(w.mark())
            value = transport.export_key(int(derived2.data["key_id"]))
            case.expect(value == expected, "the derived key exported under the KEK " +
                        ("was refused" if value is None else "is not the HKDF value its peer computes"))
        finally:
            closing = w.mark()
            transport.close()
            case.calls += range(closing, w.mark())

    # -------------------------------------------------------- indicator
    def finish(self, view: AuditView) -> None:
        """Each service's served calls over the whole run against the table's approved flag."""
        served: dict[str, list[bool]] = {}
        for call in view.calls:
            svc = self.world.policy.by_code.get(call.command)
            if svc is not None and call.status is Status.OK:
                served.setdefault(svc.command, []).append(call.approved)
        never = []
        for svc in self.world.policy.services:
            indicators = served.get(svc.command)
            if not indicators:
                never.append(svc.command)
                continue
            wrong = sum(1 for i in indicators if i != svc.approved)
            self.indicator.check(not wrong, f"{svc.command}: {wrong} of {len(indicators)} served calls answered "
                                            f"with the indicator {'clear' if svc.approved else 'set'}, the table "
                                            f"says {'approved' if svc.approved else 'not approved'}")
        self.indicator.notes.append(f"{len(served)} services served in the run and checked"
                                    + (f"; never served: {', '.join(never)}" if never else ""))
