//! The pack service under load (issue 17): jobs/s and client latency
//! p50/p99 with 1, 2, 4 and 16 concurrent parents, with and without the job
//! key pool, through the real connection handling (`enclave::server`, TCP
//! loopback, the PPT1 transport, Busy retries) and the real pack service,
//! with the fake NSM/KMS doubles of tests/it/common (in-process: KMS round
//! trips are the doubles' own crypto, reported apart).
//!
//! Measured in the same run, the floor: the cryptography every 1-secret job
//! must do whatever the service does around it — one RSA-2048 key
//! generation (a fresh key per job), one RSA-2048 private-key operation
//! (opening KMS's CMS answer), one RSA-OAEP encryption to the recipient,
//! one Ed25519 key generation and signature — timed back to back on one
//! core. With the pool, key generation leaves a job's latency but not the
//! machine's work, so the throughput floor keeps it and the latency floor
//! does not.
//!
//! Run: `cargo bench -p proofpack-enclave --bench load` (Markdown tables).
//! `LOAD_BENCH_JOBS` sets the jobs per configuration (default 64).
//! Under `cargo test --all-targets` (no `--bench`): a smoke run of 4 jobs.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{bound, policy_member, recipients_policy, sops_file, FakeKms, FakeNsm};
use ed25519_dalek::Signer as _;
use enclave::keypool::KeyPool;
use enclave::receipt::statement::BuildInfo;
use enclave::server::{self, ServerConfig, Shutdown, Stats};
use enclave::service::{PackJob, PackService, Timings};
use enclave::transport::retry::{call_with_busy_retry, BusyRetry};
use enclave::transport::{Endpoint, ErrorCode, Limits, Listener};
use rsa::pkcs8::EncodePublicKey;
use serde_json::json;
use sha2::{Digest, Sha256};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/bench";

fn build_info() -> BuildInfo {
    BuildInfo::parse(br#"{"buildSpec":{"digest":{"sha256":"66c73a65ccd8e53a57e78190e4c9f790bb7660574fc1a87c5944eb11c251cf5b"},"path":"build/enclave.json"},"commit":{"gitCommit":"3d942f9c40422e95265e7e04c140c0cc6116c6df"},"repository":"git+https://example.invalid/proofpack","tree":"f57fcd9750789003261a6ef6faf9f7572106ef32","tools":{"proofpack":"bench"}}"#).unwrap()
}

fn one_secret_job(kms: &FakeKms, recipient: &rsa::RsaPublicKey) -> PackJob {
    let doc = json!({"defaults": {"DB_PASSWORD": "bench-value-0123456789"}});
    let policy = recipients_policy(&[("bench", recipient, "api", "prod")], &[]);
    let file = sops_file(kms, &[(ARN, bound(&policy, BTreeMap::new()))], &doc);
    let spki = recipient.to_public_key_der().unwrap();
    let request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": "bench-load",
        "nonce": "ab".repeat(32),
        "inputs": [{"name": "bench.enc.json", "sha256": hex::encode(Sha256::digest(&file))}],
        "outputs": [{"name": "bench.ppa", "recipients": [{"publicKey": base64::engine::general_purpose::STANDARD.encode(spki.as_bytes())}]}],
        "target": {"service": "api", "environment": "prod"},
        "recipientsPolicy": policy_member(&policy),
    });
    PackJob { request: serde_json::to_vec(&request).unwrap(), inputs: vec![file] }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

struct Run {
    jobs_per_s: f64,
    p50: Duration,
    p99: Duration,
    inside_p50: Duration,
    keygen_p50: Duration,
    busy: u64,
    warm: u64,
}

/// Serves `n_jobs` jobs from `clients` parents on `workers` workers.
/// The job and the doubles it is packed with.
struct Fixture {
    job: PackJob,
    kms: FakeKms,
    nsm: FakeNsm,
}

