//! The audit test world's building blocks, shared by `tests/audit_e2e.rs`
//! and `benches/audit.rs`: a tiny git repository with a build spec (two
//! crates without dependencies, so a rebuild takes seconds), the real
//! rebuild, the real local KMS with policies rendered pinned to PCRs, and
//! receipts made by the real pack service with the development NSM.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use attestation::testca::TestCa;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use build_spec::pcr::Measurements;
use enclave::backend::nsm_dev::DevNsm;
use enclave::receipt::statement::BuildInfo;
use enclave::secret::SecretBytes;
use enclave::service::{PackJob, PackService};
use serde_json::json;
use sha2::{Digest, Sha256};
use verifier::kms_policy::render::{policy_text, RenderInput};
use verifier::rebuild::{rebuild, RebuildOptions};

use super::kms_local::KmsLocal;
#[allow(unused_imports)] // the demo and the bench use fewer helpers than the tests
pub use super::sops_fixture::{
    bound_context, real_sops, sops_file_with_context, test_policy, test_recipient_der, POLICY_PATH,
};
pub use super::tiny_workspace::commit_all;
use super::tiny_workspace::{
    generate_lockfile, rustc, write_files, TinyApp, TinySpec, INIT_MANIFEST,
};

pub const ENCLAVE_ROLE: &str = "arn:aws:iam::111122223333:role/pack-enclave";
pub const ADMIN_ROLE: &str = "arn:aws:iam::111122223333:role/admin";

/// The tiny image's spec (cargo app, no arguments).
pub fn spec() -> String {
    let r = rustc();
    TinySpec {
        name: "tiny",
        release: &r.release,
        commit_hash: &r.commit_hash,
        target: &r.host,
        epoch: "1700000000",
        app: TinyApp::Cargo { args: &[], env: &[], features: &[] },
        rootfs_conf: true,
        extra: "",
    }
    .render()
}

pub fn write(dir: &Path, rel: &str, body: &str) {
    write_files(dir, &[(rel, body)]);
}

pub fn write_workspace(dir: &Path) {
    let app = "[package]\nname = \"tiny-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[[bin]]\nname = \"app\"\npath = \"src/main.rs\"\n";
    write_files(
        dir,
        &[
            ("Cargo.toml", "[workspace]\nmembers = [\"init\", \"app\"]\nresolver = \"2\"\n"),
            ("init/Cargo.toml", INIT_MANIFEST),
            ("init/src/main.rs", "fn main() {}\n"),
            ("app/Cargo.toml", app),
            ("app/src/main.rs", "fn main() { println!(\"tiny\"); }\n"),
            ("tiny.conf", "setting = 1\n"),
            ("enclave.toml", &spec()),
            (".gitignore", "/target\n"),
            (POLICY_PATH, std::str::from_utf8(&test_policy()).unwrap()),
        ],
    );
    generate_lockfile(dir);
}

/// A policy pinned to `pcrs` (PCR0-2) for the enclave role, immutable, with
/// the admin allowed to Encrypt (to make the test's SOPS files).
pub fn pinned_policy(pcrs: &Measurements) -> String {
    pinned_policy_with(pcrs, true)
}

/// [`pinned_policy`], with or without requiring the issue-20 context.
pub fn pinned_policy_with(pcrs: &Measurements, require_recipients_context: bool) -> String {
    let mut input =
        RenderInput::from_measurements(pcrs, &[0, 1, 2], ENCLAVE_ROLE, ADMIN_ROLE).unwrap();
    input.producers = vec![ADMIN_ROLE.into()];
    input.immutable = true;
    // Issue 20: the key decrypts only ciphertexts bound to a recipients policy.
    if require_recipients_context {
        input.require_context = vec![enclave::recipients::CONTEXT_KEY.into()];
    }
    policy_text(&input).unwrap()
}

/// A KMS client with a long timeout: the debug-built local KMS verifies
/// attestation chains, which can take seconds on a loaded 2-core machine.
pub fn patient_client(
    kms: &KmsLocal,
    access_key_id: &str,
) -> enclave::backend::kms_http::KmsHttpClient {
    use enclave::backend::kms_http::sigv4::Credentials;
    use enclave::backend::kms_http::{KmsHttpClient, KmsHttpConfig};
    let (id, secret, _, _) =
        super::kms_local::PRINCIPALS.iter().find(|p| p.0 == access_key_id).unwrap();
    let creds = Credentials {
        access_key_id: id.to_string(),
        secret_access_key: SecretBytes::from_slice(secret.as_bytes()),
        session_token: None,
    };
    let mut cfg = KmsHttpConfig::new(kms.endpoint(), super::kms_local::REGION, creds);
    cfg.timeout = std::time::Duration::from_secs(300);
    KmsHttpClient::new(cfg).unwrap()
}

