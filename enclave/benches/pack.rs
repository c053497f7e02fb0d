//! Pack latency and throughput for 1, 100 and 10,000 secrets with the fake
//! NSM/KMS doubles (tests/it/common), broken down by phase, plus two peers
//! measured in the same run:
//!
//! * raw AES-256-GCM (32-byte IV) decryption of the same values, i.e. the
//!   cryptographic floor of the SOPS phase;
//! * a bare RSA-2048 key generation, the floor of the key-generation phase.
//!
//! Run: `cargo bench -p proofpack-enclave --bench pack` (prints a Markdown table).
//! Under `cargo test --all-targets` (no `--bench` argument) it runs as a quick
//! smoke test: one pack of 1 and of 100 secrets.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::Engine as _;
use common::{bound, policy_member, recipients_policy, sops_file, FakeKms, FakeNsm};
use enclave::receipt::statement::BuildInfo;
use enclave::service::{PackJob, PackService, Timings};
use rsa::pkcs8::EncodePublicKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/bench";

fn build_info() -> BuildInfo {
    BuildInfo::parse(br#"{"buildSpec":{"digest":{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"},"path":"build/enclave.json"},"commit":{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"},"repository":"git+https://example.invalid/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{"proofpack":"bench"}}"#).unwrap()
}

fn job(kms: &FakeKms, n: usize, recipient: &rsa::RsaPublicKey) -> PackJob {
    let mut m = Map::new();
    for i in 0..n {
        m.insert(
            format!("SECRET_{i:05}"),
            Value::String(format!("value-{i:05}-{}", "x".repeat(24))),
        );
    }
    let doc = json!({ "defaults": Value::Object(m) });
    let policy = recipients_policy(&[("bench", recipient, "api", "prod")], &[]);
    let file = sops_file(kms, &[(ARN, bound(&policy, BTreeMap::new()))], &doc);
    let request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": format!("bench-{n}"),
        "nonce": "ab".repeat(32),
        "inputs": [{"name": "bench.enc.json", "sha256": hex::encode(Sha256::digest(&file))}],
        "outputs": [{"name": "bench.ppa", "recipients": [{"publicKey": base64::engine::general_purpose::STANDARD.encode(recipient.to_public_key_der().unwrap().as_bytes())}]}],
        "target": {"service": "api", "environment": "prod"},
        "recipientsPolicy": policy_member(&policy),
    });
    PackJob { request: serde_json::to_vec(&request).unwrap(), inputs: vec![file] }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Raw AES-256-GCM (U32 nonce) decryption of n values of the bench's size.
fn raw_gcm(n: usize) -> Duration {
    let cipher = aes_gcm::AesGcm::<aes::Aes256, U32>::new(&[7u8; 32].into());
    let iv = [1u8; 32];
    let items: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let pt = format!("value-{i:05}-{}", "x".repeat(24));
            cipher
                .encrypt(&iv.into(), Payload { msg: pt.as_bytes(), aad: b"defaults:SECRET_00000:" })
                .unwrap()
        })
        .collect();
    let t = Instant::now();
    for ct in &items {
        std::hint::black_box(
            cipher
                .decrypt(&iv.into(), Payload { msg: ct, aad: b"defaults:SECRET_00000:" })
                .unwrap(),
        );
    }
    t.elapsed()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let recipient = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap().to_public_key();
    // Peer: bare RSA-2048 generation (median of 5).
    let rsa_gen = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(
                    rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap(),
                );
                t.elapsed()
            })
            .collect(),
    );
    println!("| secrets | runs | total ms (median) | secrets/s | keygen | attestation | KMS (calls) | SOPS decrypt+MAC | raw GCM floor | merge | envelope | receipt |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let sizes: &[(usize, usize)] =
        if full { &[(1, 15), (100, 15), (10_000, 5)] } else { &[(1, 1), (100, 1)] };
    for &(n, runs) in sizes {
        let kms = FakeKms::new();
        let nsm = FakeNsm::new();
        let j = job(&kms, n, &recipient);
        let svc = PackService::new(&nsm, &kms, build_info());
        let mut all: Vec<Timings> = Vec::new();
        for _ in 0..runs {
            let (_, rep) = svc.pack_timed(&j).unwrap();
            all.push(rep.timings);
        }
        let pick = |f: fn(&Timings) -> Duration| median(all.iter().map(f).collect());
        let total = pick(|t| t.total);
        let floor = median((0..3).map(|_| raw_gcm(n)).collect());
        println!(
            "| {n} | {runs} | {} | {:.0} | {} | {} | {} ({}) | {} | {} | {} | {} | {} |",
            ms(total),
            n as f64 / total.as_secs_f64(),
            ms(pick(|t| t.keygen)),
            ms(pick(|t| t.attestation)),
            ms(pick(|t| t.kms)),
            all[0].kms_calls,
            ms(pick(|t| t.sops)),
            ms(floor),
            ms(pick(|t| t.merge)),
            ms(pick(|t| t.envelope)),
            ms(pick(|t| t.receipt)),
        );
    }
    println!("\npeer: bare RSA-2048 key generation, median of {}: {} ms (the keygen column is RSA-2048 + Ed25519)", if full { 5 } else { 1 }, ms(rsa_gen));
    println!("note: keygen (RSA prime search) has a high variance; medians are shown.");
}
