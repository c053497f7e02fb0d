//! KMS round-trip latency against `proofpack-kms-local` on loopback, through
//! the enclave's real client (ureq + SigV4) and the real server (tiny_http,
//! SigV4 verification, key policy evaluation, AES-256-GCM, and for Recipient
//! calls: attestation chain verification + RSA-OAEP + CMS).
//!
//! Peer in the same run: a raw TCP loopback round trip of a same-sized
//! request/response (the physical floor of any loopback RPC here).
//!
//! Run: `cargo bench -p proofpack --bench kms_roundtrip` (prints a table).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use attestation::testca::{DocSpec, TestCa, TestCaConfig};
use build_spec::pcr::Measurements;
use enclave::backend::kms_http::sigv4::Credentials;
use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
use enclave::backend::{DecryptRequest, EncryptRequest, EncryptionContext, Kms, Recipient};
use enclave::secret::SecretBytes;
use kms_local::http::{CredentialsFile, Principal};
use kms_local::policy::AttestationRecipients;
use rsa::pkcs8::EncodePublicKey;
use serde_json::json;

fn stats(name: &str, mut v: Vec<Duration>, floor: Option<Duration>) {
    v.sort();
    let p50 = v[v.len() / 2];
    let p99 = v[(v.len() * 99) / 100];
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    let ratio = floor
        .map(|f| format!("{:>7.1}x", p50.as_secs_f64() / f.as_secs_f64()))
        .unwrap_or_else(|| "       -".into());
    println!(
        "{name:<44} n={:<5} p50 {:>9.1?} p99 {:>9.1?} mean {:>9.1?}  p50/floor {ratio}",
        v.len(),
        p50,
        p99,
        mean
    );
}

fn time_n(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..n.min(20) {
        f();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this
    // binary runs as a smoke test with a handful of samples.
    let full = std::env::args().any(|a| a == "--bench");
    let default_n = if full { 300 } else { 3 };
    let n: usize =
        std::env::var("KMS_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(default_n);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

    // Floor: raw TCP loopback round trip, 1 KiB request / 1 KiB response, persistent connection.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 1024];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    let mut buf = [7u8; 1024];
    let floor = time_n(n * 10, || {
        c.write_all(&buf).unwrap();
        c.read_exact(&mut buf).unwrap();
    });
    let mut sorted = floor.clone();
    sorted.sort();
    let floor_p50 = sorted[sorted.len() / 2];

    // The server, in-process on a thread.
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
    let recipients = AttestationRecipients::new(ca.root_pem().as_bytes(), "bench").unwrap();
    let creds = CredentialsFile {
        principals: vec![Principal {
            access_key_id: "AKIDBENCH".into(),
            secret_access_key: "bench-secret".into(),
            principal_arn: "arn:aws:iam::111122223333:role/bench".into(),
            iam_allow_all: true,
        }],
    };
    let mut cfg = kms_local::Config::new(dir.path(), creds);
    cfg.recipients = Some(recipients);
    cfg.max_document_age_secs = 3600;
    let server = kms_local::spawn(cfg).unwrap();
    let port = server.port();

    let client = KmsHttpClient::new(KmsHttpConfig::new(
        format!("http://127.0.0.1:{port}"),
        "us-east-1",
        Credentials {
            access_key_id: "AKIDBENCH".into(),
            secret_access_key: SecretBytes::from_slice(b"bench-secret"),
            session_token: None,
        },
    ))
    .unwrap();
    let mut pcrs = Measurements::new();
    pcrs.insert(0, [0x11; 48]);
    pcrs.insert(1, [0x22; 48]);
    pcrs.insert(2, [0x33; 48]);
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/bench"}, "Action": "kms:*", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCaseIfExists": {"kms:RecipientAttestation:PCR0": pcrs.hex(0).unwrap()}}}]});
    let md = client.call("CreateKey", &json!({"Policy": policy.to_string()})).unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let ctx: EncryptionContext = [("app".to_string(), "bench".to_string())].into();
    let enc = || EncryptRequest {
        key_id: arn.clone(),
        plaintext: SecretBytes::from_slice(&[1; 32]),
        encryption_context: ctx.clone(),
    };
    let blob = client.encrypt(&enc()).unwrap().ciphertext_blob;

    let rsa_key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let spki = rsa_key.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec();
    let mut spec = DocSpec::new(now * 1000, pcrs.clone());
    spec.public_key = Some(spki);
    let doc = ca.mint(&spec).unwrap();

    println!("proofpack-kms-local round trips on loopback ({} samples; floor = raw TCP 1 KiB echo p50 {:?})", n, floor_p50);
    stats("raw TCP loopback 1 KiB echo (floor)", floor, None);
    stats(
        "ListKeys (HTTP + SigV4 both sides)",
        time_n(n, || {
            client.call("ListKeys", &json!({})).unwrap();
        }),
        Some(floor_p50),
    );
    stats(
        "Encrypt 32 B (+ policy + AES-GCM)",
        time_n(n, || {
            client.encrypt(&enc()).unwrap();
        }),
        Some(floor_p50),
    );
    stats(
        "Decrypt 32 B, no Recipient",
        time_n(n, || {
            client
                .decrypt(&DecryptRequest {
                    ciphertext_blob: blob.clone(),
                    key_id: None,
                    encryption_context: ctx.clone(),
                    recipient: None,
                })
                .unwrap();
        }),
        Some(floor_p50),
    );
    let with_recipient = DecryptRequest {
        ciphertext_blob: blob.clone(),
        key_id: None,
        encryption_context: ctx.clone(),
        recipient: Some(Recipient {
            attestation_document: doc,
            key_encryption_algorithm: "RSAES_OAEP_SHA_256".into(),
        }),
    };
    stats(
        "Decrypt 32 B + Recipient (doc verify, CMS)",
        time_n(n / 3 + 1, || {
            let r = client.decrypt(&with_recipient).unwrap();
            assert!(r.ciphertext_for_recipient.is_some());
        }),
        Some(floor_p50),
    );
    stats(
        "  + enclave-side CMS open (RSA-2048 OAEP)",
        time_n(n / 3 + 1, || {
            let r = client.decrypt(&with_recipient).unwrap();
            enclave::cms::decrypt_enveloped(&r.ciphertext_for_recipient.unwrap(), &rsa_key)
                .unwrap();
        }),
        Some(floor_p50),
    );
}
