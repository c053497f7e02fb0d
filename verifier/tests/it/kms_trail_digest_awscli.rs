//! Digest files checked by an independent implementation: aws-cli's own
//! `validate-logs` code (`tests/support/awscli_validate.py`, installed by
//! scripts/install-test-deps) validates the digests `cloudtrail::digest::
//! write_digest` writes (signatures, chain, log file hashes), and both it
//! and `proofpack kms-trail check` reject a changed log file, a changed
//! digest and a missing link of the chain.

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudtrail::digest::{fingerprint, write_digest, DigestSpec, WrittenDigest};
use cloudtrail::record::format_time;
use cloudtrail::Event;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use serde_json::Value;

use crate::common::trail::*;

const BUCKET: &str = "amzn-s3-demo-bucket";
const REGION: &str = "us-east-1";
const TRAIL: &str = "audit-trail";

fn records() -> Vec<Event> {
    let mut create = kms_event("CreateKey", T0 - 60, ADMIN, "198.51.100.7");
    create.request_parameters = Some(serde_json::json!({"policy": pinned_policy(1)}));
    let mut v = vec![create];
    for t in (T0 - 30..=T0 + 3900).step_by(300) {
        v.push(heartbeat(t));
    }
    v
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    logs: Vec<PathBuf>,
    digests: Vec<WrittenDigest>,
    der: PathBuf,
    fingerprint: String,
    pcrs: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("bucket");
    let logs = write_trail(&root, &records(), 4);
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testvectors/receipts/rsa_test_key_2048.pem"),
    )
    .expect("key");
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("pkcs8");
    let public = rsa::RsaPublicKey::from(&key);
    // The form aws-cli loads: PKCS#1 DER (rsa.PublicKey.load_pkcs1(..., 'DER')).
    let der = dir.path().join("trail-key.der");
    std::fs::write(&der, public.to_pkcs1_der().expect("der").as_bytes()).expect("w");
    let half = logs.len() / 2;
    let spec = |start: i64, end: i64| DigestSpec {
        root: &root,
        bucket: BUCKET,
        account: ACCOUNT,
        region: REGION,
        trail: TRAIL,
        start,
        end,
    };
    let d1 = write_digest(&spec(T0 - 3600, T0 + 1800), &logs[..half], None, &key).expect("d1");
    let d2 = write_digest(&spec(T0 + 1800, T0 + 5400), &logs[half..], Some(&d1), &key).expect("d2");
    let pcrs = dir.path().join("pcrs.json");
    let p = crate::common::trail::pcrs(1);
    std::fs::write(&pcrs, serde_json::json!({"0": p[0], "1": p[1], "2": p[2]}).to_string())
        .expect("w");
    World {
        _dir: dir,
        root,
        logs,
        digests: vec![d1, d2],
        der,
        fingerprint: fingerprint(&public),
        pcrs,
    }
}

/// aws-cli's verdict: (success, output).
fn awscli(w: &World) -> (bool, String) {
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/awscli_validate.py"))
        .arg(&w.root)
        .args([BUCKET, ACCOUNT, REGION, TRAIL])
        .arg(&w.der)
        .arg(&w.fingerprint)
        .args([format_time(T0 - 3600), format_time(T0 + 5400)])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("RESULT"), "aws-cli did not run: {text}");
    (o.status.success(), text)
}

/// proofpack's `trail.integrity`: (status, detail).
fn proofpack(w: &World) -> (String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_proofpack"))
        .args(["kms-trail", "check", "--format", "json", "--cloudtrail"])
        .arg(&w.root)
        .args(["--from", &format_time(T0), "--to", &format_time(T0 + 3600), "--key", KEY])
        .arg("--expect")
        .arg(&w.pcrs)
        .arg("--digest-public-key")
        .arg(&w.der)
        .args(["--trusted-principal", ADMIN, "--max-quiet", "10m"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    let c = v["subjects"][0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["checks"].as_array().expect("checks").clone())
        .find(|c| c["id"] == "trail.integrity")
        .expect("trail.integrity");
    (c["status"].as_str().unwrap_or("").into(), c["detail"].as_str().unwrap_or("").into())
}

fn gunzip(p: &Path) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(p).expect("open"))
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn gzip_to(p: &Path, data: &[u8]) {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gz");
    std::fs::write(p, gz.finish().expect("gz")).expect("w");
}

/// Changes the last byte of the first match of `from` in the uncompressed content.
fn tamper(p: &Path, from: &[u8], to: u8) {
    let mut data = gunzip(p);
    let at = data.windows(from.len()).position(|w| w == from).expect("pattern") + from.len() - 1;
    data[at] = to;
    gzip_to(p, &data);
}

#[test]
fn awscli_validates_our_digests_and_both_reject_tampering() {
    // Untouched: aws-cli and proofpack both accept.
    let w = world();
    let (ok, out) = awscli(&w);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "valid_digests=2 invalid_digests=0 valid_logs={} invalid_logs=0",
            w.logs.len()
        )),
        "{out}"
    );
    let (status, detail) = proofpack(&w);
    assert_eq!(status, "pass", "{detail}");

    // One byte of a log file.
    let w = world();
    tamper(&w.logs[1], b"\"eventTime\":\"2", b'3');
    let (ok, out) = awscli(&w);
    assert!(!ok && out.contains("hash value doesn't match"), "{out}");
    let (status, detail) = proofpack(&w);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("changed"), "{detail}");

    // One byte of a digest (a listed hash).
    let w = world();
    let first_hash = serde_json::from_slice::<Value>(&gunzip(&w.digests[0].path)).expect("json")
        ["logFiles"][0]["hashValue"]
        .as_str()
        .expect("hash")
        .to_string();
    let flip = if first_hash.as_bytes()[0] == b'0' { b'1' } else { b'0' };
    tamper(&w.digests[0].path, &first_hash.as_bytes()[..1], flip);
    let (ok, out) = awscli(&w);
    assert!(!ok && out.contains("INVALID"), "{out}");
    let (status, detail) = proofpack(&w);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("does not verify"), "{detail}");

    // The chain: the first digest removed (its link is missing).
    let w = world();
    std::fs::remove_file(&w.digests[0].path).expect("rm");
    let (ok, out) = awscli(&w);
    assert!(!ok && out.contains("not found"), "{out}");
    let (status, detail) = proofpack(&w);
    assert_eq!(status, "fail", "{detail}");

    // The newest digest's signature (its x-amz-meta-signature) changed.
    let w = world();
    let sig = PathBuf::from(format!("{}.sig", w.digests[1].path.display()));
    let mut s = std::fs::read_to_string(&sig).expect("sig").into_bytes();
    s[10] = if s[10] == b'0' { b'1' } else { b'0' };
    std::fs::write(&sig, s).expect("w");
    let (ok, out) = awscli(&w);
    assert!(!ok && out.contains("INVALID"), "{out}");
    let (status, detail) = proofpack(&w);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("does not verify"), "{detail}");
}
