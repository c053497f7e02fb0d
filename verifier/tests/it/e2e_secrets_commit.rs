//! Issue 21 end to end with the real binaries (development NSM, local KMS,
//! `proofpack-enclave serve`, `proofpack pack` / `receipt verify` / `audit`)
//! and a real `git` repository of SOPS files, in both object formats:
//!
//! * a pack of the file at commit C verifies, and the receipt records C, the
//!   path and the blob id `git rev-parse C:path` gives;
//! * the same file packed later from an older commit is a rollback in the
//!   audit of both receipts (`secrets.rollback`), and a commit only on
//!   another branch fails `secrets.branch`;
//! * a file edited after C, a path not in C, and a forged tree object are
//!   refused by the enclave before any decrypt, with the object named;
//! * a signed commit passes `secrets.signature` with the allowed signers
//!   given, an unsigned one fails it;
//! * a pack without a commit is marked local: WARN, or FAIL under
//!   `--require-secrets-commit`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::e2e::{
    self, demo_image, dev_ca, repo, serve, sops_file, test_policy, BUILD_INFO,
};
use crate::common::kms_local::KmsLocal;
use crate::common::sops_fixture::test_recipient_der;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

fn proofpack() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    c.env("NO_COLOR", "1");
    c
}

struct World {
    addr: String,
    secrets: PathBuf,
    root_pem: PathBuf,
    out: PathBuf,
    key_arn: String,
    _srv: e2e::Serve,
    _kms: KmsLocal,
}

impl World {
    /// `proofpack pack` of `secrets/prod.enc.json` (and optionally with
    /// `--secrets-repo`/`--secrets-rev rev`) into `out/<name>`.
    fn pack(&self, name: &str, rev: Option<&str>, file: &str) -> Output {
        let mut c = proofpack();
        c.args(["pack", "--enclave", &self.addr, "--service", "api", "--environment", "prod"])
            .args(["--output", "api.ppa", "--job-id", name])
            .arg("--input")
            .arg(self.secrets.join(file))
            .arg("--recipients-policy")
            .arg(self.secrets.join(e2e::POLICY_PATH))
            .arg("--recipient")
            .arg(repo().join("testvectors/receipts/rsa_test_key_2048.pub.pem"))
            .arg("--out-dir")
            .arg(self.out.join(name));
        if let Some(r) = rev {
            c.arg("--secrets-repo").arg(&self.secrets).args(["--secrets-rev", r]);
        }
        c.output().unwrap()
    }

    fn receipt(&self, name: &str) -> PathBuf {
        self.out.join(name).join("api.ppa.receipt.json")
    }

    fn audit(&self, receipts: &[&str], extra: &[&str]) -> Value {
        let mut c = proofpack();
        c.arg("audit");
        for r in receipts {
            c.arg(self.receipt(r));
        }
        let o = c
            .arg("--root")
            .arg(&self.root_pem)
            .args(["--allow-dev-ca", "--format", "json"])
            .args(extra)
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&o.stderr));
        })
    }
}

/// The check `id` of subject `i` of an audit report.
fn check<'a>(report: &'a Value, i: usize, id: &str) -> &'a Value {
    report["subjects"][i]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["checks"].as_array().unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in subject {i}: {report:#}"))
}

fn status(report: &Value, i: usize, id: &str) -> String {
    check(report, i, id)["status"].as_str().unwrap().to_owned()
}

fn assert_refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

