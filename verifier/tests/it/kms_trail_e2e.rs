//! The trail audit end to end (issue 16): packs through the local KMS, which
//! writes a CloudTrail record per call; then an administrator's unattested
//! Decrypt, a Decrypt from a different image, and a policy change that
//! unpins the key for an interval and restores it. `proofpack kms-trail
//! check` over that trail finds exactly those, with their times and
//! principals; over the clean part of the trail it passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cloudtrail::record::format_time;
use serde_json::{json, Value};

use crate::common::e2e::{demo_image, dev_ca, policy_next_to, repo, serve, sops_file, BUILD_INFO};
use crate::common::kms_local::KmsLocal;

const ADMIN: &str = "arn:aws:iam::111122223333:role/admin";
const ENCLAVE: &str = "arn:aws:iam::111122223333:role/pack-enclave";

fn pack(addr: &str, inputs: &[PathBuf], out: &Path) -> std::process::Output {
    let recipient_pub = repo().join("testvectors/receipts/rsa_test_key_2048.pub.pem");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_proofpack"));
    cmd.args(["pack", "--enclave", addr, "--service", "api", "--environment", "prod"]).args([
        "--output",
        "api-prod.ppa",
        "--format",
        "json",
        "--job-id",
        "trail-job",
    ]);
    for i in inputs {
        cmd.arg("--input").arg(i);
    }
    cmd.arg("--recipients-policy")
        .arg(policy_next_to(inputs[0].parent().unwrap()))
        .arg("--recipient")
        .arg(recipient_pub)
        .arg("--out-dir")
        .arg(out);
    cmd.output().unwrap()
}

fn wall() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Audit<'a> {
    trail: &'a Path,
    key: &'a str,
    expect: &'a Path,
    receipt: &'a Path,
    root: &'a Path,
}

impl Audit<'_> {
    fn run(&self, from: i64, to: i64) -> (i32, Value) {
        let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
            .args(["kms-trail", "check", "--format", "json"])
            .arg("--cloudtrail")
            .arg(self.trail)
            .args(["--from", &format_time(from), "--to", &format_time(to), "--key", self.key])
            .arg("--expect")
            .arg(self.expect)
            .arg("--receipt")
            .arg(self.receipt)
            .arg("--root")
            .arg(self.root)
            .args(["--allow-dev-ca", "--trusted-principal", ADMIN])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        (o.status.code().unwrap(), v)
    }
}

fn checks(v: &Value) -> Vec<Value> {
    v["subjects"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["checks"].as_array().unwrap().clone())
        .collect()
}

fn detail(v: &Value, id: &str) -> String {
    checks(v).iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no {id}"))["detail"]
        .as_str()
        .unwrap()
        .to_string()
}

fn failing(v: &Value) -> Vec<String> {
    let mut f: Vec<String> = checks(v)
        .iter()
        .filter(|c| c["status"] == "fail" && c["required"] == true)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    f.sort();
    f
}

fn pinned_policy(p: &build_spec::pcr::Measurements) -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ADMIN},
         "NotAction": "kms:Decrypt", "Resource": "*"},
        {"Sid": "PinnedEnclave", "Effect": "Allow", "Principal": {"AWS": ENCLAVE},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {
            "kms:RecipientAttestation:PCR0": p.hex(0).unwrap(),
            "kms:RecipientAttestation:PCR1": p.hex(1).unwrap(),
            "kms:RecipientAttestation:PCR2": p.hex(2).unwrap()}}}]})
    .to_string()
}

