#!/usr/bin/env python3
"""Peer verifier for the attestation benchmark (and an independent cross-check).

A straightforward Nitro attestation verifier written the way most published
ones are: cbor2 for CBOR, pyca/cryptography (OpenSSL) for X.509 and ECDSA.
It checks the COSE_Sign1 shape, pins cabundle[0] to the given root, walks the
chain leaf -> ... -> root verifying each ecdsa-with-SHA384 signature and
validity at the document's own timestamp, and verifies the COSE signature over
the received payload bytes. It does the same cryptographic work as
`proofpack attestation verify` (5 signature checks per document).

Usage: nitro_peer_verify.py --root ROOT.pem [--iterations N] [--bench] DOC...
Without --bench: prints one line per document, `VALID <path>` or
`INVALID <path>: <reason>`, exit 0. With --bench: verifies every document N
times single-threaded and prints a JSON object with the rate.
"""
import argparse
import base64
import datetime
import json
import sys
import time

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def load(path):
    raw = open(path, "rb").read()
    if raw[:1] in (b"\x84", b"\xd2"):
        return raw
    text = b"".join(raw.split())
    try:
        return bytes.fromhex(text.decode())
    except ValueError:
        return base64.b64decode(text + b"=" * (-len(text) % 4))


def verify(doc, root_der):
    obj = cbor2.loads(doc)
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != 18:
            raise ValueError("wrong tag")
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise ValueError("not a COSE_Sign1 array")
    protected, unprotected, payload, sig = obj
    if not isinstance(unprotected, dict) or unprotected:
        raise ValueError("unprotected header must be an empty map")
    if cbor2.loads(protected) != {1: -35}:
        raise ValueError("protected header is not ES384")
    if len(sig) != 96:
        raise ValueError("signature is not 96 bytes")
    d = cbor2.loads(payload)
    if d["digest"] != "SHA384":
        raise ValueError("digest")
    bundle = d["cabundle"]
    if bundle[0] != root_der:
        raise ValueError("cabundle[0] is not the pinned root")
    at = datetime.datetime.fromtimestamp(d["timestamp"] // 1000, datetime.timezone.utc)
    path = [x509.load_der_x509_certificate(d["certificate"])] + [
        x509.load_der_x509_certificate(c) for c in reversed(bundle)
    ]
    for cert in path:
        if not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
            raise ValueError("certificate not valid at the document timestamp")
    for child, parent in zip(path, path[1:]):
        if child.issuer != parent.subject:
            raise ValueError("issuer mismatch")
        parent.public_key().verify(
            child.signature, child.tbs_certificate_bytes, ec.ECDSA(hashes.SHA384())
        )
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    path[0].public_key().verify(der, sig_structure, ec.ECDSA(hashes.SHA384()))
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("docs", nargs="+")
    a = ap.parse_args()
    root_der = x509.load_pem_x509_certificate(open(a.root, "rb").read()).public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER
    )
    docs = [(p, load(p)) for p in a.docs]
    if not a.bench:
        for p, doc in docs:
            try:
                verify(doc, root_der)
                print(f"VALID {p}")
            except (ValueError, KeyError, TypeError, InvalidSignature, cbor2.CBORDecodeError) as e:
                print(f"INVALID {p}: {type(e).__name__}: {e}")
        return 0
    for _, doc in docs:  # warm-up and sanity
        verify(doc, root_der)
    n = 0
    t0 = time.perf_counter()
    for _ in range(a.iterations):
        for _, doc in docs:
            verify(doc, root_der)
            n += 1
    dt = time.perf_counter() - t0
    import cryptography
    print(json.dumps({
        "peer": f"python {sys.version.split()[0]} cbor2 {cbor2.__version__ if hasattr(cbor2, '__version__') else '?'} cryptography {cryptography.__version__}",
        "docs": n,
        "seconds": dt,
        "docs_per_sec": n / dt,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
