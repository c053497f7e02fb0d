//! `proofpack audit --cloudtrail` end to end with a receipt that passes
//! (issue 16): the receipt's audit (rebuild, PCRs, policy file) and the
//! trail of its key, from the same run.
//!
//! The world reuses `audit_e2e`'s rebuild (the tiny workspace, C1's image
//! and PCRs, the development CA) and adds the real `proofpack-kms-local`
//! writing a CloudTrail record per call, with one key whose policy is
//! rendered pinned to C1's PCRs (the administrator may change it, and is a
//! trusted principal). In order, on the server's clock:
//!
//! * `t0`: CreateKey; then the pack of C1's image (the clock follows the
//!   wall clock during the pack), then DescribeKey at `t_clean` (the clean
//!   trail ends here and is copied aside);
//! * `t1`: the administrator opens the policy (unpinned); `t1 + 50` decrypts
//!   without attestation; `t1 + 100` an attested Decrypt from C2's image
//!   (other PCRs); `t1 + 200` the pinned policy is restored; `t1 + 300`
//!   DescribeKey (the trail's last record).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use attestation::testca::{DocSpec, TestCa};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cloudtrail::record::format_time;
use enclave::backend::{DecryptRequest, Kms as _, Recipient};
use serde_json::{json, Value};
use verifier::kms_policy::render::{policy_text, RenderInput};

use crate::audit_e2e::{other_recipient_der, world as rebuilt_world};
use crate::common::audit_world::{pack, patient_client, ADMIN_ROLE, ENCLAVE_ROLE};
use crate::common::kms_local::KmsLocal;

struct TrailWorld {
    key: String,
    /// The pinned policy, as the auditor has it (`--kms-policy`).
    policy: PathBuf,
    receipt: PathBuf,
    /// The whole trail, and a copy of it as it was at `t_clean`.
    trail: PathBuf,
    clean_trail: PathBuf,
    t0: i64,
    t_clean: i64,
    t1: i64,
    _dir: tempfile::TempDir,
    _kms: KmsLocal,
}

