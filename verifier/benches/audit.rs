//! Benchmark: auditing 1,000 receipts across 10 commits with the rebuild
//! cache warm, and how it scales with cores.
//!
//! Run: `cargo bench -p proofpack --bench audit` (release build; takes a few
//! minutes, most of it the 10 one-time rebuilds that warm the cache).
//!
//! Setup (not timed): a tiny repository with 10 commits that differ outside
//! the image (so all 10 rebuilds give the same PCRs and one pinned KMS key
//! serves every receipt); each commit rebuilt once into a private cache; the
//! local KMS; one receipt per commit from the real pack service with the
//! development NSM. The 1,000 audit inputs are those 10 receipts, 100 times
//! each, as distinct inputs: the audit does all per-receipt work for every
//! input (receipt verification is never memoised), and shares only the
//! per-commit rebuild-cache answer and source check, as designed.
//!
//! Timed, in the same run: a fresh `Auditor` (empty per-commit cells, so each
//! run asks the on-disk cache 10 times) auditing the 1,000 inputs in a rayon
//! pool of 1 thread and of 2 threads; and, as the peers, `verify_receipt`
//! alone (two attestation documents with their chains, one Ed25519
//! signature), single-threaded, without a chain cache and with a warm one
//! (the floor since issue 18: the audit shares one chain cache per batch).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/it/common/audit_world.rs"]
mod audit_world;
#[path = "../tests/it/common/kms_local.rs"]
mod kms_local;
#[path = "../tests/it/common/sops_fixture.rs"]
mod sops_fixture;
#[path = "../tests/it/common/tiny_workspace.rs"]
mod tiny_workspace;

use std::time::Instant;

use attestation::testca::{TestCa, TestCaConfig};
use audit_world::*;
use kms_local::KmsLocal;
use serde_json::json;
use sha2::{Digest, Sha256};
use verifier::attestation::TrustAnchor;
use verifier::audit::receipt_stage::ReceiptStage;
use verifier::audit::stages::{CachedRebuild, GitSource, KmsPolicyStage};
use verifier::audit::{Auditor, PolicyInput, ReceiptInput};
use verifier::receipt::{verify_receipt, ReceiptOptions};
use verifier::report::{Settings, Verdict};

