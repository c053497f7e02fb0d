//! KMS key-policy costs: parse throughput against serde_json (peer, same
//! bytes, same run), evaluator requests per second, and analyser time per
//! policy over the whole vector catalogue (the analyser enumerates principal
//! classes x actions x PCR combinations, so its cost is reported as a ratio
//! to one evaluation).
//!
//! Run: `cargo bench -p proofpack --bench kms_policy`
//! Under `cargo test` (no `--bench` argument) it only runs one smoke pass.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use build_spec::pcr::Measurements;
use verifier::kms_policy::eval::{evaluate, Request};
use verifier::kms_policy::expected::Expected;
use verifier::kms_policy::parse::Policy;
use verifier::kms_policy::pin::{analyse, Config};

fn policies() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/kms-policies");
    let mut out = Vec::new();
    for d in ["aws-spec", "extra"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(d))
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !matches!(
                        p.file_name().and_then(|n| n.to_str()),
                        Some("expected.json" | "pcrs.json")
                    )
            })
            .collect();
        files.sort();
        for f in files {
            let b = std::fs::read(&f).expect("read");
            out.push((f, b));
        }
    }
    out
}

fn time(min: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min || n == 0 {
        f();
        n += 1;
    }
    (n, start.elapsed())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let min = if bench { Duration::from_secs(3) } else { Duration::from_millis(1) };
    let pols = policies();
    let total: usize = pols.iter().map(|(_, b)| b.len()).sum();

    let (n, t) = time(min, || {
        for (_, b) in &pols {
            std::hint::black_box(Policy::parse(b).ok());
        }
    });
    let ours = (total as f64 * n as f64) / t.as_secs_f64() / 1e6;
    let (n, t) = time(min, || {
        for (_, b) in &pols {
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(b).ok());
        }
    });
    let peer = (total as f64 * n as f64) / t.as_secs_f64() / 1e6;
    println!("parse: {} policies, {total} bytes: {ours:.1} MB/s (serde_json::Value peer {peer:.1} MB/s, ratio {:.2})", pols.len(), ours / peer);

    // Policies with duplicate members have no strict parse: left out below.
    let (pols, parsed): (Vec<_>, Vec<Policy>) =
        pols.iter().filter_map(|(f, b)| Policy::parse(b).ok().map(|p| (f.clone(), p))).unzip();
    let mut m = Measurements::new();
    for i in 0..16u8 {
        m.insert(i, [i; 48]);
    }
    let req = Request::new("arn:aws:iam::111122223333:role/enclave-parent", "kms:Decrypt")
        .with_recipient_pcrs(&m)
        .assume_iam_allows(true);
    let (n, t) = time(min, || {
        for p in &parsed {
            std::hint::black_box(evaluate(p, &req));
        }
    });
    let per_eval = t.as_secs_f64() / (n as f64 * parsed.len() as f64);
    println!(
        "evaluate: {:.0} requests/s ({:.2} us each, {} policies)",
        1.0 / per_eval,
        per_eval * 1e6,
        parsed.len()
    );

    let mut e = std::collections::BTreeMap::new();
    for i in 0..3u8 {
        e.insert(i, vec![format!("{}", i + 1).repeat(96)]);
    }
    let cfg = Config::new(Expected { pcrs: e });
    let mut worst = (Duration::ZERO, String::new());
    let start = Instant::now();
    let rounds = if bench { 5 } else { 1 };
    for _ in 0..rounds {
        for (path, p) in pols.iter().zip(&parsed) {
            let t0 = Instant::now();
            std::hint::black_box(analyse(p, &cfg));
            let dt = t0.elapsed();
            if dt > worst.0 {
                worst = (dt, path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string());
            }
        }
    }
    let per = start.elapsed().as_secs_f64() / (rounds as f64 * parsed.len() as f64);
    println!(
        "analyse: {:.2} ms per policy on average ({:.0}x one evaluation), worst {:.2} ms ({})",
        per * 1e3,
        per / per_eval,
        worst.0.as_secs_f64() * 1e3,
        worst.1
    );
}