fn world(d: &Path, format: &str) -> World {
    let (ca_dir, root_pem) = dev_ca(d);
    let eif = d.join("demo.eif");
    let pcrs = demo_image(&eif, b"");
    let kms = KmsLocal::start(Some(&root_pem));
    let admin = kms.client("AKIDADMIN");
    let key_arn = e2e::create_pinned_key(&kms, &pcrs);

    // The secrets repository: commit 1 (old password), commit 2 (new).
    let secrets = d.join("secrets-repo");
    std::fs::create_dir_all(secrets.join("secrets")).unwrap();
    git(&secrets, &["init", "-q", "-b", "main", &format!("--object-format={format}")]);
    git(&secrets, &["config", "user.name", "Secrets Owner"]);
    git(&secrets, &["config", "user.email", "owner@example.com"]);
    e2e::policy_next_to(&secrets);
    let write = |v: &str| {
        let doc = json!({"environments": {"prod": {"DB_PASSWORD": v}}});
        std::fs::write(secrets.join("secrets/prod.enc.json"), sops_file(&admin, &key_arn, &doc))
            .unwrap();
    };
    write("old-passw0rd");
    git(&secrets, &["add", "."]);
    git(&secrets, &["commit", "-q", "-m", "first password"]);
    write("new-passw0rd");
    git(&secrets, &["commit", "-q", "-am", "rotate the password"]);

    let build_info = d.join("build-info.json");
    std::fs::write(&build_info, BUILD_INFO).unwrap();
    let run = d.join("run");
    std::fs::create_dir_all(&run).unwrap();
    let (srv, addr) =
        serve(&format!("dev:{},{}", eif.display(), ca_dir.display()), &kms, &run, &build_info);
    World { addr, secrets, root_pem, out: d.join("out"), key_arn, _srv: srv, _kms: kms }
}

