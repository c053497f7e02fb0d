//! `proofpack audit` end to end, one test per verdict.
//!
//! The world (built once per test binary): a tiny git repository with a
//! build spec (two crates with no dependencies, so a rebuild takes seconds)
//! and two commits C1 and C2 that differ in one rootfs file; both rebuilt
//! with the real rebuild (into a private cache that the audit then reuses);
//! a development test CA; the real `proofpack-kms-local` server with two
//! keys whose policies are rendered pinned to the PCRs of C1 and of C2; and
//! two receipts made by the real pack service with the development NSM:
//!
//! * R1: the image of C1 ran and the receipt claims C1 (all good);
//! * R2: the image of C2 ran but the receipt claims C1 (PCR mismatch).
//!
//! Every other case is derived from R1 by changing one input of the audit.
use crate::common::audit_world;
use crate::common::kms_local;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use attestation::testca::{TestCa, TestCaConfig};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use git2::Repository;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::audit_world::*;
use crate::common::kms_local::KmsLocal;

/// The world; `audit_trail_e2e` builds its trail world on the same rebuild.
pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) repo: PathBuf,
    other_repo: PathBuf,
    pub(crate) cache: PathBuf,
    c1: String,
    pub(crate) root_pem: PathBuf,
    /// The development CA (its directory) the receipts' documents come from.
    pub(crate) ca_dir: PathBuf,
    /// The image of C1 and its PCRs (the pinned image), and C2's PCRs.
    pub(crate) eif_a: PathBuf,
    pub(crate) pcrs_a: build_spec::pcr::Measurements,
    pub(crate) pcrs_b: build_spec::pcr::Measurements,
    /// The build info every receipt carries (claims C1).
    pub(crate) build_info: Vec<u8>,
    images: PathBuf,
    key_a: String,
    policy_a: PathBuf,
    key_b: String,
    policy_b: PathBuf,
    bypass_policy: PathBuf,
    good: PathBuf,
    mismatch: PathBuf,
    /// Issue 20: packed by an image built with allow-unbound-inputs, from an
    /// unbound input, under key U (pinned, but not requiring the context).
    unbound: PathBuf,
    key_u: String,
    policy_u: PathBuf,
    /// Issue 20: the bound flow with a SOPS file written by the real `sops`.
    real_sops: PathBuf,
    /// Issue 20: a job whose policy (not the repository's) adds another recipient.
    foreign_policy: PathBuf,
    other_key_id: String,
    artifact: PathBuf,
    _kms: KmsLocal,
}

