//! Issue 14: the enclave image booted in QEMU's `nitro-enclave` machine.
//!
//! `scripts/test` builds the `emulator` image of HEAD (`proofpack rebuild
//! --profile emulator`) and a copy whose application binary has one more
//! byte, installs QEMU and vhost-device-vsock (`scripts/enclave-emulator
//! install`), then runs this test with
//! `PROOFPACK_EMULATOR_IMAGE` (the image's directory: image.eif, pcrs.json),
//! `PROOFPACK_EMULATOR_CHANGED_IMAGE` (the one-byte-changed image's directory),
//! `PROOFPACK_EMULATOR_KERNEL` (the fetched Debian kernel package) and
//! `PROOFPACK_EMULATOR_COMMIT` (the commit the image was built from).
//! Without them the test says so and returns: the image build takes
//! minutes, which `cargo test` alone must not spend.
//!
//! What runs for real: the EIF boots under QEMU's measurement (PCR0/1/2),
//! proofpack-init loads the Debian kernel's modules, the production
//! `serve` listens on vsock, `proofpack pack --enclave vsock-uds:…` sends the
//! job through vhost-device-vsock, the app asks QEMU's virtio NSM (`/dev/nsm`,
//! the `nitro` backend) for documents, and its KMS calls go through the
//! in-enclave forwarder, vsock CID 3, `proofpack emulator-parent`'s relay, to
//! `proofpack-kms-local --accept-emulator-attestation`, with the credentials
//! the job carries. Every process is started by `scripts/enclave-emulator
//! run`, which stops them by PID when the job ends, also on failure.
use crate::common::sops_fixture;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use build_spec::pcr::Measurements;
use serde_json::{json, Value};

use crate::common::e2e::{dev_ca, repo, with_creds};
use crate::common::kms_local::KmsLocal;

const SESSION_TOKEN: &str = "FQoGZXIvYXdzEMULATOR+/=";

struct Env {
    image: PathBuf,
    changed: PathBuf,
    kernel: PathBuf,
    commit: String,
}

fn env() -> Option<Env> {
    let get = |k: &str| std::env::var_os(k).map(PathBuf::from);
    Some(Env {
        image: get("PROOFPACK_EMULATOR_IMAGE")?,
        changed: get("PROOFPACK_EMULATOR_CHANGED_IMAGE")?,
        kernel: get("PROOFPACK_EMULATOR_KERNEL")?,
        commit: std::env::var("PROOFPACK_EMULATOR_COMMIT").ok()?,
    })
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The recipients policy the job is bound to: a file committed in this
/// repository, so that the audit reads the same bytes at the commit it
/// rebuilds (it allows the test recipient key for api/prod).
const RECIPIENTS_POLICY: &str = "testvectors/recipients/policy.json";

/// `scripts/enclave-emulator run` around one `proofpack pack` of `inputs`.
fn pack_in_emulator(eif: &Path, work: &Path, kms: &KmsLocal, inputs: &[PathBuf]) -> Output {
    let uds = work.join("vm.vsock");
    let mut c = Command::new(repo().join("scripts/enclave-emulator"));
    c.arg("run")
        .arg(eif)
        .arg(work)
        .args(["--kms", &format!("127.0.0.1:{}", kms.port), "--"])
        .arg(env!("CARGO_BIN_EXE_proofpack"))
        .args(["pack", "--enclave", &format!("vsock-uds:{}:5000", uds.display())])
        .args(["--service", "api", "--environment", "prod", "--output", "api-prod.ppa"])
        .args(["--format", "json", "--send-credentials", "--job-id", "emulator-job"])
        .arg("--recipient")
        .arg(repo().join("testvectors/receipts/rsa_test_key_2048.pub.pem"))
        .arg("--recipients-policy")
        .arg(repo().join(RECIPIENTS_POLICY))
        .arg("--out-dir")
        .arg(work.join("out"))
        .env("PROOFPACK", env!("CARGO_BIN_EXE_proofpack"))
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN);
    for i in inputs {
        c.arg("--input").arg(i);
    }
    with_creds(&mut c, "AKIDENCLAVE");
    c.env("AWS_SESSION_TOKEN", SESSION_TOKEN);
    c.output().unwrap()
}

fn receipt_verify(out: &Path, pcrs: &Path, extra: &[&str]) -> (Output, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(["receipt", "verify"])
        .arg(out.join("api-prod.ppa.receipt.json"))
        .arg("--artifact")
        .arg(out.join("api-prod.ppa"))
        .arg("--request")
        .arg(out.join("request.json"))
        .arg("--expect-pcrs")
        .arg(pcrs)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o, v)
}

