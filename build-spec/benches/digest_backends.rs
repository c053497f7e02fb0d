//! SHA-384 and SHA-256 throughput of the candidate backends on the same
//! buffers, in one run (issue 18): the `sha2` crate (as built: with the
//! `sha2-asm` feature its assembly backend, else its Rust/intrinsics
//! backend), `aws-lc-rs` (already a dependency of the attestation crate),
//! and `openssl dgst` on a file of the same bytes in the page cache (a
//! process, so its figure includes start-up; it is reported per GiB of a
//! large file where start-up is negligible).
//!
//! ```text
//! scripts/bench-digests        # both sha2 builds + openssl, one table
//! cargo bench -p proofpack-build-spec --bench digest_backends
//! cargo bench -p proofpack-build-spec --bench digest_backends --features sha2-asm
//! ```
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it checks on a
//! small buffer that every backend gives the same digests.
//!
//! Rounds interleave the backends and the best round of each is reported
//! (the machine is shared; the minimum is the least disturbed run).

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::Digest as _;

const MIB: usize = 1 << 20;

fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alg {
    Sha384,
    Sha256,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Sha384 => "sha384",
            Alg::Sha256 => "sha256",
        }
    }
}

fn sha2_digest(alg: Alg, buf: &[u8], chunk: usize) -> Vec<u8> {
    match alg {
        Alg::Sha384 => {
            let mut h = sha2::Sha384::new();
            buf.chunks(chunk).for_each(|c| h.update(c));
            h.finalize().to_vec()
        }
        Alg::Sha256 => {
            let mut h = sha2::Sha256::new();
            buf.chunks(chunk).for_each(|c| h.update(c));
            h.finalize().to_vec()
        }
    }
}

fn awslc_digest(alg: Alg, buf: &[u8], chunk: usize) -> Vec<u8> {
    let a = match alg {
        Alg::Sha384 => &aws_lc_rs::digest::SHA384,
        Alg::Sha256 => &aws_lc_rs::digest::SHA256,
    };
    let mut c = aws_lc_rs::digest::Context::new(a);
    buf.chunks(chunk).for_each(|x| c.update(x));
    c.finish().as_ref().to_vec()
}

fn time(f: impl Fn() -> Vec<u8>) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let d = f();
    (t.elapsed(), d)
}

fn openssl(alg: Alg, path: &std::path::Path) -> Option<(Duration, String)> {
    let t = Instant::now();
    let o = Command::new("openssl")
        .args(["dgst", &format!("-{}", alg.name()), "-r"])
        .arg(path)
        .output()
        .ok()?;
    let d = t.elapsed();
    o.status
        .success()
        .then(|| (d, String::from_utf8_lossy(&o.stdout).split(' ').next().unwrap_or("").to_owned()))
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let total = if bench {
        std::env::var("DIGEST_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(512) * MIB
    } else {
        MIB
    };
    let rounds = if bench { 5 } else { 1 };
    let buf = data(total);
    let sha2_label = if cfg!(feature = "sha2-asm") { "sha2 (asm)" } else { "sha2" };
    // openssl reads the same bytes from a file in the page cache.
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&buf).expect("write");
    file.flush().expect("flush");
    let _ = std::fs::read(file.path());

    println!("# {} MiB, best of {rounds} interleaved rounds", total / MIB);
    println!("| algorithm | chunk | backend | MiB/s | vs aws-lc-rs |");
    println!("| --- | --- | --- | --- | --- |");
    // CRC-32 (crc32fast), which the EIF reader computes over every byte
    // next to the hashes: how much of a SHA-384 pass it costs.
    {
        let mut best = Duration::MAX;
        for _ in 0..rounds {
            let t = Instant::now();
            let mut h = crc32fast::Hasher::new();
            buf.chunks(MIB).for_each(|c| h.update(c));
            std::hint::black_box(h.finalize());
            best = best.min(t.elapsed());
        }
        println!("| crc32 | 1024 KiB | crc32fast | {:.0} | - |", mbps(total, best));
    }
    for alg in [Alg::Sha384, Alg::Sha256] {
        for chunk in [4 << 10, 64 << 10, MIB] {
            let mut best = [Duration::MAX; 2];
            let mut digests: [Vec<u8>; 2] = Default::default();
            for _ in 0..rounds {
                let (d, x) = time(|| sha2_digest(alg, &buf, chunk));
                best[0] = best[0].min(d);
                digests[0] = x;
                let (d, x) = time(|| awslc_digest(alg, &buf, chunk));
                best[1] = best[1].min(d);
                digests[1] = x;
            }
            assert_eq!(digests[0], digests[1], "{} backends disagree", alg.name());
            let lc = mbps(total, best[1]);
            for (label, d) in [(sha2_label, best[0]), ("aws-lc-rs", best[1])] {
                let m = mbps(total, d);
                println!(
                    "| {} | {} KiB | {label} | {m:.0} | {:.2}x |",
                    alg.name(),
                    chunk >> 10,
                    m / lc
                );
            }
        }
        let mut best = Duration::MAX;
        let mut hex_out = String::new();
        for _ in 0..rounds {
            if let Some((d, h)) = openssl(alg, file.path()) {
                best = best.min(d);
                hex_out = h;
            }
        }
        if best < Duration::MAX {
            assert_eq!(hex_out, hex::encode(sha2_digest(alg, &buf, MIB)), "openssl disagrees");
            println!(
                "| {} | file | openssl dgst (process) | {:.0} | - |",
                alg.name(),
                mbps(total, best)
            );
        } else {
            println!("| {} | file | openssl dgst | not installed | - |", alg.name());
        }
    }
}