pub(crate) fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let repo = d.join("repo");
        write_workspace(&repo);
        let (c1, tree1) = commit_all(&repo, 1_700_000_000, "C1");
        write(&repo, "tiny.conf", "setting = 2\n");
        let (c2, _) = commit_all(&repo, 1_700_000_100, "C2: change tiny.conf");
        // A repository that does not contain C1.
        let other_repo = d.join("other");
        write(&other_repo, "README", "unrelated\n");
        commit_all(&other_repo, 1_700_000_000, "unrelated");

        let cache = d.join("cache");
        let target = d.join("target");
        let (eif_a, pcrs_a) = rebuilt(&repo, &c1, &cache, &target);
        let (eif_b, pcrs_b) = rebuilt(&repo, &c2, &cache, &target);
        assert_ne!(pcrs_a.get(2), pcrs_b.get(2));
        let images = d.join("images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::copy(&eif_b, images.join("ran.eif")).unwrap();

        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let ca = TestCa::generate(&TestCaConfig::long_lived(now - 3600, 30)).unwrap();
        let ca_dir = d.join("dev-ca");
        ca.save(&ca_dir).unwrap();
        let root_pem = d.join("dev-root.pem");
        std::fs::write(&root_pem, ca.root_pem()).unwrap();

        let kms = KmsLocal::start(Some(&root_pem));
        let pa = pinned_policy(&pcrs_a);
        let pb = pinned_policy(&pcrs_b);
        let key_a = create_key(&kms, &pa);
        let key_b = create_key(&kms, &pb);
        let policy_a = d.join("policy-a.json");
        let policy_b = d.join("policy-b.json");
        std::fs::write(&policy_a, &pa).unwrap();
        std::fs::write(&policy_b, &pb).unwrap();
        // A pin without Deny guards plus a statement letting the admin
        // Decrypt without any attestation: a bypass.
        let bypass = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "PinnedEnclave", "Effect": "Allow", "Principal": {"AWS": ENCLAVE_ROLE},
             "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEqualsIgnoreCase": {
                "kms:RecipientAttestation:PCR0": pcrs_a.hex(0).unwrap(),
                "kms:RecipientAttestation:PCR1": pcrs_a.hex(1).unwrap(),
                "kms:RecipientAttestation:PCR2": pcrs_a.hex(2).unwrap()}}},
            {"Sid": "Backdoor", "Effect": "Allow", "Principal": {"AWS": ADMIN_ROLE},
             "Action": "kms:Decrypt", "Resource": "*"}]});
        let bypass_policy = d.join("policy-bypass.json");
        std::fs::write(&bypass_policy, bypass.to_string()).unwrap();

        let spec_sha = hex::encode(Sha256::digest(spec().as_bytes()));
        let build_info = json!({
            "repository": format!("git+file://{}", repo.display()),
            "commit": {"gitCommit": c1},
            "tree": tree1,
            "buildSpec": {"path": "enclave.toml", "digest": {"sha256": spec_sha}},
            "tools": {"proofpack": env!("CARGO_PKG_VERSION")},
        });
        let bi = serde_json::to_vec(&build_info).unwrap();
        let (good, artifact) = pack(&ca_dir, &pcrs_a, &eif_a, &kms, &key_a, &bi, &d.join("run-a"));
        let (mismatch, _) = pack(&ca_dir, &pcrs_b, &eif_b, &kms, &key_b, &bi, &d.join("run-b"));
        let unbound_shape = JobShape {
            context: Default::default(),
            binding: enclave::recipients::InputBinding::AllowUnbound,
            ..JobShape::default()
        };
        let pu = pinned_policy_with(&pcrs_a, false);
        let key_u = create_key(&kms, &pu);
        let policy_u = d.join("policy-u.json");
        std::fs::write(&policy_u, &pu).unwrap();
        let run_u = d.join("run-unbound");
        let (unbound, _) =
            pack_shaped(&ca_dir, &pcrs_a, &eif_a, &kms, &key_u, &bi, &run_u, &unbound_shape);
        let real_sops = {
            let (id, secret, _, _) = kms_local::PRINCIPALS[0];
            let file = audit_world::real_sops(
                &d.join("sops"),
                &kms.endpoint(),
                (id, secret),
                &key_a,
                Some(&bound_context(&test_policy())),
                "defaults:\n  TOKEN: s3cr3t\nservices:\n  api: {}\n",
            );
            let shape = JobShape { input: Some(file), ..JobShape::default() };
            let run_s = d.join("run-real-sops");
            pack_shaped(&ca_dir, &pcrs_a, &eif_a, &kms, &key_a, &bi, &run_s, &shape).0
        };
        let (foreign_policy, other_key_id) = {
            use enclave::recipients::policy::{entry, write_policy};
            let other = other_recipient_der();
            let policy = write_policy(&[
                entry("ops", &test_recipient_der(), "api", "prod"),
                entry("intruder", &other, "api", "prod"),
            ]);
            let shape = JobShape {
                context: bound_context(&policy),
                policy: Some(policy),
                recipients: vec![test_recipient_der(), other.clone()],
                ..JobShape::default()
            };
            let run_f = d.join("run-foreign");
            let (r, _) = pack_shaped(&ca_dir, &pcrs_a, &eif_a, &kms, &key_a, &bi, &run_f, &shape);
            (r, hex::encode(Sha256::digest(&other)))
        };
        let _ = c2;
        World {
            ca_dir,
            eif_a,
            pcrs_a,
            pcrs_b,
            build_info: bi,
            repo,
            other_repo,
            cache,
            c1,
            root_pem,
            images,
            key_a,
            policy_a,
            key_b,
            policy_b,
            bypass_policy,
            good,
            mismatch,
            unbound,
            real_sops,
            key_u,
            policy_u,
            foreign_policy,
            other_key_id,
            artifact,
            _kms: kms,
            dir,
        }
    })
}

/// A second RSA key (SPKI DER), not in the repository's recipients policy.
pub(crate) fn other_recipient_der() -> Vec<u8> {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let pem = include_str!("../../../testvectors/receipts/synthetic_kms_recipient_key_2048.pem");
    let k = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    k.to_public_key().to_public_key_der().unwrap().as_bytes().to_vec()
}

