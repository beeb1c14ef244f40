"""C_Sign rate through the PKCS#11 token, with SoftHSM2 beside it in the same run (a benchmark, not a test).

    .venv/bin/python bench/pkcs11_bench.py [--seconds 5]

Rows: ECDSA P-256 (CKM_ECDSA_SHA256) C_Sign sent as PKCS#11 RPC straight to `cmsim pkcs11-server`
(p11-kit 0.24's client module refuses to forward CKM_ECDSA_SHA256, see README); ECDSA P-256
(CKM_ECDSA on a SHA-256 digest) and HMAC-SHA-256 C_Sign through p11-kit-client.so with python-pkcs11;
SoftHSM2 (libsofthsm2.so) ECDSA P-256 (CKM_ECDSA on a digest) in process.
Each device row is a round trip over the pty to the simulated module, and one audit record.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pkcs11  # noqa: E402
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag  # noqa: E402

from firmware_sim.integrity import write_seal  # noqa: E402
from host_tools.device import Device  # noqa: E402
from host_tools.device_process import running_device  # noqa: E402
from test_pkcs11_token import ALICE_PIN, P256_OID, Rpc, _ec_keygen, client_module, start_token, stop  # noqa: E402
from conftest import initialise_device  # noqa: E402

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def rate(fn: object, seconds: float) -> tuple[float, int]:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()  # type: ignore[operator]
        n += 1
    return n / (time.perf_counter() - start), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    secs = ap.parse_args().seconds
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CMSIM_HOME"] = str(Path(tmp) / "home")  # a fresh device: its own pin store (the token's too)
        os.environ["CMSIM_MIN_ITERATIONS"] = "1000"  # the host's floor at this device's count
        seal = Path(tmp) / "seal"
        write_seal(seal)
        with running_device(Path(tmp) / "state", args=["--pbkdf2-iterations", "1000", "--seal", str(seal)]) as proc:
            with Device.open(proc.port) as dev:
                initialise_device(dev)
            token = start_token(proc, Path(tmp) / "t.sock")
            try:
                rpc = Rpc(token.socket)
                s = rpc.open_logged_in(ALICE_PIN)
                _, priv = _ec_keygen(rpc, s, b"bench")
                mech = struct.pack(">I", 0x1044) + b"\xff\xff\xff\xff"

                def ecdsa() -> None:
                    assert rpc.call(42, "uMu", rpc.u(s) + mech + rpc.u(priv))[0] == 0
                    rv, out = rpc.call(43, "uayfy", rpc.u(s) + rpc.ay(b"m" * 32) + struct.pack(">I", 64))
                    assert rv == 0 and len(out) == 69

                rows.append(("cmsim ECDSA P-256, RPC to cmsim pkcs11-server", *rate(ecdsa, secs)))
                os.environ["P11_KIT_SERVER_ADDRESS"] = f"unix:path={token.socket}"
                with pkcs11.lib(client_module()).get_token().open(rw=True, user_pin=ALICE_PIN) as sess:
                    _, ec_key = sess.generate_keypair(KeyType.EC, 256, store=True, label="bench-p11",
                                                      public_template={Attribute.EC_PARAMS: P256_OID})
                    rows.append(("cmsim ECDSA P-256 (CKM_ECDSA), p11-kit-client.so + python-pkcs11",
                                 *rate(lambda: ec_key.sign(hashlib.sha256(b"m" * 32).digest(), mechanism=Mechanism.ECDSA),
                                       secs)))
                    key = sess.generate_key(KeyType.SHA256_HMAC, 256, store=True, mechanism=Mechanism.GENERIC_SECRET_KEY_GEN,
                                            capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                                            template={Attribute.KEY_TYPE: KeyType.SHA256_HMAC})
                    rows.append(("cmsim HMAC-SHA-256, p11-kit-client.so + python-pkcs11",
                                 *rate(lambda: key.sign(b"m" * 32, mechanism=Mechanism.SHA256_HMAC), secs)))
            finally:
                stop(token)
        if os.path.exists(SOFTHSM):
            conf = Path(tmp) / "softhsm2.conf"
            (Path(tmp) / "tokens").mkdir()
            conf.write_text(f"directories.tokendir = {tmp}/tokens\nobjectstore.backend = file\n")
            os.environ["SOFTHSM2_CONF"] = str(conf)
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "1234",
                            "--pin", "1234"], check=True, capture_output=True)
            with pkcs11.lib(SOFTHSM).get_token(token_label="bench").open(rw=True, user_pin="1234") as sess:
                _, priv_key = sess.generate_keypair(KeyType.EC, 256, public_template={Attribute.EC_PARAMS: P256_OID})
                rows.append(("SoftHSM2 ECDSA P-256 (CKM_ECDSA on a digest), in process",
                             *rate(lambda: priv_key.sign(hashlib.sha256(b"m" * 32).digest(), mechanism=Mechanism.ECDSA), secs)))
    print(f"{'C_Sign':66} {'per s':>10} {'calls':>8}")
    for name, per_s, n in rows:
        print(f"{name:66} {per_s:10.1f} {n:8d}")


if __name__ == "__main__":
    main()