fn wall() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// C1's pinned policy for the enclave role, with the issue-20 context, that
/// the administrator may replace (so the trail can show it unpinned).
fn mutable_pinned_policy(pcrs: &build_spec::pcr::Measurements) -> String {
    let mut input =
        RenderInput::from_measurements(pcrs, &[0, 1, 2], ENCLAVE_ROLE, ADMIN_ROLE).unwrap();
    input.producers = vec![ADMIN_ROLE.into()];
    input.require_context = vec![enclave::recipients::CONTEXT_KEY.into()];
    policy_text(&input).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn trail_world() -> &'static TrailWorld {
    static W: OnceLock<TrailWorld> = OnceLock::new();
    W.get_or_init(|| {
        let w = rebuilt_world();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let kms = KmsLocal::start_with_trail(Some(&w.root_pem));
        let trail = kms.trail.clone().unwrap();
        let admin = patient_client(&kms, "AKIDADMIN");

        let t0 = wall();
        kms.set_clock(t0);
        let pinned = mutable_pinned_policy(&w.pcrs_a);
        let md = admin.call("CreateKey", &json!({"Policy": pinned})).unwrap();
        let key = md["KeyMetadata"]["Arn"].as_str().unwrap().to_string();
        let policy = d.join("policy.json");
        std::fs::write(&policy, &pinned).unwrap();
        let (receipt, _) =
            pack(&w.ca_dir, &w.pcrs_a, &w.eif_a, &kms, &key, &w.build_info, &d.join("run"));
        let t_clean = wall() + 10;
        kms.set_clock(t_clean);
        admin.call("DescribeKey", &json!({"KeyId": key})).unwrap();
        let clean_trail = d.join("clean-trail");
        copy_dir(&trail, &clean_trail);

        // The misuses, at known times after the pack.
        let ct = admin
            .call("Encrypt", &json!({"KeyId": key, "Plaintext": STANDARD.encode(b"a data key")}))
            .unwrap()["CiphertextBlob"]
            .as_str()
            .unwrap()
            .to_string();
        let t1 = t_clean + 100;
        kms.set_clock(t1);
        let open = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ADMIN_ROLE}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "Enclave", "Effect": "Allow", "Principal": {"AWS": ENCLAVE_ROLE}, "Action": "kms:Decrypt", "Resource": "*"}]});
        let put = |p: &str| {
            admin
                .call("PutKeyPolicy", &json!({"KeyId": key, "PolicyName": "default", "Policy": p}))
                .unwrap()
        };
        put(&open.to_string());
        kms.set_clock(t1 + 50);
        admin.call("Decrypt", &json!({"CiphertextBlob": ct})).unwrap();
        // C2's image (other PCRs) decrypts, attested, directly. The server
        // checks documents at the real time; its clock only dates the record.
        kms.set_clock(t1 + 100);
        let mut spec = DocSpec::new(wall() as u64 * 1000, w.pcrs_b.clone());
        spec.public_key = Some(other_recipient_der());
        let doc = TestCa::load(&w.ca_dir).unwrap().mint(&spec).unwrap();
        let r = patient_client(&kms, "AKIDENCLAVE")
            .decrypt(&DecryptRequest {
                ciphertext_blob: STANDARD.decode(&ct).unwrap(),
                key_id: Some(key.clone()),
                encryption_context: Default::default(),
                recipient: Some(Recipient {
                    attestation_document: doc,
                    key_encryption_algorithm: "RSAES_OAEP_SHA_256".into(),
                }),
            })
            .unwrap_or_else(|e| panic!("the other image's Decrypt: {e}\n{}", kms.log()));
        assert!(r.ciphertext_for_recipient.is_some());
        kms.set_clock(t1 + 200);
        put(&pinned);
        kms.set_clock(t1 + 300);
        admin.call("DescribeKey", &json!({"KeyId": key})).unwrap();
        TrailWorld {
            key,
            policy,
            receipt,
            trail,
            clean_trail,
            t0,
            t_clean,
            t1,
            _dir: dir,
            _kms: kms,
        }
    })
}

/// `proofpack audit RECEIPT --repo … --cloudtrail TRAIL --from --to` in
/// `format`, on the rebuilt world's cache.
fn audit_in(trail: &Path, from: i64, to: i64, extra: &[String], format: &str) -> (i32, Vec<u8>) {
    let (w, t) = (rebuilt_world(), trail_world());
    let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .arg("audit")
        .arg(&t.receipt)
        .arg("--repo")
        .arg(&w.repo)
        .arg("--root")
        .arg(&w.root_pem)
        .arg("--allow-dev-ca")
        .arg("--kms-policy")
        .arg(format!("{}={}", t.key, t.policy.display()))
        .args(["--trusted-principal", ADMIN_ROLE, "--cloudtrail"])
        .arg(trail)
        .args(["--from", &format_time(from), "--to", &format_time(to)])
        .args(extra)
        .args(["--profile", "demo", "--format", format])
        .env("PROOFPACK_CACHE_DIR", &w.cache)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!o.stdout.is_empty(), "no report ({format}): {}", String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap(), o.stdout)
}

fn audit(trail: &Path, from: i64, to: i64, extra: &[String]) -> (i32, Value) {
    let (code, out) = audit_in(trail, from, to, extra, "json");
    (code, serde_json::from_slice(&out).unwrap())
}

fn subject<'a>(v: &'a Value, kind: &str) -> &'a Value {
    let all: Vec<&Value> =
        v["subjects"].as_array().unwrap().iter().filter(|s| s["kind"] == kind).collect();
    assert_eq!(all.len(), 1, "one {kind} subject: {v:#}");
    all[0]
}

fn checks(s: &Value) -> Vec<&Value> {
    s["groups"].as_array().unwrap().iter().flat_map(|g| g["checks"].as_array().unwrap()).collect()
}

