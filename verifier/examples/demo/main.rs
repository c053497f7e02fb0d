//! The proofpack demo, driven by `scripts/demo`: one receipt from the real
//! pack service, ready for `proofpack audit`.
//!
//! 1. a demo repository (two tiny crates and a build spec, committed);
//! 2. the demo image: `proofpack rebuild` of that commit (demo profile, a
//!    labelled stand-in kernel), which also fills the rebuild cache;
//! 3. a development test CA (NOT AWS) and the local KMS, run in this process
//!    (`kms_local::spawn`, the server of `proofpack-kms-local`), with a key
//!    whose policy is rendered pinned to the image's PCR0/1/2;
//! 4. a SOPS file under that key, packed by the pack service with the
//!    development NSM measuring the image: artifact + signed receipt.
//!
//! It writes `DIR/demo.env` with the paths `scripts/demo` hands to
//! `proofpack audit`. Usage: `demo DIR`.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../tests/it/common/audit_world.rs"]
mod audit_world;
#[path = "../../tests/it/common/kms_local.rs"]
mod kms_local;
#[path = "../../tests/it/common/sops_fixture.rs"]
mod sops_fixture;
#[path = "../../tests/it/common/tiny_workspace.rs"]
mod tiny_workspace;

use std::path::PathBuf;

use attestation::testca::{TestCa, TestCaConfig};
use audit_world::*;
use serde_json::json;
use sha2::{Digest, Sha256};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: demo DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let repo = dir.join("repo");
    if repo.exists() {
        std::fs::remove_dir_all(&repo).unwrap();
    }
    eprintln!("[1/4] demo repository at {}", repo.display());
    write_workspace(&repo);
    let policy_digest = hex::encode(Sha256::digest(test_policy()));
    eprintln!(
        "      recipients policy {POLICY_PATH} (sha256 {policy_digest}): only key ops may receive api/prod"
    );
    let (commit, tree) = commit_all(&repo, 1_700_000_000, "demo enclave");

    eprintln!("[2/4] building the demo image of {commit} (rebuild from git, demo profile)");
    let cache = dir.join("cache");
    let (eif, pcrs) = rebuilt(&repo, &commit, &cache, &dir.join("target"));
    let image = dir.join("demo.eif");
    std::fs::copy(&eif, &image).unwrap();
    std::fs::write(dir.join("pcrs.json"), pcrs.to_nitro_json()).unwrap();
    for i in 0..3u8 {
        eprintln!("      PCR{i} {}", pcrs.hex(i).unwrap());
    }

    eprintln!("[3/4] development CA (TEST ONLY) and local KMS with a key pinned to those PCRs");
    eprintln!("      (its policy also requires the encryption context proofpack:recipients)");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
    let ca_dir = dir.join("dev-ca");
    if ca_dir.exists() {
        std::fs::remove_dir_all(&ca_dir).unwrap();
    }
    ca.save(&ca_dir).unwrap();
    let root = dir.join("dev-root.pem");
    std::fs::write(&root, ca.root_pem()).unwrap();
    let kms = kms_local::KmsLocal::start_in(&dir.join("kms"), &root);
    let policy = pinned_policy(&pcrs);
    let key = create_key(&kms, &policy);
    let policy_file = dir.join("kms-policy.json");
    std::fs::write(&policy_file, &policy).unwrap();
    eprintln!("      key {key}");

    eprintln!("[4/4] pack with the development NSM measuring demo.eif");
    eprintln!(
        "      SOPS data key encrypted with KMS context proofpack:recipients={policy_digest}; the job sends the policy"
    );
    let build_info = json!({
        "repository": format!("git+file://{}", repo.display()),
        "commit": {"gitCommit": commit}, "tree": tree,
        "buildSpec": {"path": "enclave.toml", "digest": {"sha256": hex::encode(Sha256::digest(spec().as_bytes()))}},
        "tools": {"proofpack": env!("CARGO_PKG_VERSION")},
    });
    // The secrets are committed after the image's source (issue 21): the
    // enclave proves the SOPS file is the blob at secrets/prod.enc.json of
    // that second commit, and the audit shows both commits side by side.
    let secrets = sops_file_with_context(
        &patient_client(&kms, "AKIDADMIN"),
        &key,
        &json!({"defaults": {"TOKEN": "s3cr3t"}, "services": {"api": {}}, "environments": {"prod": {}}}),
        bound_context(&test_policy()),
    );
    std::fs::create_dir_all(repo.join("secrets")).unwrap();
    std::fs::write(repo.join("secrets/prod.enc.json"), &secrets).unwrap();
    let (secrets_commit, _) = commit_all(&repo, 1_700_000_600, "secrets: api/prod");
    eprintln!("      secrets/prod.enc.json committed as {secrets_commit}; the enclave checks the git hash chain");
    let shape = JobShape {
        input: Some(secrets),
        git: Some((repo.clone(), secrets_commit, "secrets/prod.enc.json".into())),
        ..JobShape::default()
    };
    let (receipt, artifact) = pack_shaped(
        &ca_dir,
        &pcrs,
        &image,
        &kms,
        &key,
        &serde_json::to_vec(&build_info).unwrap(),
        &dir.join("out"),
        &shape,
    );
    let env = format!(
        "REPO='{}'\nRECEIPT='{}'\nARTIFACT='{}'\nROOT='{}'\nKEY='{}'\nPOLICY='{}'\nCACHE='{}'\nRECIPIENTS='{}'\n",
        repo.display(),
        receipt.display(),
        artifact.display(),
        root.display(),
        key,
        policy_file.display(),
        cache.display(),
        POLICY_PATH
    );
    std::fs::write(dir.join("demo.env"), env).unwrap();
    eprintln!("      receipt {}", receipt.display());
}
