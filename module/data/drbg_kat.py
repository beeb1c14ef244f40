"""The DRBG health test's known answer, held as data by the module (it reads no file at run time).

One SP 800-90A HMAC_DRBG case copied from the CAVP vectors (``source`` names it; ``procedure``
says how it is run); hex strings are bytes. tests/test_drbg.py checks it against
tests/vectors/hmac_drbg_sha256.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["DRBG_KAT"]

DRBG_KAT: Final[Mapping[str, str]] = {
    "source": (
        "NIST CAVP SP 800-90A HMAC_DRBG test vectors (drbgvectors_pr_false, [SHA-256], "
        "PredictionResistance = False, EntropyInputLen = 256, NonceLen = 128, "
        "PersonalizationStringLen = 256, AdditionalInputLen = 256, ReturnedBitsLen = 1024); "
        "copied verbatim from tests/vectors/hmac_drbg_sha256.json, case count \"reseed-1\""
    ),
    "procedure": (
        "instantiate(entropyInput, nonce, personalizationString); if entropyInputReseed is "
        "present: reseed(entropyInputReseed, additionalInputReseed); generate(1024 bits, "
        "additionalInput1) and discard; generate(1024 bits, additionalInput2) -> must equal "
        "returnedBits. Missing additional inputs are empty."
    ),
    "hash": "SHA-256",
    "entropyInput": "93161b2dc08cb0fd50171141c865a841ca935cfdd2b5907d6ff8ab0348c4ceb0",
    "nonce": "5cb9f6e5912b90c3349a50ab881b35a1",
    "personalizationString": "0dceb4a36326c4df1685df43fddeecb5d0c76f00eb44826694f27e610290f6e1",
    "entropyInputReseed": "d8e9be44b5f293482548d4787762ebfb03c73c40e45385e8b98907cd66f493dd",
    "additionalInputReseed": "105a8f85d6959f3e043ef508cfea21d52123f03b7aea8034c4eec761eaba1fee",
    "additionalInput1": "bf781f7e489d9b4b5aa5ee6d1796468af672a8d25f311edf3c4b4dbf433d703f",
    "additionalInput2": "c81d6bcf1e5bf37e39dda1735c6f193df115b1a854a12e7cafe060afe4589335",
    "returnedBits": (
        "4306628124d0100fade7eaaf5edf227d50771f9e5f2e1e983800eef9a39fde0b0c280e63c8728d836b5b93ea"
        "794a32c1c04cfc54bd5300e3febb5fe2e1023eded8d7cd180279a598f76823e8d5a7dffcc93a09deec5d1f80"
        "838e938fba4de9f47e94b99382ae55f116df9c3b3ddf7e50516e203645852a415796f03a86418107"
    ),
}