fn run(
    f: &Fixture,
    workers: usize,
    clients: usize,
    pool: Option<usize>,
    n_jobs: usize,
    pace: Option<Duration>,
) -> Run {
    let (job, kms, nsm) = (&f.job, &f.kms, &f.nsm);
    let limits = Limits { max_frame: 1 << 20, io_timeout: Duration::from_secs(60) };
    let mut cfg = ServerConfig::new(workers, limits);
    cfg.queue = 16;
    let listener = Listener::bind(&"tcp:127.0.0.1:0".parse().unwrap()).unwrap();
    let ep: Endpoint = listener.local_addr().parse().unwrap();
    let pool = pool.map(|n| {
        let p = KeyPool::start(n).unwrap();
        p.wait_full();
        p
    });
    let timings: Mutex<Vec<Timings>> = Mutex::new(Vec::new());
    let shutdown = Shutdown::new();
    let stats = Stats::default();
    let handler = |j: PackJob, _c, _id| {
        let mut svc = PackService::new(nsm, kms, build_info());
        if let Some(p) = &pool {
            svc = svc.with_key_pool(p);
        }
        let (out, rep) = svc.pack_timed(&j).map_err(|e| (ErrorCode::JobFailed, e.to_string()))?;
        timings.lock().unwrap().push(rep.timings);
        Ok(out)
    };
    let latencies = Mutex::new(Vec::with_capacity(n_jobs));
    let next = AtomicUsize::new(0);
    let elapsed = std::thread::scope(|s| {
        s.spawn(|| server::serve(&listener, &cfg, &handler, &shutdown, &stats, &|_| {}).unwrap());
        let t = Instant::now();
        std::thread::scope(|c| {
            for _ in 0..clients {
                c.spawn(|| {
                    let retry = BusyRetry {
                        max_attempts: 1000,
                        base: Duration::from_millis(2),
                        cap: Duration::from_millis(50),
                    };
                    while next.fetch_add(1, Ordering::SeqCst) < n_jobs {
                        let t = Instant::now();
                        call_with_busy_retry(&ep, job, None, &limits, &retry, &mut |_, _, _| {})
                            .unwrap();
                        latencies.lock().unwrap().push(t.elapsed());
                        if let Some(p) = pace {
                            std::thread::sleep(p);
                        }
                    }
                });
            }
        });
        let e = t.elapsed();
        shutdown.request();
        e
    });
    let mut lat = latencies.into_inner().unwrap();
    let tm = timings.into_inner().unwrap();
    let mut inside: Vec<Duration> = tm.iter().map(|t| t.total.saturating_sub(t.kms)).collect();
    let mut keygen: Vec<Duration> = tm.iter().map(|t| t.keygen).collect();
    Run {
        jobs_per_s: n_jobs as f64 / elapsed.as_secs_f64(),
        p50: pct(&mut lat, 0.5),
        p99: pct(&mut lat, 0.99),
        inside_p50: pct(&mut inside, 0.5),
        keygen_p50: pct(&mut keygen, 0.5),
        busy: stats.snapshot()[4],
        warm: pool.as_ref().map_or(0, |p| p.counts().0),
    }
}

