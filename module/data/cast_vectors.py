"""The CASTs' known answers, held as data by the module (it reads no file at run time).

Copied from published vectors (the ``cryptography_vectors`` package; each ``file`` is relative to
it); every entry names its source file and case, and hex strings are bytes. tests/test_cast.py
checks each value against the named record of that file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["CAST_VECTORS"]

CAST_VECTORS: Final[Mapping[str, Mapping[str, Any]]] = {
    "AES-256-GCM encrypt": {
        "source": (
            "NIST CAVP gcmEncryptExtIV256.rsp [Keylen = 256][IVlen = 96][PTlen = 128][AADlen = "
            "128][Taglen = 128] Count = 0"
        ),
        "file": "ciphers/AES/GCM/gcmEncryptExtIV256.rsp",
        "case": {
            "section": {
                "keylen": "256",
                "ivlen": "96",
                "ptlen": "128",
                "aadlen": "128",
                "taglen": "128",
            },
            "fields": {
                "count": "0",
            },
        },
        "key": "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
        "iv": "ac93a1a6145299bde902f21a",
        "plaintext": "2d71bcfa914e4ac045b2aa60955fad24",
        "aad": "1e0889016f67601c8ebea4943bc23ad6",
        "ciphertext": "8995ae2e6df3dbf96fac7b7137bae67f",
        "tag": "eca5aa77d51d4a0a14d9c51e1da474ab",
    },
    "AES-256-GCM decrypt": {
        "source": (
            "NIST CAVP gcmDecrypt256.rsp [Keylen = 256][IVlen = 96][PTlen = 128][AADlen = 128][Taglen "
            "= 128] Count = 0"
        ),
        "file": "ciphers/AES/GCM/gcmDecrypt256.rsp",
        "case": {
            "section": {
                "keylen": "256",
                "ivlen": "96",
                "ptlen": "128",
                "aadlen": "128",
                "taglen": "128",
            },
            "fields": {
                "count": "0",
            },
        },
        "key": "54e352ea1d84bfe64a1011096111fbe7668ad2203d902a01458c3bbd85bfce14",
        "iv": "df7c3bca00396d0c018495d9",
        "ciphertext": "426e0efc693b7be1f3018db7ddbb7e4d",
        "aad": "7e968d71b50c1f11fd001f3fef49d045",
        "tag": "ee8257795be6a1164d7e1d2d6cac77a7",
        "plaintext": "85fc3dfad9b5a8d3258e4fc44571bd3b",
    },
    "SHA2-256": {
        "source": "NIST CAVP SHA256ShortMsg.rsp Len = 24",
        "file": "hashes/SHA2/SHA256ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "b4190e",
        "digest": "dff2e73091f6c05e528896c4c831b9448653dc2ff043528f6769437bc7b975c2",
    },
    "SHA2-256 (hashlib)": {
        "source": "NIST CAVP SHA256ShortMsg.rsp Len = 24",
        "file": "hashes/SHA2/SHA256ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "b4190e",
        "digest": "dff2e73091f6c05e528896c4c831b9448653dc2ff043528f6769437bc7b975c2",
    },
    "SHA2-384": {
        "source": "NIST CAVP SHA384ShortMsg.rsp Len = 24",
        "file": "hashes/SHA2/SHA384ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "1fa4d5",
        "digest": (
            "e4ca4663dff189541cd026dcc056626419028774666f5b379b99f4887c7237bdbd3bea46d5388be0efc2d4b7"
            "989ab2c4"
        ),
    },
    "SHA2-512": {
        "source": "NIST CAVP SHA512ShortMsg.rsp Len = 24",
        "file": "hashes/SHA2/SHA512ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "0a55db",
        "digest": (
            "7952585e5330cb247d72bae696fc8a6b0f7d0804577e347d99bc1b11e52f384985a428449382306a89261ae1"
            "43c2f3fb613804ab20b42dc097e5bf4a96ef919b"
        ),
    },
    "SHA-1": {
        "source": "NIST CAVP SHA1ShortMsg.rsp Len = 24",
        "file": "hashes/SHA1/SHA1ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "df4bd2",
        "digest": "bf36ed5d74727dfd5d7854ec6b1d49468d8ee8aa",
    },
    "SHA3-256": {
        "source": "NIST CAVP SHA3_256ShortMsg.rsp Len = 24",
        "file": "hashes/SHA3/SHA3_256ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "b053fa",
        "digest": "9d0ff086cd0ec06a682c51c094dc73abdc492004292344bd41b82a60498ccfdb",
    },
    "SHA3-384": {
        "source": "NIST CAVP SHA3_384ShortMsg.rsp Len = 24",
        "file": "hashes/SHA3/SHA3_384ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "6ab7d6",
        "digest": (
            "ea12d6d32d69ad2154a57e0e1be481a45add739ee7dd6e2a27e544b6c8b5ad122654bbf95134d56798715629"
            "5d5e57db"
        ),
    },
    "SHA3-512": {
        "source": "NIST CAVP SHA3_512ShortMsg.rsp Len = 24",
        "file": "hashes/SHA3/SHA3_512ShortMsg.rsp",
        "case": {
            "fields": {
                "len": "24",
            },
        },
        "message": "37d518",
        "digest": (
            "4aa96b1547e6402c0eee781acaa660797efe26ec00b4f2e0aec4a6d10688dd64cbd7f12b3b6c7f802e2096c0"
            "41208b9289aec380d1a748fdfcd4128553d781e3"
        ),
    },
    "HMAC-SHA-256": {
        "source": "RFC 4231 section 4.3 test case 2 (key \"Jefe\")",
        "file": "HMAC/rfc-4231-sha256.txt",
        "case": {
            "index": 1,
        },
        "key": "4a656665",
        "message": "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "mac": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    },
    "HMAC-SHA-256 (hashlib)": {
        "source": "RFC 4231 section 4.3 test case 2 (key \"Jefe\")",
        "file": "HMAC/rfc-4231-sha256.txt",
        "case": {
            "index": 1,
        },
        "key": "4a656665",
        "message": "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "mac": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    },
    "HMAC-SHA-384": {
        "source": "RFC 4231 section 4.3 test case 2 (key \"Jefe\")",
        "file": "HMAC/rfc-4231-sha384.txt",
        "case": {
            "index": 1,
        },
        "key": "4a656665",
        "message": "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "mac": (
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ec"
            "fab21649"
        ),
    },
    "HMAC-SHA-512": {
        "source": "RFC 4231 section 4.3 test case 2 (key \"Jefe\")",
        "file": "HMAC/rfc-4231-sha512.txt",
        "case": {
            "index": 1,
        },
        "key": "4a656665",
        "message": "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "mac": (
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65"
            "f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        ),
    },
    "HKDF-SHA256": {
        "source": "RFC 5869 appendix A.1 test case 1",
        "file": "KDF/rfc-5869-HKDF-SHA256.txt",
        "case": {
            "fields": {
                "count": "1",
            },
        },
        "ikm": "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "salt": "000102030405060708090a0b0c",
        "info": "f0f1f2f3f4f5f6f7f8f9",
        "length": 42,
        "okm": "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    },
    "KBKDF counter HMAC-SHA-256": {
        "source": (
            "NIST CAVP SP 800-108 KBKDF counter mode "
            "[PRF=HMAC_SHA256][CTRLOCATION=BEFORE_FIXED][RLEN=32_BITS] COUNT=0"
        ),
        "file": "KDF/nist-800-108-KBKDF-CTR.txt",
        "case": {
            "section": {
                "prf": "HMAC_SHA256",
                "ctrlocation": "BEFORE_FIXED",
                "rlen": "32_BITS",
            },
            "fields": {
                "count": "0",
            },
        },
        "key": "dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0",
        "fixed_input": (
            "01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d"
            "0315bb2911d80a0e8aba17f3b413faac"
        ),
        "counter_bytes": 4,
        "length": 16,
        "derived": "10621342bfb0fd40046c0e29f2cfdbf0",
    },
    "AES-KW wrap": {
        "source": "NIST CAVP SP 800-38F KW_AE_256.txt [PLAINTEXT LENGTH = 128] COUNT = 0",
        "file": "keywrap/kwtestvectors/KW_AE_256.txt",
        "case": {
            "section": {
                "plaintext length": "128",
            },
            "fields": {
                "count": "0",
            },
        },
        "kek": "f59782f1dceb0544a8da06b34969b9212b55ce6dcbdd0975a33f4b3f88b538da",
        "plaintext": "73d33060b5f9f2eb5785c0703ddfa704",
        "wrapped": "2e63946ea3c090902fa1558375fdb2907742ac74e39403fc",
    },
    "AES-KW unwrap": {
        "source": "NIST CAVP SP 800-38F KW_AD_256.txt [PLAINTEXT LENGTH = 128] COUNT = 0",
        "file": "keywrap/kwtestvectors/KW_AD_256.txt",
        "case": {
            "section": {
                "plaintext length": "128",
            },
            "fields": {
                "count": "0",
            },
        },
        "kek": "80aa997327a4806b6a7a41a52b86c3710386f932786ef79676fafb90b8263c5f",
        "plaintext": "0a256ba75cfa03aaa02ba94203f15baa",
        "wrapped": "423c960d8a2ac4c1d33d3d977bf0a91559f99c8acd293d43",
    },
    "AES-KWP wrap": {
        "source": "NIST CAVP SP 800-38F KWP_AE_256.txt [PLAINTEXT LENGTH = 72] COUNT = 0",
        "file": "keywrap/kwtestvectors/KWP_AE_256.txt",
        "case": {
            "section": {
                "plaintext length": "72",
            },
            "fields": {
                "count": "0",
            },
        },
        "kek": "70da43aac823c6dd37d1109f5b18feb4503c973288989745e2cc1cc21d9570c6",
        "plaintext": "edf17d966ed896aee3",
        "wrapped": "d67b5b2ad15c645450e23b5e7b6d682f8ae20e716d470db7",
    },
    "AES-KWP unwrap": {
        "source": "NIST CAVP SP 800-38F KWP_AD_256.txt [PLAINTEXT LENGTH = 72] COUNT = 1",
        "file": "keywrap/kwtestvectors/KWP_AD_256.txt",
        "case": {
            "section": {
                "plaintext length": "72",
            },
            "fields": {
                "count": "1",
            },
        },
        "kek": "0e6d542f960c7e61ca190d7fd719fda157030a0a013164613a8c522b52ae685d",
        "plaintext": "a957eb4ea02e68ba8b",
        "wrapped": "b5cae8a82095abb3478ab167dbc0201d2f4dfc5f81bbe44e",
    },
    "ECDSA P-256 sign": {
        "source": "RFC 6979 appendix A.2.5, SHA-256, message \"sample\" (deterministic nonce)",
        "file": "asymmetric/ECDSA/RFC6979/evppkey_ecdsa_rfc6979.txt",
        "case": {
            "key": "P-256_PRIV",
            "digest": "SHA256",
            "input": "\"sample\"",
        },
        "private": "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        "message": "73616d706c65",
        "signature": (
            "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1"
            "b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
        ),
    },
    "ECDSA P-256 verify": {
        "source": "NIST CAVP FIPS 186-3 SigVer.rsp [P-256,SHA-256] case 3 (Result = P)",
        "file": "asymmetric/ECDSA/FIPS_186-3/SigVer.rsp",
        "case": {
            "section_name": "P-256,SHA-256",
            "index": 3,
        },
        "public": (
            "04e424dc61d4bb3cb7ef4344a7f8957a0c5134e16f7a67c074f82e6e12f49abf3c970eed7aa2bc4865154594"
            "9de1dddaf0127e5965ac85d1243d6f60e7dfaee927"
        ),
        "message": (
            "e1130af6a38ccb412a9c8d13e15dbfc9e69a16385af3c3f1e5da954fd5e7c45fd75e2b8c36699228e92840c0"
            "562fbf3772f07e17f1add56588dd45f7450e1217ad239922dd9c32695dc71ff2424ca0dec1321aa47064a044"
            "b7fe3c2b97d03ce470a592304c5ef21eed9f93da56bb232d1eeb0035f9bf0dfafdcc4606272b20a3"
        ),
        "signature": (
            "bf96b99aa49c705c910be33142017c642ff540c76349b9dab72f981fd9347f4f17c55095819089c2e03b9cd4"
            "15abdf12444e323075d98f31920b9e0f57ec871c"
        ),
    },
    "ECDSA P-384 sign": {
        "source": "RFC 6979 appendix A.2.6, SHA-384, message \"sample\" (deterministic nonce)",
        "file": "asymmetric/ECDSA/RFC6979/evppkey_ecdsa_rfc6979.txt",
        "case": {
            "key": "P-384_PRIV",
            "digest": "SHA384",
            "input": "\"sample\"",
        },
        "private": (
            "6b9d3dad2e1b8c1c05b19875b6659f4de23c3b667bf297ba9aa47740787137d896d5724e4c70a825f872c9ea"
            "60d2edf5"
        ),
        "message": "73616d706c65",
        "signature": (
            "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36dd1e"
            "80fabe4699ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e679e"
            "7b82c71a38628ac8"
        ),
    },
    "ECDSA P-384 verify": {
        "source": "NIST CAVP FIPS 186-3 SigVer.rsp [P-384,SHA-384] case 1 (Result = P)",
        "file": "asymmetric/ECDSA/FIPS_186-3/SigVer.rsp",
        "case": {
            "section_name": "P-384,SHA-384",
            "index": 1,
        },
        "public": (
            "04cb908b1fd516a57b8ee1e14383579b33cb154fece20c5035e2b3765195d1951d75bd78fb23e00fef37d7d0"
            "64fd9af144cd99c46b5857401ddcff2cf7cf822121faf1cbad9a011bed8c551f6f59b2c360f79bfbe32adbca"
            "a09583bdfdf7c374bb"
        ),
        "message": (
            "9dd789ea25c04745d57a381f22de01fb0abd3c72dbdefd44e43213c189583eef85ba662044da3de2dd8670e6"
            "325154480155bbeebb702c75781ac32e13941860cb576fe37a05b757da5b5b418f6dd7c30b042e40f4395a34"
            "2ae4dce05634c33625e2bc524345481f7e253d9551266823771b251705b4a85166022a37ac28f1bd"
        ),
        "signature": (
            "33f64fb65cd6a8918523f23aea0bbcf56bba1daca7aff817c8791dc92428d605ac629de2e847d43cee55ba9e"
            "4a0e83ba4428bb478a43ac73ecd6de51ddf7c28ff3c2441625a081714337dd44fea8011bae71959a10947b6e"
            "a33f77e128d3c6ae"
        ),
    },
    "Ed25519 sign": {
        "source": "RFC 8032 section 7.1 TEST 2",
        "file": "asymmetric/Ed25519/sign.input",
        "case": {
            "line": 2,
        },
        "private": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "public": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "message": "72",
        "signature": (
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
            "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
    },
    "Ed25519 verify": {
        "source": "RFC 8032 section 7.1 TEST 3",
        "file": "asymmetric/Ed25519/sign.input",
        "case": {
            "line": 3,
        },
        "public": "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "message": "af82",
        "signature": (
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760"
            "984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
    },
    "ML-DSA-65 sign": {
        "source": (
            "ML-DSA-65 KAT kat_MLDSA_65_det_pure.rsp count = 0 (key generation from xi checked "
            "against SHA-256 of pk; the library signs hedged only, so sign-then-verify)"
        ),
        "file": "asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp",
        "case": {
            "fields": {
                "count": "0",
            },
        },
        "seed": "f696484048ec21f96cf50a56d0759c448f3779752f0383d37449690694cf7a68",
        "public_sha256": "ab0f27cfe4f84d2a9fa74d48467439df9e5dd8401f8715f82ed70e43a371400a",
        "message": "6dbbc4375136df3b07f7c70e639e223e",
        "context": "480c658c0cb3e040bde084345cef0df7",
    },
    "ML-DSA-65 verify": {
        "source": (
            "ML-DSA-65 KAT kat_MLDSA_65_det_pure.rsp count = 0 (signature = sm without the trailing "
            "msg)"
        ),
        "file": "asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp",
        "case": {
            "fields": {
                "count": "0",
            },
        },
        "public": (
            "e50d03fff3b3a70961abbb92a390008dec1283f603f50cdbaaa3d00bd659bc767c3f24ec864ceb07b865aa14"
            "8647698df8e63f244c4de08affc0210f1560f64822961972463e403bbe97ce7a539fc013527558ad824202a9"
            "0b1e9a045d89a51c3a31d0330f2099d0f5e0b9e8de8d1e340c91d6a0f61cb8a6548e2614a1b6a2ad80f4e567"
            "f0f134700b1563ccaab71f28e7bf509858d85218166dd9a0e1dfad4bee180b4cdaf6e37623558f64fd124d3d"
            "7543aade0b28fb8f193159cea7dfb172174b6c25375c9c1903636bfaa41791b1f2f16158020806a1d95979f6"
            "78a46a209a8780345d2d092c52b576b5e263e870570cc1084058676fbddb2c93bc87fd81a90f7081c04fb299"
            "415f761966614aedeea40386f0dbe97512956c3f16c3e210a364de926e37374637d95d0420de7f2f72365392"
            "a6d4392018762cd6aa4d6ec629f6d0605ab86862a34c3f1fb55695ae35e736404044aad617d192e8ff07a16f"
            "5c6291c2edb0bf1d601a6b08f1c9b444e31570113124cd20eeb299d30a4546243a9f20ed36fa963edab2f494"
            "cd92f766633b97237ccc3485387f4344839f4656fbf1eb7f4f24712f432f3b74df325747405bc9ee39f42f87"
            "653322f1d23c92c981953fc107570053ce46b6741410a99cdb1888d33943e191c0a395085b9d14a3fbdc58a3"
            "ea16706c937ea44aebc9764df142010eab022c40b28e63da853ae03843bfe02eed35331571ec89895c1ea225"
            "6cb7591e63c7a5870455663ef9804b84d524470a08cda9bbbfd07ba6537473163cf030849c5f31679c610d56"
            "d5e31c0e73f23098d3a19dd39afe507e25d053e7d5b0d9b18c53b153c2d5b162558939a6e24e7ba02d1d736b"
            "6a4c93a4f3bc50d4ab16ef350b411e6f4a734be03242fd67ee47eb4ec3d453d1a9254c4e02f68a366702ef28"
            "75932b72125ee81da1c10a336b4a4990a5e36f0b59b00e3471c56314d6e92bcb7bacd6219fd99c1ca50c3342"
            "ce62cd98be9458a17cf243c60c09b106e86fab345a997f7b46d4ac1c790c37dbdb93d29c532a5cb097a30f92"
            "d47c460ec8345b17ba5db77c1a6533a9448a353663f187517a399583b2f98cb0a8dc3f64d049716a5c8aee6e"
            "de0bb6958fc70f2fce706f20622d35e9ff2a1c30dd5e71bebe4a33fd74ab768cd34a2d9ec59845a8f38b5dd6"
            "c0008b678876e493c9afc2396a16721142803f1f38c579036858a25a1a1abfae94c7dc1ecb26c1d3b4d96209"
            "be238360fc8554e33f5fba2b92abf207b677d433b58275366b836be7081d7b50f9d29652c836ffb11596317c"
            "b3aaaf4ed41441298fb386fbd9237227bb7529bf5eeb7711bc6936cd4fba98b8404dd1e8650a3a1bf2986983"
            "5797b9537db1afc0f4339ad3b296401100520dd43d2cd453534f1df776c0aa184f2e5cb658fee5b54bb44d9e"
            "e13b3486c37b1fea4284327ce15400ecd93a0c01852d045c3c7af348d4786845984fde0d086c115d4fcbcfee"
            "73688ef61601ce3560d6db6f0a6be4dc05640c575a2d24a6a5b5d697ecc3a6844bf7405f68c5450b1d67b5df"
            "cfcc8f878d787f7f57d3875fdf345f1730f9e7493e9a4acacb7b8832b0141a1bdb082a95d8be8f5280035f42"
            "f05f9ecf663fa5d03b056c43bc39ba1a6f7375961c4e94830c51e276cc4bc826518f84f51e8ea6f59a3d12ad"
            "9d5ef2ca6db70155cabd655713641a885551ab65a358d2e7baf68a39567ba2278d9493562aa4e903ad6f304d"
            "2752064d8dbc8a2bf53e24d2f77e47da1d0519212148daf2cb99453b44c7337db46390a6d67d0bbdfa980bfc"
            "a35d68df1e904168f64fd6b22710eac8bab8757a9e3bb43c5f907949cddecf0321d728a2bbb74e6cc4959c15"
            "16c9b2981150f054ec05bd3844e99a7788d5d018c2dc4642969059601a6928963500f085c84cda6454dfc4be"
            "63ba82182104499d778e0e998e1cf9086d7990ed03704753f10cb4df6076341f1d556aae9a15ade459e74817"
            "fa1d9cb8d0a816afc5947c81368bda9c3a587565b3c39199bf3e24254c601c43002c37b83e43116f25ebfb20"
            "6d081d81c34618e53aba8ef65af1c5dff402839d71c0319cb7696922088cb9ab3f2eee8ea79228ae12dc9aa1"
            "db9acd1309d7171b47a7043fe73cfb4e6b11a3da910f5e5e734c26b41a93452848e735d1679963a413d69a0d"
            "275ba10693fb922d8f8c32310dee718125b29d1366201399eb253ba5a1fed099f9df91e3c59c16dfe8f70740"
            "45760527327e1e5852537ae96962553b69d85da962a5a6789d19fe585e257012132a7c91feaf4c58a4fa7c12"
            "6fe68406f34ebf1f371adb4b30514b18dd6e7e659df07776238e48cb7fabd08b5f6a9fc05a7ffbf019a2632c"
            "257bf79636994c807fa2f513f60940800e290c2e684d9162858bca138a8634e23b1bb4b49f77af7eb717a79b"
            "2f293f814849a8d7e0aae2a734259395c4bf6a3a8deb37a0638121a9dcf83dfecd0c6c58a8eb05c4706e395a"
            "869c3ce01d42e31466fba05a45e4181dddb177fa20fef50a770d9da14cffb55ac3e829bd932eff759eeaeebd"
            "37d3ecb38f2046528affc969b008d2f9fad5acb4682f119011cbb4ffb11dae5d91dfe9ec7ba5142086e5c09e"
            "b398e3685413a394b385a5e377c4996848d862ed7f70b3bb75cff88cf89db9146ea82b5611569a8bb67dc95a"
            "b4135c2a427f12ba1c9b50cf86d1a238ba0c99c3d82dbc90dd0f7b281494df1a25848ecadfe915a95a43247b"
            "c5a55e1e2d90ed05f70be8b2e5fc9d5b"
        ),
        "message": "6dbbc4375136df3b07f7c70e639e223e",
        "context": "480c658c0cb3e040bde084345cef0df7",
        "signature": (
            "0e9e903efe9d51ef5356b9794e52cf55cbfde58596f7e81faafe2921928279aab3ec9ba9a072c2c68adc72f0"
            "c2946fd4f5adb4c722a2f0e55676f1c79cbdc1d8afd19cf86156b5f7f8d012cd8245fb03fe30c62ea63110a7"
            "22782367983030afadd16391b345f00d9c6d9750ae4b7099d5fcb66b944a213cf4881fa0f806e293554e8692"
            "05e3e8e9abe67d0749d8c72fb882d3f3d1512f3077845787050527bde82da3cfc8ae9d0ab7827281a14f2bf6"
            "131cb79d27f4c781d0e8e42da9fdecb5be1979c9ccde17f1cc5b94f2f8e0a93d3e085ec72e221ca7d6bdad71"
            "2a2c649b7bfdd0ad02306dd49cbdc298d4b23e73db05aa6a8b1514396e3032fe512d8cf58c5b61a546e1de56"
            "d98ad98c6d6a81db9865566a7cad4d533cb1d7770f2807819bb436e89045f8ac363aa6af27b5b7488d2303b1"
            "0ba6e80e61ec0b8ae5850c96edeaf97ed2ebe64f77df8708c31bc6f6d4598dfc7c7ddb12b16b85adac7d8f1c"
            "2d961983ca2db804e3062c8e94d37c97181abfa111529adf15ed04dc403e9758d545cee70e868c222ed724d0"
            "f9483d7d2c5c44ad28662382ec40b7949ce08a6acb69d05a90d52ce487ce8fb6b5e5b91a2187d021ece47700"
            "f2f8eb5d2eb8e86000f14b978a051009c54ab1f1b90daa1d0d6711249d766d91a5f8c8604568bfc2f52822c5"
            "2d625f451c194a5cfa4151b4fda81873e5f444144344eb75410033e2ba3d77850cae4b34495943a3880e273b"
            "b8842295ad853d1c7055a290e5ca084ba993c18810a85392ba042b7efe1e002c923723a43cc7b2dedca6123b"
            "eebc4968ce42bb10d19111b3f77f519c19e9fc8111616dfd53b01eee401af9530568ffe98164e2d2e220a664"
            "22efb00bc90b07e48804c67db44f79e0595ad4a31e9b760c01e9fc239fabf55837316d7a13fd069f86563936"
            "e7b61ccb7d0dee4bd93e6b129c7da92a4516b7fa263cb6bf5940228312973b442f305dcfc40f843be2da8d69"
            "3450f9ecf339bc9419f543a2fa0d4dc7793aced11d8e50d68003c2bd0212a7af1a5cfd7e8e54f14d8c627b3c"
            "d9558fbab33bf6209e485e59a9c9feecc54caa2dfece838b97b313c169cf27404cfc6dc5174856300208e102"
            "44183b2fcd28d34d67228eb9611b8f739a112178dc143fda2b8e64417e0f4c18f875eff34ec80a0fe04b5016"
            "473385a3e9c7b863b49ca05ebc3a34724a99488eba3dd49608da335a2acda60a91f3b8fb04ca30de481c0e1f"
            "17af2f13227b183345250b523257e08b58e15eb7b22a82ce581e63310a35cffb159ec276ecf3fac1ccefc233"
            "89de6c29b7e4454987611b315fb7684c72376ba448161cd82bc6a924095097c897b414750df37d34bbd28449"
            "79fbbdf68110afc3e14cce7cf963c375c92dcf65e4d633093bb8094052f8e9e6c4f3f650e9082f7346867794"
            "474a89f74e543714a5ad03ba003ffc1c716d56fb6078798e68ad4072d7db5099d0eb2c7ffdf21bcb4308965c"
            "13e0e1bd36bfab7c4267fa0c02ac393e70883b734027b9b087dabcd2c9bb65d9f769eae934c2b0415b2a5f2d"
            "7933e259ba51b2bd82fc08aa496e5fd3c4c0668e432dda489b4b9626006a2a958c0758624544279336421e92"
            "c477b09b968137686b68c5fbee84629b2c6b5506ad42198eefe6dfed5273fd74387faec972120aeaf85bec14"
            "91293362ebb2bda24eb7b3632c0950cf16f793fb333ca0025f57ce51b141cdc34456bfce530b417b00b574cb"
            "d4d13be8ef48fd3326948f7adc5b1f0398fcf0281e040407b3f9b7f79e4f1e89fb5eca34c9b387b0db3a5e98"
            "e253b999cd4c1616fd7e3fd26aa896c2118fe1e92499ddf5ff1125377a59987e84e03181262f7ad843b61b64"
            "50d92372cbcac16ba5b9b8d8deee7781f841672d91f336ce220fbfff7e32d61c98f5249e67bfef35edc3d9c3"
            "630b4f956c44c4a3e93f851c7775b64d759f2632b5ee38f0f3fff016a1fd3999b50c4f1de82cec0f11c34e49"
            "4d51ad34df7bd812899daec5dfbd1b8405baf261e1da7898ba1dc1ced8afa4c23d662859d8a68205b62b6f90"
            "8e2411d3a125e71442f74fc08b02e65195a63f198e1cb6c408e6a1b157d2a4b85a792cac2a07ddaea79c5858"
            "ce0ebdcdeab199483e2367f9b4785344447dca9251eb3df906cf4934228c4c028495f00e130722e175243791"
            "680bf540ca60e4c17c910637f6db35c1670d5c6d7e8264fa97fa540c870c87d1aa441599ee6fe6c22eabf8fc"
            "49c824b3bfac6491a2349ea33c4cb6cb19c0facb7d0cdb62db2ba56a5c337f9fe7b4ab5936275f98fe487b6c"
            "4805be709f67456caebd3043737a5974b0ca932b19c435bed01010c4617d350d803ff22dbbb3442189d9f81a"
            "0e5b47edfa4ea0a832fb14d27b19be226b42910ed10ac2d404abd96262bde3c391b238fa9bcfd3734275dacf"
            "c411811e01b1178750c745fe9462740c3f91f130535a7feb6be25b34a3314666ebaef01f5ec8b656add9b87e"
            "59c5bae71153e91be21505f27246035ec6c2569d7f165723a169cda18aaadb1481d84976da019a149b02f5b1"
            "f9b8c090a8115ecb3be65423aa1461e35c804a411b1cb191a8734233ca7a42acaee8eb4f451aa3089b9542a3"
            "c65e92a3a74b14443d1a8d72846fa7846098ec3233d2553ed4ab542c8c425cbabb94bb2fdb5223acb999ba31"
            "a19a0ff9b646fc4297832d36722e0af0c03899c8ce17c79303b091512f0106b4285e6e8faf09325f0bc3d8d7"
            "24575c9556931a4dc34c93d81a79f25199ed712a97309630b5635ae067edd4e17be9d4e194905f8d3c7c6ad9"
            "3bd219beac7c389f62f8adec30a72bcbc15e8586b9e2b057140eb95fadd960389230edb3925dd9a7deb86f72"
            "502ffcebbe9a65a99e6cecf61823f9cd326f298b9430a0f476e57093895e26b0375c327b29c3e37f14474af8"
            "15dd90cfbc8e61fc2f0b528b3db0e5a5407db99c3c5c2862e3b68084305e93c79f1b962a6a5d28c76969e1d5"
            "d1e82ad831ee1b6238208890db7006b395771e34c1a0d25ebf651273ba3d495417033163b46f6a176b79c446"
            "c92ebbed4bc84f0e1effc0b38d3e269cd39f392472f1634acd1bd178a8ea5a54e045c45e19d54bc286e9fb0e"
            "324c30e00593529aa28f7b66288144ba6db9ff9f368565944bf776e93e27741fd7ded89144bad8a3c1287498"
            "973d7cd8d883fe3012db6af76e9ee1dfc189e1e7f97f1e23b288c5776de731b286a80fa349b09db359a5cfaf"
            "c83c46de3b43cfe9e96270e18749a3af460d1312c4eb058935f13eaa29e8836877a88734356a816b31917877"
            "6310086551003227f0b191aa6058cf8209de79cf106d57c4b769f142054ccc16b0348bf620f1a28dca8ff02e"
            "11fdae7cd155383b59e4acdfc53795786b759b5a03abb1b25adccf711e30ce1b783dbf75421d6ca5e146c6de"
            "ca0da3078575c936063131c14f57ec4eef5fa5047f3e3be6fe2d3940878f905ee5c7e46cfa43575b64b6a5f7"
            "1eb715e2cf1aa514df138234317b401d57f1a61ff08a0eedaa6b4370e61003532fffabfbe368eb465230b7f2"
            "5c80bf73ae239b9deb8ce54b64bfc06820c01507aa2d9a8a6a9f5ed2d8912b4e1b43192baee1e10df1c15c88"
            "f7fb4381cac124848b55549239e2f1acc7a4352c4aeb56307d670ea52217b272345effaba37c04dccf9f4d8a"
            "9c89e2d51ee3cfd8a53e369256800af40e230d2c554114e99db275e8f8dc34ad6f2ecca886e018bce9822041"
            "a9196d4efe9ec952ae2ff4fc8256084923075295a82034909942c87b64e5bb941eae7de6cba2540c594b3f1f"
            "4a24d6fc25d1182a88b9e6dc4616a3a76d03523e8c34c71684d8c5e5be134402df6153e9230f6e013ec6131e"
            "5af35a4b8c5aa227b2452cc8232bbc904d4b822eeddf96c89b16af80856afe9d5a66f914b81b2d52efc451e6"
            "f3d92cfba8070a9b3957e74db749c1b94dc5acd950b6a553909229fd916a1cfd56701f57a0971224070eb24d"
            "3718a665dda9b4ca9171ffbdfea55ef194f91ecc61d04cf5068cb3b7e481073b9396e8ec349e5257db91f0f0"
            "0d9df9d3b465ca93c15c9efefb9aed057343eb169b206aa0db60db319801899a2b6527e1f97263444599b555"
            "dab700dffc302d6767385f982c78b4932ca12a16d575752b915b034dd69f3473c52097fc6078dd7ef6462b82"
            "0bee65980510367235191d900033f13b7e2bd43cd423fbed47aa54377f67be5583c1c385c659449bf2020325"
            "02d2db40101cdb5543ddfcea652c5b3c711d932c2c22ec67256b194e5bcab3ae054d02b22e7193c7c32aa3a9"
            "58822cd5917117f53569ad42a5b30a64781355d22ff3bb70b76430b7e8e538df4c5411a09e6fecc4086d86ae"
            "bfe497315056d11660165b47383302d6461a7f0f2d0c6e894c33c71c1c4eaa715d55ec369bbf7d86623a7b2b"
            "76bed3b1356ed80f8a1ee77229ab6cddd96eaa724fa740b480ae6fb1768c67adc5ce85dcf0f46026fdcdb4f3"
            "46c60c2478f6da4b33fc06a0645fb5629b80e96d6f78aa4ae1c5cefefb24912de843f509e9609fc969be9a66"
            "c28d5608d6bcdc6bc0e6ca5752142e196679935fc745f1a84fed03d47276e29ffefa61b4232b737583c1c2e9"
            "3752a7acbac2f747698b9b023a4000122a706c758fd300000000000000000000000000000000000000000000"
            "000000080f13161a1e"
        ),
    },
    "ML-KEM-768 encapsulate": {
        "source": (
            "ML-KEM-768 KAT kat_MLKEM_768.rsp count = 0 (seed = d || z; key generation checked "
            "against SHA-256 of pk; the library takes no encapsulation randomness, so "
            "encapsulate-then-decapsulate)"
        ),
        "file": "asymmetric/MLKEM/kat_MLKEM_768.rsp",
        "case": {
            "fields": {
                "count": "0",
            },
        },
        "seed": (
            "6dbbc4375136df3b07f7c70e639e223e177e7fd53b161b3f4d57791794f12624f696484048ec21f96cf50a56"
            "d0759c448f3779752f0383d37449690694cf7a68"
        ),
        "public_sha256": "4bec4730f26273c6319ef7387dd4758315240a9394cd89264b148b9113060b61",
    },
    "ML-KEM-768 decapsulate": {
        "source": "ML-KEM-768 KAT kat_MLKEM_768.rsp count = 0 (seed = d || z, ct -> ss)",
        "file": "asymmetric/MLKEM/kat_MLKEM_768.rsp",
        "case": {
            "fields": {
                "count": "0",
            },
        },
        "seed": (
            "6dbbc4375136df3b07f7c70e639e223e177e7fd53b161b3f4d57791794f12624f696484048ec21f96cf50a56"
            "d0759c448f3779752f0383d37449690694cf7a68"
        ),
        "ciphertext": (
            "16a61ff84787fd4a5f19ca59b3657db3a106a7329e2d62747a2ef85149163109befff6bcb33df66230b8f672"
            "5ce719f58f71196e895befc9754d9f042494648c88a6ed4c4cf13f2faf9f651de79dae077733cb235f9dce44"
            "8977fd42d5486b7dfdf6d7bd9172b14247655d34f10524d469478d9a9639f34d2acde6e3c048d52b308b6624"
            "5fe9a28cde7983b9d14c03b37715fe3970cd35734771add7aa9b58cfb0adf8c613deafb2b31f6e5c8364d433"
            "4e93af8e4943fa947cc67667447cffd036235afaea7f603cb2ea277b97dadf82ea746f6b27396dd08c85cff9"
            "304a2e5ce0571fde2e926716bc9f8e4d474b4e8fd34b0dc28376204ea306d30e9a6dd88250b79823e77319f2"
            "ef3a77704f409dde8beb6db1be4a9f25ae2e15939dedf1b11a5aa51fcff04068b46d42fbbafd2498264cca4f"
            "b78b0f2ab162c7ef569875a13148b9a4b0b9da1787ca0a7033e3eca13471dbcbbe15e34f2b5065b995fe221c"
            "2b7ac150334d14e68edc5e049663de362fae8d35e24c202c5fad2153cd044ea962a388f030cdc5dec1c34231"
            "83b173c32b22f5800ae45e8e89c8ee4617ce24e60f278bfd1ea0f8fa92486b6f849127da99be7be4c661e2ba"
            "26669d6acf619a33056809683e24a2f29e33be7f5f9ac668697e59488e9b8685956cd87b7c47109d603202c2"
            "01472ec829ea64922e4d0eadd4a4b5a8fb06e0f4bf25a59ced54557388dcd91b387cb6148597edf84a225958"
            "01851ca4b9e9e096fdfc96f2444ac9f1247a5e640787fca23e3eb21ec1059c42a65803441df01279013c448d"
            "fc3eedfc3355eee1f510086a115f854c36db797a85ede19a473a33e79a80f6f7f6467e1b0d866fe0e57a8abd"
            "379934a6a6a492f5f32594d43de2ec2eea81487981bb6394bfa6df5498d74c6db2202a6348a325fbc906b8e8"
            "20bb00659a2ee12740b14b2e36f4c5dab411c0cd096c5e63ba4d48aa9e92b31f44dc97c0fef661bcf4db895f"
            "174613d9d5ed9e836657745ec9deec7af273cec87ef0eaf805da1bc8401608810b8a86f952c6326d09fc8d1d"
            "7fd83b4e862e05058e877c056cc5465ec3192b03a4c33cc6b16558d2482d5f84518cbbc526aae6e8840317ef"
            "b3a1982c3d1719ef15d10f8b077c5c68680be6d3d92e86aaa6eb378cf0559d493257147b55730f49a042325a"
            "f066b4f9741b9fff5d47972d5acaf52b6bea4e9e354ef9448b62f6d2a1317675a922e14e31578d6cab5a09a7"
            "1ab270d865151b8ab4c612b5fd5dcc97e45419a1cfb6b8b9aec60f62602098f91f07c238186657941c7a18e4"
            "d7ee220f022d5fffd291853b9c063e561b7176f7a235ce45bc86ce4718086df9536c5a5f0abf04c0a84d82bd"
            "f69552ade3135433c10a1ba69d688969e6d9dce54d3b3aae3a7f2ab904e657e3fb05241fac110aa07e62cc39"
            "91d7d0d6329b5ab9d69d7336c0d148588c9f0921325b85df5fd30db80a56a3724372153641961aa7e042bf26"
            "46ff46022c059d5794c3a4b7f90c410de71a5231dd9b83bbd0e6bdab1bf9e62f"
        ),
        "shared_secret": "b408d5d115713f0a93047dbbea832e4340787686d59a9a2d106bd662ba0aa035",
    },
    "ML-KEM-768 decapsulate (implicit rejection)": {
        "source": (
            "ML-KEM-768 KAT kat_MLKEM_768.rsp count = 0 (seed = d || z, ct_n -> ss_n: an invalid "
            "ciphertext and its implicit-rejection secret)"
        ),
        "file": "asymmetric/MLKEM/kat_MLKEM_768.rsp",
        "case": {
            "fields": {
                "count": "0",
            },
        },
        "seed": (
            "6dbbc4375136df3b07f7c70e639e223e177e7fd53b161b3f4d57791794f12624f696484048ec21f96cf50a56"
            "d0759c448f3779752f0383d37449690694cf7a68"
        ),
        "ciphertext": (
            "96ac6243c9b1272be77b975a4048bf00ff2c48f94a3483362449273880d45e54bda15729682bf591a74382a7"
            "08beb78118cab29ad74ac2f405ba720076dfb57188dc168487cd20081f6bf412f257dea03406b23a6a752e47"
            "8ba4ef9c7c0f4810921fa32545be64dc5d9f18d4e1320efc6508154cda35ab912d059e0291a1150ae0a10da5"
            "e3d7bd221a851c598df4d0b18daa920976556099d1c0de4e222d5304d44fa9cb9bd4ffe15769dd6c4793fa80"
            "9f5264cf0febca4b5975ba287639783aa1f4b645ff7a00d46ee7b19fec17b3e83bcaf4361d5349e30ceab60c"
            "386b6b0d1b90d8b336ee6a627ad2a38670cb5113b0fb4ac2ddc4250097483fefd182670ea40f0f45cce90b9e"
            "d58dafaef657d64e25fd6692a69721994e7d00b4949205ebe4c4f9c46ee5a1018b220a26d80ae2d2b486372e"
            "974d75b20a005b1616ad1e13d162915cc24f274670d1e5e8bd345874a7e7c9759c8e43ff33689200739a6133"
            "95f7ae78d73c6a7b90f65ab511f0df3c5dca85d0b9430b4e97098715ff823b617321799aea0ab9c722347803"
            "39ec7b541d5e6f8c1551146c24a65411811b23674c26123356cf233351382c3994cba5dc6c25a07e1ba9af33"
            "eca18bba3e97935e3abdf07e9fa32cecf241e7cafc6592db4ee487ff2b98a4a47805dee17fd93448dc98457b"
            "753ed4995ee6b1bfa9ff1d386c91f396ca8f48cab5b09a782ec3b616a87a6448a96236c4655413af755323d3"
            "6a8db2e16509454489e6ec83629130cd2a54817918af362c83183494b4b590dbaf69cf399d3e2dc3e9c0c122"
            "4f148e65ef68287341ab72ad58adfc69b28e27e91ebbf830fac53b94f762f01cc9b1561ae35f16edabf51ff1"
            "64c1309d1fdb52cd2bfedb5a492eb65cb9fc86b8f05ed26d13233fb0a3eb33a9dce2cf98e6516cee42fbe1e9"
            "7e20ab6c9965f58a377dc73e530667ab8f45e6a70b23db50f0df411732d8acdabe50c51adb886c0e5a5296d4"
            "aa1b13a336f0c17812f79fc69418a7d8901c568f410eff2af74baaeb8336f46ca17e14e060ce2d45cdb37628"
            "6eec8b8befa5ab8025802720a1e7393af579db13e8867d43d711e61b2ee395077984a450a8e2513040068a93"
            "1796bc3d0069b56d1f062fc3dd61b1b194b6e1f1d1c0596d453db7b7592a6f9f8ac5576a855906512200234c"
            "40fc9bd9de9c3d6291c31b5e6b7ade473a3787aab0c958b3df76188a86ecf9e3ab06f96d1ec518c1bf3366be"
            "f94465d9e1a69eb26db9e0f0856d27be50a52bb0a3a17075d66080fe1d3bd42122d656ccc3a556e04f913faf"
            "9641143931a640e72fab9d003038c982cac8142e5613dbaab9d41390577afe73ac623f7c1920cbf1feb5c85c"
            "c433300c1c5579d020d5491edd6c503117b9c4d598438938831e5c341e9c86cd00dd8d4320b656f9aba9f0e5"
            "52724e3828fc2e00946121663ad3ad98a25e7d308da1a0347c4dcfc798e395270ad07cfdf0ff8e3278dae20a"
            "b2664cdf30a5d0ebfe7a1e799ec44b514e02f2be9738d4e28036b4776bd40408"
        ),
        "shared_secret": "e7bcf899feb5db69d11741a8838ecfee253e80b76d6a35af46e220e81dc41daf",
    },
    "ECDH P-256 shared secret": {
        "source": (
            "NIST CAVP KAS ECC validity test (static unified, ZZ only, initiator) [EC - SHA256] COUNT "
            "= 2 (Result = P; Z = x(dsIUT * QsCAVS))"
        ),
        "file": "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_NOKC_ZZOnly_init.fax",
        "case": {
            "section_name": "EC - SHA256",
            "fields": {
                "count": "2",
            },
        },
        "private": "8087ab163864bfa81001c72f736b6d94e7612559ac4c847d06ba2171840684d6",
        "peer_public": (
            "045a3955c54a49645ed818f3774ea10971a1db88c370d8966c5a6e88234ed5d82003b13f0dad73f64532f42b"
            "8b2fa6d1450d9ab24896e95c24674298f2da07ccda"
        ),
        "shared_secret": "0cb890a0dcc277c3dde0f91b4322a32e6365d7ec85316185d3286b4977849410",
    },
    "PBKDF2-HMAC-SHA-256": {
        "source": (
            "RFC 7914 section 11, PBKDF2-HMAC-SHA256 P=\"passwd\" S=\"salt\" c=1 (first 32 of the 64 "
            "bytes: PBKDF2's first block)"
        ),
        "file": "tests/vectors/pbkdf2_hmac_sha256.json",
        "case": {
            "index": 0,
        },
        "password": "706173737764",
        "salt": "73616c74",
        "iterations": 1,
        "derived": "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
    },
    "KDA one-step SHA-256": {
        "source": (
            "NIST CAVP KAS ECC validity test (static unified, Concatenation KDF, no key confirmation, "
            "initiator) [EC - SHA256] COUNT = 5 (Result = P; DKM = one-step KDF(Z, OI))"
        ),
        "file": "asymmetric/ECDH/KASValidityTest_ECCStaticUnified_KDFConcat_NOKC_init.fax",
        "case": {
            "section_name": "EC - SHA256",
            "fields": {
                "count": "5",
            },
        },
        "z": "8f8fe42ec7860e059405bcd7cde1a8a31838675e706a43326573bd7ff7c29a48",
        "fixed_info": (
            "a1b2c3d4e5a32d79067e6a9d50c182eed125de8648434156536964bf9ed234c2e63b690d8bff492a39258c84028578"
        ),
        "derived": "7b3fdeb3302392808e7e2283e8eedbca",
    },
}
