#!/usr/bin/env bash
# Generates the ES384 signing fixtures used by build-spec/tests/it/eif_signature.rs.
# Run once; outputs are committed (keys are test-only, never used elsewhere).
set -euo pipefail
cd "$(dirname "$0")"
for n in a b; do
  openssl ecparam -name secp384r1 -genkey -noout -out key-$n.sec1.pem
  openssl pkcs8 -topk8 -nocrypt -in key-$n.sec1.pem -out key-$n.pem
  rm key-$n.sec1.pem
  openssl req -new -x509 -key key-$n.pem -out cert-$n.pem -days 36500 \
    -subj "/C=US/O=proofpack test/CN=eif signer $n" -set_serial 0x$n$n
done
openssl ecparam -name prime256v1 -genkey -noout -out p256.sec1.pem
openssl pkcs8 -topk8 -nocrypt -in p256.sec1.pem -out key-p256.pem && rm p256.sec1.pem
openssl req -new -x509 -key key-p256.pem -out cert-p256.pem -days 36500 -subj "/CN=p256 signer" -set_serial 0x256