fn whole_flow(format: &str) {
    let d = tempfile::tempdir().unwrap();
    let w = world(d.path(), format);
    let c2 = git(&w.secrets, &["rev-parse", "HEAD"]);
    let c1 = git(&w.secrets, &["rev-parse", "HEAD~1"]);
    assert_eq!(c2.len(), if format == "sha256" { 64 } else { 40 });

    // 1. The file at C2 packs; the receipt names C2, the path and git's blob id.
    let o = w.pack("at-c2", Some(&c2), "secrets/prod.enc.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let env: Value = serde_json::from_slice(&std::fs::read(w.receipt("at-c2")).unwrap()).unwrap();
    let payload = STANDARD.decode(env["payload"].as_str().unwrap()).unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    let src = &st["predicate"]["secretsSource"][0];
    assert_eq!(src["origin"], "git");
    assert_eq!(src["commit"]["gitCommit"], c2.as_str());
    assert_eq!(src["objectFormat"], format);
    assert_eq!(src["path"], "secrets/prod.enc.json");
    assert_eq!(
        src["blob"],
        git(&w.secrets, &["rev-parse", &format!("{c2}:secrets/prod.enc.json")])
    );
    // The image's source and the secrets' source are two entries.
    assert_ne!(st["predicate"]["source"]["commit"]["gitCommit"], c2.as_str());
    let o = proofpack()
        .args(["receipt", "verify", "--format", "json", "--root"])
        .arg(&w.root_pem)
        .arg(w.receipt("at-c2"))
        .arg("--recipients-policy")
        .arg(w.secrets.join(e2e::POLICY_PATH))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "pass", "{v:#}");

    // 2. A file edited after C2: the enclave refuses, naming the blob.
    let file = w.secrets.join("secrets/prod.enc.json");
    let committed = std::fs::read(&file).unwrap();
    let mut edited = committed.clone();
    edited.extend_from_slice(b"\n");
    std::fs::write(&file, &edited).unwrap();
    let o = w.pack("edited", Some(&c2), "secrets/prod.enc.json");
    assert_refused(
        &o,
        &["not the blob at secrets/prod.enc.json", "blob \"secrets/prod.enc.json\""],
    );
    std::fs::write(&file, &committed).unwrap();
    assert!(!w.out.join("edited/api.ppa").exists());

    // 3. A path that is not in C2 (an uncommitted copy): refused, path named.
    std::fs::write(w.secrets.join("secrets/copy.enc.json"), &committed).unwrap();
    let o = w.pack("wrong-path", Some(&c2), "secrets/copy.enc.json");
    assert_refused(&o, &["no entry \"secrets/copy.enc.json\""]);
    std::fs::remove_file(w.secrets.join("secrets/copy.enc.json")).unwrap();

    // 4. A forged tree object, sent straight to the enclave: refused, tree named.
    forged_tree_is_refused(&w, &c2, format);

    // 5. A later pack from the older commit C1: packs (the enclave checks
    //    the proof, not the history), and the audit calls it a rollback.
    git(&w.secrets, &["checkout", "-q", &c1]);
    let o = w.pack("at-c1", Some(&c1), "secrets/prod.enc.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    git(&w.secrets, &["checkout", "-q", "main"]);
    // A commit on another branch only.
    git(&w.secrets, &["checkout", "-q", "-b", "side"]);
    std::fs::write(&file, {
        let mut b = committed.clone();
        b.extend_from_slice(b" ");
        b
    })
    .unwrap();
    git(&w.secrets, &["commit", "-q", "-am", "side change"]);
    let c3 = git(&w.secrets, &["rev-parse", "HEAD"]);
    git(&w.secrets, &["checkout", "-q", "main"]);
    // The side commit's file has a trailing space: still valid SOPS JSON.
    git(&w.secrets, &["checkout", "-q", &c3]);
    let o = w.pack("side", Some(&c3), "secrets/prod.enc.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    git(&w.secrets, &["checkout", "-q", "main"]);

    let secrets_repo = w.secrets.display().to_string();
    let r = w
        .audit(&["at-c2", "at-c1"], &["--secrets-repo", &secrets_repo, "--secrets-branch", "main"]);
    for id in ["secrets.origin", "secrets.commit", "secrets.blob", "secrets.branch"] {
        assert_eq!(status(&r, 0, id), "pass", "{id}: {:#}", check(&r, 0, id));
        assert_eq!(status(&r, 1, id), "pass", "{id}: {:#}", check(&r, 1, id));
    }
    assert_eq!(status(&r, 0, "secrets.rollback"), "pass", "{:#}", check(&r, 0, "secrets.rollback"));
    let rb = check(&r, 1, "secrets.rollback");
    assert_eq!(rb["status"], "fail", "{rb:#}");
    let detail = rb["detail"].as_str().unwrap();
    assert!(detail.contains("rollback") && detail.contains(&c1[..12]), "{detail}");
    assert_eq!(r["subjects"][1]["verdict"], "fail");
    // The report shows the secrets' commit next to the image's.
    let s = &r["subjects"][0]["secrets_sources"][0];
    assert_eq!(s["commit"], c2.as_str());
    assert_eq!(s["origin"], "git");

    // Audited in the other order of arguments, the attested time decides.
    let r = w.audit(&["at-c1", "at-c2"], &["--secrets-repo", &secrets_repo]);
    assert_eq!(status(&r, 0, "secrets.rollback"), "fail");
    assert_eq!(status(&r, 1, "secrets.rollback"), "pass");

    // The side commit is not on main; a later pack of it does not descend
    // from C1... it does (C1 < C2 < C3), but C3 is not on the branch.
    let r = w.audit(&["side"], &["--secrets-repo", &secrets_repo, "--secrets-branch", "main"]);
    let b = check(&r, 0, "secrets.branch");
    assert_eq!(b["status"], "fail", "{b:#}");
    assert!(b["detail"].as_str().unwrap().contains("not reachable from main"), "{b:#}");

    // Without the repository the commit is not checked (skipped), and the
    // audit of a receipt whose blob the repository does not have fails.
    let r = w.audit(&["at-c2"], &[]);
    assert_eq!(status(&r, 0, "secrets.commit"), "skipped");
    let other = tempfile::tempdir().unwrap();
    git(other.path(), &["init", "-q", &format!("--object-format={format}")]);
    let r = w.audit(&["at-c2"], &["--secrets-repo", &other.path().display().to_string()]);
    let c = check(&r, 0, "secrets.commit");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(c["detail"].as_str().unwrap().contains("is not in"), "{c:#}");
    let _ = &w.key_arn;
}

/// The job `proofpack pack` would send for C2, with one byte of the
/// `secrets` tree body changed: the root tree names another id.
fn forged_tree_is_refused(w: &World, c2: &str, format: &str) {
    use enclave::service::PackJob;
    use enclave::transport::{call_with_credentials, Endpoint, ErrorCode, Limits, TransportError};
    let cat = |kind: &str, spec: &str| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&w.secrets)
            .args(["cat-file", kind, spec])
            .output()
            .unwrap();
        assert!(o.status.success());
        o.stdout
    };
    let file = std::fs::read(w.secrets.join("secrets/prod.enc.json")).unwrap();
    let commit = cat("commit", c2);
    let root = cat("tree", &format!("{c2}^{{tree}}"));
    let mut sub = cat("tree", &format!("{c2}:secrets"));
    let last = sub.len() - 1;
    sub[last] ^= 1;
    let request = json!({
        "_type": "https://proofpack.dev/pack-request/v1",
        "jobId": "forged",
        "nonce": "00".repeat(32),
        "inputs": [{"name": "secrets/prod.enc.json", "sha256": hex::encode(Sha256::digest(&file)),
                    "git": {"repository": "forged", "commit": c2, "objectFormat": format,
                            "path": "secrets/prod.enc.json"}}],
        "outputs": [{"name": "api.ppa", "recipients": [{"publicKey": STANDARD.encode(test_recipient_der())}]}],
        "target": {"service": "api", "environment": "prod"},
        "recipientsPolicy": {"document": STANDARD.encode(test_policy())},
    });
    let job = PackJob {
        request: serde_json::to_vec(&request).unwrap(),
        inputs: vec![file, commit, root, sub],
    };
    let ep: Endpoint = w.addr.parse().unwrap();
    let limits = Limits { io_timeout: Duration::from_secs(60), ..Limits::default() };
    match call_with_credentials(&ep, &job, None, &limits) {
        Err(TransportError::Remote { code: ErrorCode::JobFailed, message }) => {
            assert!(message.contains("tree \"secrets\""), "{message}");
            assert!(message.contains("not the blob at secrets/prod.enc.json"), "{message}");
        }
        other => panic!("forged tree accepted or wrong error: {other:?}"),
    }
}

