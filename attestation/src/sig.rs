//! ECDSA P-384 with SHA-384: the five signature checks per document (four
//! chain links and the COSE signature) are nearly all of the verification
//! cost, so they run on AWS-LC (`aws-lc-rs`), whose P-384 arithmetic is
//! s2n-bignum assembly. Measured by `cargo bench -p proofpack --bench
//! attestation` on the project machine: about 6x the verify rate of the pure
//! Rust `p384` crate, 3x `ring`, 2x OpenSSL 4 (see docs/notes/attest.md).
//!
//! Key *parsing* stays with `p384`: [`P384Key::from_sec1`] only accepts an
//! uncompressed point that is on the curve, so a malformed key is reported as
//! `NotP384` before any signature is attempted. High-S signatures are
//! accepted (real NSMs emit them; ECDSA verification does not normalise S).

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_FIXED};

/// A validated P-384 public key (uncompressed SEC1 point, 97 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct P384Key {
    point: Vec<u8>,
}

impl std::fmt::Debug for P384Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P384Key({})", hex::encode(&self.point))
    }
}

impl P384Key {
    /// Accepts only an uncompressed on-curve P-384 point.
    pub fn from_sec1(point: &[u8]) -> Option<Self> {
        if point.len() != 97 || point.first() != Some(&0x04) {
            return None;
        }
        p384::PublicKey::from_sec1_bytes(point).ok()?;
        Some(Self { point: point.to_vec() })
    }

    /// The SEC1 point.
    pub fn sec1(&self) -> &[u8] {
        &self.point
    }

    /// Verifies a DER-encoded ECDSA signature (X.509 certificates).
    pub fn verify_der(&self, msg: &[u8], der: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &self.point).verify(msg, der).is_ok()
    }

    /// Verifies a fixed-length 96-byte `r || s` signature (COSE ES384).
    pub fn verify_fixed(&self, msg: &[u8], rs: &[u8; 96]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &self.point).verify(msg, rs).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::signature::Signer;

    #[test]
    fn agrees_with_p384_including_high_s() {
        let sk = p384::ecdsa::SigningKey::from_slice(&[9u8; 48]).expect("key");
        let point = sk.verifying_key().to_encoded_point(false);
        let key = P384Key::from_sec1(point.as_bytes()).expect("point");
        let msg = b"message";
        let sig: p384::ecdsa::Signature = sk.sign(msg);
        let mut rs: [u8; 96] = sig.to_bytes()[..].try_into().expect("96 bytes");
        assert!(key.verify_fixed(msg, &rs));
        assert!(key.verify_der(msg, sig.to_der().as_bytes()));
        // The other form (r, n - s) verifies too; normalise() flips between them.
        // The other form (r, n - s) of the same signature verifies too.
        let neg_s = -*sig.s().as_ref();
        let flipped = p384::ecdsa::Signature::from_scalars(sig.r(), neg_s).expect("sig");
        assert_ne!(flipped, sig);
        let other: [u8; 96] = flipped.to_bytes()[..].try_into().expect("96 bytes");
        assert!(key.verify_fixed(msg, &other));
        rs[0] ^= 1;
        assert!(!key.verify_fixed(msg, &rs));
        assert!(!key.verify_fixed(b"other", &other));
        assert!(P384Key::from_sec1(&[0x04; 97]).is_none());
    }
}