/// The unavoidable crypto of one 1-secret job, on one core: (with key
/// generation, without). Medians of `n`.
fn floor(n: usize) -> (Duration, Duration) {
    let mut rng = rand::thread_rng();
    let recipient = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap().to_public_key();
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let keygen = t.elapsed();
        let t = Instant::now();
        // KMS's CMS answer: a 32-byte key wrapped by RSA-OAEP-SHA256 to the job key.
        let wrapped =
            key.to_public_key().encrypt(&mut rng, rsa::Oaep::new::<Sha256>(), &[7u8; 32]).unwrap();
        let wrap = t.elapsed(); // done by KMS, not the enclave
        let t = Instant::now();
        std::hint::black_box(key.decrypt(rsa::Oaep::new::<Sha256>(), &wrapped).unwrap());
        std::hint::black_box(
            recipient.encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha512>(), &[9u8; 32]).unwrap(),
        );
        let sk = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        std::hint::black_box(sk.sign(&[1u8; 600]));
        let rest = t.elapsed();
        let _ = wrap;
        with.push(keygen + rest);
        without.push(rest);
    }
    (pct(&mut with, 0.5), pct(&mut without, 0.5))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n_jobs: usize = if full {
        std::env::var("LOAD_BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    } else {
        4
    };
    let cores = server::default_workers();
    let recipient = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap().to_public_key();
    let kms = FakeKms::new();
    let nsm = FakeNsm::new();
    let job = one_secret_job(&kms, &recipient);
    let fx = Fixture { job, kms, nsm };
    let (floor_with, floor_without) = floor(if full { 21 } else { 1 });
    println!(
        "available parallelism: {cores}; {n_jobs} jobs per row; 1 secret per job; fake NSM/KMS in process\n"
    );
    println!("| workers | parents | key pool | jobs/s | p50 ms | p99 ms | in-service p50 ms (KMS excluded) | keygen p50 ms | pool hits | Busy answers | jobs/s ÷ floor jobs/s |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let clients: &[usize] = if full { &[1, 2, 4, 16] } else { &[1, 2] };
    let mut by: BTreeMap<(usize, usize, bool), f64> = BTreeMap::new();
    for &workers in &[1usize, 2] {
        for &pool in &[None, Some(4)] {
            for &c in clients {
                if workers == 1 && c != 16 && full {
                    continue; // the 1-core row is for the scaling ratio only
                }
                let r = run(&fx, workers, c, pool, n_jobs, None);
                let floor_rate = workers as f64 / floor_with.as_secs_f64();
                by.insert((workers, c, pool.is_some()), r.jobs_per_s);
                println!(
                    "| {workers} | {c} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.2} |",
                    if pool.is_some() { "4" } else { "off" },
                    r.jobs_per_s,
                    ms(r.p50),
                    ms(r.p99),
                    ms(r.inside_p50),
                    ms(r.keygen_p50),
                    r.warm,
                    r.busy,
                    r.jobs_per_s / floor_rate,
                );
            }
        }
    }
    // Offered load below the key pool's refill rate: one parent, one job
    // every 400 ms (a CI with a pack now and then), so the pool stays warm.
    let pace = Duration::from_millis(400);
    let paced_jobs = if full { 20 } else { 2 };
    println!(
        "\nPaced: 1 parent, one job every {} ms, {paced_jobs} jobs, 2 workers\n",
        pace.as_millis()
    );
    println!("| key pool | p50 ms | p99 ms | in-service p50 ms (KMS excluded) | keygen p50 ms | pool hits |");
    println!("|---|---:|---:|---:|---:|---:|");
    for pool in [None, Some(4)] {
        let r = run(&fx, 2, 1, pool, paced_jobs, Some(pace));
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            if pool.is_some() { "4" } else { "off" },
            ms(r.p50),
            ms(r.p99),
            ms(r.inside_p50),
            ms(r.keygen_p50),
            r.warm
        );
    }
    println!(
        "\nfloor (same run, one core, median of {}): {} ms per job with RSA-2048 key generation, \
         {} ms without (the pooled job's latency floor) => {:.1} jobs/s per core",
        if full { 21 } else { 1 },
        ms(floor_with),
        ms(floor_without),
        1.0 / floor_with.as_secs_f64()
    );
    let last = *clients.last().unwrap();
    for pool in [false, true] {
        if let (Some(one), Some(two)) = (by.get(&(1, last, pool)), by.get(&(2, last, pool))) {
            println!(
                "scaling 1 -> 2 workers at {last} parents, key pool {}: {:.2}x",
                if pool { "on" } else { "off" },
                two / one
            );
        }
    }
}
