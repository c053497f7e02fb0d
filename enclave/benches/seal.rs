//! Sealed inputs (issue 10): seal and open of 1 KB, 1 MB and 100 MB, without
//! KMS round trips (level 2 is an in-process identity double: `Encrypt`
//! returns its plaintext as the blob, and open hands that blob to
//! [`enclave::seal::open_level1`]), as a ratio to raw AES-256-GCM throughput
//! of the same bytes measured in the same run.
//!
//! What seal adds over raw GCM: a fresh DEK and IV, RSA-OAEP-SHA512 under the
//! RSA-4096 organisation key, the JCS header and one copy into the output.
//! Open adds the bounded parse, an RSA-4096 private-key operation and a copy.
//!
//! Run: `cargo bench -p proofpack-enclave --bench seal` (prints a Markdown
//! table). Without `--bench` (e.g. `cargo test --all-targets`) it runs as a
//! smoke test of 1 KB only.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use enclave::backend::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, Kms, KmsError,
};
use enclave::seal::{self, SealParams};
use rsa::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/bench";

/// Level 2 without KMS: the blob is the level-1 ciphertext itself.
struct IdentityKms;

impl Kms for IdentityKms {
    fn encrypt(&self, r: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        Ok(EncryptResponse { key_id: ARN.into(), ciphertext_blob: r.plaintext.expose().to_vec() })
    }
    fn decrypt(&self, _: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        Err(KmsError::Transport("the benchmark opens level 1 directly".into()))
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// `peer / ours`, with enough digits to be non-zero for tiny inputs.
fn ratio(peer: Duration, ours: Duration) -> String {
    let r = peer.as_secs_f64() / ours.as_secs_f64();
    if r < 0.01 {
        format!("{r:.5}")
    } else {
        format!("{r:.2}")
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let t = Instant::now();
    let org =
        rsa::RsaPrivateKey::new(&mut rand_core::OsRng, if full { 4096 } else { 2048 }).unwrap();
    let keygen = t.elapsed();
    let public = org.to_public_key();
    let fp: [u8; 32] = Sha256::digest(public.to_public_key_der().unwrap().as_bytes()).into();
    let params = SealParams {
        org_public: &public,
        org_fingerprint: fp,
        user_kms_key: ARN,
        user: "alice",
        job: None,
        content_type: seal::CONTENT_TYPE_FILE,
        recipients_policy: Some("2528a2f2762067e599dad62b45cb8f4781fd75901f22bc87efa25e4c3e657962"),
    };
    let sizes: &[(&str, usize, usize)] = if full {
        &[("1 KB", 1 << 10, 101), ("1 MB", 1 << 20, 21), ("100 MB", 100 << 20, 5)]
    } else {
        &[("1 KB", 1 << 10, 3)]
    };
    println!("org key: RSA-{} (generated in {keygen:.2?})", if full { 4096 } else { 2048 });
    println!("| size | raw GCM enc | seal | seal / raw | raw GCM dec | open | open / raw |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &(label, n, iters) in sizes {
        let pt: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
        let (mut raw_e, mut raw_d, mut se, mut op) = (vec![], vec![], vec![], vec![]);
        for _ in 0..iters {
            // Peer: raw AES-256-GCM of the same bytes (fresh key, 12-byte IV).
            let key = enclave::secret::SecretKey32::generate();
            let c = Aes256Gcm::new(key.expose().into());
            let iv = [3u8; 12];
            let t = Instant::now();
            let ct = c.encrypt(&iv.into(), Payload { msg: &pt, aad: b"aad" }).unwrap();
            raw_e.push(t.elapsed());
            let t = Instant::now();
            let back = c.decrypt(&iv.into(), Payload { msg: &ct, aad: b"aad" }).unwrap();
            raw_d.push(t.elapsed());
            assert_eq!(back.len(), n);
            drop((ct, back));

            let t = Instant::now();
            let sealed = seal::seal_input(&pt, &params, &IdentityKms).unwrap();
            se.push(t.elapsed());
            let t = Instant::now();
            let parsed = seal::parse(&sealed).unwrap();
            let w1 = parsed.header.wrapped_key.clone();
            let opened = seal::open_level1(&parsed, &w1, &org).unwrap();
            op.push(t.elapsed());
            assert_eq!(opened.len(), n);
        }
        let (re, rd, s, o) = (median(raw_e), median(raw_d), median(se), median(op));
        println!(
            "| {label} | {re:.2?} ({:.0} MB/s) | {s:.2?} ({:.1} MB/s) | {} | {rd:.2?} ({:.0} MB/s) | {o:.2?} ({:.1} MB/s) | {} |",
            mbps(n, re),
            mbps(n, s),
            ratio(re, s),
            mbps(n, rd),
            mbps(n, o),
            ratio(rd, o),
        );
    }
    println!("(ratio = raw GCM time / seal or open time: 1.00 = as fast as raw AES-256-GCM)");
}