pub fn create_key(kms: &KmsLocal, policy: &str) -> String {
    let admin = patient_client(kms, "AKIDADMIN");
    let md = admin
        .call("CreateKey", &json!({"Policy": policy, "Description": "audit e2e", "BypassPolicyLockoutSafetyCheck": true}))
        .unwrap();
    md["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
}

pub fn rebuilt(repo: &Path, commit: &str, cache: &Path, target: &Path) -> (PathBuf, Measurements) {
    let mut o = RebuildOptions::new(repo.display().to_string(), commit);
    o.spec_path = "enclave.toml".into();
    o.profile = "demo".into();
    o.cache_dir = Some(cache.to_path_buf());
    o.target_dir = Some(target.to_path_buf());
    let r = rebuild(&o, &build_spec::build::NoProgress).unwrap();
    (r.eif_path, r.pcrs)
}

/// What a job sends besides its input (issue 20): the recipients policy,
/// the recipient keys (SPKI DER), the input's KMS context and the image's
/// input-binding setting.
pub struct JobShape {
    /// The SOPS input; `None`: the project's writer, wrapped under the key with `context`.
    pub input: Option<Vec<u8>>,
    pub policy: Option<Vec<u8>>,
    pub recipients: Vec<Vec<u8>>,
    pub context: std::collections::BTreeMap<String, String>,
    pub binding: enclave::recipients::InputBinding,
    /// The input's git proof (issue 21): (repository directory, full commit
    /// id, path of the input in the commit); `None`: a local file.
    pub git: Option<(PathBuf, String, String)>,
}

impl Default for JobShape {
    /// The bound flow of the tests: [`test_policy`], its recipient, a bound input.
    fn default() -> Self {
        let policy = test_policy();
        Self {
            input: None,
            context: bound_context(&policy),
            policy: Some(policy),
            recipients: vec![test_recipient_der()],
            binding: enclave::recipients::InputBinding::Required,
            git: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn pack(
    ca_dir: &Path,
    pcrs: &Measurements,
    eif: &Path,
    kms: &KmsLocal,
    key: &str,
    build_info: &[u8],
    out: &Path,
) -> (PathBuf, PathBuf) {
    pack_shaped(ca_dir, pcrs, eif, kms, key, build_info, out, &JobShape::default())
}

/// [`pack`] with the issue-20 parts of the job chosen by the test.
#[allow(clippy::too_many_arguments)]
pub fn pack_shaped(
    ca_dir: &Path,
    pcrs: &Measurements,
    eif: &Path,
    kms: &KmsLocal,
    key: &str,
    build_info: &[u8],
    out: &Path,
    shape: &JobShape,
) -> (PathBuf, PathBuf) {
    // The local KMS reads its clock from a file (tests move it). Keep the
    // file at the real time for the whole job: documents minted after a slow
    // RSA key generation must not look "from the future".
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let (stop, clock) = (stop.clone(), kms.clock_file.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let tmp = clock.with_extension("tmp");
                std::fs::write(&tmp, now.to_string()).unwrap();
                std::fs::rename(&tmp, &clock).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
    let nsm = DevNsm::with_measurements(TestCa::load(ca_dir).unwrap(), pcrs.clone(), eif);
    let enclave_kms = patient_client(kms, "AKIDENCLAVE");
    let admin = patient_client(kms, "AKIDADMIN");
    let input = shape.input.clone().unwrap_or_else(|| {
        sops_file_with_context(
            &admin,
            key,
            &json!({"defaults": {"TOKEN": "s3cr3t"}, "services": {"api": {}}, "environments": {"prod": {}}}),
            shape.context.clone(),
        )
    });
    let recipients: Vec<_> =
        shape.recipients.iter().map(|der| json!({"publicKey": STANDARD.encode(der)})).collect();
    let mut request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": "audit-e2e",
        "nonce": hex::encode([7u8; 32]),
        "inputs": [{"name": "secrets.enc.json", "sha256": hex::encode(Sha256::digest(&input))}],
        "outputs": [{"name": "api-prod.ppa", "recipients": recipients}],
        "target": {"service": "api", "environment": "prod"},
    });
    if let Some(p) = &shape.policy {
        request["recipientsPolicy"] = json!({"document": STANDARD.encode(p)});
    }
    let mut files = vec![input];
    if let Some((dir, commit, path)) = &shape.git {
        let repo = verifier::secrets_repo::SecretsRepo::open(dir).unwrap();
        let proof = repo.proof(commit, path).unwrap();
        request["inputs"][0]["git"] = json!({"repository": format!("git+file://{}", dir.display()),
            "commit": commit, "objectFormat": repo.format().name(), "path": path});
        files.push(proof.commit_body);
        files.extend(proof.trees);
    }
    let job = PackJob { request: serde_json::to_vec(&request).unwrap(), inputs: files };
    let svc = PackService::with_input_binding(
        &nsm,
        &enclave_kms,
        BuildInfo::parse(build_info).unwrap(),
        shape.binding,
    );
    let result = svc.pack(&job);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    ticker.join().unwrap();
    let output = result.unwrap_or_else(|e| panic!("pack failed: {e}\nkms log: {}", kms.log()));
    std::fs::create_dir_all(out).unwrap();
    let receipt = out.join("api-prod.ppa.receipt.json");
    let artifact = out.join("api-prod.ppa");
    std::fs::write(&receipt, &output.receipt).unwrap();
    std::fs::write(&artifact, &output.artifacts[0].bytes).unwrap();
    (receipt, artifact)
}