fn check<'a>(s: &'a Value, id: &str) -> &'a Value {
    checks(s).into_iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no {id}: {s:#}"))
}

fn detail(s: &Value, id: &str) -> String {
    check(s, id)["detail"].as_str().unwrap().to_string()
}

/// The required checks of a subject that failed, sorted.
fn not_passing(s: &Value) -> Vec<String> {
    let mut f: Vec<String> = checks(s)
        .into_iter()
        .filter(|c| c["required"] == true && c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    f.sort();
    f
}

fn assert_receipt_passes(v: &Value) {
    let r = subject(v, "receipt");
    assert_eq!(r["verdict"], "pass", "{r:#}");
    for id in ["rebuild.pcr.0", "rebuild.pcr.1", "rebuild.pcr.2", "kms.policy.verdict"] {
        assert_eq!(check(r, id)["status"], "pass", "{id}: {r:#}");
    }
}

#[test]
fn clean_trail_passes_with_the_receipt() {
    let t = trail_world();
    let (code, v) = audit(&t.trail, t.t0, t.t_clean, &[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "pass");
    assert_receipt_passes(&v);
    for s in v["subjects"].as_array().unwrap() {
        assert_eq!(s["verdict"], "pass", "{s:#}");
    }
    let k = subject(&v, "kms_key");
    assert_eq!(k["path"], t.key.as_str());
    assert_eq!(not_passing(k), Vec::<String>::new(), "{k:#}");
    // The pack's Decrypt is matched to this receipt, and nothing else is used.
    let receipted = detail(k, "trail.uses.receipted");
    assert!(receipted.starts_with("1 "), "{receipted}");
    assert!(receipted.contains(&t.receipt.display().to_string()), "{receipted}");
    assert!(receipted.contains(&format!("by {ENCLAVE_ROLE}")), "{receipted}");
    for id in ["trail.uses.unattested", "trail.uses.wrong_image", "trail.uses.unreceipted"] {
        assert!(detail(k, id).starts_with("no "), "{id}: {k:#}");
    }
    assert_eq!(check(k, "trail.policy")["status"], "pass", "{k:#}");
    let seen = detail(k, "trail.receipts.seen");
    assert!(seen.contains("are all in the trail"), "{seen}");
    let intervals = k["timeline"]["intervals"].as_array().unwrap();
    assert!(intervals.iter().all(|i| i["state"] == "pinned"), "{intervals:#?}");
    assert_eq!(v["settings"]["cloudtrail"]["from"], format_time(t.t0));
    assert_eq!(v["settings"]["cloudtrail"]["to"], format_time(t.t_clean));

    // The people's renderings carry the trail; HTML draws the timeline.
    let key_id = t.key.rsplit('/').next().unwrap();
    for format in ["text", "markdown", "html"] {
        let (code, out) = audit_in(&t.trail, t.t0, t.t_clean, &[], format);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(code, 0, "{format}: {out}");
        assert!(out.contains(key_id), "{format}: {out}");
        assert!(out.contains("trail.uses.receipted"), "{format}: {out}");
        assert!(out.contains("covered by receipt"), "{format}: {out}");
    }
    let (_, html) = audit_in(&t.trail, t.t0, t.t_clean, &[], "html");
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("<svg"), "no SVG timeline: {html}");
}

#[test]
fn misuses_fail_the_key_not_the_receipt() {
    let t = trail_world();
    let (code, v) = audit(&t.trail, t.t0, t.t1 + 300, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "fail");
    // The receipt is as good as before: the trail does not touch it.
    assert_receipt_passes(&v);
    let k = subject(&v, "kms_key");
    assert_eq!(k["verdict"], "fail");
    assert_eq!(
        not_passing(k),
        ["trail.policy", "trail.uses.unattested", "trail.uses.wrong_image"],
        "{k:#}"
    );
    let un = detail(k, "trail.uses.unattested");
    assert!(un.starts_with("1 unattested"), "{un}");
    assert!(un.contains(&format!("{} Decrypt by {ADMIN_ROLE}", format_time(t.t1 + 50))), "{un}");
    let wi = detail(k, "trail.uses.wrong_image");
    assert!(wi.starts_with("1 "), "{wi}");
    assert!(wi.contains(&format!("{} Decrypt by {ENCLAVE_ROLE}", format_time(t.t1 + 100))), "{wi}");
    let p = detail(k, "trail.policy");
    assert!(
        p.contains(&format!(
            "NOT_PINNED from {} to {}",
            format_time(t.t1),
            format_time(t.t1 + 200)
        )),
        "{p}"
    );
    assert!(p.contains(&format!("opened by {} PutKeyPolicy by {ADMIN_ROLE}", format_time(t.t1))));
    // The pack's own Decrypt is still the receipt's.
    let receipted = detail(k, "trail.uses.receipted");
    assert!(receipted.starts_with("1 ") && receipted.contains("covered by receipt"), "{receipted}");
    assert!(detail(k, "trail.uses.unreceipted").starts_with("no "), "{k:#}");
    assert_eq!(check(k, "trail.receipts.seen")["status"], "pass", "{k:#}");
}

/// The clean trail without the records of the key's uses (as if it were
/// another region's trail, or the events were lost): coverage, policy and
/// uses all look clean, but the receipt's own Decrypt, whose request id it
/// records, is not there, so the trail cannot be this key's whole story.
#[test]
fn a_trail_without_the_receipts_calls_cannot_pass() {
    let t = trail_world();
    let d = tempfile::tempdir().unwrap();
    let partial = d.path().join("trail");
    copy_dir(&t.clean_trail, &partial);
    let mut dropped = 0;
    for f in cloudtrail::read::collect(std::slice::from_ref(&partial)).unwrap().logs {
        let mut decrypt = false;
        cloudtrail::read::read_file(&f, &mut |l| {
            decrypt |= l.event.event_name == "Decrypt";
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        if decrypt {
            std::fs::remove_file(&f).unwrap();
            dropped += 1;
        }
    }
    assert_eq!(dropped, 1);
    let (code, v) = audit(&partial, t.t0, t.t_clean, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_receipt_passes(&v);
    let k = subject(&v, "kms_key");
    assert_eq!(not_passing(k), ["trail.receipts.seen"], "{k:#}");
    let seen = detail(k, "trail.receipts.seen");
    assert!(seen.starts_with("CANNOT_DECIDE: 1 of the 1"), "{seen}");
    assert!(seen.contains(&t.receipt.display().to_string()), "{seen}");
}

#[test]
fn a_window_beyond_the_trail_cannot_pass() {
    let t = trail_world();
    // Past the end of the (clean) trail: no record after t_clean.
    let (code, v) = audit(&t.clean_trail, t.t0, t.t_clean + 600, &[]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "fail");
    assert_receipt_passes(&v);
    let k = subject(&v, "kms_key");
    assert_eq!(k["verdict"], "fail");
    assert_eq!(not_passing(k), ["trail.coverage.end"], "{k:#}");
    let end = detail(k, "trail.coverage.end");
    assert!(end.starts_with("CANNOT_DECIDE"), "{end}");
    assert!(end.contains(&format_time(t.t_clean)), "{end}");
    // Before its start: the policy in force is given, so the only gap is coverage.
    let initial = vec!["--initial-policy".to_string(), format!("{}={}", t.key, t.policy.display())];
    let (code, v) = audit(&t.clean_trail, t.t0 - 600, t.t_clean, &initial);
    assert_eq!(code, 1, "{v:#}");
    let k = subject(&v, "kms_key");
    assert_eq!(not_passing(k), ["trail.coverage.start"], "{k:#}");
    assert!(detail(k, "trail.coverage.start").starts_with("CANNOT_DECIDE"), "{k:#}");
}