#[test]
fn trail_audit_finds_exactly_the_misuses_and_a_clean_trail_passes() {
    let d = tempfile::tempdir().unwrap();
    let (ca_dir, root_pem) = dev_ca(d.path());
    let eif_a = d.path().join("demo.eif");
    let eif_b = d.path().join("other.eif");
    let pcrs_a = demo_image(&eif_a, b"");
    demo_image(&eif_b, b"another image");
    let kms = KmsLocal::start_with_trail(Some(&root_pem));
    let trail = kms.trail.clone().unwrap();
    let admin = kms.client("AKIDADMIN");

    // The key is created pinned; the secrets are encrypted (Encrypt is not a use).
    let t0 = wall();
    kms.set_clock(t0);
    let md = admin.call("CreateKey", &json!({"Policy": pinned_policy(&pcrs_a)})).unwrap();
    let arn = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
    let base = d.path().join("base.enc.json");
    let prod = d.path().join("prod.enc.json");
    std::fs::write(&base, sops_file(&admin, &arn, &json!({"defaults": {"LOG_LEVEL": "info"}})))
        .unwrap();
    std::fs::write(
        &prod,
        sops_file(&admin, &arn, &json!({"environments": {"prod": {"DB_PASSWORD": "pw"}}})),
    )
    .unwrap();
    let inputs = [base, prod];
    let build_info = d.path().join("build-info.json");
    std::fs::write(&build_info, BUILD_INFO).unwrap();

    // The pinned image packs (the server's clock follows the wall clock here,
    // as the receipt's attestation times do).
    let t_a = wall().max(t0 + 1);
    kms.set_clock(t_a);
    let run_a = d.path().join("run-a");
    std::fs::create_dir_all(&run_a).unwrap();
    let (srv_a, addr_a) =
        serve(&format!("dev:{},{}", eif_a.display(), ca_dir.display()), &kms, &run_a, &build_info);
    let o = pack(&addr_a, &inputs, &run_a.join("out"));
    assert!(o.status.success(), "pack: {}\n{}", String::from_utf8_lossy(&o.stderr), kms.log());
    drop(srv_a);
    let t_pack = wall();
    let receipt = run_a.join("out/api-prod.ppa.receipt.json");
    let expect = d.path().join("pcrs.json");
    std::fs::write(&expect, pcrs_a.to_nitro_json()).unwrap();
    let audit =
        Audit { trail: &trail, key: &arn, expect: &expect, receipt: &receipt, root: &root_pem };

    // --- A clean trail passes. ---
    let (code, v) = audit.run(t0, t_a);
    assert_eq!((code, failing(&v)), (0, vec![]), "{v:#}");
    let receipted = detail(&v, "trail.uses.receipted");
    assert!(receipted.contains("covered by receipt"), "{receipted}");

    // --- Then the misuses, at known times after the pack. ---
    let t1 = t_pack + 100;
    let ct = admin
        .call("Encrypt", &json!({"KeyId": arn, "Plaintext": STANDARD.encode(b"a data key")}))
        .unwrap()["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_string();
    // The policy is opened (unpinned) by the administrator ...
    kms.set_clock(t1);
    let open = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ADMIN}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": ENCLAVE}, "Action": "kms:Decrypt", "Resource": "*"}]});
    admin
        .call(
            "PutKeyPolicy",
            &json!({"KeyId": arn, "PolicyName": "default", "Policy": open.to_string()}),
        )
        .unwrap();
    // ... who decrypts without attestation ...
    kms.set_clock(t1 + 50);
    admin.call("Decrypt", &json!({"CiphertextBlob": ct})).unwrap();
    // ... and another image decrypts the secrets ...
    kms.set_clock(t1 + 100);
    let run_b = d.path().join("run-b");
    std::fs::create_dir_all(&run_b).unwrap();
    let (srv_b, addr_b) =
        serve(&format!("dev:{},{}", eif_b.display(), ca_dir.display()), &kms, &run_b, &build_info);
    let _ = pack(&addr_b, &inputs, &run_b.join("out"));
    drop(srv_b);
    // ... then the pinned policy is restored, and a later attempt is denied.
    kms.set_clock(t1 + 200);
    admin
        .call(
            "PutKeyPolicy",
            &json!({"KeyId": arn, "PolicyName": "default", "Policy": pinned_policy(&pcrs_a)}),
        )
        .unwrap();
    kms.set_clock(t1 + 300);
    assert!(admin.call("Decrypt", &json!({"CiphertextBlob": ct})).is_err());

    let (code, v) = audit.run(t0, t1 + 300);
    assert_eq!(code, 1);
    assert_eq!(
        failing(&v),
        ["trail.policy", "trail.uses.unattested", "trail.uses.wrong_image"],
        "{v:#}"
    );
    let un = detail(&v, "trail.uses.unattested");
    assert!(un.starts_with("1 unattested"), "{un}");
    assert!(
        un.contains(&format!("{} Decrypt by {ADMIN} from 127.0.0.1", format_time(t1 + 50))),
        "{un}"
    );
    let wi = detail(&v, "trail.uses.wrong_image");
    assert!(wi.contains(&format!("{} Decrypt by {ENCLAVE}", format_time(t1 + 100))), "{wi}");
    assert!(!wi.contains(&format_time(t1 + 50)), "{wi}");
    let p = detail(&v, "trail.policy");
    assert!(p.contains("1 interval(s)"), "{p}");
    assert!(
        p.contains(&format!("NOT_PINNED from {} to {}", format_time(t1), format_time(t1 + 200))),
        "{p}"
    );
    assert!(p.contains(&format!("opened by {} PutKeyPolicy by {ADMIN}", format_time(t1))), "{p}");
    assert!(
        p.contains(&format!("closed by {} PutKeyPolicy by {ADMIN}", format_time(t1 + 200))),
        "{p}"
    );
    let failed = detail(&v, "trail.uses.failed");
    assert!(failed.starts_with("1 failed") && failed.contains("AccessDeniedException"), "{failed}");
    assert!(detail(&v, "trail.uses.receipted").contains("covered by receipt"));
    assert_eq!(
        detail(&v, "trail.uses.unreceipted"),
        "no unreceipted attested use(s) (expected PCRs, no receipt)"
    );
    // `audit --cloudtrail` adds one kms_key subject per key the receipts
    // used; without --repo the receipt cannot pass, so there are no verified
    // PCRs to hold the trail to: CANNOT_DECIDE, never a pass.
    let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .arg("audit")
        .arg(&receipt)
        .arg("--cloudtrail")
        .arg(&trail)
        .args(["--from", &format_time(t0), "--to", &format_time(t1 + 300), "--format", "json"])
        .arg("--root")
        .arg(&root_pem)
        .arg("--allow-dev-ca")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let a: Value = serde_json::from_slice(&o.stdout).unwrap();
    let key_subject = a["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "kms_key")
        .unwrap_or_else(|| panic!("no kms_key subject: {a:#}"));
    assert_eq!(key_subject["path"], arn.as_str());
    assert_eq!(key_subject["verdict"], "fail");
    assert_eq!(key_subject["groups"][0]["checks"][0]["id"], "trail.expected");
    // The timeline carries the unpinned interval.
    let states: Vec<(String, String)> = v["subjects"][0]["timeline"]["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["start"].as_str().unwrap().to_string(), i["state"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        states,
        [
            (format_time(t0), "pinned".to_string()),
            (format_time(t1), "not_pinned".to_string()),
            (format_time(t1 + 200), "pinned".to_string())
        ]
    );
}