#[test]
fn sha1_repository_end_to_end() {
    whole_flow("sha1");
}

#[test]
fn sha256_repository_end_to_end() {
    whole_flow("sha256");
}

#[test]
fn local_inputs_are_marked_and_signatures_checked() {
    let d = tempfile::tempdir().unwrap();
    let w = world(d.path(), "sha1");

    // A local pack (no --secrets-repo): marked local in the receipt.
    let o = w.pack("local", None, "secrets/prod.enc.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = w.audit(&["local"], &[]);
    assert_eq!(status(&r, 0, "secrets.origin"), "warn", "{r:#}");
    assert_eq!(r["subjects"][0]["secrets_sources"][0]["origin"], "local");
    let r = w.audit(&["local"], &["--require-secrets-commit"]);
    let c = check(&r, 0, "secrets.origin");
    assert_eq!(c["status"], "fail", "{c:#}");
    assert!(c["detail"].as_str().unwrap().contains("secrets/prod.enc.json"), "{c:#}");

    // An SSH-signed commit: passes with its key in the allowed signers,
    // the unsigned parent fails.
    let key = d.path().join("signer");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "owner", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let allowed = d.path().join("allowed_signers");
    std::fs::write(&allowed, format!("owner@example.com {pubkey}")).unwrap();
    git(&w.secrets, &["config", "gpg.format", "ssh"]);
    git(&w.secrets, &["config", "user.signingkey", &key.display().to_string()]);
    git(&w.secrets, &["commit", "-q", "-S", "--allow-empty", "-m", "signed"]);
    let signed = git(&w.secrets, &["rev-parse", "HEAD"]);
    let unsigned = git(&w.secrets, &["rev-parse", "HEAD~1"]);
    let o = w.pack("signed", Some(&signed), "secrets/prod.enc.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = w.pack("unsigned", Some(&unsigned), "secrets/prod.enc.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let repo_arg = w.secrets.display().to_string();
    let allowed_arg = allowed.display().to_string();
    let r = w.audit(
        &["unsigned", "signed"],
        &[
            "--secrets-repo",
            &repo_arg,
            "--require-signed-commit",
            "--allowed-signers",
            &allowed_arg,
        ],
    );
    assert_eq!(status(&r, 0, "secrets.signature"), "fail", "{r:#}");
    let s = check(&r, 1, "secrets.signature");
    assert_eq!(s["status"], "pass", "{s:#}");
    // Same file in both commits, later pack from the descendant: no rollback.
    assert_eq!(status(&r, 1, "secrets.rollback"), "pass");
}