fn p(x: &Path) -> String {
    x.display().to_string()
}

/// Runs `proofpack audit` on the world's cache with JSON output.
fn audit(args: &[String]) -> (Option<i32>, Value, String) {
    let w = world();
    let o: Output = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .arg("audit")
        .args(args)
        .args(["--profile", "demo", "--format", "json"])
        .env("PROOFPACK_CACHE_DIR", &w.cache)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{stderr}", String::from_utf8_lossy(&o.stdout)));
    (o.status.code(), v, stderr)
}

fn base_args(receipt: &Path) -> Vec<String> {
    let w = world();
    vec![
        p(receipt),
        "--repo".into(),
        p(&w.repo),
        "--root".into(),
        p(&w.root_pem),
        "--allow-dev-ca".into(),
        "--kms-policy".into(),
        format!("{}={}", w.key_a, p(&w.policy_a)),
    ]
}

fn check<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["subjects"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["checks"].as_array().unwrap())
        .filter(|c| c["id"] == id)
        .collect()
}

fn status(report: &Value, id: &str) -> String {
    let c = check(report, id);
    assert!(!c.is_empty(), "no check {id} in {report:#}");
    c[0]["status"].as_str().unwrap().to_string()
}

fn assert_fails(code: Option<i32>, v: &Value, id: &str) {
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["verdict"], "fail");
    assert_eq!(status(v, id), "fail", "{id} should fail: {v:#}");
}

#[test]
fn all_good() {
    let w = world();
    let mut args = base_args(&w.good);
    let branch =
        Repository::open(&w.repo).unwrap().head().unwrap().shorthand().unwrap().to_string();
    args.extend(["--artifact".into(), p(&w.artifact), "--branch".into(), branch]);
    let (code, v, stderr) = audit(&args);
    assert_eq!(code, Some(0), "{v:#}\n{stderr}");
    assert_eq!(v["verdict"], "pass");
    for id in [
        "signature",
        "attestation.receipt_doc",
        "binding.user_data",
        "source.commit",
        "source.tree",
        "source.branch",
        "rebuild.pcr.0",
        "rebuild.pcr.1",
        "rebuild.pcr.2",
        "kms.policy.verdict",
        "artifact.digest",
        "recipients.unbound_setting",
        "recipients.policy",
        "recipients.allowed",
        "recipients.inputs_bound",
    ] {
        assert_eq!(status(&v, id), "pass", "{id}: {v:#}");
    }
    // The rendered key policy also requires the recipients context.
    assert_eq!(status(&v, "kms.policy.recipients_context"), "pass", "{v:#}");
    // The rebuild compares the PCRs, so the standalone verifier's "no
    // expected PCRs" reminder must not appear as a warning.
    assert!(check(&v, "measurement.pcrs").is_empty(), "{v:#}");
    // The development CA is accepted, and said so.
    assert_eq!(status(&v, "attestation.dev_ca"), "warn");
    assert!(stderr.contains("development CA"), "{stderr}");
    assert_eq!(v["subjects"][0]["source"]["commit"], w.c1);
    assert!(v["subjects"][0]["pcrs"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .all(|r| r["match"] == true));
    assert!(!v["subjects"][0]["chain"].as_array().unwrap().is_empty());
}

/// `--spec` names the spec the receipt claims: the claim passes and the
/// rebuild (of that spec) still matches the attested PCRs.
#[test]
fn required_spec_named_by_the_receipt() {
    let w = world();
    let mut args = base_args(&w.good);
    args.extend(["--spec".into(), "./enclave.toml".into()]);
    let (code, v, stderr) = audit(&args);
    assert_eq!(code, Some(0), "{v:#}\n{stderr}");
    assert_eq!(status(&v, "rebuild.spec"), "pass", "{v:#}");
    assert_eq!(status(&v, "rebuild.pcr.0"), "pass", "{v:#}");
}

/// The receipt names `enclave.toml`; an auditor requiring another spec gets
/// a failed `rebuild.spec` naming both, and the rebuild uses the auditor's
/// path (absent from the commit here, so the rebuild says so) instead of
/// silently rebuilding the receipt's choice.
#[test]
fn receipt_naming_another_spec_fails() {
    let w = world();
    let mut args = base_args(&w.good);
    args.extend(["--spec".into(), "reviewed/enclave.toml".into()]);
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "rebuild.spec");
    let c = check(&v, "rebuild.spec")[0];
    assert_eq!(c["expected"], "reviewed/enclave.toml", "{c:#}");
    assert_eq!(c["actual"], "enclave.toml", "{c:#}");
    let run = check(&v, "rebuild.run");
    assert!(
        run.iter().any(|r| r["detail"].as_str().unwrap_or("").contains("reviewed/enclave.toml")),
        "the rebuild must use the auditor's spec: {v:#}"
    );
}