#[test]
fn pack_through_the_emulated_enclave() {
    let Some(e) = env() else {
        eprintln!(
            "e2e_emulator: not configured (scripts/test sets PROOFPACK_EMULATOR_*); nothing run"
        );
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (_ca_dir, root_pem) = dev_ca(d.path());
    let pcrs_path = e.image.join("pcrs.json");
    let pcrs = Measurements::from_json(&std::fs::read(&pcrs_path).unwrap()).unwrap();

    let kms = KmsLocal::start_accepting_emulator(&root_pem);
    let admin = kms.client("AKIDADMIN");
    // The policy `proofpack kms-policy render` writes: Decrypt only for the
    // enclave role with a Recipient attesting these PCR0/1/2.
    let mut render = verifier::kms_policy::render::RenderInput::from_measurements(
        &pcrs,
        &[0, 1, 2],
        "arn:aws:iam::111122223333:role/pack-enclave",
        "arn:aws:iam::111122223333:role/admin",
    )
    .unwrap();
    render.producers = vec!["arn:aws:iam::111122223333:role/admin".into()];
    render.immutable = true;
    let policy = verifier::kms_policy::render::policy_text(&render).unwrap();
    let md = admin
        .call(
            "CreateKey",
            &json!({"Policy": policy, "Description": "emulator e2e", "BypassPolicyLockoutSafetyCheck": true}),
        )
        .unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let input = d.path().join("prod.enc.json");
    // Bound to the committed recipients policy, as the secrets' owners would.
    let policy_bytes = std::fs::read(repo().join(RECIPIENTS_POLICY)).unwrap();
    std::fs::write(
        &input,
        sops_fixture::sops_file_with_context(
            &admin,
            &arn,
            &json!({"services": {"api": {"API_TOKEN": "emulated-s3cr3t"}}}),
            sops_fixture::bound_context(&policy_bytes),
        ),
    )
    .unwrap();

    // --- The image built from HEAD packs. ---
    let work = d.path().join("run");
    let o = pack_in_emulator(&e.image.join("image.eif"), &work, &kms, std::slice::from_ref(&input));
    assert!(o.status.success(), "pack in the emulator failed:\n{}\nkms:\n{}", text(&o), kms.log());
    let kms_log = kms.log();
    assert!(kms_log.contains("kms-local[ACCEPTS UNSIGNED EMULATOR ATTESTATION]"), "{kms_log}");
    assert!(kms_log.contains("role/pack-enclave Decrypt -> 200"), "{kms_log}");
    let out = work.join("out");
    // For refreshing testvectors/emulator/ (see its README).
    if let Some(keep) = std::env::var_os("PROOFPACK_EMULATOR_KEEP_RECEIPT") {
        std::fs::copy(out.join("api-prod.ppa.receipt.json"), keep).unwrap();
    }
    let boot: f64 =
        std::fs::read_to_string(work.join("boot-seconds")).unwrap().trim().parse().unwrap();
    let job: f64 =
        std::fs::read_to_string(work.join("command-seconds")).unwrap().trim().parse().unwrap();
    eprintln!("e2e_emulator: boot-to-listening {boot} s; pack round trip {job} s");

    // The receipt verifies with --allow-emulator: the attested PCR0/1/2
    // equal `proofpack pcrs` of the built EIF (QEMU measured them itself).
    let (v, j) = receipt_verify(&out, &pcrs_path, &["--allow-emulator"]);
    assert!(v.status.success(), "receipt verify --allow-emulator:\n{}", text(&v));
    let all = j.to_string();
    assert!(all.contains("unsigned emulator document, not evidence of Nitro hardware"), "{all}");
    // Without the flag it fails, with that reason.
    let (v, j) = receipt_verify(&out, &pcrs_path, &[]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));
    assert!(j.to_string().contains("unsigned emulator document"), "{j}");
    // A wrong expected PCR0 fails even with the flag (the PCR checks still run).
    let mut wrong = pcrs.clone();
    wrong.insert(0, [0x11; 48]);
    let wrong_path = d.path().join("wrong-pcrs.json");
    std::fs::write(&wrong_path, wrong.to_nitro_json()).unwrap();
    let (v, _) = receipt_verify(&out, &wrong_path, &["--allow-emulator"]);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v));

    // `proofpack audit` rebuilds the commit (emulator profile) and passes,
    // with the emulator WARN.
    let policy_file = d.path().join("policy.json");
    std::fs::write(&policy_file, &policy).unwrap();
    let a = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .arg("audit")
        .arg(out.join("api-prod.ppa.receipt.json"))
        .arg("--repo")
        .arg(repo())
        .args(["--profile", "emulator", "--allow-emulator", "--format", "json"])
        .args(["--recipients-policy", RECIPIENTS_POLICY])
        .arg("--debian-kernel")
        .arg(&e.kernel)
        .arg("--kms-policy")
        .arg(format!("{arn}={}", policy_file.display()))
        .arg("--artifact")
        .arg(out.join("api-prod.ppa"))
        .output()
        .unwrap();
    let report = text(&a);
    assert!(a.status.success(), "audit:\n{report}");
    assert!(report.contains("unsigned emulator document, not evidence of Nitro hardware"));
    assert!(report.contains(&e.commit), "{report}");

    // --- One byte more in the application: KMS refuses. ---
    let work_b = d.path().join("run-changed");
    let changed =
        Measurements::from_json(&std::fs::read(e.changed.join("pcrs.json")).unwrap()).unwrap();
    assert_ne!(changed.get(2), pcrs.get(2));
    assert_eq!(changed.get(1), pcrs.get(1));
    let o = pack_in_emulator(&e.changed.join("image.eif"), &work_b, &kms, &[input]);
    assert!(!o.status.success(), "the changed image packed:\n{}", text(&o));
    assert!(
        kms.log().contains("role/pack-enclave Decrypt -> 400 AccessDeniedException"),
        "{}\n{}",
        text(&o),
        kms.log()
    );
}