const COMMITS: usize = 10;
const RECEIPTS: usize = 1000;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not build
    // release and would take minutes: only run when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("audit bench: skipped (run with `cargo bench -p proofpack --bench audit`)");
        return;
    }
    let t_setup = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = d.join("repo");
    write_workspace(&repo);
    let mut commits = Vec::new();
    for i in 0..COMMITS {
        write(&repo, "NOTES.md", &format!("revision {i}\n"));
        commits.push(commit_all(&repo, 1_700_000_000 + i as i64, &format!("rev {i}")));
    }
    let cache = d.join("cache");
    let target = d.join("target");
    let mut image = None;
    for (c, _) in &commits {
        let (eif, pcrs) = rebuilt(&repo, c, &cache, &target);
        image.get_or_insert((eif, pcrs.clone()));
    }
    let (eif, pcrs) = image.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
    let ca_dir = d.join("dev-ca");
    ca.save(&ca_dir).unwrap();
    let root_pem = d.join("root.pem");
    std::fs::write(&root_pem, ca.root_pem()).unwrap();
    let kms = KmsLocal::start(Some(&root_pem));
    let policy = pinned_policy(&pcrs);
    let key = create_key(&kms, &policy);
    let spec_sha = hex::encode(Sha256::digest(spec().as_bytes()));
    let mut receipts = Vec::new();
    for (i, (c, tree)) in commits.iter().enumerate() {
        let bi = json!({
            "repository": format!("git+file://{}", repo.display()),
            "commit": {"gitCommit": c}, "tree": tree,
            "buildSpec": {"path": "enclave.toml", "digest": {"sha256": spec_sha}},
            "tools": {"proofpack": env!("CARGO_PKG_VERSION")},
        });
        let (r, _) = pack(
            &ca_dir,
            &pcrs,
            &eif,
            &kms,
            &key,
            &serde_json::to_vec(&bi).unwrap(),
            &d.join(format!("run-{i}")),
        );
        receipts.push(std::fs::read(r).unwrap());
    }
    let inputs: Vec<ReceiptInput> = (0..RECEIPTS)
        .map(|i| ReceiptInput {
            path: format!("r{i}.json"),
            bytes: Ok(receipts[i % COMMITS].clone()),
        })
        .collect();
    eprintln!("setup (10 rebuilds, KMS, 10 packs): {:.1} s", t_setup.elapsed().as_secs_f64());

    let root = TrustAnchor::from_pem_or_der(ca.root_pem().as_bytes(), "bench dev CA").unwrap();
    let auditor = || {
        let mut ro = ReceiptOptions::default();
        ro.attestation.roots = vec![root.clone()];
        let mut a = Auditor::new(
            Box::new(ReceiptStage::new(ro, true)),
            Box::new(KmsPolicyStage::default()),
            Settings { command: "audit".into(), ..Settings::default() },
        );
        a.source =
            Some(Box::new(GitSource::open(&repo.display().to_string(), None, false).unwrap()));
        a.rebuild = Some(Box::new(CachedRebuild {
            repo: repo.display().to_string(),
            profile: "demo".into(),
            blobs_dir: None,
            debian_kernel: None,
            cache_dir: Some(cache.clone()),
            no_cache: false,
            allow_toolchain_mismatch: false,
        }));
        a.policies = vec![PolicyInput { key_arn: key.clone(), bytes: policy.clone().into_bytes() }];
        a
    };

    // Peer: the cryptographic floor of one receipt, single-threaded.
    let mut ro = ReceiptOptions::default();
    ro.attestation.roots = vec![root.clone()];
    let n_peer = 200;
    let t = Instant::now();
    for i in 0..n_peer {
        assert_eq!(verify_receipt(&receipts[i % COMMITS], &ro).verdict(), Verdict::Pass);
    }
    let peer_ms = t.elapsed().as_secs_f64() * 1e3 / n_peer as f64;
    // The floor with the chain cache warm (issue 18): what is left of one
    // receipt's verification when its CA bundle and leaf are known: the two
    // COSE signatures, the Ed25519 signature, parsing and the checks.
    ro.chain_cache = Some(Default::default());
    for r in &receipts {
        verify_receipt(r, &ro);
    }
    let t = Instant::now();
    for i in 0..n_peer {
        assert_eq!(verify_receipt(&receipts[i % COMMITS], &ro).verdict(), Verdict::Pass);
    }
    let warm_ms = t.elapsed().as_secs_f64() * 1e3 / n_peer as f64;

    let mut per_receipt = Vec::new();
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let a = auditor();
            let t = Instant::now();
            let report = pool.install(|| a.audit(&inputs, "bench".into()));
            let secs = t.elapsed().as_secs_f64();
            assert_eq!(report.verdict(), Verdict::Pass, "{:?}", report.reasons().first());
            assert_eq!(a.rebuild_count(), COMMITS);
            best = best.min(secs);
        }
        let ms = best * 1e3 / RECEIPTS as f64;
        per_receipt.push(ms);
        println!(
            "audit {RECEIPTS} receipts / {COMMITS} commits, cache warm, {threads} thread(s): {:.2} s total, {ms:.3} ms/receipt ({:.0} receipts/s)",
            best,
            1e3 / ms
        );
    }
    println!("peer: verify_receipt alone (1 thread): {peer_ms:.3} ms/receipt");
    println!("peer: verify_receipt, chain cache warm (1 thread): {warm_ms:.3} ms/receipt");
    println!(
        "ratios: audit(1 thread) / verify_receipt = {:.2}; audit(1 thread) / verify_receipt warm = {:.2}; speed-up 2 threads vs 1 = {:.2}x",
        per_receipt[0] / peer_ms,
        per_receipt[0] / warm_ms,
        per_receipt[0] / per_receipt[1]
    );
}