#[test]
fn spec_outside_the_repository_is_invalid_input() {
    let w = world();
    for bad in ["/etc/enclave.toml", "../enclave.toml"] {
        let mut args = base_args(&w.good);
        args.extend(["--spec".into(), bad.into()]);
        let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
            .arg("audit")
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--spec"), "{err}");
    }
}

#[test]
fn pcr_mismatch_names_the_changed_file() {
    let w = world();
    let mut args = base_args(&w.mismatch);
    let last = args.len() - 1;
    args[last] = format!("{}={}", w.key_b, p(&w.policy_b));
    args.extend(["--images".into(), p(&w.images)]);
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "rebuild.pcr.2");
    let diff = v["subjects"][0]["image_diff"].as_array().unwrap();
    assert!(
        diff.iter()
            .any(|d| d["path"].as_str().unwrap().ends_with("etc/tiny.conf")
                && d["change"] == "modified"),
        "{diff:#?}"
    );
    // The receipt itself is genuine: signature and bindings pass.
    assert_eq!(status(&v, "signature"), "pass");
    assert_eq!(status(&v, "source.commit"), "pass");
}

#[test]
fn tampered_receipt() {
    let w = world();
    let bytes = std::fs::read(&w.good).unwrap();
    let mut env: Value = serde_json::from_slice(&bytes).unwrap();
    let mut payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    // Change one character of the job id inside the signed payload.
    let pos = payload.windows(9).position(|x| x == b"audit-e2e").unwrap();
    payload[pos] = b'A';
    env["payload"] = STANDARD.encode(&payload).into();
    let t = w.dir.path().join("tampered.json");
    std::fs::write(&t, serde_json::to_vec(&env).unwrap()).unwrap();
    let (code, v, _) = audit(&base_args(&t));
    assert_fails(code, &v, "signature");
}

#[test]
fn foreign_chain() {
    // Without --root the AWS Nitro root is pinned: the dev-CA chain is foreign.
    let w = world();
    let args: Vec<String> =
        base_args(&w.good).into_iter().filter(|a| a != "--allow-dev-ca").collect();
    let args: Vec<String> = {
        let i = args.iter().position(|a| a == "--root").unwrap();
        args[..i].iter().chain(args[i + 2..].iter()).cloned().collect()
    };
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "attestation.receipt_doc");
}

#[test]
fn commit_missing_from_repository() {
    let w = world();
    let mut args = base_args(&w.good);
    let i = args.iter().position(|a| a == "--repo").unwrap();
    args[i + 1] = p(&w.other_repo);
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "source.commit");
    assert!(check(&v, "source.commit")[0]["detail"].as_str().unwrap().contains("is not in"));
}

#[test]
fn policy_with_a_bypass() {
    let w = world();
    let mut args = base_args(&w.good);
    let last = args.len() - 1;
    args[last] = format!("{}={}", w.key_a, p(&w.bypass_policy));
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "kms.policy.verdict");
    let findings = v["subjects"][0]["policy_findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["severity"] == "error" && f["statement"] == "Backdoor"),
        "{findings:#?}"
    );
}

#[test]
fn artifact_digest_mismatch() {
    let w = world();
    let other = w.dir.path().join("other.ppa");
    let mut bytes = std::fs::read(&w.artifact).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&other, bytes).unwrap();
    let mut args = base_args(&w.good);
    args.extend(["--artifact".into(), p(&other)]);
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "artifact.digest");
}

#[test]
fn dev_ca_without_being_allowed() {
    let w = world();
    let args: Vec<String> =
        base_args(&w.good).into_iter().filter(|a| a != "--allow-dev-ca").collect();
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "attestation.dev_ca");
    // Everything else about the receipt is fine: the failure is the CA alone.
    assert_eq!(status(&v, "rebuild.pcr.0"), "pass");
    assert_eq!(status(&v, "attestation.receipt_doc"), "pass");
}

#[test]
fn many_receipts_share_one_rebuild_and_formats_render() {
    let w = world();
    let mut args = base_args(&w.good);
    // The same receipt three times: one rebuild (cache) for all.
    args.insert(1, p(&w.good));
    args.insert(1, p(&w.good));
    let (code, v, _) = audit(&args);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["summary"]["total"], 3);
    for f in ["text", "markdown", "html", "junit", "sarif", "github"] {
        let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
            .arg("audit")
            .args(base_args(&w.good))
            .args(["--profile", "demo", "--format", f])
            .env("PROOFPACK_CACHE_DIR", &w.cache)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{f}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!o.stdout.is_empty());
    }
    // gate --receipt is the same audit with CI formats.
    let mut gate = vec!["gate".to_string(), "--receipt".into()];
    gate.extend(base_args(&w.good));
    let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(&gate)
        .args(["--profile", "demo", "--format", "github"])
        .env("PROOFPACK_CACHE_DIR", &w.cache)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("::notice title=proofpack gate::PASS"));
}

// ---------- issue 20: recipients bound by the secrets' owners ----------

#[test]
fn real_sops_file_bound_to_the_policy_passes_the_audit() {
    let w = world();
    let (code, v, stderr) = audit(&base_args(&w.real_sops));
    assert_eq!(code, Some(0), "{v:#}\n{stderr}");
    for id in [
        "recipients.policy",
        "recipients.allowed",
        "recipients.inputs_bound",
        "kms.policy.recipients_context",
    ] {
        assert_eq!(status(&v, id), "pass", "{id}: {v:#}");
    }
    // The receipt records the real sops's version for the input.
    let env: Value = serde_json::from_slice(&std::fs::read(&w.real_sops).unwrap()).unwrap();
    let st: Value =
        serde_json::from_slice(&STANDARD.decode(env["payload"].as_str().unwrap()).unwrap())
            .unwrap();
    assert!(st["predicate"]["inputs"][0]["sops"]["version"].as_str().unwrap().starts_with("3."));
    assert_eq!(st["predicate"]["inputs"][0]["format"], "sops-yaml");
}

#[test]
fn receipt_from_an_unbound_image_fails_unless_allowed() {
    let w = world();
    let unbound_args = || {
        let mut a = base_args(&w.unbound);
        let last = a.len() - 1;
        a[last] = format!("{}={}", w.key_u, p(&w.policy_u));
        a
    };
    let (code, v, _) = audit(&unbound_args());
    assert_fails(code, &v, "recipients.unbound_setting");
    assert_eq!(status(&v, "recipients.inputs_bound"), "fail", "{v:#}");
    assert!(check(&v, "recipients.inputs_bound")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("secrets.enc.json"));
    // The recipients themselves are allowed: only the binding is missing.
    assert_eq!(status(&v, "recipients.allowed"), "pass", "{v:#}");
    // Key U lets the enclave decrypt without the recipients context: reported.
    assert_eq!(status(&v, "kms.policy.recipients_context"), "warn", "{v:#}");
    let mut args = unbound_args();
    args.push("--allow-unbound-inputs".into());
    let (code, v, _) = audit(&args);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(status(&v, "recipients.unbound_setting"), "warn");
    assert_eq!(status(&v, "recipients.inputs_bound"), "warn");
}

#[test]
fn recipient_not_in_the_repository_policy_is_named() {
    let w = world();
    let (code, v, _) = audit(&base_args(&w.foreign_policy));
    assert_fails(code, &v, "recipients.allowed");
    assert_eq!(status(&v, "recipients.policy"), "fail", "{v:#}");
    let detail = check(&v, "recipients.allowed")[0]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains(&w.other_key_id), "{detail}");
    assert!(detail.contains(".proofpack/recipients.json"), "{detail}");
    // The test recipient is allowed: only the intruder is named.
    assert!(!detail.contains(&hex::encode(Sha256::digest(test_recipient_der()))), "{detail}");
}

#[test]
fn recipients_policy_missing_at_the_commit_fails() {
    let w = world();
    let mut args = base_args(&w.good);
    args.extend(["--recipients-policy".into(), "secrets/nowhere.json".into()]);
    let (code, v, _) = audit(&args);
    assert_fails(code, &v, "recipients.policy");
    let detail = check(&v, "recipients.policy")[0]["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("secrets/nowhere.json"), "{detail}");
}
